// Writes two small ATB-layout dumps of the same toy network for the demo and tests:
// a float32 "golden" run and a float16 "my" run with a planted fault (one weight row of
// layer 2's second Linear scaled), so `ait llm compare` has a real divergence to find.
//
//   ait_make_demo_dumps OUT_DIR [--tokens N] [--layers L] [--hidden H]
// writes OUT_DIR/golden/ait_dump/tensors/0_1001/... and OUT_DIR/my/ait_dump/tensors/0_2002/...
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "ait/convert.h"
#include "ait/tensor_io.h"

namespace {

using Vec = std::vector<float>;
namespace fs = std::filesystem;

struct Dumper {
  fs::path root;
  bool half;  // store and round every output as float16
  void Save(int token, const std::string& op_path, const char* file, const Vec& v) {
    fs::path dir = root / std::to_string(token) / op_path;
    fs::create_directories(dir);
    ait::Tensor t = ait::Tensor::Allocate(half ? ait::DType::kFloat16 : ait::DType::kFloat32,
                                          {1, static_cast<int64_t>(v.size())});
    if (half) {
      ait::ConvertFloat32ToHalf(v.data(), v.size(), reinterpret_cast<uint16_t*>(t.mutable_data()));
    } else {
      std::copy(v.begin(), v.end(), reinterpret_cast<float*>(t.mutable_data()));
    }
    ait::WriteTensor((dir / file).string(), t);
  }
  // Rounds a value through float16 when this run is the half-precision one.
  void Round(Vec& v) const {
    if (!half) return;
    for (float& x : v) x = ait::HalfToFloat(ait::FloatToHalf(x));
  }
};

Vec Linear(const Vec& x, const std::vector<Vec>& w) {
  Vec y(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    double acc = 0;
    for (size_t j = 0; j < x.size(); ++j) acc += static_cast<double>(w[i][j]) * x[j];
    y[i] = static_cast<float>(acc);
  }
  return y;
}

Vec RmsNorm(const Vec& x) {
  double ss = 0;
  for (float v : x) ss += static_cast<double>(v) * v;
  float scale = static_cast<float>(1.0 / std::sqrt(ss / x.size() + 1e-6));
  Vec y(x);
  for (float& v : y) v *= scale;
  return y;
}

void Run(Dumper& d, int tokens, int layers, int hidden, bool plant_fault) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.f, 1.f / std::sqrt(static_cast<float>(hidden)));
  std::vector<std::vector<Vec>> w1(layers), w2(layers);
  for (int l = 0; l < layers; ++l) {
    for (auto* w : {&w1[l], &w2[l]}) {
      w->assign(hidden, Vec(hidden));
      for (auto& row : *w)
        for (float& v : row) v = dist(rng);
    }
  }
  std::normal_distribution<float> input(0.f, 1.f);
  for (int t = 0; t < tokens; ++t) {
    Vec x(hidden);
    for (float& v : x) v = input(rng);
    d.Round(x);
    d.Save(t, "0_WordEmbedding/after", "outtensor0.bin", x);
    for (int l = 0; l < layers; ++l) {
      std::string layer = std::to_string(l + 1) + "_DecoderLayer";
      d.Save(t, layer + "/before", "intensor0.bin", x);
      Vec h = RmsNorm(x);
      d.Round(h);
      d.Save(t, layer + "/0_RmsNormOperation/after", "outtensor0.bin", h);
      Vec a = Linear(h, w1[l]);
      for (float& v : a) v = v / (1.f + std::exp(-v));  // silu
      d.Round(a);
      d.Save(t, layer + "/1_LinearOperation/after", "outtensor0.bin", a);
      Vec b = Linear(a, w2[l]);
      if (plant_fault && l == 2)
        for (int i = 0; i < hidden; i += 4) b[i] *= 1.5f;  // the planted bug
      d.Round(b);
      d.Save(t, layer + "/2_LinearOperation/after", "outtensor0.bin", b);
      for (int i = 0; i < hidden; ++i) x[i] += b[i];
      d.Round(x);
      d.Save(t, layer + "/3_ElewiseOperation/after", "outtensor0.bin", x);
      d.Save(t, layer + "/after", "outtensor0.bin", x);
    }
    Vec out = RmsNorm(x);
    d.Round(out);
    d.Save(t, std::to_string(layers + 1) + "_RmsNormOperation/after", "outtensor0.bin", out);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: ait_make_demo_dumps OUT_DIR [--tokens N] [--layers L] [--hidden H]\n");
    return 2;
  }
  int tokens = 2, layers = 4, hidden = 256;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    int value = std::atoi(argv[i + 1]);
    if (value <= 0) {
      std::fprintf(stderr, "ait_make_demo_dumps: %s needs a positive integer\n", argv[i]);
      return 2;
    }
    if (flag == "--tokens") tokens = value;
    else if (flag == "--layers") layers = value;
    else if (flag == "--hidden") hidden = value;
    else {
      std::fprintf(stderr, "ait_make_demo_dumps: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  try {
    fs::path out = argv[1];
    Dumper golden{out / "golden" / "ait_dump" / "tensors" / "0_1001", false};
    Dumper my{out / "my" / "ait_dump" / "tensors" / "0_2002", true};
    Run(golden, tokens, layers, hidden, false);
    Run(my, tokens, layers, hidden, true);
    std::printf("Wrote %s and %s\n", (out / "golden").c_str(), (out / "my").c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ait_make_demo_dumps: %s\n", e.what());
    return 1;
  }
  return 0;
}
