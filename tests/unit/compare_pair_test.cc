#include <gtest/gtest.h>

#include "ait/compare_pair.h"
#include "ait/tensor_io.h"
#include "test_util.h"

namespace ait {
namespace {

using testing::TempDir;

Tensor Filled(std::vector<int64_t> shape, std::initializer_list<float> values) {
  Tensor t = Tensor::Allocate(DType::kFloat32, std::move(shape));
  std::copy(values.begin(), values.end(), reinterpret_cast<float*>(t.mutable_data()));
  return t;
}

CompareRow Compare(const TempDir& dir, const Tensor& g, const Tensor& m, bool broadcast) {
  WriteTensor(dir.File("g.bin"), g);
  WriteTensor(dir.File("m.bin"), m);
  CompareOptions o;
  o.broadcast = broadcast;
  return ComparePair({"0", "0", dir.File("g.bin"), dir.File("m.bin"), "x"}, o);
}

TEST(ComparePair, IdenticalTensorsScorePerfectly) {
  TempDir dir;
  Tensor t = testing::RandomFloat32({4, 8}, 1);
  CompareRow r = Compare(dir, t, t, false);
  ASSERT_TRUE(r.metrics) << r.fail_reason;
  EXPECT_EQ(r.metrics->cosine_similarity, 1.0);
  EXPECT_EQ(r.metrics->max_absolute_error, 0.0);
  EXPECT_EQ(r.golden->dtype, "torch.float32");
  EXPECT_EQ(r.golden->shape, "[4, 8]");
}

TEST(ComparePair, CountMismatchFailsWithTheOriginalsReasonButKeepsStats) {
  TempDir dir;
  CompareRow r = Compare(dir, Filled({2}, {1, 2}), Filled({3}, {1, 2, 3}), false);
  EXPECT_FALSE(r.metrics);
  EXPECT_EQ(r.fail_reason, "data shape doesn't match.");
  EXPECT_EQ(r.my->stats.max, 3.0);
  EXPECT_EQ(r.golden->stats.mean, 1.5);
}

TEST(ComparePair, NonFiniteValuesFailWithBothReasons) {
  TempDir dir;
  float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  CompareRow r = Compare(dir, Filled({2}, {1, inf}), Filled({2}, {nan, 2}), false);
  EXPECT_FALSE(r.metrics);
  EXPECT_EQ(r.fail_reason, "golden_data includes NAN or inf. my_data includes NAN or inf.");
}

TEST(ComparePair, BatchRuleTilesAlongDimZeroAndBroadcasts) {
  TempDir dir;
  // golden batch 1, my batch 2 holding the same row twice: a broadcast, perfect match.
  CompareRow r = Compare(dir, Filled({1, 3}, {1, 2, 3}), Filled({2, 3}, {1, 2, 3, 1, 2, 3}), true);
  ASSERT_TRUE(r.metrics) << r.fail_reason;
  EXPECT_EQ(r.metrics->cosine_similarity, 1.0);
  EXPECT_EQ(r.golden->shape, "[1, 3]");
  // batch 2 vs 4: no broadcast, tile the smaller twice along dim 0.
  r = Compare(dir, Filled({2, 2}, {1, 2, 3, 4}), Filled({4, 2}, {1, 2, 3, 4, 1, 2, 3, 5}), true);
  ASSERT_TRUE(r.metrics) << r.fail_reason;
  EXPECT_NEAR(r.metrics->max_relative_error, 0.25, 1e-7);
  // [3,1] vs [3,2]: a real broadcast (not a whole repeat) materialized.
  r = Compare(dir, Filled({3, 1}, {1, 2, 3}), Filled({3, 2}, {1, 1, 2, 2, 3, 6}), true);
  ASSERT_TRUE(r.metrics) << r.fail_reason;
  EXPECT_NEAR(r.metrics->max_relative_error, 1.0, 1e-7);
  EXPECT_EQ(r.golden->stats.mean, 2.0);
  // batch 2 vs 3: neither.
  r = Compare(dir, Filled({2, 1}, {1, 2}), Filled({3, 1}, {1, 2, 3}), true);
  EXPECT_FALSE(r.metrics);
  EXPECT_NE(r.fail_reason.find("neither broadcast nor tile"), std::string::npos);
  // Without the batch rule a count mismatch stays a mismatch.
  r = Compare(dir, Filled({1, 3}, {1, 2, 3}), Filled({2, 3}, {1, 2, 3, 1, 2, 3}), false);
  EXPECT_EQ(r.fail_reason, "data shape doesn't match.");
}

TEST(ComparePair, MissingAndCorruptFilesBecomeReasons) {
  TempDir dir;
  WriteTensor(dir.File("g.bin"), Filled({1}, {1}));
  CompareRow r = ComparePair({"0", "0", dir.File("g.bin"), dir.File("nope.bin"), "x"}, {});
  EXPECT_EQ(r.fail_reason, "my_data_path: " + dir.File("nope.bin") + " is not a file.");
  testing::WriteBytes(dir.File("bad.bin"), "garbage");
  r = ComparePair({"0", "0", dir.File("g.bin"), dir.File("bad.bin"), "x"}, {});
  EXPECT_TRUE(r.golden);
  EXPECT_FALSE(r.my);
  EXPECT_NE(r.fail_reason.find(dir.File("bad.bin")), std::string::npos);
}

TEST(ComparePair, DescriptionOnlyFilesAreNotComparable) {
  TempDir dir;
  Tensor desc = Filled({2}, {1, 2});
  desc.has_data = false;
  CompareRow r = Compare(dir, Filled({2}, {1, 2}), desc, false);
  EXPECT_FALSE(r.metrics);
  EXPECT_EQ(r.fail_reason, "my_data: holds a description only (no data).");
  EXPECT_FALSE(r.my->has_stats);
}

TEST(CompareTensors, ScoresInMemoryTensorsAsComparePairScoresTheirFiles) {
  TempDir dir;
  float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<std::pair<Tensor, Tensor>> cases = {
      {testing::RandomFloat32({4, 8}, 1), testing::RandomFloat32({4, 8}, 2)},
      {Filled({2}, {1, 2}), Filled({3}, {1, 2, 3})},
      {Filled({2}, {1, nan}), Filled({2}, {1, 2})},
      {Filled({1, 3}, {1, 2, 3}), Filled({2, 3}, {1, 2, 3, 4, 5, 6})},
  };
  for (bool broadcast : {false, true}) {
    for (const auto& [g, m] : cases) {
      CompareRow files = Compare(dir, g, m, broadcast);
      CompareOptions o;
      o.broadcast = broadcast;
      CompareRow memory = CompareTensors(g, m, o);
      EXPECT_EQ(memory.fail_reason, files.fail_reason);
      ASSERT_EQ(memory.metrics.has_value(), files.metrics.has_value());
      if (memory.metrics) {
        EXPECT_EQ(memory.metrics->cosine_similarity, files.metrics->cosine_similarity);
      }
      EXPECT_EQ(memory.golden->shape, files.golden->shape);
      EXPECT_EQ(memory.my->stats.mean, files.my->stats.mean);
      EXPECT_TRUE(memory.pair.golden_path.empty());
    }
  }
  Tensor complex = Tensor::Allocate(DType::kComplex64, {2});
  EXPECT_EQ(CompareTensors(complex, Filled({2}, {1, 2}), {}).fail_reason,
            "golden_data: dtype torch.complex64 cannot be compared.");
}

TEST(CompareAll, KeepsInputOrderAcrossThreads) {
  TempDir dir;
  std::vector<TensorPair> pairs;
  for (int i = 0; i < 40; ++i) {
    std::string g = dir.File(fmt::format("g{}.bin", i)), m = dir.File(fmt::format("m{}.bin", i));
    WriteTensor(g, Filled({1}, {1.f}));
    WriteTensor(m, Filled({1}, {1.f + static_cast<float>(i)}));
    pairs.push_back({"0", std::to_string(i), g, m, std::to_string(i)});
  }
  auto rows = CompareAll(pairs, {}, nullptr);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(rows[i].metrics);
    EXPECT_NEAR(rows[i].metrics->max_absolute_error, i, 1e-6);
  }
}

}  // namespace
}  // namespace ait
