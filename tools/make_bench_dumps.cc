// Writes the end-to-end benchmark's input: two same-layout ATB dumps of PAIRS tensors of
// ELEMENTS elements each, float32 golden and float16 "my" (the golden rounded, plus noise).
//
//   ait_make_bench_dumps OUT_DIR [--pairs 120] [--elements 524288]
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "ait/convert.h"
#include "ait/tensor_io.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: ait_make_bench_dumps OUT_DIR [--pairs N] [--elements N]\n");
    return 2;
  }
  long pairs = 120, elements = 512 * 1024;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    long v = std::atol(argv[i + 1]);
    if (v <= 0 || (flag != "--pairs" && flag != "--elements")) {
      std::fprintf(stderr, "ait_make_bench_dumps: bad option %s %s\n", argv[i], argv[i + 1]);
      return 2;
    }
    (flag == "--pairs" ? pairs : elements) = v;
  }
  namespace fs = std::filesystem;
  try {
    std::mt19937 rng(42);
    std::normal_distribution<float> dist;
    for (long p = 0; p < pairs; ++p) {
      // 12 operations per layer, layers numbered like an ATB model dump.
      std::string rel = fmt::format("0/{}_Layer/{}_Operation/after/outtensor0.bin", p / 12, p % 12);
      ait::Tensor g = ait::Tensor::Allocate(ait::DType::kFloat32, {1, elements});
      ait::Tensor m = ait::Tensor::Allocate(ait::DType::kFloat16, {1, elements});
      auto* gv = reinterpret_cast<float*>(g.mutable_data());
      for (long i = 0; i < elements; ++i) gv[i] = dist(rng);
      std::vector<float> noisy(gv, gv + elements);
      for (float& x : noisy) x += 1e-3f * dist(rng);
      ait::ConvertFloat32ToHalf(noisy.data(), noisy.size(), reinterpret_cast<uint16_t*>(m.mutable_data()));
      for (auto [side, t] : {std::pair{"golden/0_1", &g}, std::pair{"my/0_2", &m}}) {
        fs::path path = fs::path(argv[1]) / side / rel;
        fs::create_directories(path.parent_path());
        ait::WriteTensor(path.string(), *t);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ait_make_bench_dumps: %s\n", e.what());
    return 1;
  }
  return 0;
}
