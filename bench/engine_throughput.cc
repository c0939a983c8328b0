// Engine throughput and the cost of the ATB probe hooks with no probe loaded.
//
// Loads the checkpoint twice — once calling the probe hooks around every operation and kernel
// (the engine's default), once with no hook at all (the baseline) — and runs greedy
// generation on each in alternation (ABBA order), `reps` times each, so drift on the machine
// hits both alike. Prints the best (least disturbed) time and tokens/s of each, the median for
// context, and the hooks' overhead as the ratio of the best times.
//
//   engine_throughput --model DIR [--reps 7] [--prompt 8] [--new-tokens 32] [--threads 0]
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <vector>

#include "ait/error.h"
#include "ait_engine/llama.h"
#include "ait_engine/perturb.h"

namespace {

double Min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double TimeGenerate(ait::engine::LlamaModel& model, const std::vector<int32_t>& prompt, int64_t new_tokens) {
  const auto t0 = std::chrono::steady_clock::now();
  ait::engine::Generate(model, prompt, new_tokens);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"engine throughput with and without the (no-op) ATB probe hooks"};
  std::string model_dir;
  int reps = 7, threads = 0;
  int64_t prompt_len = 8, new_tokens = 32;
  app.add_option("--model", model_dir, "checkpoint folder (ait-engine init --preset small)")->required();
  app.add_option("--reps", reps, "alternating runs of each configuration")->capture_default_str();
  app.add_option("--prompt", prompt_len, "prompt tokens")->capture_default_str();
  app.add_option("--new-tokens", new_tokens, "generated tokens per run")->capture_default_str();
  app.add_option("--threads", threads, "engine threads (0 = all cores)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    ait::engine::LlamaOptions hooked, bare;
    hooked.threads = bare.threads = threads;
    bare.probe_hooks = false;
    ait::engine::LlamaModel with_hooks(model_dir, hooked), without_hooks(model_dir, bare);
    std::vector<int32_t> prompt(prompt_len);
    std::iota(prompt.begin(), prompt.end(), 1);

    TimeGenerate(with_hooks, prompt, new_tokens);  // warm up caches and thread pools
    TimeGenerate(without_hooks, prompt, new_tokens);
    std::vector<double> on, off;
    for (int i = 0; i < reps; ++i) {
      if (i % 2 == 0) {
        off.push_back(TimeGenerate(without_hooks, prompt, new_tokens));
        on.push_back(TimeGenerate(with_hooks, prompt, new_tokens));
      } else {
        on.push_back(TimeGenerate(with_hooks, prompt, new_tokens));
        off.push_back(TimeGenerate(without_hooks, prompt, new_tokens));
      }
    }
    const double t_off = Min(off), t_on = Min(on);
    const auto& c = with_hooks.config();
    std::printf("model: %s (%lld layers, hidden %lld, vocab %lld), prompt %lld, %lld new tokens, best of %d\n",
                model_dir.c_str(), static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.hidden_size),
                static_cast<long long>(c.vocab_size), static_cast<long long>(prompt_len),
                static_cast<long long>(new_tokens), reps);
    std::printf("| %-36s | %9s | %9s | %9s | %9s |\n", "run", "best s", "tokens/s", "median s", "vs bare");
    std::printf("| %-36s | %9.3f | %9.1f | %9.3f | %8.4fx |\n", "no hooks (baseline)", t_off, new_tokens / t_off,
                Median(off), 1.0);
    std::printf("| %-36s | %9.3f | %9.1f | %9.3f | %8.4fx |\n", "ATB probe hooks, no probe loaded", t_on,
                new_tokens / t_on, Median(on), t_on / t_off);
    // Every forward step runs each operation once (graphs and their nodes).
    const size_t ops_per_step = ait::engine::OperationNames(with_hooks.operations()).size();
    std::printf("probe hook overhead on this model: %+.2f%% of run time\n", 100.0 * (t_on / t_off - 1.0));
    std::printf("ops_per_step=%zu step_s=%.9f hook_ns_per_op=%.1f\n", ops_per_step, t_off / new_tokens,
                1e9 * (t_on - t_off) / (static_cast<double>(new_tokens) * ops_per_step));
  } catch (const ait::Error& e) {
    std::fprintf(stderr, "engine_throughput: %s\n", e.what());
    return 1;
  }
  return 0;
}
