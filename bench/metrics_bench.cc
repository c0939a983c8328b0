// Throughput of the metric kernel and the dtype conversions, per SIMD target, next to a
// naive scalar two-pass implementation measured in the same run (the speedup baseline).
// Run: ./build/bin/metrics_bench   (GB/s counts input bytes of both tensors)
#include <benchmark/benchmark.h>
#include <hwy/highway.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ait/convert.h"
#include "ait/metrics.h"

namespace ait {
namespace {

constexpr size_t kN = 512 * 1024;  // a typical hidden-state tensor

struct Inputs {
  std::vector<float> golden;       // fp32
  std::vector<float> my32;         // fp32, golden + small noise
  std::vector<uint16_t> my16;      // the same as fp16
  std::vector<uint16_t> my_bf16;   // and as bf16
};

const Inputs& GetInputs() {
  static const Inputs in = [] {
    Inputs in;
    std::mt19937 rng(1);
    std::normal_distribution<float> dist;
    for (size_t i = 0; i < kN; ++i) {
      in.golden.push_back(dist(rng));
      in.my32.push_back(in.golden.back() + 0.01f * dist(rng));
      in.my16.push_back(FloatToHalf(in.my32.back()));
      in.my_bf16.push_back(FloatToBFloat16(in.my32.back()));
    }
    return in;
  }();
  return in;
}

// The obvious implementation: convert both sides to float vectors, then loop twice
// (max for the softmax, then everything else) with scalar double math.
PairMetrics NaiveTwoPass(const ElementSpan& golden, const ElementSpan& my) {
  const size_t n = static_cast<size_t>(golden.numel);
  std::vector<float> g(n), m(n);
  auto to_float = [n](const ElementSpan& s, std::vector<float>& out) {
    if (s.dtype == DType::kFloat16) {
      auto* h = static_cast<const uint16_t*>(s.data);
      for (size_t i = 0; i < n; ++i) out[i] = HalfToFloat(h[i]);
    } else {
      auto* f = static_cast<const float*>(s.data);
      for (size_t i = 0; i < n; ++i) out[i] = f[i];
    }
  };
  to_float(golden, g);
  to_float(my, m);
  PairMetrics r;
  float g_max = -INFINITY, g_min = INFINITY, m_max = -INFINITY, m_min = INFINITY;
  double g_sum = 0, m_sum = 0;
  for (size_t i = 0; i < n; ++i) {
    g_max = std::max(g_max, g[i]), g_min = std::min(g_min, g[i]), g_sum += g[i];
    m_max = std::max(m_max, m[i]), m_min = std::min(m_min, m[i]), m_sum += m[i];
    r.golden.nan_count += std::isnan(g[i]), r.golden.inf_count += std::isinf(g[i]);
    r.my.nan_count += std::isnan(m[i]), r.my.inf_count += std::isinf(m[i]);
  }
  r.golden.max = g_max, r.golden.min = g_min, r.golden.mean = g_sum / n;
  r.my.max = m_max, r.my.min = m_min, r.my.mean = m_sum / n;
  double gm = 0, gg = 0, mm = 0, dd = 0, sr = 0, sa = 0, s_g = 0, s_m = 0, t = 0;
  float max_r = 0, max_a = 0;
  for (size_t i = 0; i < n; ++i) {
    gm += double(g[i]) * m[i], gg += double(g[i]) * g[i], mm += double(m[i]) * m[i];
    dd += (double(g[i]) - m[i]) * (double(g[i]) - m[i]);
    const bool counted = std::fabs(g[i]) > 1.1920929e-07f;
    const float ri = counted ? std::fabs(m[i] / g[i] - 1) : 0, ai = counted ? std::fabs(m[i] - g[i]) : 0;
    max_r = std::max(max_r, ri), max_a = std::max(max_a, ai), sr += ri, sa += ai;
    const double e = std::exp(double(g[i]) - g_max);
    s_g += e, s_m += std::exp(double(m[i]) - m_max), t += e * (double(g[i]) - m[i]);
  }
  r.cosine_similarity = std::round(gm / (std::max(std::sqrt(gg), 1e-8) * std::max(std::sqrt(mm), 1e-8)) * 1e10) / 1e10;
  r.max_relative_error = max_r, r.mean_relative_error = sr / n;
  r.max_absolute_error = max_a, r.mean_absolute_error = sa / n;
  r.kl_divergence = std::max(0.0, t / s_g - (g_max + std::log(s_g)) + (m_max + std::log(s_m)));
  r.relative_euclidean_distance = dd / gg;
  return r;
}

ElementSpan Golden() { return {DType::kFloat32, GetInputs().golden.data(), int64_t(kN)}; }
ElementSpan My16() { return {DType::kFloat16, GetInputs().my16.data(), int64_t(kN)}; }
ElementSpan My32() { return {DType::kFloat32, GetInputs().my32.data(), int64_t(kN)}; }

// Naive time per pair, measured first; the kernel benchmarks report their speedup on it
// as the counter "x_naive".
double naive_ns[2] = {0, 0};  // [0]: fp32 vs fp16, [1]: fp32 vs fp32

double ThreadCpuNs() {  // CPU time, like the CPU column: robust to a busy machine
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

template <class Fn>
void RunPair(benchmark::State& state, Fn fn, ElementSpan g, ElementSpan m, bool is_naive = false) {
  const double start = ThreadCpuNs();
  for (auto _ : state) benchmark::DoNotOptimize(fn(g, m));
  const double ns = (ThreadCpuNs() - start) / static_cast<double>(state.iterations());
  double& naive = naive_ns[m.dtype == DType::kFloat32];
  if (is_naive) naive = ns;
  else if (naive > 0) state.counters["x_naive"] = naive / ns;
  state.SetBytesProcessed(int64_t(state.iterations()) * kN * (ItemSize(g.dtype) + ItemSize(m.dtype)));
}

// Input bytes per second (2 per fp16/bf16 element).
void RunConvert(benchmark::State& state, DType t, const void* src) {
  std::vector<float> out(kN);
  for (auto _ : state) {
    ConvertToFloat32(t, src, kN, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * kN * ItemSize(t));
}

// Registers the kernel and conversion benchmarks pinned to one SIMD target (0: the best
// this CPU has, which is what the program uses).
void Register(int64_t target) {
  const std::string suffix = target ? hwy::TargetName(target) : "best";
  auto add = [&](const std::string& name, void (*body)(benchmark::State&)) {
    benchmark::RegisterBenchmark((name + "/" + suffix).c_str(), [target, body](benchmark::State& s) {
      hwy::SetSupportedTargetsForTest(target);
      body(s);
      hwy::SetSupportedTargetsForTest(0);
    });
  };
  add("PairMetrics/fp32_vs_fp16", [](benchmark::State& s) { RunPair(s, ComputePairMetrics, Golden(), My16()); });
  add("PairMetrics/fp32_vs_fp32", [](benchmark::State& s) { RunPair(s, ComputePairMetrics, Golden(), My32()); });
  add("ConvertToFloat32/fp16", [](benchmark::State& s) { RunConvert(s, DType::kFloat16, GetInputs().my16.data()); });
  add("ConvertToFloat32/bf16", [](benchmark::State& s) { RunConvert(s, DType::kBFloat16, GetInputs().my_bf16.data()); });
}

}  // namespace
}  // namespace ait

int main(int argc, char** argv) {
  using namespace ait;
  benchmark::RegisterBenchmark("NaiveTwoPass/fp32_vs_fp16",
                               [](benchmark::State& s) { RunPair(s, NaiveTwoPass, Golden(), My16(), true); });
  benchmark::RegisterBenchmark("NaiveTwoPass/fp32_vs_fp32",
                               [](benchmark::State& s) { RunPair(s, NaiveTwoPass, Golden(), My32(), true); });
  Register(0);
  // What CPUs without AVX-512 get.
  for (int64_t target : hwy::SupportedAndGeneratedTargets())
    if (target == HWY_AVX2 || target == HWY_SSE4) Register(target);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
