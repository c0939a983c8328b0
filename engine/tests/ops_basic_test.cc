// Gather, norms, elementwise, activations, softmax, data movement and sampling against
// float64 references, in every storage dtype each supports; plus the registry and runner.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "op_test_util.h"

namespace ait::engine::testing {
namespace {

TEST(Registry, KnowsEveryIssueOperation) {
  auto types = OperationTypes();
  for (const char* t : {"GatherOperation", "RmsNormOperation", "LayerNormOperation", "LinearOperation",
                        "LinearQuantOperation", "RopeOperation", "SelfAttentionOperation", "ElewiseOperation",
                        "ActivationOperation", "SoftmaxOperation", "SplitOperation", "ConcatOperation",
                        "TransposeOperation", "MatMulOperation", "MatmulOperation", "SamplingOperation"})
    EXPECT_NE(std::find(types.begin(), types.end(), t), types.end()) << t;
  ExpectError([] { CreateOperation("NoSuchOperation", Json::object()); }, {"NoSuchOperation", "unknown operation"});
}

TEST(Registry, AcceptsParamAsJsonStringAndChecksInputCount) {
  auto op = CreateOperation("SoftmaxOperation", Json(std::string(R"({"axes": [-1]})")));
  ExecContext ctx;
  ExpectError([&] { RunOperation(*op, {}, ctx); }, {"SoftmaxOperation", "expected 1 input"});
  ExpectError([] { CreateOperation("SoftmaxOperation", Json(std::string("{bad"))); }, {"SoftmaxOperation", "not JSON"});
}

TEST(Runner, KernelIndicesRestartPerOperation) {
  auto op = CreateOperation("LinearOperation", {{"hasBias", true}});
  RecordingObserver obs;
  ExecContext ctx(1, &obs);
  const std::vector<Tensor> in = {Make(DType::kFloat32, {1, 2}, {1, 2}), Make(DType::kFloat32, {1, 2}, {3, 4}),
                                  Make(DType::kFloat32, {1}, {0.5})};
  RunOperation(*op, in, ctx);
  auto out = RunOperation(*op, in, ctx);
  ASSERT_EQ(obs.after.size(), 4u);
  EXPECT_EQ(obs.after[2].index, 0u);
  EXPECT_EQ(obs.after[3].index, 1u);
  EXPECT_EQ(Read(out[0]), (Vec{11.5}));
}

TEST(Runner, ThreadCountDoesNotChangeResults) {
  const int64_t rows = 3000, h = 8;
  const std::vector<Tensor> in = {Make(DType::kFloat16, {rows, h}, Random(rows * h, 14)), Make(DType::kFloat16, {h}, Random(h, 15))};
  auto one = RunOp("RmsNormOperation", {}, in, nullptr, 1);
  auto two = RunOp("RmsNormOperation", {}, in, nullptr, 2);
  auto all = RunOp("RmsNormOperation", {}, in, nullptr, 0);
  EXPECT_EQ(Read(one[0]), Read(two[0]));
  EXPECT_EQ(Read(one[0]), Read(all[0]));
}

TEST(Gather, EmbeddingLookupEveryDtype) {
  const Vec table = Random(7 * 5, 1);
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt8, DType::kInt32, DType::kInt64}) {
    for (DType it : {DType::kInt32, DType::kInt64}) {
      Vec tv = table;
      if (t == DType::kInt8 || t == DType::kInt32 || t == DType::kInt64)
        for (double& x : tv) x = std::round(x * 100);
      Tensor tab = Make(t, {7, 5}, tv);
      auto out = RunOp("GatherOperation", {{"axis", 0}}, {tab, Make(it, {2, 2}, {6, 0, 3, 6})});
      ASSERT_EQ(out[0].shape, (std::vector<int64_t>{2, 2, 5}));
      EXPECT_EQ(out[0].dtype, t);
      Vec ref, rt = Read(tab);
      for (int r : {6, 0, 3, 6}) ref.insert(ref.end(), rt.begin() + r * 5, rt.begin() + r * 5 + 5);
      EXPECT_EQ(Read(out[0]), ref);
    }
  }
}

TEST(Gather, AxisOneAndBadIndex) {
  Tensor tab = Make(DType::kFloat32, {2, 3}, {0, 1, 2, 10, 11, 12});
  auto out = RunOp("GatherOperation", {{"axis", 1}}, {tab, Make(DType::kInt64, {2}, {2, 0})});
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Read(out[0]), (Vec{2, 0, 12, 10}));
  ExpectError([&] { RunOp("GatherOperation", {}, {tab, Make(DType::kInt32, {1}, {2})}); }, {"GatherOperation", "index 2"});
  ExpectError([&] { RunOp("GatherOperation", {{"axis", 2}}, {tab, Make(DType::kInt32, {1}, {0})}); },
              {"GatherOperation", "axis"});
  ExpectError([] { CreateOperation("GatherOperation", {{"axis", "x"}}); }, {"GatherOperation", "param axis"});
}

Vec RmsNormRef(const Vec& x, const Vec& g, int64_t h, double eps, bool gemma) {
  Vec y(x.size());
  for (size_t r = 0; r < x.size() / h; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < h; ++i) ss += x[r * h + i] * x[r * h + i];
    const double inv = 1.0 / std::sqrt(ss / h + eps);
    for (int64_t i = 0; i < h; ++i) y[r * h + i] = x[r * h + i] * inv * (gemma ? 1 + g[i] : g[i]);
  }
  return y;
}

TEST(RmsNorm, MatchesFloat64EveryDtypeAndShape) {
  for (DType t : kFloatTypes)
    for (auto [rows, h] : {std::pair<int64_t, int64_t>{1, 7}, {5, 33}, {3, 64}})
      for (bool gemma : {false, true}) {
        const Vec x = Rounded(t, Random(rows * h, 2, -3, 3)), g = Rounded(t, Random(h, 3));
        Json p = {{"layerType", 1}, {"normParam", {{"epsilon", 1e-6}, {"modelType", gemma ? 1 : 0}}}};
        auto out = RunOp("RmsNormOperation", p, {Make(t, {rows, h}, x), Make(t, {h}, g)});
        EXPECT_EQ(out[0].dtype, t);
        ExpectNear(out[0], RmsNormRef(x, g, h, 1e-6, gemma), 1, "rmsnorm");
      }
}

TEST(RmsNorm, RejectsBadParamsAndShapes) {
  ExpectError([] { CreateOperation("RmsNormOperation", {{"normParam", {{"epsilon", "tiny"}}}}); },
              {"RmsNormOperation", "normParam.epsilon"});
  ExpectError([] { CreateOperation("RmsNormOperation", {{"layerType", 2}}); }, {"RmsNormOperation", "layerType"});
  ExpectError([] { RunOp("RmsNormOperation", {}, {Make(DType::kFloat32, {2, 4}, Vec(8)), Make(DType::kFloat32, {5}, Vec(5))}); },
              {"RmsNormOperation", "gamma"});
}

TEST(LayerNorm, MatchesFloat64WithBloomParams) {
  // The param object of the Bloom-7B fixture's LayerNormOperation_3_0.
  const Json bloom = Json::parse(R"({"layerType": 1, "normParam": {"beginNormAxis": 2, "beginParamsAxis": 1,
      "epsilon": 0.000009999999747378752, "opMode": 0, "quantInputAlpha": 1, "quantInputOffset": 0,
      "quantInputScale": 1, "quantType": 0, "zoomScaleValue": 1}, "postNormParam": null})");
  for (DType t : kFloatTypes) {
    const int64_t b = 2, s = 3, h = 17;
    const Vec x = Rounded(t, Random(b * s * h, 4, -2, 4)), g = Rounded(t, Random(h, 5)), be = Rounded(t, Random(h, 6));
    auto out = RunOp("LayerNormOperation", bloom, {Make(t, {b, s, h}, x), Make(t, {h}, g), Make(t, {h}, be)});
    Vec ref(x.size());
    for (int64_t r = 0; r < b * s; ++r) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < h; ++i) mean += x[r * h + i] / h;
      for (int64_t i = 0; i < h; ++i) var += (x[r * h + i] - mean) * (x[r * h + i] - mean) / h;
      for (int64_t i = 0; i < h; ++i) ref[r * h + i] = (x[r * h + i] - mean) / std::sqrt(var + 1e-5) * g[i] + be[i];
    }
    ExpectNear(out[0], ref, 1, "layernorm");
  }
  ExpectError([&] { RunOp("LayerNormOperation", bloom, {Make(DType::kFloat32, {1, 4, 6}, Vec(24)),
                                                      Make(DType::kFloat32, {24}, Vec(24)), Make(DType::kFloat32, {24}, Vec(24))}); },
              {"LayerNormOperation", "beginNormAxis"});
}

TEST(Elewise, BinaryWithBroadcastEveryDtype) {
  for (DType t : kFloatTypes)
    for (auto [type, name] : {std::pair<Json, const char*>{8, "add"}, {"ELEWISE_MUL", "mul"}, {15, "sub"}, {10, "div"}}) {
      const Vec a = Rounded(t, Random(3 * 5, 7)), b = Rounded(t, Random(5, 8, 0.5, 2));
      RecordingObserver obs;
      auto out = RunOp("ElewiseOperation", {{"elewiseType", type}}, {Make(t, {3, 5}, a), Make(t, {5}, b)}, &obs);
      Vec ref(a.size());
      for (size_t i = 0; i < a.size(); ++i) {
        const double u = a[i], v = b[i % 5];
        ref[i] = std::string(name) == "add" ? u + v : std::string(name) == "mul" ? u * v : std::string(name) == "sub" ? u - v : u / v;
      }
      ExpectNear(out[0], ref, 1, name);
      ASSERT_EQ(obs.after.size(), 1u);
    }
  ExpectError([] { RunOp("ElewiseOperation", {{"elewiseType", 8}}, {Make(DType::kFloat32, {3}, Vec(3)), Make(DType::kFloat32, {2}, Vec(2))}); },
              {"ElewiseOperation", "broadcast"});
}

TEST(Elewise, MulsCastAndQuant) {
  const Vec x = Random(11, 9, -4, 4);
  auto muls = RunOp("ElewiseOperation", {{"elewiseType", 2}, {"mulsParam", {{"varAttr", 0.125}}}}, {Make(DType::kFloat16, {11}, x)});
  Vec ref = Rounded(DType::kFloat16, x);
  for (double& v : ref) v *= 0.125;
  ExpectNear(muls[0], ref, 1, "muls");

  auto to_half = RunOp("ElewiseOperation", {{"elewiseType", "ELEWISE_CAST"}, {"outTensorType", 1}}, {Make(DType::kFloat32, {11}, x)});
  EXPECT_EQ(to_half[0].dtype, DType::kFloat16);
  EXPECT_EQ(Read(to_half[0]), Rounded(DType::kFloat16, Rounded(DType::kFloat32, x)));
  auto to_int = RunOp("ElewiseOperation", {{"elewiseType", 1}, {"outTensorType", "int32"}}, {Make(DType::kFloat32, {3}, {2.7, -2.7, 0.5})});
  EXPECT_EQ(Read(to_int[0]), (Vec{2, -2, 0}));  // truncation, as torch casts
  auto narrow = RunOp("ElewiseOperation", {{"elewiseType", 1}, {"outTensorType", 3}}, {Make(DType::kInt64, {2}, {5, -7})});
  EXPECT_EQ(Read(narrow[0]), (Vec{5, -7}));

  // Per tensor: round(x / scale) + offset, saturated to int8.
  auto q = RunOp("ElewiseOperation", {{"elewiseType", 6}, {"quantParam", {{"inputScale", 0.5}, {"inputOffset", 3}}}},
               {Make(DType::kFloat32, {5}, {1.0, -1.26, 100, -100, 0.25})});
  EXPECT_EQ(q[0].dtype, DType::kInt8);
  EXPECT_EQ(Read(q[0]), (Vec{5, 0, 127, -128, 3}));
  // Per channel quant then dequant gets back within half a step per channel.
  const Vec xs = Random(4 * 3, 10, -2, 2), scale = {0.02, 0.01, 0.05}, off = {1, 0, -2};
  auto qc = RunOp("ElewiseOperation", {{"elewiseType", 17}},
                {Make(DType::kFloat32, {4, 3}, xs), Make(DType::kFloat32, {3}, scale), Make(DType::kFloat32, {3}, off)});
  auto dq = RunOp("ElewiseOperation", {{"elewiseType", 18}, {"outTensorType", 0}},
                {qc[0], Make(DType::kFloat32, {3}, scale), Make(DType::kFloat32, {3}, off)});
  const Vec back = Read(dq[0]), qv = Read(qc[0]);
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_EQ(qv[i], std::clamp(std::nearbyint(xs[i] / scale[i % 3]) + off[i % 3], -128.0, 127.0));
    EXPECT_NEAR(back[i], xs[i], scale[i % 3] / 2 + 1e-6);
  }
  ExpectError([] { CreateOperation("ElewiseOperation", {{"elewiseType", 1}}); }, {"ElewiseOperation", "outTensorType"});
  ExpectError([] { CreateOperation("ElewiseOperation", {}); }, {"ElewiseOperation", "elewiseType"});
  ExpectError([] { CreateOperation("ElewiseOperation", {{"elewiseType", 99}}); }, {"ElewiseOperation", "elewiseType", "99"});
}

double Sig(double x) { return 1 / (1 + std::exp(-x)); }

TEST(Activation, EveryTypeEveryDtype) {
  struct Case { Json type; Json extra; double (*f)(double); };
  const Case cases[] = {
      {1, {}, [](double x) { return std::max(x, 0.0); }},
      {2, {}, [](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }},
      {2, {{"geluMode", 1}}, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {"ACTIVATION_FAST_GELU", {}, [](double x) { return x * Sig(1.702 * x); }},
      {"silu", {}, [](double x) { return x * Sig(x); }},
      {8, {}, [](double x) { return Sig(x); }},
  };
  for (DType t : kFloatTypes)
    for (const auto& c : cases) {
      Json p = c.extra.is_null() ? Json::object() : c.extra;
      p["activationType"] = c.type;
      const Vec x = Rounded(t, Random(3 * 13, 11, -5, 5));
      auto out = RunOp("ActivationOperation", p, {Make(t, {3, 13}, x)});
      Vec ref(x.size());
      std::transform(x.begin(), x.end(), ref.begin(), c.f);
      ExpectNear(out[0], ref, 1, p.dump());
    }
}

TEST(Activation, SwiGluHalvesDim) {
  for (DType t : kFloatTypes) {
    const Vec x = Rounded(t, Random(2 * 3 * 10, 12, -4, 4));
    RecordingObserver obs;
    auto out = RunOp("ActivationOperation", {{"activationType", 6}, {"dim", -1}}, {Make(t, {2, 3, 10}, x)}, &obs);
    ASSERT_EQ(out[0].shape, (std::vector<int64_t>{2, 3, 5}));
    Vec ref;
    for (int r = 0; r < 6; ++r)
      for (int i = 0; i < 5; ++i) {
        const double a = x[r * 10 + i], b = x[r * 10 + 5 + i];
        ref.push_back(a * Sig(a) * b);
      }
    ExpectNear(out[0], ref, 1, "swiglu");
    EXPECT_EQ(obs.after.at(0).name, "SwiGlu");
  }
  ExpectError([] { RunOp("ActivationOperation", {{"activationType", 6}}, {Make(DType::kFloat32, {2, 3}, Vec(6))}); },
              {"ActivationOperation", "SWIGLU"});
  ExpectError([] { CreateOperation("ActivationOperation", {{"activationType", "tanhh"}}); },
              {"ActivationOperation", "activationType"});
}

TEST(Softmax, LastAndMiddleAxes) {
  for (DType t : kFloatTypes)
    for (int axis : {-1, 1}) {
      const Vec x = Rounded(t, Random(2 * 3 * 5, 13, -6, 6));
      auto out = RunOp("SoftmaxOperation", {{"axes", {axis}}}, {Make(t, {2, 3, 5}, x)});
      Vec ref(x.size());
      const int len = axis == -1 ? 5 : 3, stride = axis == -1 ? 1 : 5;
      for (int o = 0; o < 2; ++o)
        for (int in = 0; in < (axis == -1 ? 3 : 5); ++in) {
          const int base = axis == -1 ? o * 15 + in * 5 : o * 15 + in;
          double mx = -1e300, sum = 0;
          for (int i = 0; i < len; ++i) mx = std::max(mx, x[base + i * stride]);
          for (int i = 0; i < len; ++i) sum += std::exp(x[base + i * stride] - mx);
          for (int i = 0; i < len; ++i) ref[base + i * stride] = std::exp(x[base + i * stride] - mx) / sum;
        }
      ExpectNear(out[0], ref, 1, "softmax");
    }
  ExpectError([] { CreateOperation("SoftmaxOperation", {{"axes", {0, 2}}}); }, {"SoftmaxOperation", "axes"});
}

TEST(SplitConcatTranspose, MoveBytesExactly) {
  Vec x(2 * 6 * 3);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i);
  for (DType t : {DType::kFloat16, DType::kInt32, DType::kBFloat16}) {
    Tensor xt = Make(t, {2, 6, 3}, x);
    auto parts = RunOp("SplitOperation", {{"splitDim", 1}, {"splitNum", 3}}, {xt});
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[1].shape, (std::vector<int64_t>{2, 2, 3}));
    EXPECT_EQ(Read(parts[1])[0], 6);
    EXPECT_EQ(Read(parts[1])[6], 24);
    auto uneven = RunOp("SplitOperation", {{"splitDim", -1}, {"splitNum", 2}, {"splitSizes", {1, 2}}}, {xt});
    EXPECT_EQ(uneven[1].shape, (std::vector<int64_t>{2, 6, 2}));
    auto joined = RunOp("ConcatOperation", {{"concatDim", -1}}, {uneven[0], uneven[1]});
    EXPECT_EQ(Read(joined[0]), x);
    auto tr = RunOp("TransposeOperation", {{"perm", {2, 0, 1}}}, {xt});
    ASSERT_EQ(tr[0].shape, (std::vector<int64_t>{3, 2, 6}));
    const Vec tv = Read(tr[0]);
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 2; ++b)
        for (int c = 0; c < 6; ++c) ASSERT_EQ(tv[(a * 2 + b) * 6 + c], x[(b * 6 + c) * 3 + a]);
  }
  Tensor xt = Make(DType::kFloat32, {2, 5}, Vec(10));
  ExpectError([&] { RunOp("SplitOperation", {{"splitDim", 1}, {"splitNum", 2}}, {xt}); }, {"SplitOperation", "splitNum"});
  ExpectError([&] { RunOp("SplitOperation", {{"splitDim", 2}}, {xt}); }, {"SplitOperation", "splitDim"});
  ExpectError([&] { RunOp("ConcatOperation", {{"concatDim", 0}}, {xt, Make(DType::kFloat32, {2, 4}, Vec(8))}); },
              {"ConcatOperation", "concatDim"});
  ExpectError([] { CreateOperation("TransposeOperation", {{"perm", {0, 0}}}); }, {"TransposeOperation", "perm"});
}

TEST(Sampling, ArgmaxFirstOnTiesInt64AndInt32) {
  Tensor logits = Make(DType::kFloat16, {3, 4}, {0.1, 0.9, 0.9, -1, -5, -4, -6, -4.5, 2, 1, 0, 2});
  RecordingObserver obs;
  auto ids = RunOp("SamplingOperation", {}, {logits}, &obs);
  EXPECT_EQ(ids[0].dtype, DType::kInt64);
  EXPECT_EQ(ids[0].shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(Read(ids[0]), (Vec{1, 1, 0}));
  EXPECT_EQ(obs.after.at(0).name, "ArgMax");
  auto ids32 = RunOp("SamplingOperation", {{"outDataType", 3}}, {logits});
  EXPECT_EQ(ids32[0].dtype, DType::kInt32);
  EXPECT_EQ(Read(ids32[0]), (Vec{1, 1, 0}));
  ExpectError([] { CreateOperation("SamplingOperation", {{"outDataType", 1}}); }, {"SamplingOperation", "outDataType"});
}

}  // namespace
}  // namespace ait::engine::testing
