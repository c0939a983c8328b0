// Fault injection: spec parsing, glob matching, every kind's effect on a tensor in each float
// storage dtype, and the observer perturbing an op's outputs before downstream ops and a
// chained observer see them.
#include "ait_engine/perturb.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "op_test_util.h"

namespace ait::engine {
namespace {

using testing::ExpectError;
using testing::Make;
using testing::Read;
using testing::Vec;

constexpr DType kFloatTypes[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};

TEST(Perturb, ParsesSpecsWithDefaults) {
  struct Case {
    const char* spec;
    const char* pattern;
    PerturbKind kind;
    double mag;
  };
  for (const Case& c : {Case{"LinearOperation_3_2=noise", "LinearOperation_3_2", PerturbKind::kNoise, 0.1},
                        Case{"LlamaLayer_3=noise:0.5", "LlamaLayer_3", PerturbKind::kNoise, 0.5},
                        Case{"*RmsNorm*=scale", "*RmsNorm*", PerturbKind::kScale, 2.0},
                        Case{"a=scale:-1e-3", "a", PerturbKind::kScale, -1e-3},
                        Case{"a=bias", "a", PerturbKind::kBias, 1.0}, Case{"a=bias:-2.5", "a", PerturbKind::kBias, -2.5},
                        Case{"a=zero", "a", PerturbKind::kZero, 0.0}, Case{"a=nan", "a", PerturbKind::kNan, 0.01},
                        Case{"a=inf:0.5", "a", PerturbKind::kInf, 0.5},
                        Case{"a=fp16-saturate", "a", PerturbKind::kFp16Saturate, 0.0},
                        Case{"x=y=zero", "x=y", PerturbKind::kZero, 0.0}}) {
    const Perturbation p = Perturbation::Parse(c.spec);
    EXPECT_EQ(p.spec, c.spec);
    EXPECT_EQ(p.pattern, c.pattern) << c.spec;
    EXPECT_EQ(p.kind, c.kind) << c.spec;
    EXPECT_DOUBLE_EQ(p.magnitude, c.mag) << c.spec;
  }
  EXPECT_EQ(PerturbKindName(PerturbKind::kFp16Saturate), "fp16-saturate");
}

TEST(Perturb, RejectsBadSpecs) {
  ExpectError([] { Perturbation::Parse("LlamaLayer_3"); }, {"'LlamaLayer_3'", "no '='", "PATTERN=KIND[:MAG]"});
  ExpectError([] { Perturbation::Parse("=zero"); }, {"empty PATTERN"});
  ExpectError([] { Perturbation::Parse("a=flip"); }, {"unknown KIND 'flip'"});
  ExpectError([] { Perturbation::Parse("a="); }, {"unknown KIND ''"});
  ExpectError([] { Perturbation::Parse("a=scale:"); }, {"MAG '' is not a finite number"});
  ExpectError([] { Perturbation::Parse("a=scale:2x"); }, {"MAG '2x'"});
  ExpectError([] { Perturbation::Parse("a=scale:inf"); }, {"MAG 'inf'"});
  ExpectError([] { Perturbation::Parse("a=bias:nan"); }, {"MAG 'nan'"});
  ExpectError([] { Perturbation::Parse("a=noise:-1"); }, {"noise MAG must be >= 0"});
  ExpectError([] { Perturbation::Parse("a=nan:0"); }, {"in (0, 1]"});
  ExpectError([] { Perturbation::Parse("a=inf:1.5"); }, {"in (0, 1]"});
  ExpectError([] { Perturbation::Parse("a=zero:1"); }, {"KIND zero takes no MAG"});
  ExpectError([] { Perturbation::Parse("a=fp16-saturate:1"); }, {"takes no MAG"});
  ExpectError([] { Perturbation::Parse("Linear[13=zero"); }, {"'[' without its ']'"});
}

TEST(Perturb, GlobMatching) {
  EXPECT_TRUE(GlobMatch("LinearOperation_3_2", "LinearOperation_3_2"));
  EXPECT_FALSE(GlobMatch("LinearOperation_3_2", "LinearOperation_3_21"));
  EXPECT_FALSE(GlobMatch("LinearOperation_3", "LinearOperation_3_2"));  // whole name
  EXPECT_TRUE(GlobMatch("*RmsNorm*", "RmsNormOperation_1_8"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*_3_*", "LinearOperation_3_13"));
  EXPECT_FALSE(GlobMatch("*_3_*", "LlamaLayer_3"));
  EXPECT_TRUE(GlobMatch("LlamaLayer_?", "LlamaLayer_7"));
  EXPECT_FALSE(GlobMatch("LlamaLayer_?", "LlamaLayer_12"));
  EXPECT_TRUE(GlobMatch("Linear*_[12]_[1-3]", "LinearOperation_2_3"));
  EXPECT_FALSE(GlobMatch("Linear*_[12]_[1-3]", "LinearOperation_2_4"));
  EXPECT_TRUE(GlobMatch("LlamaLayer_[!1]", "LlamaLayer_2"));
  EXPECT_FALSE(GlobMatch("LlamaLayer_[^12]", "LlamaLayer_2"));
  EXPECT_TRUE(GlobMatch("a\\*b", "a*b"));
  EXPECT_FALSE(GlobMatch("a\\*b", "axb"));
  EXPECT_TRUE(GlobMatch("*a*a*b", "xaaab"));
  EXPECT_FALSE(GlobMatch("*a*a*b", "xab"));
}

Tensor Values(DType t, const Vec& v) { return Make(t, {static_cast<int64_t>(v.size())}, v); }

TEST(Perturb, ScaleBiasZeroRoundToTheStorageDtype) {
  const Vec x = {1.0, -0.3, 2.5, 0.0, 1000.1};
  for (DType t : kFloatTypes) {
    const Vec stored = Read(Values(t, x));
    for (const char* spec : {"a=scale:3", "a=bias:-0.7", "a=zero"}) {
      const Perturbation p = Perturbation::Parse(spec);
      Tensor v = Values(t, x);
      p.Apply(v);
      const Vec got = Read(v);
      for (size_t i = 0; i < x.size(); ++i) {
        const float f = static_cast<float>(stored[i]);
        const float want = p.kind == PerturbKind::kScale  ? f * 3.0f
                           : p.kind == PerturbKind::kBias ? static_cast<float>(static_cast<double>(f) - 0.7)
                                                          : 0.0f;
        EXPECT_EQ(got[i], ops::RoundTo(t, want)) << spec << " " << ShortName(t) << " element " << i;
      }
    }
  }
}

TEST(Perturb, NanAndInfHitEveryHundredthElement) {
  for (DType t : kFloatTypes) {
    for (PerturbKind kind : {PerturbKind::kNan, PerturbKind::kInf}) {
      const Perturbation p = Perturbation::Parse(kind == PerturbKind::kNan ? "a=nan" : "a=inf");
      Tensor v = Make(t, {3, 100}, Vec(300, 0.5));
      p.Apply(v);
      const Vec got = Read(v);
      for (size_t i = 0; i < got.size(); ++i) {
        if (i % 100 == 0) {
          if (kind == PerturbKind::kNan) EXPECT_TRUE(std::isnan(got[i])) << i;
          else EXPECT_EQ(got[i], std::numeric_limits<double>::infinity()) << i;
        } else {
          EXPECT_EQ(got[i], 0.5) << i;
        }
      }
    }
    // At least one element; a fraction picks every round(1/FRAC)-th.
    Tensor one = Values(t, {2.0});
    Perturbation::Parse("a=nan").Apply(one);
    EXPECT_TRUE(std::isnan(Read(one)[0]));
    Tensor q = Values(t, Vec(8, 1.0));
    Perturbation::Parse("a=inf:0.25").Apply(q);
    EXPECT_EQ(Read(q), (Vec{INFINITY, 1, 1, 1, INFINITY, 1, 1, 1}));
  }
}

TEST(Perturb, Fp16SaturateOverflowsLikeAnFp16Cast) {
  const Vec x = {1.5, 65504, -65504, 65510, -65519, 65520, -1e6, 3e38, NAN};
  Tensor v = Values(DType::kFloat32, x);
  Perturbation::Parse("a=fp16-saturate").Apply(v);
  const Vec got = Read(v);
  const Vec want = {1.5, 65504, -65504, 65504, -65504, INFINITY, -INFINITY, INFINITY};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << i;
  EXPECT_TRUE(std::isnan(got[8]));
  // An fp32 -> fp16 cast of the finite inputs agrees.
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(ops::RoundTo(DType::kFloat16, static_cast<float>(x[i])), want[i]) << i;
  // bf16 storage keeps inf; the clamped 65504 rounds to bf16's 65536.
  Tensor b = Values(DType::kBFloat16, {1e6, -2.0});
  Perturbation::Parse("a=fp16-saturate").Apply(b);
  EXPECT_EQ(Read(b), (Vec{INFINITY, -2.0}));
}

TEST(Perturb, NoiseIsSeededAndScaledByTheRms) {
  const size_t n = 20000;
  Vec x(n);
  for (size_t i = 0; i < n; ++i) x[i] = (i % 2 ? 3.0 : -3.0);  // rms 3
  const Perturbation p = Perturbation::Parse("a=noise:0.2");
  Tensor a = Values(DType::kFloat32, x), b = Values(DType::kFloat32, x), c = Values(DType::kFloat32, x);
  p.Apply(a, 7);
  p.Apply(b, 7);
  p.Apply(c, 8);
  const Vec ga = Read(a), gb = Read(b), gc = Read(c);
  EXPECT_EQ(ga, gb);
  EXPECT_NE(ga, gc);
  double mean = 0, sq = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = ga[i] - x[i];
    mean += d;
    sq += d * d;
  }
  mean /= n;
  const double sd = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.03);
  EXPECT_NEAR(sd, 0.2 * 3.0, 0.02);
  // Zero rms or MAG 0: unchanged.
  Tensor z = Values(DType::kFloat32, Vec(10, 0.0));
  p.Apply(z, 1);
  EXPECT_EQ(Read(z), Vec(10, 0.0));
  Tensor m = Values(DType::kBFloat16, {1.0, 2.0});
  Perturbation::Parse("a=noise:0").Apply(m, 1);
  EXPECT_EQ(Read(m), (Vec{1.0, 2.0}));
  // Other dtypes: the noisy value rounded to the storage.
  Tensor h = Values(DType::kFloat16, Vec(64, 1.0));
  p.Apply(h, 3);
  const Vec gh = Read(h);
  int changed = 0;
  for (double v : gh) {
    EXPECT_EQ(v, ops::RoundTo(DType::kFloat16, static_cast<float>(v)));
    changed += v != 1.0;
  }
  EXPECT_GT(changed, 32);
  EXPECT_EQ(PerturbSeed("LinearOperation_4", 0, 0), PerturbSeed("LinearOperation_4", 0, 0));
  EXPECT_NE(PerturbSeed("LinearOperation_4", 0, 0), PerturbSeed("LinearOperation_4", 1, 0));
  EXPECT_NE(PerturbSeed("LinearOperation_4", 0, 0), PerturbSeed("LinearOperation_3", 0, 0));
}

TEST(Perturb, IntegerTensorsAreLeftAlone) {
  Tensor v = Make(DType::kInt32, {3}, {1, 2, 3});
  Perturbation::Parse("a=scale:5").Apply(v);
  EXPECT_EQ(Read(v), (Vec{1, 2, 3}));
}

// A recorder that sees the after-op outputs (as a probe would).
struct Recorder : ExecutionObserver {
  bool WantsKernels() const override { return false; }
  void AfterOperation(const OpEvent& op) override {
    names.push_back(OperationName(op.op, op.ids));
    outs.push_back(Read(op.out[0]));
  }
  std::vector<std::string> names;
  std::vector<Vec> outs;
};

// G(a, b) = (a + b) * b; node 0 Add, node 1 Mul.
std::vector<TopLevelOperation> Model() {
  GraphBuilder g("G", Json::object(), {"a", "b"}, {"out"});
  g.Add(CreateOperation("ElewiseOperation", {{"elewiseType", 8}}), {"a", "b"}, {"sum"});
  g.Add(CreateOperation("ElewiseOperation", {{"elewiseType", 9}}), {"sum", "b"}, {"out"});
  std::vector<TopLevelOperation> ops;
  ops.emplace_back(0, CreateOperation("ActivationOperation", {{"activationType", 1}}));
  ops.emplace_back(1, g.Build());
  return ops;
}

TEST(Perturb, ObserverNamesMatchGraphInfoAndFaultsFlowDownstream) {
  auto ops = Model();
  const auto names = OperationNames(ops);
  EXPECT_EQ(names, (std::vector<std::string>{"ActivationOperation_0", "G_1", "ElewiseOperation_1_0",
                                             "ElewiseOperation_1_1"}));
  EXPECT_EQ(ops[1].GraphInfo()["nodes"][0]["opName"], names[2]);
  EXPECT_EQ(ops[0].GraphInfo()["opName"], names[0]);

  for (DType t : kFloatTypes) {
    auto model = Model();
    const Tensor a = Make(t, {2}, {1.0, -2.0}), b = Make(t, {2}, {0.5, 3.0});
    // Scale the Add node by 2: Mul reads (2 * (a + b)) * b; the recorder (chained after) sees
    // the faulty sum.
    Recorder rec;
    PerturbingObserver obs({Perturbation::Parse("ElewiseOperation_1_0=scale:2")}, &rec);
    const Tensor h = model[0].Run({a}, 0, &obs)[0];
    const Tensor out = model[1].Run({h, b}, 0, &obs)[0];
    EXPECT_EQ(Read(out), (Vec{(2 * (1.0 + 0.5)) * 0.5, (2 * (0.0 + 3.0)) * 3.0})) << ShortName(t);
    ASSERT_EQ(rec.names.size(), 4u);
    EXPECT_EQ(rec.names[1], "ElewiseOperation_1_0");
    EXPECT_EQ(rec.outs[1], (Vec{3.0, 6.0}));
    EXPECT_EQ(obs.applied(), (std::vector<uint64_t>{1}));
    // Every execution of the matched op is perturbed.
    model[1].Run({h, b}, 0, &obs);
    EXPECT_EQ(obs.applied(), (std::vector<uint64_t>{2}));
  }
  // Several specs apply in order: bias then scale on the graph's output.
  auto model = Model();
  PerturbingObserver obs({Perturbation::Parse("G_?=bias:1"), Perturbation::Parse("G*=scale:10")});
  const Tensor out = model[1].Run({Make(DType::kFloat32, {1}, {1.0}), Make(DType::kFloat32, {1}, {2.0})}, 0, &obs)[0];
  EXPECT_EQ(Read(out), (Vec{((1.0 + 2.0) * 2.0 + 1.0) * 10.0}));
}

// Records what a probe chained second sees of kernels and operations.
struct KernelRecorder : ExecutionObserver {
  void AfterKernel(const OpEvent& op, size_t, std::string_view kernel, const std::vector<const Tensor*>&,
                   const std::vector<const Tensor*>& out) override {
    seen.push_back(fmt::format("{}:{}={}", OperationName(op.op, op.ids), kernel, fmt::join(Read(*out[0]), ",")));
  }
  void AfterOperation(const OpEvent& op) override {
    seen.push_back(fmt::format("{}={}", OperationName(op.op, op.ids), fmt::join(Read(op.out[0]), ",")));
  }
  std::vector<std::string> seen;
};

TEST(Perturb, LeafFaultLandsInTheWritingKernelBeforeTheNextObserverSeesIt) {
  auto model = Model();
  KernelRecorder rec;
  PerturbingObserver perturber({Perturbation::Parse("ElewiseOperation_1_0=scale:2")});
  ObserverChain chain(&perturber, &rec);  // as LlamaModel chains a given observer and its probe hooks
  EXPECT_TRUE(chain.WantsKernels());
  model[1].Run({Make(DType::kFloat32, {1}, {1.0}), Make(DType::kFloat32, {1}, {2.0})}, 0, &chain);
  // (1 + 2) * 2 = 6 from the Add kernel on; Mul reads it: 6 * 2 = 12.
  EXPECT_EQ(rec.seen, (std::vector<std::string>{"ElewiseOperation_1_0:Add=6", "ElewiseOperation_1_0=6",
                                                "ElewiseOperation_1_1:Mul=12", "ElewiseOperation_1_1=12", "G_1=12"}));
  EXPECT_EQ(perturber.applied(), (std::vector<uint64_t>{1}));
}

}  // namespace
}  // namespace ait::engine
