// Strategy "manual-mapping" (src/compare/pairing/pair_manual_mapping.cc): a golden folder
// holding golden_tensor/metadata.json written by dump_data (FORMATS.md 6, 7.2) compares the
// recorded file pairs. Recognition at every level of the dump, rows and ids in the file's
// order, malformed metadata and hostile entries, path resolution.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "ait/compare_run.h"
#include "ait/error.h"
#include "ait/log.h"
#include "compare/pairing/pairing_strategy.h"
#include "unit/synthetic_dumps.h"

namespace ait {
namespace {

namespace fs = std::filesystem;
using testing::RandomFloat32;
using testing::TempDir;
using testing::WriteBin;
using testing::WriteText;

// Runs a body with the current folder set to `dir`, restoring it after.
class InFolder {
 public:
  explicit InFolder(const fs::path& dir) : saved_(fs::current_path()) { fs::current_path(dir); }
  ~InFolder() { fs::current_path(saved_); }

 private:
  fs::path saved_;
};

std::string Str(const fs::path& p) { return nlohmann::json(p.string()).dump(); }

// The same file (the current folder may be reported through a symbolic link's target).
::testing::AssertionResult Same(const std::string& got, const fs::path& want) {
  if (fs::weakly_canonical(got) == fs::weakly_canonical(want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << got << " is not " << want;
}

class ManualMappingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kError);
    out_ = dir_.path() / "out";
    proc_ = out_ / "ait_dump" / "4242_-1";
    gt_ = proc_ / "golden_tensor";
    my_ = dir_.path() / "my";
    fs::create_directories(gt_);
    fs::create_directories(my_);
  }

  // The golden file of (token, data) as dump_data names it, holding RandomFloat32(seed).
  fs::path Golden(const std::string& token, const std::string& data, unsigned seed,
                  std::vector<int64_t> shape = {4, 8}) {
    const fs::path p = gt_ / token / (data + "_tensor.npy");
    WriteBin(p, RandomFloat32(std::move(shape), seed));
    return p;
  }
  fs::path My(const std::string& name, unsigned seed, std::vector<int64_t> shape = {4, 8}) {
    const fs::path p = my_ / name;
    WriteBin(p, RandomFloat32(std::move(shape), seed));
    return p;
  }
  void Metadata(const std::string& text) { WriteText(gt_ / "metadata.json", text); }

  StrategyChoice Choose(const fs::path& golden) {
    dumps_ = std::make_unique<DumpPair>(golden, my_, mapping_);
    return ChooseStrategy(*dumps_);
  }
  OpPairing PairIt(const fs::path& golden) {
    StrategyChoice choice = Choose(golden);
    EXPECT_NE(choice.chosen, nullptr);
    EXPECT_EQ(choice.chosen->name(), "manual-mapping");
    return choice.chosen->Pair(*dumps_);
  }
  CompareResult Run(const fs::path& golden, const fs::path& output = {}) {
    CompareRequest request;
    request.golden = golden;
    request.my = my_;
    request.output = output;
    return RunCompare(request);
  }
  // The reason the manual-mapping strategy gave for not pairing `golden`.
  Recognition Refusal(const fs::path& golden) {
    DumpPair dumps(golden, my_, mapping_);
    return ManualMappingStrategy().Recognize(dumps);
  }

  TempDir dir_;
  fs::path out_, proc_, gt_, my_;
  OpMapping mapping_ = BuiltinOpMapping();
  std::unique_ptr<DumpPair> dumps_;
};

// The strategies asked before manual mapping are the torchair ones, and they declined.
bool OnlyTorchairDeclined(const std::vector<StrategyChoice::Refusal>& refusals) {
  for (const StrategyChoice::Refusal& r : refusals)
    if (!r.strategy->name().starts_with("ge-") || r.recognition.kind != Recognition::Kind::kDeclined) return false;
  return refusals.size() == 2;
}

// Only the torchair strategies (a GE graph text in my dump) come before it, as the original
// decides torchair first.
TEST_F(ManualMappingTest, IsAskedFirstAfterTorchair) {
  ASSERT_GE(PairingStrategies().size(), 3u);
  EXPECT_EQ(PairingStrategies()[0]->name(), "ge-fused");
  EXPECT_EQ(PairingStrategies()[1]->name(), "ge-fx");
  EXPECT_EQ(PairingStrategies()[2]->name(), "manual-mapping");
  EXPECT_EQ(ListPairingStrategies()[2].first, "manual-mapping");
}

TEST_F(ManualMappingTest, RecognizedAtEveryLevelOfTheDump) {
  const fs::path g = Golden("0", "1", 1), m = My("a.npy", 1);
  Metadata(fmt::format(R"({{"1": {{"0": [{}, {}]}}}})", Str(g), Str(m)));
  for (const fs::path& level : {out_, out_ / "ait_dump", proc_, gt_, fs::path(gt_.string() + "/")}) {
    SCOPED_TRACE(level.string());
    StrategyChoice choice = Choose(level);
    ASSERT_NE(choice.chosen, nullptr);
    EXPECT_EQ(choice.chosen->name(), "manual-mapping");
    EXPECT_TRUE(OnlyTorchairDeclined(choice.refusals));
    OpPairing ops = choice.chosen->Pair(*dumps_);
    ASSERT_EQ(ops.rows.size(), 1u);
    EXPECT_EQ(ops.golden_root, gt_);
  }
  // Not the token folder, nor a folder above the dump_data output folder.
  EXPECT_EQ(Refusal(gt_ / "0").kind, Recognition::Kind::kDeclined);
  EXPECT_EQ(Refusal(dir_.path()).kind, Recognition::Kind::kDeclined);
  // msit_dump/ as the later versions name it.
  fs::rename(out_ / "ait_dump", out_ / "msit_dump");
  EXPECT_TRUE(Refusal(out_).accepted());
}

TEST_F(ManualMappingTest, OtherDumpsAreDeclined) {
  testing::WriteAtbDump(dir_.path() / "atb", testing::EngineModel(1, testing::EngineLayerOps()), true, {"0"});
  Recognition r = Refusal(dir_.path() / "atb");
  EXPECT_EQ(r.kind, Recognition::Kind::kDeclined);
  EXPECT_NE(r.reason.find("golden_tensor"), std::string::npos) << r.reason;
  CompareRequest request;
  request.golden = request.my = dir_.path() / "atb";
  CompareResult result = RunCompare(request);
  EXPECT_EQ(result.strategy, "path");
  ASSERT_GE(result.refusals.size(), 3u);
  EXPECT_EQ(result.refusals[2].strategy, "manual-mapping");
  EXPECT_FALSE(result.refusals[2].blocked);
}

TEST_F(ManualMappingTest, BesideAnotherDumpItAsksForTheProcessFolder) {
  Metadata("{}");
  fs::create_directories(out_ / "ait_dump" / "torch_tensors" / "cpu_4242" / "0");
  Recognition r = Refusal(out_);
  EXPECT_EQ(r.kind, Recognition::Kind::kDeclined);
  EXPECT_NE(r.reason.find(proc_.string()), std::string::npos) << r.reason;
  EXPECT_TRUE(Refusal(proc_).accepted());  // named precisely: manual mapping, as the original
}

TEST_F(ManualMappingTest, SeveralDumpDataFoldersBlock) {
  Metadata("{}");
  fs::create_directories(out_ / "ait_dump" / "4343_0" / "golden_tensor");
  Recognition r = Refusal(out_);
  EXPECT_EQ(r.kind, Recognition::Kind::kBlocked);
  EXPECT_NE(r.reason.find("4242_-1, 4343_0"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("name one of them"), std::string::npos) << r.reason;
}

TEST_F(ManualMappingTest, RowsFollowTheFileOrderWithTheKeysAsIds) {
  // data_id "10" before "2" (nlohmann::json would sort them), token "1" before "0".
  const fs::path g10_1 = Golden("1", "10", 1), g10_0 = Golden("0", "10", 2), g2_0 = Golden("0", "2", 3);
  const fs::path m10_1 = My("x.npy", 1), m10_0 = My("y.bin", 99), m2_0 = My("z.npy", 3);
  Metadata(fmt::format(R"({{"10": {{"1": [{}, {}], "0": [{}, {}]}}, "2": {{"0": [{}, {}, "extra", 7]}}}})", Str(g10_1),
                       Str(m10_1), Str(g10_0), Str(m10_0), Str(g2_0), Str(m2_0)));
  OpPairing ops = PairIt(out_);
  ASSERT_EQ(ops.rows.size(), 3u);
  const std::vector<std::pair<std::string, std::string>> ids = {{"10", "1"}, {"10", "0"}, {"2", "0"}};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ops.rows[i].data_id, ids[i].first);
    EXPECT_EQ(ops.rows[i].token_id, ids[i].second);
    EXPECT_EQ(ops.rows[i].my_name, "data_" + ids[i].first);
    EXPECT_EQ(ops.rows[i].golden_name, "data_" + ids[i].first);
    EXPECT_EQ(ops.rows[i].match, "manual");
  }
  EXPECT_EQ(ops.rows[0].golden_path, g10_1.string());
  EXPECT_EQ(ops.rows[0].my_path, m10_1.string());
  EXPECT_EQ(ops.rows[2].my_path, m2_0.string());
  EXPECT_FALSE(ops.broadcast);
  EXPECT_TRUE(ops.notes.empty());
  // One operation per row, token by token.
  ASSERT_EQ(ops.ops.size(), 3u);
  EXPECT_EQ(ops.ops[0].token_id, "0");
  EXPECT_EQ(ops.ops[0].my_name, "data_10");
  EXPECT_EQ(ops.ops[1].my_name, "data_2");
  EXPECT_EQ(ops.ops[2].token_id, "1");
  for (const OpPair& op : ops.ops) {
    EXPECT_EQ(op.match, "manual");
    EXPECT_EQ(op.my_type, "");
    EXPECT_TRUE(op.inputs.empty());
    ASSERT_EQ(op.outputs.size(), 1u);
  }

  // The whole pipeline: scores, CSV cells, the perturbed pair as the root cause.
  CompareResult r = Run(out_, dir_.path() / "reports");
  EXPECT_EQ(r.strategy, "manual-mapping");
  ASSERT_EQ(r.refusals.size(), 2u);  // ge-fused, ge-fx: no GE graph text
  EXPECT_EQ(r.refusals[1].strategy, "ge-fx");
  ASSERT_EQ(r.rows.size(), 3u);
  ASSERT_TRUE(r.rows[0].metrics && r.rows[1].metrics && r.rows[2].metrics);
  EXPECT_DOUBLE_EQ(r.rows[0].metrics->cosine_similarity, 1.0);
  EXPECT_LT(r.rows[1].metrics->cosine_similarity, 0.9);
  EXPECT_DOUBLE_EQ(r.rows[2].metrics->cosine_similarity, 1.0);
  const std::vector<std::string> cells = CsvCells(r.rows[1]);
  EXPECT_EQ(cells[0], "0");   // token_id
  EXPECT_EQ(cells[1], "10");  // data_id
  EXPECT_EQ(cells[kOriginalCsvColumns], "data_10");
  EXPECT_EQ(cells[kOriginalCsvColumns + 2], "data_10");
  EXPECT_EQ(cells[kOriginalCsvColumns + 4], "manual");
  ASSERT_EQ(r.analysis.root_causes.size(), 1u);
  EXPECT_EQ(r.pairing.ops[r.analysis.root_causes[0].op].my_name, "data_10");
  EXPECT_NE(CompareSummaryJson(r).find("manual mapping"), std::string::npos);
  EXPECT_TRUE(fs::exists(r.reports.csv));
}

TEST_F(ManualMappingTest, ARepeatedKeyKeepsItsFirstPlaceAndLastValue) {
  const fs::path a = Golden("0", "1", 1), b = Golden("0", "2", 2), m = My("m.npy", 2);
  Metadata(fmt::format(R"({{"1": {{"0": [{}, {}]}}, "2": {{"0": [{}, {}]}}, "1": {{"0": [{}, {}]}}}})", Str(a), Str(m),
                       Str(b), Str(m), Str(b), Str(m)));
  OpPairing ops = PairIt(proc_);
  ASSERT_EQ(ops.rows.size(), 2u);
  EXPECT_EQ(ops.rows[0].data_id, "1");
  EXPECT_EQ(ops.rows[0].golden_path, b.string());
  EXPECT_EQ(ops.rows[1].data_id, "2");
}

TEST_F(ManualMappingTest, MalformedMetadataBlocksWithTheReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"1\": {\"0\": [\"a\", \"b\"]", "not valid JSON"},
      {"[[\"a\", \"b\"]]", "a JSON array, not an object"},
      {"\"text\"", "a JSON string, not an object"},
      {"", "not valid JSON"},
      {std::string(200, '[') + std::string(200, ']'), "nested more than"},
  };
  for (const auto& [text, needle] : cases) {
    SCOPED_TRACE(text.substr(0, 40));
    Metadata(text);
    Recognition r = Refusal(out_);
    EXPECT_EQ(r.kind, Recognition::Kind::kBlocked);
    EXPECT_NE(r.reason.find((gt_ / "metadata.json").string()), std::string::npos) << r.reason;
    EXPECT_NE(r.reason.find(needle), std::string::npos) << r.reason;
    // Nothing else pairs these folders: the error is the block's reason.
    try {
      Run(out_);
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
  fs::remove(gt_ / "metadata.json");
  Recognition r = Refusal(proc_);
  EXPECT_EQ(r.kind, Recognition::Kind::kBlocked);
  EXPECT_NE(r.reason.find("no metadata.json"), std::string::npos) << r.reason;
  EXPECT_EQ(Refusal(gt_).kind, Recognition::Kind::kBlocked);  // golden_tensor/ named: the same
  fs::create_directories(gt_ / "metadata.json");  // a folder, not a file
  EXPECT_EQ(Refusal(proc_).kind, Recognition::Kind::kBlocked);
}

TEST_F(ManualMappingTest, HostileEntriesAreSkippedWithANote) {
  const fs::path g = Golden("0", "1", 1), m = My("m.npy", 1);
  Metadata(fmt::format(R"({{
    "0": 5,
    "1": {{"0": [{0}, {1}], "1": [{0}], "2": "x", "3": [7, {1}], "4": [{0}, null], "5": ["", {1}],
           "6": ["a\u0000b", {1}], "7": [[{0}], {1}], "8": {{"golden": {0}}}, "9\u0000": [{0}, {1}]}},
    "2": {{}},
    "3": [{0}, {1}],
    "4": {{"0": [{0}, {1}]}}
  }})",
                       Str(g), Str(m)));
  OpPairing ops = PairIt(out_);
  ASSERT_EQ(ops.rows.size(), 2u);
  EXPECT_EQ(ops.rows[0].data_id, "1");
  EXPECT_EQ(ops.rows[1].data_id, "4");
  // 12 skipped: 8 named, the rest counted.
  ASSERT_EQ(ops.notes.size(), 9u);
  EXPECT_NE(ops.notes[0].find("data_id \"0\": a number"), std::string::npos) << ops.notes[0];
  EXPECT_NE(ops.notes[1].find("token_id \"1\": a list of 1 element(s)"), std::string::npos) << ops.notes[1];
  EXPECT_NE(ops.notes[2].find("a string, not a list"), std::string::npos) << ops.notes[2];
  EXPECT_NE(ops.notes[3].find("the golden path is a number"), std::string::npos) << ops.notes[3];
  EXPECT_NE(ops.notes[4].find("my path is null"), std::string::npos) << ops.notes[4];
  EXPECT_NE(ops.notes[5].find("the golden path is empty"), std::string::npos) << ops.notes[5];
  EXPECT_NE(ops.notes[6].find("NUL"), std::string::npos) << ops.notes[6];
  EXPECT_NE(ops.notes[8].find("4 more entries skipped"), std::string::npos) << ops.notes[8];
  for (const std::string& note : ops.notes) EXPECT_EQ(note.find('\0'), std::string::npos);
}

TEST_F(ManualMappingTest, NothingUsableSaysWhatWasWrong) {
  Metadata(R"({"1": {"0": ["only one"]}, "2": 3})");
  try {
    Run(out_);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("none of its 2 entries is a usable pair"), std::string::npos) << what;
    EXPECT_NE(what.find("a list of 1 element(s)"), std::string::npos) << what;
  }
  Metadata("{}");
  try {
    Run(out_);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("records no pair"), std::string::npos) << e.what();
  }
}

TEST_F(ManualMappingTest, MissingFilesBecomeFailedRows) {
  const fs::path g = Golden("0", "1", 1);
  Metadata(fmt::format(R"({{"1": {{"0": [{}, "/nonexistent/my.npy"]}}, "2": {{"0": ["/nonexistent/g.pth", {}]}}}})",
                       Str(g), Str(g)));
  CompareResult r = Run(out_);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_FALSE(r.rows[0].metrics);
  EXPECT_NE(r.rows[0].fail_reason.find("my_data_path"), std::string::npos) << r.rows[0].fail_reason;
  EXPECT_NE(r.rows[1].fail_reason.find("golden_data_path"), std::string::npos) << r.rows[1].fail_reason;
}

TEST_F(ManualMappingTest, RelativePathsTheCurrentFolderFirstThenTheOutputFolder) {
  Golden("0", "1", 1);
  My("m.npy", 1);
  // As the original's dump_data wrote them with output_path './' in `out_`, my file relative to there too.
  fs::create_directories(out_ / "mine");
  WriteBin(out_ / "mine" / "m.npy", RandomFloat32({4, 8}, 1));
  Metadata(R"({"1": {"0": ["./ait_dump/4242_-1/golden_tensor/0/1_tensor.npy", "mine/m.npy"]}})");
  {
    InFolder cwd(dir_.path());  // neither is found here: the output folder is
    OpPairing ops = PairIt(out_);
    ASSERT_EQ(ops.rows.size(), 1u);
    EXPECT_TRUE(Same(ops.rows[0].golden_path, gt_ / "0" / "1_tensor.npy"));
    EXPECT_TRUE(Same(ops.rows[0].my_path, out_ / "mine" / "m.npy"));
  }
  {
    // Found in the current folder: that one (the original opens paths as given).
    fs::create_directories(my_ / "mine");
    WriteBin(my_ / "mine" / "m.npy", RandomFloat32({4, 8}, 1));
    InFolder cwd(my_);
    OpPairing ops = PairIt(out_);
    ASSERT_EQ(ops.rows.size(), 1u);
    EXPECT_TRUE(Same(ops.rows[0].my_path, my_ / "mine" / "m.npy"));
  }
  {
    // Found nowhere: the current folder's path, which the row's fail reason names.
    Metadata(R"({"1": {"0": ["./ait_dump/4242_-1/golden_tensor/0/1_tensor.npy", "nowhere.npy"]}})");
    InFolder cwd(my_);
    OpPairing ops = PairIt(out_);
    EXPECT_TRUE(Same(ops.rows[0].my_path, my_ / "nowhere.npy"));
  }
}

TEST_F(ManualMappingTest, AMovedDumpFindsItsGoldenFiles) {
  const fs::path g = Golden("3", "7", 1), m = My("m.npy", 1);
  Metadata(fmt::format(R"({{"7": {{"3": ["/old/place/ait_dump/1_-1/golden_tensor/3/7_tensor.npy", {}]}},
                            "8": {{"3": ["/old/place/ait_dump/1_-1/golden_tensor/../../x.npy", {}]}}}})",
                       Str(m), Str(m)));
  OpPairing ops = PairIt(out_);
  ASSERT_EQ(ops.rows.size(), 2u);
  EXPECT_EQ(ops.rows[0].golden_path, g.string());
  EXPECT_EQ(ops.rows[1].golden_path, "/old/place/ait_dump/x.npy");  // not relocated: no such file here
  ASSERT_EQ(ops.notes.size(), 1u);
  EXPECT_NE(ops.notes[0].find("1 golden path(s)"), std::string::npos) << ops.notes[0];
}

TEST_F(ManualMappingTest, NamesOfTorchSaveFilesAndShapesComeThrough) {
  // A .pth golden (as dump_data writes it) against a .bin of other shape but the same count.
  fs::create_directories(gt_ / "0");
  testing::WritePth((gt_ / "0" / "5_tensor.pth").string(), {2, 3}, 11);
  testing::WritePth((my_ / "m.pth").string(), {2, 3}, 11);
  Metadata(fmt::format(R"({{"5": {{"0": [{}, {}]}}}})", Str(gt_ / "0" / "5_tensor.pth"), Str(my_ / "m.pth")));
  CompareResult r = Run(gt_);
  ASSERT_EQ(r.rows.size(), 1u);
  ASSERT_TRUE(r.rows[0].metrics) << r.rows[0].fail_reason;
  EXPECT_DOUBLE_EQ(r.rows[0].metrics->cosine_similarity, 1.0);
  EXPECT_EQ(r.rows[0].golden->shape, "[2, 3]");
  EXPECT_EQ(r.rows[0].pair.label, "data_5:m.pth ~ data_5:5_tensor.pth");
}

}  // namespace
}  // namespace ait
