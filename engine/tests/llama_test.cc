// The Llama model on a tiny random checkpoint (written by the same code as `ait-engine init`):
// KV-cache decoding equals full prefill, storage dtypes and quantization really differ yet
// stay close, thread counts agree, op ids / execute counts / graph info, and bad checkpoints
// give errors naming the file and tensor.
#include "ait_engine/llama.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "ait/tensor_io.h"
#include "op_test_util.h"

namespace ait::engine {
namespace {

namespace fs = std::filesystem;
using testing::Read;

const std::vector<int32_t> kTokens = {5, 17, 42, 99, 3, 8, 200};
constexpr size_t kPrompt = 3;

std::string TinyDir() {
  static const std::string dir = [] {
    const std::string d = (fs::path(::testing::TempDir()) / ("ait_llama_tiny_" + std::to_string(::getpid()))).string();
    WriteRandomCheckpoint(d, *LlamaConfig::Preset("tiny"), 7);
    return d;
  }();
  return dir;
}

// Removes the tiny checkpoint after the last test.
class RemoveTinyDir : public ::testing::Environment {
 public:
  void TearDown() override { fs::remove_all(TinyDir()); }
};
const auto* const kRemoveTinyDir = ::testing::AddGlobalTestEnvironment(new RemoveTinyDir);

// Last-position logits (float64) of every step: prefill kTokens[:kPrompt], then one token at a
// time (teacher-forced, so different dtypes see the same inputs).
std::vector<std::vector<double>> CachedLogits(const LlamaOptions& options) {
  LlamaModel model(TinyDir(), options);
  model.Reset(static_cast<int64_t>(kTokens.size()));
  const int64_t vocab = model.config().vocab_size;
  std::vector<std::vector<double>> steps;
  std::vector<int32_t> ids(kTokens.begin(), kTokens.begin() + kPrompt);
  for (size_t next = kPrompt; next <= kTokens.size(); ++next) {
    const auto logits = Read(model.Forward(std::vector<std::vector<int32_t>>(options.batch, ids)));
    const size_t n = ids.size();
    for (int64_t b = 0; b < options.batch; ++b) {
      const size_t row = b * n + n - 1;
      steps.emplace_back(logits.begin() + row * vocab, logits.begin() + (row + 1) * vocab);
    }
    if (next < kTokens.size()) ids = {kTokens[next]};
  }
  return steps;
}

double MaxAbsDiff(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b) {
  double d = 0;
  for (size_t s = 0; s < a.size(); ++s)
    for (size_t i = 0; i < a[s].size(); ++i) d = std::max(d, std::fabs(a[s][i] - b[s][i]));
  return d;
}

double Cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  return ab / std::sqrt(aa * bb);
}

TEST(Llama, KvCacheDecodingEqualsFullPrefill) {
  const auto cached = CachedLogits({});
  LlamaModel model(TinyDir(), {});
  const int64_t vocab = model.config().vocab_size;
  std::vector<std::vector<double>> full;
  for (size_t len = kPrompt; len <= kTokens.size(); ++len) {
    model.Reset(static_cast<int64_t>(len));
    const auto logits = Read(model.Forward({std::vector<int32_t>(kTokens.begin(), kTokens.begin() + len)}));
    full.emplace_back(logits.end() - vocab, logits.end());
  }
  ASSERT_EQ(cached.size(), full.size());
  EXPECT_LT(MaxAbsDiff(cached, full), 1e-5);
}

TEST(Llama, StorageDtypesAndQuantizationDifferButStayClose) {
  const auto golden = CachedLogits({});
  struct Case {
    DType dtype;
    Quant quant;
  };
  for (const Case& c : {Case{DType::kFloat16, Quant::kNone}, Case{DType::kBFloat16, Quant::kNone},
                        Case{DType::kFloat32, Quant::kW8A16}, Case{DType::kFloat32, Quant::kW8A8},
                        Case{DType::kFloat16, Quant::kW8A8}}) {
    LlamaOptions o;
    o.dtype = c.dtype;
    o.quant = c.quant;
    const auto got = CachedLogits(o);
    SCOPED_TRACE(std::string(ShortName(c.dtype)) + " " + std::string(QuantName(c.quant)));
    EXPECT_GT(MaxAbsDiff(got, golden), 0.0);
    for (size_t s = 0; s < got.size(); ++s) EXPECT_GT(Cosine(got[s], golden[s]), 0.99) << "step " << s;
  }
}

TEST(Llama, DeterministicAcrossThreadCounts) {
  LlamaOptions one, two, all;
  one.threads = 1, two.threads = 2, all.threads = 0;
  const auto a = CachedLogits(one);
  EXPECT_LE(MaxAbsDiff(a, CachedLogits(two)), 1e-6);
  EXPECT_LE(MaxAbsDiff(a, CachedLogits(all)), 1e-6);
}

TEST(Llama, BatchRowsMatchSingleSequence) {
  LlamaOptions b3;
  b3.batch = 3;
  const auto single = CachedLogits({});
  const auto batched = CachedLogits(b3);
  ASSERT_EQ(batched.size(), single.size() * 3);
  for (size_t s = 0; s < single.size(); ++s)
    for (size_t b = 0; b < 3; ++b) EXPECT_LE(MaxAbsDiff({batched[s * 3 + b]}, {single[s]}), 1e-6);
}

TEST(Llama, OperationIdsExecuteCountsAndGraphInfo) {
  LlamaModel model(TinyDir(), {});
  const auto& ops = model.operations();
  const size_t layers = static_cast<size_t>(model.config().num_hidden_layers);
  ASSERT_EQ(ops.size(), layers + 3);
  EXPECT_EQ(ops[0].op().type(), "GatherOperation");
  for (size_t i = 1; i <= layers; ++i) EXPECT_EQ(ops[i].op().type(), "LlamaLayer");
  EXPECT_EQ(ops[layers + 1].op().type(), "RmsNormOperation");
  EXPECT_EQ(ops[layers + 2].op().type(), "LinearOperation");
  for (size_t i = 0; i < ops.size(); ++i) EXPECT_EQ(ops[i].id(), static_cast<int64_t>(i));

  const auto r = Generate(model, {1, 2, 3}, 4);
  ASSERT_EQ(r.tokens.size(), 1u);
  EXPECT_EQ(r.tokens[0].size(), 4u);
  EXPECT_EQ(r.logits.shape, (std::vector<int64_t>{4, 1, model.config().vocab_size}));
  for (const auto& op : ops) EXPECT_EQ(op.execute_count(), 4u);  // one per forward step

  const Json info = ops[2].GraphInfo();
  EXPECT_EQ(info["opName"], "LlamaLayer_2");
  EXPECT_EQ(info["opType"], "LlamaLayer");
  EXPECT_EQ(info["nodes"][1]["opName"], "LinearOperation_2_1");
  EXPECT_EQ(info["nodes"][5]["opName"], "SelfAttentionOperation_2_5");
  EXPECT_EQ(info["nodes"].size(), 15u);
  const Json topo = model.TopologyInfo();
  EXPECT_EQ(topo["modelName"], "LlamaModel");
  EXPECT_EQ(topo["nodes"].size(), layers + 3);
  EXPECT_EQ(topo["nodes"][1]["opName"], "LlamaLayer");
}

TEST(Llama, ObserverSeesEveryOperationWithTheStepCount) {
  struct Count : ExecutionObserver {
    bool WantsKernels() const override { return false; }
    std::vector<std::pair<std::string, uint64_t>> seen;
    void BeforeOperation(const OpEvent& e) override { seen.emplace_back(IdString(e.ids), e.execute_count); }
  } obs;
  LlamaModel model(TinyDir(), {});
  Generate(model, {1, 2}, 2, &obs);
  // Per step: embedding, (layer + 15 nodes) x 2, final norm, lm head = 35 operations.
  ASSERT_EQ(obs.seen.size(), 70u);
  EXPECT_EQ(obs.seen[0], (std::pair<std::string, uint64_t>{"0", 0}));
  EXPECT_EQ(obs.seen[1], (std::pair<std::string, uint64_t>{"1", 0}));
  EXPECT_EQ(obs.seen[2], (std::pair<std::string, uint64_t>{"1_0", 0}));
  EXPECT_EQ(obs.seen[69], (std::pair<std::string, uint64_t>{"4", 1}));
}

// --- Bad checkpoints ---------------------------------------------------------------------

class BadCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::path(::testing::TempDir()) / ("ait_llama_bad_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy_file(fs::path(TinyDir()) / "config.json", fs::path(dir_) / "config.json");
    tensors_ = SafetensorsFormat().ReadAll((fs::path(TinyDir()) / "model.safetensors").string());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string ErrorOf() {
    SafetensorsFormat().WriteAll(weights(), tensors_);
    try {
      LlamaModel model(dir_, {});
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "loading did not fail";
    return "";
  }
  std::string weights() const { return (fs::path(dir_) / "model.safetensors").string(); }
  std::string dir_;
  NamedTensors tensors_;
};

TEST_F(BadCheckpoint, MissingTensor) {
  std::erase_if(tensors_, [](const auto& t) { return t.first == "model.layers.1.mlp.up_proj.weight"; });
  const std::string e = ErrorOf();
  EXPECT_NE(e.find(weights()), std::string::npos) << e;
  EXPECT_NE(e.find("tensor 'model.layers.1.mlp.up_proj.weight' is missing"), std::string::npos) << e;
}

TEST_F(BadCheckpoint, WrongShape) {
  for (auto& [name, t] : tensors_)
    if (name == "model.layers.0.self_attn.k_proj.weight") t = Tensor::Allocate(DType::kFloat32, {64, 64});
  const std::string e = ErrorOf();
  EXPECT_NE(e.find("tensor 'model.layers.0.self_attn.k_proj.weight' has shape [64, 64], expected [32, 64]"),
            std::string::npos)
      << e;
}

TEST_F(BadCheckpoint, BadConfig) {
  const std::string config = (fs::path(dir_) / "config.json").string();
  std::ofstream(config) << R"({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 256})";
  std::string e = ErrorOf();
  EXPECT_NE(e.find(config + ": key 'intermediate_size' is missing"), std::string::npos) << e;
  std::ofstream(config) << "{not json";
  e = ErrorOf();
  EXPECT_NE(e.find(config + ": is not valid JSON"), std::string::npos) << e;
  fs::remove(config);
  e = ErrorOf();
  EXPECT_NE(e.find(config + ": cannot open"), std::string::npos) << e;
}

TEST_F(BadCheckpoint, MissingWeightFile) {
  try {
    LlamaModel model(dir_, {});
    FAIL() << "loading did not fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(weights() + ": missing"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ait::engine
