// The torchair readers: GE dump files (FORMATS.md 9.2), the GE graph text (9.3), the token and
// FX layouts (9.4-9.5) and fused-name splitting (9.8).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "ait/convert.h"
#include "ait/tensor_io.h"
#include "compare/pairing/torchair_layout.h"
#include "formats/ge_dump.h"
#include "formats/ge_graph.h"
#include "formats/proto/ge_dump_data.pb.h"
#include "test_util.h"

namespace ait {
namespace {

namespace fs = std::filesystem;
namespace pb = toolkit::dumpdata;
using testing::TempDir;
using testing::MakeTensor;
using testing::Values;
using testing::WriteBytes;

constexpr char kName[] = "MatMul.MatMul_3.44.6.1706596912161941";

// A GE dump file from a header and payload bytes, as GE lays it out; `unknown` is appended to
// the header (fields of a newer CANN).
std::string GeFile(const pb::DumpData& header, const std::string& payload, const std::string& unknown = "") {
  const std::string h = header.SerializeAsString() + unknown;
  const uint64_t n = h.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + h + payload;
}

template <typename M>
void Describe(M* m, int dtype, int format, std::vector<uint64_t> shape, std::vector<uint64_t> original, uint64_t size) {
  m->set_data_type(static_cast<pb::OutputDataType>(dtype));
  m->set_format(static_cast<pb::OutputFormat>(format));
  for (uint64_t d : shape) m->mutable_shape()->add_dim(d);
  for (uint64_t d : original) m->mutable_original_shape()->add_dim(d);
  m->set_size(size);
}

TEST(GeDumpName, SplitsOpTypeNameAndNumbers) {
  auto n = ParseGeDumpName("Add.Add_2.44.6.1706596912161941");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->op_type, "Add");
  EXPECT_EQ(n->op_name, "Add_2");
  EXPECT_EQ(n->task_id, 44u);
  EXPECT_EQ(n->stream_id, 6u);
  EXPECT_EQ(n->timestamp, 1706596912161941u);
  // op names may hold dots: everything between the first piece and the last three.
  n = ParseGeDumpName("AutomaticBufferFusionOp.model.layers.0.Add_2Cast_9.19.6.17065969118878");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->op_type, "AutomaticBufferFusionOp");
  EXPECT_EQ(n->op_name, "model.layers.0.Add_2Cast_9");
  for (const char* bad : {"Add.1.2.3", "Add.Add_2.44.6.npy", "graph.txt", "Add.Add_2.x.6.17", "..1.2.3", ""})
    EXPECT_FALSE(ParseGeDumpName(bad)) << bad;
  EXPECT_EQ(FindFormat(std::string("/d/") + kName), &GeDumpFormat());
  EXPECT_EQ(FindFormat("/d/x.npy"), &NpyFormat());
}

TEST(GeDump, WritesAndReadsInputsAndOutputsByAddress) {
  TempDir dir;
  const std::string path = dir.File(kName);
  const Tensor a = MakeTensor<float>(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b = MakeTensor<int64_t>(DType::kInt64, {2}, {7, 8});
  const Tensor y = MakeTensor<uint16_t>(DType::kFloat16, {3}, {FloatToHalf(1.5f), FloatToHalf(-2), FloatToHalf(0.25f)});
  GeDumpFormat().WriteAll(path, {{"inputs,0", a}, {"inputs,1", b}, {"outputs,0", y}});
  EXPECT_EQ(TensorMemberNames(path), (std::vector<std::string>{"inputs,0", "inputs,1", "outputs,0"}));
  NamedTensors all = ReadTensors(path);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(Values<float>(all[0].second), Values<float>(a));
  EXPECT_EQ(all[0].second.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Values<int64_t>(all[1].second), Values<int64_t>(b));
  // The original's report addresses each tensor as FILE,inputs,K / FILE,outputs,K.
  const Tensor out = ReadTensor(path + ",outputs,0");
  EXPECT_EQ(out.dtype, DType::kFloat16);
  EXPECT_EQ(Values<uint16_t>(out), Values<uint16_t>(y));
  EXPECT_EQ(ReadTensor(path + ",inputs,1").dtype, DType::kInt64);
  EXPECT_EQ(SplitTensorAddress(path + ",inputs,1").file, path);
  EXPECT_EQ(SplitTensorAddress(path + ",inputs,1").member, "inputs,1");
  EXPECT_EQ(SplitTensorAddress(path).member, "");
  try {
    ReadTensor(path + ",outputs,4");
    FAIL() << "no such member";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tensor 'outputs,4'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("2 inputs and 1 outputs"), std::string::npos) << e.what();
  }
  try {
    ReadTensor(path);
    FAIL() << "a file of three tensors is no single tensor";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds 3 tensors"), std::string::npos) << e.what();
  }
}

TEST(GeDump, ConvertsFractalNzToNdByOriginalShape) {
  // ND [2 batches, M=3, N=20] fp16 stored as NZ [2, N1=2, M1=1, M0=16, N0=16]: (m, n) at
  // [b, n / 16, m / 16, m % 16, n % 16], padding zero.
  const int64_t B = 2, M = 3, N = 20, N1 = 2, M1 = 1, M0 = 16, N0 = 16;
  std::vector<uint16_t> nd(B * M * N), nz(B * N1 * M1 * M0 * N0, 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        const uint16_t v = FloatToHalf(static_cast<float>(b * 1000 + m * 100 + n));
        nd[(b * M + m) * N + n] = v;
        nz[b * N1 * M1 * M0 * N0 + (((n / N0) * M1 + m / M0) * M0 + m % M0) * N0 + n % N0] = v;
      }
  pb::DumpData h;
  Describe(h.add_output(), pb::DT_FLOAT16, pb::FORMAT_FRACTAL_NZ, {2, 2, 1, 16, 16}, {2, 3, 20}, nz.size() * 2);
  TempDir dir;
  WriteBytes(dir.File(kName), GeFile(h, std::string(reinterpret_cast<const char*>(nz.data()), nz.size() * 2)));
  const Tensor t = ReadTensor(dir.File(kName) + ",outputs,0");
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3, 20}));
  EXPECT_EQ(Values<uint16_t>(t), nd);
}

TEST(GeDump, ConvertsNc1hwc0ToNchw) {
  // NCHW [1, C=5, 2, 1] int8 stored as NC1HWC0 [1, C1=1, 2, 1, C0=32].
  const int64_t C = 5, HW = 2, C0 = 32;
  std::vector<int8_t> nchw(C * HW), stored(HW * C0, 0);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t hw = 0; hw < HW; ++hw) {
      nchw[c * HW + hw] = static_cast<int8_t>(c * 10 + hw);
      stored[hw * C0 + c] = static_cast<int8_t>(c * 10 + hw);
    }
  pb::DumpData h;
  Describe(h.add_input(), pb::DT_INT8, pb::FORMAT_NC1HWC0, {1, 1, 2, 1, 32}, {1, 5, 2, 1}, stored.size());
  TempDir dir;
  WriteBytes(dir.File(kName), GeFile(h, std::string(reinterpret_cast<const char*>(stored.data()), stored.size())));
  const Tensor t = ReadTensor(dir.File(kName) + ",inputs,0");
  EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 5, 2, 1}));
  EXPECT_EQ(Values<int8_t>(t), nchw);
}

TEST(GeDump, BfloatAndPlainLayoutsReshapeByShape) {
  pb::DumpData h;
  Describe(h.add_input(), pb::DT_BF16, pb::FORMAT_NCHW, {1, 2, 1, 1}, {}, 4);
  Describe(h.add_output(), pb::DT_DOUBLE, pb::FORMAT_ND, {1}, {}, 8);
  const uint16_t bf[2] = {FloatToBFloat16(1.0f), FloatToBFloat16(-3.0f)};
  const double d = 2.5;
  TempDir dir;
  WriteBytes(dir.File(kName), GeFile(h, std::string(reinterpret_cast<const char*>(bf), 4) +
                                            std::string(reinterpret_cast<const char*>(&d), 8)));
  const Tensor t = ReadTensor(dir.File(kName) + ",inputs,0");
  EXPECT_EQ(t.dtype, DType::kBFloat16);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 2, 1, 1}));
  EXPECT_EQ(BFloat16ToFloat(Values<uint16_t>(t)[1]), -3.0f);
  EXPECT_EQ(Values<double>(ReadTensor(dir.File(kName) + ",outputs,0"))[0], 2.5);
}

void ExpectError(const std::string& address, const std::string& part) {
  try {
    ReadTensor(address);
    ADD_FAILURE() << "no error for " << address;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(GeDump, OtherFormatsAndTypesAreErrorsOfThatTensorOnly) {
  pb::DumpData h;
  Describe(h.add_input(), pb::DT_FLOAT16, pb::FORMAT_FRACTAL_Z, {1, 1, 16, 16}, {16, 16}, 512);
  Describe(h.add_input(), pb::DT_STRING, pb::FORMAT_ND, {2}, {}, 2);
  Describe(h.add_output(), pb::DT_FLOAT, pb::FORMAT_ND, {2}, {}, 8);
  TempDir dir;
  const std::string path = dir.File(kName);
  WriteBytes(path, GeFile(h, std::string(512 + 2, '\0') + std::string(8, '\0')));
  ExpectError(path + ",inputs,0", "FORMAT_FRACTAL_Z not converted");
  ExpectError(path + ",inputs,1", "DT_STRING is not read");
  EXPECT_EQ(ReadTensor(path + ",outputs,0").shape, (std::vector<int64_t>{2}));  // the others read fine
  ExpectError(path, "FORMAT_FRACTAL_Z not converted");                         // ReadAll names the first bad one
}

TEST(GeDump, SizesMustAddUpToTheFile) {
  pb::DumpData h;
  Describe(h.add_output(), pb::DT_FLOAT, pb::FORMAT_ND, {2}, {}, 8);
  TempDir dir;
  const std::string path = dir.File(kName);
  const std::string good = GeFile(h, std::string(8, '\0'));
  WriteBytes(path, good.substr(0, good.size() - 1));
  ExpectError(path + ",outputs,0", "beyond the end");
  WriteBytes(path, good + "x");
  ExpectError(path + ",outputs,0", "accounts for");
  WriteBytes(path, std::string("\xff\xff\xff\xff\0\0\0\0", 8) + "abc");
  ExpectError(path + ",outputs,0", "header length");
  WriteBytes(path, "abc");
  ExpectError(path + ",outputs,0", "too short");
  WriteBytes(path, std::string("\x03\0\0\0\0\0\0\0\xff\xff\xff", 11));
  ExpectError(path + ",outputs,0", "not a toolkit.dumpdata.DumpData");
  // Newer CANN: workspace bytes described by fields this proto lacks may follow.
  WriteBytes(path, GeFile(h, std::string(8, '\0') + "workspace", std::string("\x4a\x05space", 7)));  // field 9
  EXPECT_EQ(ReadTensor(path + ",outputs,0").shape, (std::vector<int64_t>{2}));
  // A shape that does not fit its size.
  pb::DumpData bad;
  Describe(bad.add_output(), pb::DT_FLOAT, pb::FORMAT_ND, {3}, {}, 8);
  WriteBytes(path, GeFile(bad, std::string(8, '\0')));
  ExpectError(path + ",outputs,0", "needs 12 bytes");
}

constexpr char kGraph[] = R"(name: "graph_1"
op {
  name: "arg0_1"
  type: "Data"
  output_desc { name: "y" dtype: DT_FLOAT16 shape { dim: 2 } layout: "ND" }
}
op {
  name: "Add_2"
  type: "Add"
  input: "arg0_1:0"
  input: "arg0_1:0"
  input: "Cast_1:-1"
  output_desc {
    name: "y"
    dtype: DT_FLOAT16
    attr { key: "_fx_tensor_name" value { s: "add_1-aten.add.Tensor.OUTPUT.0" } }
    attr { key: "other" value { i: 3 } }
    some_future_field: 7
  }
  future_block { x: 1 }
}
)";

TEST(GeGraph, ReadsOpsInputsAndFxNamesWithProtobufTextFormat) {
  TempDir dir;
  WriteBytes(dir.File("dynamo_original_graph_1.txt"), kGraph);
  GeGraph g;
  ReadGeGraph(dir.File("dynamo_original_graph_1.txt"), g);
  ASSERT_EQ(g.ops.size(), 2u);
  const GeGraphOp* add = g.Find("Add_2");
  ASSERT_TRUE(add);
  EXPECT_EQ(add->type, "Add");
  EXPECT_EQ(add->inputs, (std::vector<std::string>{"arg0_1", "arg0_1"}));  // the control edge left out
  EXPECT_EQ(add->fx_tensor_names, (std::vector<std::string>{"add_1-aten.add.Tensor.OUTPUT.0"}));
  EXPECT_EQ(g.Find("arg0_1")->fx_tensor_names, (std::vector<std::string>{""}));
  EXPECT_TRUE(IsGeGraphFileName("dynamo_original_graph_1_rank_0_pid_12_ts_3.txt"));
  EXPECT_FALSE(IsGeGraphFileName("dynamo_optimized_graph_1.txt"));

  // A model printed around its graphs.
  WriteBytes(dir.File("dynamo_original_graph_3.txt"),
             "name: \"m\"\ngraph {\n  name: \"g\"\n  op { name: \"Mul_9\" type: \"Mul\" input: \"Add_2:0\" }\n}\n");
  ReadGeGraph(dir.File("dynamo_original_graph_3.txt"), g);
  ASSERT_TRUE(g.Find("Mul_9"));
  EXPECT_EQ(g.Find("Mul_9")->inputs, (std::vector<std::string>{"Add_2"}));
  EXPECT_EQ(g.files.size(), 2u);
  WriteBytes(dir.File("dynamo_original_graph_4.txt"), "name: \"empty\"\n");
  try {
    ReadGeGraph(dir.File("dynamo_original_graph_4.txt"), g);
    FAIL() << "a graph text without operators";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("without operators"), std::string::npos) << e.what();
  }

  WriteBytes(dir.File("dynamo_original_graph_2.txt"), "op {\n  name: \"x\"\n  type: \n}\n");
  try {
    ReadGeGraph(dir.File("dynamo_original_graph_2.txt"), g);
    FAIL() << "malformed text";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 4, column 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("dynamo_original_graph_2.txt"), std::string::npos) << e.what();
  }
}

TEST(TorchairLayout, TokenFoldersFollowTheOriginalsRule) {
  TempDir dir;
  // GE: dump_{ts}/{14-digit time}/{device}/graph_1/{model id}/{iteration}/files
  for (const char* it : {"0", "1", "10"}) WriteBytes((dir.path() / "ge/20240101120000/0/graph_1/1" / it / "f").string(), "");
  const auto ge = TokenFolders(dir.path() / "ge", false);
  ASSERT_EQ(ge.size(), 3u);
  EXPECT_EQ(ge[0].token, "0");
  EXPECT_EQ(ge[2].token, "10");
  // FX, older torchair: data_dump/{step from 1}/gm_{ts}_dump/: lowered by one.
  for (const char* step : {"1", "2"}) WriteBytes((dir.path() / "fx/data_dump" / step / "gm_1_dump/f.npy").string(), "");
  const auto fx = TokenFolders(dir.path() / "fx", true);
  ASSERT_EQ(fx.size(), 2u);
  EXPECT_EQ(fx[0].token, "0");
  EXPECT_EQ(fx[1].token, "1");
  // FX, newer torchair: .../gm_{ts}_dump/{step from 0}/: left as it is.
  for (const char* step : {"0", "1"})
    WriteBytes((dir.path() / "fx2/data_dump/worldsize1_global_rank0/gm_5_dump" / step / "f.npy").string(), "");
  const auto fx2 = TokenFolders(dir.path() / "fx2", true);
  ASSERT_EQ(fx2.size(), 2u);
  EXPECT_EQ(fx2[0].token, "0");
  // No token folders: the root is token 0.
  WriteBytes(dir.File("flat/x.npy"), "");
  EXPECT_EQ(TokenFolders(dir.path() / "flat", true).front().token, "0");
}

TEST(TorchairLayout, FxFilesGroupByNodeInIndexOrder) {
  TempDir dir;
  const fs::path step = dir.path() / "data_dump/1/gm_1_dump";
  for (const char* f : {"cat-aten.cat.default.INPUT.0.10.20240125031118787351.npy",
                        "cat-aten.cat.default.INPUT.0.2.20240125031118787351.npy",
                        "cat-aten.cat.default.INPUT.1.20240125031118787351.npy",
                        "cat-aten.cat.default.OUTPUT.0.20240125031118787351.npy", "mm-aten.mm.default.OUTPUT.0.1.npy",
                        "notes.txt"})
    WriteBytes((step / f).string(), "");
  const FxDumpTree tree = ReadFxDumpTree(dir.path());
  ASSERT_EQ(tree.tokens.size(), 1u);
  EXPECT_EQ(tree.tokens[0].token, "0");
  EXPECT_EQ(tree.files, 5u);
  const FxNode& cat = tree.tokens[0].nodes.at("cat-aten.cat.default");
  ASSERT_EQ(cat.inputs.size(), 3u);
  EXPECT_TRUE(cat.inputs[0].ends_with("INPUT.0.2.20240125031118787351.npy")) << cat.inputs[0];  // 2 before 10
  EXPECT_TRUE(cat.inputs[1].ends_with("INPUT.0.10.20240125031118787351.npy")) << cat.inputs[1];
  EXPECT_EQ(cat.outputs.size(), 1u);
  EXPECT_EQ(FxNodeKey("add_1-aten.add.Tensor.OUTPUT.0"), "add_1-aten.add.Tensor");
  EXPECT_EQ(FxNodeKey("add_1-aten.add.Tensor"), "add_1-aten.add.Tensor");
}

TEST(TorchairLayout, FusedNamesSplitIntoGraphOps) {
  GeGraph g;
  for (const char* n : {"Add_2", "Cast_9", "ConcatV2", "Mul_1", "Mul_12"}) {
    g.index.emplace(n, g.ops.size());
    g.ops.push_back({n, "", {}, {}});
  }
  auto none = [](const std::string&) { return false; };
  EXPECT_EQ(SplitFusedName("Add_2Cast_9ConcatV2", g, none),
            (std::vector<std::string>{"Add_2", "Cast_9", "ConcatV2"}));
  EXPECT_EQ(SplitFusedName("Mul_12Mul_1", g, none), (std::vector<std::string>{"Mul_12", "Mul_1"}));
  EXPECT_EQ(SplitFusedName("Add_2", g, none), (std::vector<std::string>{"Add_2"}));
  EXPECT_TRUE(SplitFusedName("Add_2Sub_4", g, none).empty());
  // A prefix that is a dump's operator but not the graph's stops the search (the original's rule).
  EXPECT_TRUE(SplitFusedName("Cast_9Zed", g, [](const std::string& n) { return n == "Cast_9Z"; }).empty());
}

}  // namespace
}  // namespace ait
