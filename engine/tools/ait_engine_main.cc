// `ait-engine`: the reference engine's runner. `init` writes a random-weight HF Llama
// checkpoint, `run` greedy-decodes with it, `op` runs one operation on tensor files.
// Exit status: 0 ok, 1 runtime error, 2 bad arguments.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ait/error.h"
#include "ait/tensor_io.h"
#include "ait_engine/c_api.h"
#include "ait_engine/llama.h"
#include "ait_engine/operation.h"
#include "ait_engine/perturb.h"

namespace {

namespace fs = std::filesystem;
using ait::engine::Json;

constexpr int kOk = 0, kRuntime = 1, kUsage = 2;

struct UsageError : ait::Error {
  using ait::Error::Error;
};

std::vector<int32_t> ParseIds(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    while (used < item.size() && item[used] == ' ') ++used;
    if (used == 0 || used != item.size() || v < 0 || v > INT32_MAX)
      throw UsageError(fmt::format("--input-ids: '{}' is not a non-negative integer (expected e.g. 1,2,3)", item));
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty()) throw UsageError("--input-ids: no token ids given (expected e.g. 1,2,3)");
  return ids;
}

int Init(const std::string& preset, uint64_t seed, const std::string& out) {
  auto config = ait::engine::LlamaConfig::Preset(preset);
  ait::engine::WriteRandomCheckpoint(out, *config, seed);
  std::fprintf(stderr, "wrote %s checkpoint (seed %llu) to %s\n", preset.c_str(), static_cast<unsigned long long>(seed),
               out.c_str());
  return kOk;
}

struct RunArgs {
  std::string model, input_ids, dtype = "fp32", quant = "none", save_logits;
  int64_t max_new_tokens = 1, batch = 1;
  int threads = 0, device_id = 0;
  std::vector<std::string> perturb;  // PATTERN=KIND[:MAG] specs, applied in order
};

std::vector<ait::engine::Perturbation> ParsePerturbations(const std::vector<std::string>& specs) {
  std::vector<ait::engine::Perturbation> out;
  for (const auto& spec : specs) {
    try {
      out.push_back(ait::engine::Perturbation::Parse(spec));
    } catch (const ait::Error& e) {
      throw UsageError(fmt::format("--perturb: {}", e.what()));
    }
  }
  return out;
}

// Every spec must match an operation of the model; reports the matches on stderr.
void CheckPerturbations(const std::vector<ait::engine::Perturbation>& specs, const ait::engine::LlamaModel& model) {
  if (specs.empty()) return;
  const auto names = ait::engine::OperationNames(model.operations());
  for (const auto& p : specs) {
    std::vector<std::string> hits;
    for (const auto& name : names)
      if (p.Matches(name)) hits.push_back(name);
    if (hits.empty()) {
      const size_t last = model.operations().size() - 1;
      const std::vector<std::string> examples = {
          model.operations()[0].GraphInfo()["opName"].get<std::string>(),
          model.operations()[1].GraphInfo()["opName"].get<std::string>(),
          model.operations()[1].GraphInfo()["nodes"][1]["opName"].get<std::string>(),
          model.operations()[last - 1].GraphInfo()["opName"].get<std::string>(),
          model.operations()[last].GraphInfo()["opName"].get<std::string>()};
      throw UsageError(fmt::format("--perturb: '{}': PATTERN '{}' matches no operation of the model (operations are "
                                   "named <OpType>_<ids>, e.g. {})",
                                   p.spec, p.pattern, fmt::join(examples, ", ")));
    }
    const size_t shown = std::min<size_t>(hits.size(), 12);
    std::fprintf(stderr, "perturb '%s' (%s, magnitude %g) matches %zu operation%s: %s%s\n", p.spec.c_str(),
                 std::string(ait::engine::PerturbKindName(p.kind)).c_str(), p.magnitude, hits.size(),
                 hits.size() == 1 ? "" : "s",
                 fmt::format("{}", fmt::join(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(shown), ", ")).c_str(),
                 hits.size() > shown ? fmt::format(", ... ({} more)", hits.size() - shown).c_str() : "");
  }
}

int Run(const RunArgs& a) {
  ait::engine::LlamaOptions options;
  auto dtype = ait::ParseDTypeName(a.dtype);
  if (!dtype || !(*dtype == ait::DType::kFloat32 || *dtype == ait::DType::kFloat16 || *dtype == ait::DType::kBFloat16))
    throw UsageError(fmt::format("--dtype: '{}' is not one of fp32, fp16, bf16", a.dtype));
  options.dtype = *dtype;
  options.quant = *ait::engine::ParseQuant(a.quant);  // CLI11 checked the choice
  options.threads = a.threads;
  options.device_id = a.device_id;
  options.batch = a.batch;
  const std::vector<int32_t> prompt = ParseIds(a.input_ids);
  const auto perturbations = ParsePerturbations(a.perturb);
  if (!a.save_logits.empty()) {
    const ait::TensorFormat* f = ait::FindFormat(a.save_logits);
    if (!f || !f->CanWrite())
      throw UsageError(fmt::format("--save-logits: '{}' has no writable tensor extension (use .npy)", a.save_logits));
  }
  // Checks that need the model's config are argument errors too.
  const auto config = ait::engine::LlamaConfig::Load(a.model);
  for (int32_t id : prompt)
    if (id >= config.vocab_size)
      throw UsageError(fmt::format("--input-ids: token id {} is out of range for vocab_size {}", id, config.vocab_size));
  const int64_t positions = static_cast<int64_t>(prompt.size()) + a.max_new_tokens - 1;
  if (positions > config.max_position_embeddings)
    throw UsageError(fmt::format("prompt ({} tokens) + --max-new-tokens ({}) - 1 exceeds max_position_embeddings {}",
                                 prompt.size(), a.max_new_tokens, config.max_position_embeddings));

  ait::engine::LlamaModel model(a.model, options);
  CheckPerturbations(perturbations, model);
  // The model calls its ATB probe hooks after this observer at every hook point, so a
  // preloaded probe records the faulty tensors downstream ops read.
  ait::engine::PerturbingObserver perturber(perturbations);
  const auto result =
      ait::engine::Generate(model, prompt, a.max_new_tokens, perturbations.empty() ? nullptr : &perturber);
  for (const auto& row : result.tokens) std::printf("%s\n", fmt::format("{}", fmt::join(row, ",")).c_str());
  if (!a.save_logits.empty()) {
    ait::WriteTensor(a.save_logits, result.logits);
    std::fprintf(stderr, "saved logits %s (float32 [steps, batch, vocab]) to %s\n", result.logits.ShapeString().c_str(),
                 a.save_logits.c_str());
  }
  return kOk;
}

int Op(const std::string& type, const std::string& param, const std::vector<std::string>& inputs,
       const std::string& out_dir) {
  const auto types = ait::engine::OperationTypes();
  if (std::find(types.begin(), types.end(), type) == types.end())
    throw UsageError(fmt::format("--type: unknown operation type '{}' (known: {})", type, fmt::join(types, ", ")));
  // --param is JSON text, or the path of a JSON file such as a dump's op_param.json.
  std::string text = param;
  if (!param.empty() && param.front() != '{' && fs::is_regular_file(param)) {
    std::ifstream f(param);
    std::stringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  }
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    throw UsageError(fmt::format("--param: not a JSON object nor a JSON file: {}", param));
  std::vector<const char*> paths;
  for (const auto& p : inputs) paths.push_back(p.c_str());
  char err[4096];
  if (ait_engine_run_op(type.c_str(), j.dump().c_str(), paths.data(), static_cast<int>(paths.size()), out_dir.c_str(),
                        err, sizeof err) != 0) {
    std::fprintf(stderr, "ait-engine op: %s\n", err);
    return kRuntime;
  }
  std::fprintf(stderr, "wrote %s outputs to %s\n", type.c_str(), out_dir.c_str());
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ait-engine: the reference acceleration engine (a CPU stand-in for ATB)"};
  app.require_subcommand(1);

  std::string preset, out;
  uint64_t seed = 0;
  auto* init = app.add_subcommand("init", "write a random-weight Hugging Face-layout Llama checkpoint");
  init->add_option("--preset", preset, "model size")->required()->check(CLI::IsMember({"tiny", "small"}));
  init->add_option("--seed", seed, "random seed")->capture_default_str();
  init->add_option("--out", out, "output folder (config.json + model.safetensors)")->required();

  RunArgs r;
  auto* run = app.add_subcommand("run", "greedy decoding; prints the generated ids, one line per batch row");
  run->add_option("--model", r.model, "checkpoint folder (config.json + model.safetensors)")
      ->required()
      ->check(CLI::ExistingDirectory);
  run->add_option("--input-ids", r.input_ids, "prompt token ids, comma-separated (e.g. 1,2,3)")->required();
  run->add_option("--max-new-tokens", r.max_new_tokens, "tokens to generate (= forward steps)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  run->add_option("--dtype", r.dtype, "storage dtype: fp32, fp16, bf16")->capture_default_str();
  run->add_option("--quant", r.quant, "linear quantization")->capture_default_str()->check(
      CLI::IsMember({"none", "w8a16", "w8a8"}));
  run->add_option("--threads", r.threads, "worker threads (0 = all cores)")->capture_default_str()->check(
      CLI::Range(0, 4096));
  run->add_option("--device-id", r.device_id, "device id (recorded only)")->capture_default_str()->check(
      CLI::NonNegativeNumber);
  run->add_option("--batch", r.batch, "batch size (the prompt replicated)")->capture_default_str()->check(
      CLI::Range(int64_t{1}, int64_t{4096}));
  run->add_option("--save-logits", r.save_logits, "write float32 last-position logits [steps, batch, vocab] (.npy)");
  run->add_option("--perturb", r.perturb,
                  "PATTERN=KIND[:MAG] (repeatable): fault the outputs of every op whose name (e.g. "
                  "LinearOperation_3_2, LlamaLayer_3) matches the glob; KIND noise, scale, bias, zero, nan, inf, "
                  "fp16-saturate")
      ->allow_extra_args(false);

  std::string op_type, op_param = "{}", out_dir;
  std::vector<std::string> op_inputs;
  auto* op = app.add_subcommand("op", "run one operation on tensor files; writes OUT_DIR/outtensor{i}.bin");
  op->add_option("--type", op_type, "ATB operation type, e.g. LinearOperation")->required();
  op->add_option("--param", op_param, "param JSON object, or a JSON file (op_param.json)")->capture_default_str();
  op->add_option("--in", op_inputs, "input tensor file (repeat, in order)")->check(CLI::ExistingFile);
  op->add_option("--out-dir", out_dir, "output folder")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and usage hint
    return kUsage;
  }
  try {
    if (*init) return Init(preset, seed, out);
    if (*run) return Run(r);
    return Op(op_type, op_param, op_inputs, out_dir);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "ait-engine: %s\n", e.what());
    return kUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ait-engine: error: %s\n", e.what());
    return kRuntime;
  }
}
