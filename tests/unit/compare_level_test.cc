// -cl/--cmp-level: the level rule over whatever a strategy paired (src/compare/pairing/
// compare_level.cc), through RunCompare on synthetic dumps: torch dumps with and without
// API-mode folders, ATB dumps.
#include <gtest/gtest.h>

#include <set>

#include "ait/compare_run.h"
#include "ait/error.h"
#include "ait/log.h"
#include "compare/pairing/compare_level.h"
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
using testing::WritePth;
using testing::WriteTorchDump;

// API-mode folders the synthetic torch dumps get, per token (as register_hook(mode="api") names them).
const std::vector<std::string> kApiFolders = {"root.model.layers.0.mlp.act_fn.silu",
                                              "root.model.layers.0.self_attn.matmul",
                                              "root.model.layers.0.self_attn.matmul.1", "root.model.layers.1.mlp.mul"};

void AddApiFolders(const fs::path& proc, const std::vector<std::string>& tokens) {
  unsigned seed = 5000;
  for (const std::string& token : tokens)
    for (const std::string& folder : kApiFolders) {
      WritePth((proc / token / folder / "input_0.pth").string(), {2, 3}, seed++);
      WritePth((proc / token / folder / "output.pth").string(), {2, 3}, seed++);
    }
}

std::string Folder(const std::string& path) { return fs::path(path).parent_path().filename().string(); }

class CompareLevelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SetLogLevel(LogLevel::kError);
    dir_ = new TempDir();
    const fs::path root = dir_->path();
    const std::vector<std::string> tokens = {"0", "1"};
    WriteAtbDump(root / "atb", EngineModel(2, EngineLayerOps()), true, tokens);
    WriteTorchDump(root / "torch", HfModel(2), HfModelOrder(2), tokens);
    WriteTorchDump(root / "torch2", HfModel(2), HfModelOrder(2), tokens, "cpu_778");
    AddApiFolders(WriteTorchDump(root / "api", HfModel(2), HfModelOrder(2), tokens), tokens);
    AddApiFolders(WriteTorchDump(root / "api2", HfModel(2), HfModelOrder(2), tokens, "cpu_778"), tokens);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static CompareResult Run(const std::string& golden, const std::string& my, CompareLevel level) {
    CompareRequest request;
    request.golden = dir_->path() / golden;
    request.my = dir_->path() / my;
    request.level = level;
    return RunCompare(request);
  }
  static std::string ErrorOf(const std::string& golden, const std::string& my, CompareLevel level) {
    try {
      Run(golden, my, level);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
  static void ExpectNumbered(const CompareResult& r) {
    for (size_t i = 0; i < r.rows.size(); ++i) EXPECT_EQ(r.rows[i].pair.data_id, std::to_string(i));
  }

  static TempDir* dir_;
};

TempDir* CompareLevelTest::dir_ = nullptr;

TEST(CompareLevel, NamesRoundTrip) {
  for (std::string_view name : {"layer", "token", "module", "api", "logits"}) {
    auto level = ParseCompareLevel(name);
    ASSERT_TRUE(level) << name;
    EXPECT_EQ(CompareLevelName(*level), name);
  }
  EXPECT_FALSE(ParseCompareLevel("Layer"));
  EXPECT_FALSE(ParseCompareLevel(""));
  EXPECT_FALSE(ParseCompareLevel("tokens"));
}

TEST(CompareLevel, TorchFoldersAreModulesApiCallsOrNeither) {
  LevelSide side;
  side.torch = side.has_tree = true;
  side.module_folders = {"root", "root.model", "root.model.layers", "root.model.layers.0", "root.model.layers.0.mlp",
                         "root.model.layers.0.mlp.act_fn"};
  EXPECT_EQ(ClassifyTorchFolder(side, "root.model.layers.0.mlp"), TorchFolderKind::kModule);
  EXPECT_EQ(ClassifyTorchFolder(side, "root"), TorchFolderKind::kModule);
  EXPECT_EQ(ClassifyTorchFolder(side, "root.model.layers.0.mlp.act_fn.silu"), TorchFolderKind::kApi);
  EXPECT_EQ(ClassifyTorchFolder(side, "root.model.layers.0.mlp.matmul.12"), TorchFolderKind::kApi);
  EXPECT_EQ(ClassifyTorchFolder(side, "root.matmul"), TorchFolderKind::kApi);
  EXPECT_EQ(ClassifyTorchFolder(side, "root.model.layers.1"), TorchFolderKind::kOther);  // not in the tree
  EXPECT_EQ(ClassifyTorchFolder(side, "root.model.layers.0.silu.1"), TorchFolderKind::kApi);
  EXPECT_EQ(ClassifyTorchFolder(side, "root.other.silu"), TorchFolderKind::kOther);      // no such module
  EXPECT_EQ(ClassifyTorchFolder(side, "root.model.layers.0.7"), TorchFolderKind::kOther);  // a number, no function
  EXPECT_EQ(ClassifyTorchFolder(side, "weights"), TorchFolderKind::kOther);
}

TEST_F(CompareLevelTest, LayerAndTokenCompareEverythingPaired) {
  for (const auto& [golden, my] : {std::pair{"torch", "atb"}, std::pair{"api", "api2"}, std::pair{"atb", "atb"}}) {
    const CompareResult all = Run(golden, my, CompareLevel::kLayer);
    const CompareResult token = Run(golden, my, CompareLevel::kToken);
    ASSERT_EQ(all.rows.size(), token.rows.size()) << golden;
    for (size_t i = 0; i < all.rows.size(); ++i) EXPECT_EQ(PathKey(all.rows[i].pair), PathKey(token.rows[i].pair));
    EXPECT_EQ(all.pairing.ops.size(), token.pairing.ops.size());
  }
}

TEST_F(CompareLevelTest, ApiKeepsOnlyApiModeFolders) {
  const CompareResult all = Run("api", "api2", CompareLevel::kLayer);
  EXPECT_EQ(all.strategy, "path");  // torch-torch declines dumps with API folders
  const CompareResult api = Run("api", "api2", CompareLevel::kApi);
  EXPECT_EQ(api.strategy, "path");
  ASSERT_EQ(api.rows.size(), 2 * kApiFolders.size() * 2);  // 2 tokens x folders x (input_0, output)
  const std::set<std::string> wanted(kApiFolders.begin(), kApiFolders.end());
  for (const CompareRow& r : api.rows) {
    EXPECT_TRUE(wanted.count(Folder(r.pair.golden_path))) << r.pair.golden_path;
    EXPECT_EQ(Folder(r.pair.golden_path), Folder(r.pair.my_path));
    ASSERT_TRUE(r.metrics) << r.fail_reason;
  }
  ExpectNumbered(api);
  ASSERT_EQ(api.pairing.ops.size(), 2 * kApiFolders.size());
  for (const OpPair& op : api.pairing.ops) {
    EXPECT_TRUE(wanted.count(op.golden_name)) << op.golden_name;
    EXPECT_TRUE(op.leaf);
  }
  EXPECT_EQ(api.analysis.ops.size(), api.pairing.ops.size());
}

TEST_F(CompareLevelTest, ModuleLeavesApiFoldersOut) {
  const CompareResult all = Run("api", "api2", CompareLevel::kLayer);
  const CompareResult modules = Run("api", "api2", CompareLevel::kModule);
  EXPECT_EQ(modules.rows.size(), all.rows.size() - 2 * kApiFolders.size() * 2);
  const std::set<std::string> api(kApiFolders.begin(), kApiFolders.end());
  for (const CompareRow& r : modules.rows) EXPECT_FALSE(api.count(Folder(r.pair.golden_path))) << r.pair.golden_path;
  ExpectNumbered(modules);
  // act_fn enclosed its silu call: with the call left out it is a leaf again.
  bool seen = false;
  for (const OpPair& op : modules.pairing.ops) {
    EXPECT_FALSE(api.count(op.golden_name));
    if (op.golden_name == "root.model.layers.0.mlp.act_fn") {
      EXPECT_TRUE(op.leaf);
      seen = true;
    }
  }
  EXPECT_TRUE(seen);
  bool enclosed = false;  // ... while at layer level it is not
  for (const OpPair& op : all.pairing.ops) enclosed |= op.golden_name == "root.model.layers.0.mlp.act_fn" && !op.leaf;
  EXPECT_TRUE(enclosed);
}

TEST_F(CompareLevelTest, ModuleOnAtbAgainstTorchKeepsEveryModulePair) {
  const CompareResult all = Run("torch", "atb", CompareLevel::kLayer);
  const CompareResult modules = Run("torch", "atb", CompareLevel::kModule);
  EXPECT_EQ(modules.strategy, "atb-torch");
  ASSERT_EQ(modules.rows.size(), all.rows.size());
  // The torch side may be either side.
  EXPECT_EQ(Run("atb", "torch", CompareLevel::kModule).rows.size(), Run("atb", "torch", CompareLevel::kLayer).rows.size());
}

TEST_F(CompareLevelTest, LevelsThatDoNotExistAreErrorsNamingTheLevel) {
  std::string e = ErrorOf("torch", "torch2", CompareLevel::kApi);
  EXPECT_NE(e.find("-cl api: none of the"), std::string::npos) << e;
  EXPECT_NE(e.find("API-mode folders"), std::string::npos) << e;
  e = ErrorOf("torch", "atb", CompareLevel::kApi);
  EXPECT_NE(e.find("-cl api"), std::string::npos) << e;
  e = ErrorOf("atb", "atb", CompareLevel::kModule);
  EXPECT_NE(e.find("-cl module"), std::string::npos) << e;
  EXPECT_NE(e.find("neither dump is one"), std::string::npos) << e;
  e = ErrorOf("atb", "atb", CompareLevel::kApi);
  EXPECT_NE(e.find("neither dump is one"), std::string::npos) << e;
}

TEST_F(CompareLevelTest, LogitsKeepsTheFinalOutputOfEveryToken) {
  // torch vs torch: root and root.model return no tensor here, so root.lm_head finishes last.
  const CompareResult tt = Run("torch", "torch2", CompareLevel::kLogits);
  ASSERT_EQ(tt.rows.size(), 2u);
  for (size_t t = 0; t < 2; ++t) {
    EXPECT_EQ(tt.rows[t].pair.token_id, std::to_string(t));
    EXPECT_EQ(Folder(tt.rows[t].pair.golden_path), "root.lm_head");
    EXPECT_EQ(fs::path(tt.rows[t].pair.golden_path).filename(), "output.pth");
  }
  ExpectNumbered(tt);
  ASSERT_EQ(tt.pairing.ops.size(), 2u);
  EXPECT_EQ(tt.analysis.ops.size(), 2u);

  // ATB vs torch: the last top-level operation (the lm_head LinearOperation) against root.lm_head.
  const CompareResult at = Run("torch", "atb", CompareLevel::kLogits);
  ASSERT_EQ(at.rows.size(), 2u);
  for (const CompareRow& r : at.rows) {
    EXPECT_EQ(Folder(r.pair.golden_path), "root.lm_head");
    EXPECT_EQ(fs::path(r.pair.my_path).filename(), "outtensor0.bin");
    EXPECT_NE(r.pair.my_path.find("/4_LinearOperation/"), std::string::npos) << r.pair.my_path;
  }

  // ATB vs ATB by path: the same operation's outtensor0.
  const CompareResult aa = Run("atb", "atb", CompareLevel::kLogits);
  ASSERT_EQ(aa.rows.size(), 2u);
  for (const CompareRow& r : aa.rows) {
    EXPECT_NE(r.pair.my_path.find("/4_LinearOperation/after/outtensor0.bin"), std::string::npos) << r.pair.my_path;
    ASSERT_TRUE(r.metrics);
    EXPECT_DOUBLE_EQ(r.metrics->cosine_similarity, 1.0);
  }
}

TEST_F(CompareLevelTest, TwoFilesAreOnePairAtAnyLevel) {
  const fs::path file = dir_->path() / "atb/ait_dump/tensors/0_4242/0/0_GatherOperation/after/outtensor0.bin";
  CompareRequest request;
  request.golden = request.my = file;
  request.level = CompareLevel::kApi;
  EXPECT_EQ(RunCompare(request).rows.size(), 1u);
}

}  // namespace
}  // namespace ait
