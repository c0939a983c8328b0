// RunCompare, the whole compare pipeline: which strategy pairs which dumps, why the others
// decline, and reports pinned byte for byte (tests/data/compare_pinned/, written by compare
// before it became a library pipeline; timestamps and the temp folder normalized).
#include "ait/compare_run.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "ait/error.h"
#include "ait/log.h"
#include "compare/pairing/pairing_strategy.h"
#include "unit/synthetic_dumps.h"

namespace ait {
namespace {

namespace fs = std::filesystem;
using testing::EngineLayerOps;
using testing::EngineModel;
using testing::HfModel;
using testing::HfModelOrder;
using testing::TempDir;
using testing::WriteAtbDump;
using testing::WriteTorchDump;

std::string ReadText(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); !from.empty() && at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// The four dumps of the pinned scenarios, written once per test binary run.
class CompareRunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SetLogLevel(LogLevel::kError);  // the pairing lines and notes are not what these tests read
    dir_ = new TempDir();
    const fs::path root = dir_->path();
    WriteAtbDump(root / "atb", EngineModel(2, EngineLayerOps()), true, {"0", "1"});
    WriteAtbDump(root / "quant", EngineModel(2, EngineLayerOps("LinearQuantOperation")), true, {"0", "1"}, "4343");
    WriteTorchDump(root / "torch", HfModel(2), HfModelOrder(2), {"0", "1"});
    WriteTorchDump(root / "torch2", HfModel(2), HfModelOrder(2), {"0", "1"}, "cpu_778");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path Root() { return dir_->path(); }

  CompareResult Run(const std::string& golden, const std::string& my, const std::string& out = "") {
    CompareRequest request;
    request.golden = Root() / golden;
    request.my = Root() / my;
    if (!out.empty()) request.output = Root() / "out" / out;
    return RunCompare(request);
  }

  // Every report of `result` equals the pinned one once its timestamp and the temp folder
  // are replaced as the pinned files have them.
  void ExpectPinned(const CompareResult& result, const std::string& scenario) {
    const fs::path pinned = fs::path(AIT_SOURCE_DIR) / "tests" / "data" / "compare_pinned" / scenario;
    const std::string stem = result.reports.csv.stem().string();
    const std::string stamp = stem.substr(stem.rfind('_') + 1);
    ASSERT_EQ(stamp.size(), 14u) << stem;
    for (const auto& [written, name] : {std::pair{result.reports.csv, "report.csv"},
                                        std::pair{result.reports.json, "summary.json"},
                                        std::pair{result.reports.html, "report.html"}}) {
      const std::string got = ReplaceAll(ReplaceAll(ReadText(written), stamp, "{STAMP}"), Root().string(), "{ROOT}");
      if (std::getenv("AIT_UPDATE_PINNED")) {  // after an intended report change (tests/data/compare_pinned/README.md)
        std::ofstream(pinned / name, std::ios::binary) << got;
        continue;
      }
      const std::string want = ReadText(pinned / name);
      ASSERT_FALSE(want.empty()) << pinned / name;
      EXPECT_TRUE(got == want) << scenario << "/" << name << " differs from the pinned report (" << got.size()
                               << " vs " << want.size() << " bytes)";
    }
  }

  static TempDir* dir_;
};

TempDir* CompareRunTest::dir_ = nullptr;

// The refusal of `strategy` in `r`, or nullptr when it was not asked or accepted.
const StrategyRefusal* RefusalOf(const CompareResult& r, const std::string& strategy) {
  for (const StrategyRefusal& x : r.refusals)
    if (x.strategy == strategy) return &x;
  return nullptr;
}

size_t Blocked(const CompareResult& r) {
  size_t n = 0;
  for (const StrategyRefusal& x : r.refusals) n += x.blocked;
  return n;
}

TEST_F(CompareRunTest, AtbAgainstTorchPinned) {
  CompareResult r = Run("torch", "atb", "atb_torch");
  EXPECT_EQ(r.strategy, "atb-torch");
  const StrategyRefusal* torch_torch = RefusalOf(r, "torch-torch");
  ASSERT_NE(torch_torch, nullptr);
  EXPECT_EQ(torch_torch->reason, "not two torch dumps");
  EXPECT_NE(RefusalOf(r, "manual-mapping"), nullptr);  // asked first, as the original decides it first
  EXPECT_EQ(Blocked(r), 0u);
  ExpectPinned(r, "atb_torch");
}

TEST_F(CompareRunTest, TorchAgainstAtbPinned) {
  CompareResult r = Run("atb", "torch", "torch_atb");
  EXPECT_EQ(r.strategy, "atb-torch");
  EXPECT_EQ(r.pairing.strategy, "torch model vs ATB model (topology + alignment)");
  ExpectPinned(r, "torch_atb");
}

TEST_F(CompareRunTest, FloatAgainstQuantPinned) {
  CompareResult r = Run("atb", "quant", "float_quant");
  EXPECT_EQ(r.strategy, "float-quant");
  EXPECT_TRUE(r.pairing.broadcast);
  ExpectPinned(r, "float_quant");
}

TEST_F(CompareRunTest, TorchAgainstTorchPinned) {
  CompareResult r = Run("torch", "torch2", "torch_torch");
  EXPECT_EQ(r.strategy, "torch-torch");
  EXPECT_EQ(RefusalOf(r, "atb-torch"), nullptr);  // asked after it
  EXPECT_EQ(Blocked(r), 0u);
  ExpectPinned(r, "torch_torch");
}

TEST_F(CompareRunTest, SameGraphFallsBackToPathWithEveryDeclineGiven) {
  CompareResult r = Run("atb", "atb");
  EXPECT_EQ(r.strategy, "path");
  ASSERT_EQ(r.refusals.size(), PairingStrategies().size() - 1);  // every other strategy said why
  for (const StrategyRefusal& x : r.refusals) EXPECT_FALSE(x.reason.empty()) << x.strategy;
  const StrategyRefusal* float_quant = RefusalOf(r, "float-quant");
  ASSERT_NE(float_quant, nullptr);
  EXPECT_EQ(float_quant->reason, "both dumps have the same model topology");
  EXPECT_EQ(Blocked(r), 0u);
  EXPECT_TRUE(r.reports.csv.empty());  // no output folder: nothing written
  EXPECT_FALSE(r.rows.empty());
  EXPECT_EQ(r.analysis.ops.size(), r.pairing.ops.size());
  EXPECT_EQ(r.analysis.introducing, 0u);  // a dump against itself
}

TEST_F(CompareRunTest, RowsAreTheCsvRowsInOrder) {
  CompareResult r = Run("torch", "atb", "rows");
  std::istringstream csv(ReadText(r.reports.csv));
  std::string line;
  std::getline(csv, line);  // header
  size_t n = 0;
  while (std::getline(csv, line)) {
    ASSERT_LT(n, r.rows.size());
    EXPECT_EQ(CsvCells(r.rows[n]).at(1), std::to_string(n));  // data_id
    ++n;
  }
  EXPECT_EQ(n, r.rows.size());
}

TEST_F(CompareRunTest, BlockedStrategiesSayWhyAndTheFallbackStillRuns) {
  // A torch dump against a folder that is no ATB dump: atb-torch is blocked, path pairs nothing,
  // and the error is atb-torch's reason, the more useful one.
  fs::create_directories(Root() / "empty" / "x");
  try {
    Run("torch", "empty");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an ATB dump"), std::string::npos) << e.what();
  }
  DumpPair dumps(Root() / "torch", Root() / "empty", BuiltinOpMapping());
  StrategyChoice choice = ChooseStrategy(dumps);
  ASSERT_NE(choice.chosen, nullptr);
  EXPECT_EQ(choice.chosen->name(), "path");
  EXPECT_NE(choice.FirstBlock().find("not an ATB dump"), std::string::npos);
}

TEST_F(CompareRunTest, MissingPathsAndMixedKindsAreErrors) {
  EXPECT_THROW(Run("nope", "atb"), Error);
  const fs::path file = Root() / "atb/ait_dump/tensors/0_4242/0/0_GatherOperation/after/outtensor0.bin";
  CompareRequest request;
  request.golden = Root() / "atb";
  request.my = file;
  EXPECT_THROW(RunCompare(request), Error);
}

TEST_F(CompareRunTest, TwoFilesGiveOneRow) {
  const fs::path file = Root() / "atb/ait_dump/tensors/0_4242/0/0_GatherOperation/after/outtensor0.bin";
  CompareRequest request;
  request.golden = file;
  request.my = file;
  CompareResult r = RunCompare(request);
  EXPECT_FALSE(r.folders);
  ASSERT_EQ(r.rows.size(), 1u);
  ASSERT_TRUE(r.rows[0].metrics);
  EXPECT_DOUBLE_EQ(r.rows[0].metrics->cosine_similarity, 1.0);
  EXPECT_EQ(CompareSummaryJson(r), "null");
}

TEST(PairingStrategies, RegistryOrderEndsWithTheFallback) {
  const auto& all = PairingStrategies();
  ASSERT_GE(all.size(), 2u);
  EXPECT_TRUE(all.back()->fallback());
  for (size_t i = 0; i + 1 < all.size(); ++i) EXPECT_FALSE(all[i]->fallback()) << all[i]->name();
  auto listed = ListPairingStrategies();
  ASSERT_EQ(listed.size(), all.size());
  EXPECT_EQ(listed.front().first, all.front()->name());
}

}  // namespace
}  // namespace ait
