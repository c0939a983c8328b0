// The Dumper end to end in-process: what lands on disk for each probe function, the
// filters, truncation, atomic files, bounded queue, errors, fork and signal behaviour.
#include "probe/dumper.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "ait/tensor_io.h"
#include "probe/io_csv.h"
#include "probe/signals.h"
#include "probe/topology.h"
#include "probe_test_util.h"

namespace ait::probe {
namespace {

namespace fs = std::filesystem;
using testing::ConfigFrom;
using testing::FilesUnder;
using testing::Lines;
using testing::ReadFile;
using testing::TempDir;

std::string Pid() { return std::to_string(::getpid()); }

Config DumpConfig(const TempDir& dir, std::map<std::string, std::string> vars = {}) {
  vars.emplace("ATB_OUTPUT_DIR", dir.Out());
  vars.emplace("ATB_DUMP_TYPE", "tensor");
  vars.emplace("ATB_SAVE_TENSOR", "1");
  vars.emplace("ATB_SAVE_TENSOR_PART", "2");
  return ConfigFrom(vars);
}

const float kValues[6] = {0.5f, -1.25f, 2.0f, 3.5f, -0.0f, 65504.0f};

std::string Header(const char* dims, size_t n) {
  return "$Version=1.0\n$Object.Count=1\n$Object.Length=" + std::to_string(n) + "\nformat=2\ndtype=0\ndims=" + dims +
         "\n$Object.data=0," + std::to_string(n) + "\n$End=1\n";
}

TEST(Dumper, SaveTensorWritesTheBinFileUnderTensors) {
  TempDir dir;
  Dumper d(DumpConfig(dir));
  d.SaveTensor("2", "0", "2,3", kValues, sizeof kValues, "0_77/0/1_LlamaLayer/after/outtensor0.bin");
  d.Flush();
  const fs::path file = dir.path() / "ait_dump/tensors/0_77/0/1_LlamaLayer/after/outtensor0.bin";
  EXPECT_EQ(ReadFile(file), Header("2,3", 24) + std::string(reinterpret_cast<const char*>(kValues), 24));
  // The toolkit's own reader agrees.
  const Tensor t = ReadTensor(file.string());
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(t.data, kValues, 24), 0);
  // Nothing else: no temporary file left.
  EXPECT_EQ(FilesUnder(dir.path()), std::vector<std::string>{"ait_dump/tensors/0_77/0/1_LlamaLayer/after/outtensor0.bin"});
}

TEST(Dumper, SavingTheSamePathAgainReplacesTheFile) {
  TempDir dir;
  Dumper d(DumpConfig(dir));
  const float big[4] = {1, 2, 3, 4};
  d.SaveTensor("2", "0", "4", big, sizeof big, "0_1/0/0_Op/after/outtensor0.bin");
  d.SaveTensor("2", "0", "1", kValues, 4, "0_1/0/0_Op/after/outtensor0.bin");
  d.Flush();
  EXPECT_EQ(ReadFile(dir.path() / "ait_dump/tensors/0_1/0/0_Op/after/outtensor0.bin"),
            Header("1", 4) + std::string(reinterpret_cast<const char*>(kValues), 4));
}

// Large tensors whose bytes equal a file already written (the same buffer at operation and
// kernel level, a weight again next token) become hard links; changed bytes never do.
TEST(Dumper, IdenticalLargeTensorsAreHardLinkedChangedOnesWritten) {
  const size_t n = (size_t{4} << 20) / sizeof(float) + 16;  // over the direct-write size
  std::vector<float> weight(n);
  for (size_t i = 0; i < n; ++i) weight[i] = static_cast<float>(i % 977) * 0.25f;
  const std::string dims = std::to_string(n);
  auto save = [&](Dumper& d, const std::string& path) {
    d.SaveTensor("2", "0", dims, weight.data(), n * sizeof(float), path);
    d.Flush();
  };
  auto stat_of = [](const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st;
  };
  TempDir dir;
  Dumper d(DumpConfig(dir));
  const fs::path root = dir.path() / "ait_dump/tensors/0_1";
  save(d, "0_1/0/1_LinearOperation/after/intensor1.bin");
  save(d, "0_1/0/1_LinearOperation/0_MatMul/after/intensor1.bin");
  save(d, "0_1/1/1_LinearOperation/after/intensor1.bin");  // next token, same weight
  const auto first = stat_of(root / "0/1_LinearOperation/after/intensor1.bin");
  EXPECT_EQ(first.st_nlink, 3u);
  EXPECT_EQ(stat_of(root / "0/1_LinearOperation/0_MatMul/after/intensor1.bin").st_ino, first.st_ino);
  EXPECT_EQ(stat_of(root / "1/1_LinearOperation/after/intensor1.bin").st_ino, first.st_ino);
  const std::string expected = Header(dims.c_str(), n * sizeof(float)) +
                               std::string(reinterpret_cast<const char*>(weight.data()), n * sizeof(float));
  EXPECT_EQ(ReadFile(root / "1/1_LinearOperation/after/intensor1.bin"), expected);

  // Saving a linked path again with the same bytes: still one file, no temporary left.
  save(d, "0_1/0/1_LinearOperation/0_MatMul/after/intensor1.bin");
  EXPECT_EQ(stat_of(root / "0/1_LinearOperation/0_MatMul/after/intensor1.bin").st_ino, first.st_ino);
  EXPECT_EQ(FilesUnder(dir.path()).size(), 3u);

  weight[n / 2] += 1.0f;  // the same buffer now holds other bytes: a new file
  save(d, "0_1/2/1_LinearOperation/after/intensor1.bin");
  const auto changed = stat_of(root / "2/1_LinearOperation/after/intensor1.bin");
  EXPECT_NE(changed.st_ino, first.st_ino);
  EXPECT_EQ(changed.st_nlink, 1u);
  EXPECT_NE(ReadFile(root / "2/1_LinearOperation/after/intensor1.bin"), expected);
  EXPECT_EQ(ReadFile(root / "0/1_LinearOperation/after/intensor1.bin"), expected);  // untouched

  // Rewriting a linked path replaces only that name.
  save(d, "0_1/0/1_LinearOperation/after/intensor1.bin");
  EXPECT_EQ(ReadFile(root / "1/1_LinearOperation/after/intensor1.bin"), expected);
  EXPECT_EQ(FilesUnder(dir.path()).size(), 4u);  // no temporary left behind

  // A file replaced behind the probe's back (same name, another inode) is never linked to.
  {
    TempDir other;
    Dumper e(DumpConfig(other));
    save(e, "0_1/0/1_LinearOperation/after/intensor1.bin");
    const fs::path first_file = other.path() / "ait_dump/tensors/0_1/0/1_LinearOperation/after/intensor1.bin";
    const fs::path replacement = other.path() / "replacement";
    { std::ofstream(replacement) << "not the tensor"; }
    fs::rename(replacement, first_file);
    save(e, "0_1/1/1_LinearOperation/after/intensor1.bin");
    const fs::path second = other.path() / "ait_dump/tensors/0_1/1/1_LinearOperation/after/intensor1.bin";
    EXPECT_NE(stat_of(second).st_ino, stat_of(first_file).st_ino);
    EXPECT_EQ(ReadFile(second).size(), Header(dims.c_str(), n * sizeof(float)).size() + n * sizeof(float));
    EXPECT_EQ(FilesUnder(other.path()).size(), 2u);
  }

  // AIT_DUMP_LINK_DUPLICATES=0: always a copy.
  TempDir plain;
  Dumper copies(DumpConfig(plain, {{"AIT_DUMP_LINK_DUPLICATES", "0"}}));
  save(copies, "0_1/0/1_LinearOperation/after/intensor1.bin");
  save(copies, "0_1/1/1_LinearOperation/after/intensor1.bin");
  EXPECT_EQ(stat_of(plain.path() / "ait_dump/tensors/0_1/1/1_LinearOperation/after/intensor1.bin").st_nlink, 1u);
}

TEST(Dumper, DescriptionOnlyWritesTheHeaderAlone) {
  TempDir dir;
  Dumper d(DumpConfig(dir, {{"ATB_SAVE_TENSOR", "2"}}));
  d.SaveTensor("2", "1", "3,64", kValues, 384, "0_1/0/0_Op/before/intensor1.bin");
  d.Flush();
  EXPECT_EQ(ReadFile(dir.path() / "ait_dump/tensors/0_1/0/0_Op/before/intensor1.bin"),
            "$Version=1.0\n$Object.Count=0\n$Object.Length=0\nformat=2\ndtype=1\ndims=3,64\n$End=1\n");
}

TEST(Dumper, PartAndDeviceFiltersLookAtTheFileNameAndTheRootFolder) {
  TempDir dir;
  Dumper d(DumpConfig(dir, {{"ATB_SAVE_TENSOR_PART", "1"}, {"ATB_DEVICE_ID", "1"}}));
  for (const char* p : {"1_5/0/0_Op/after/intensor0.bin", "1_5/0/0_Op/after/outtensor0.bin",
                        "1_5/0/0_Op/after/inTensor0.bin", "1_5/0/0_Op/after/outTensor1.bin",
                        "0_5/0/0_Op/after/outtensor0.bin", "1_5/0/0_Op/after/other.bin"})
    d.SaveTensor("2", "0", "1", kValues, 4, p);
  d.Flush();
  EXPECT_EQ(FilesUnder(dir.path() / "ait_dump/tensors"),
            (std::vector<std::string>{"1_5/0/0_Op/after/other.bin", "1_5/0/0_Op/after/outTensor1.bin",
                                      "1_5/0/0_Op/after/outtensor0.bin"}));
}

TEST(Dumper, UnsafePathsAndNullDataAreSkippedAndReportedOnce) {
  TempDir dir;
  const fs::path out = dir.path() / "out";
  fs::create_directories(out);
  Dumper d(DumpConfig(dir, {{"ATB_OUTPUT_DIR", out.string() + "/"}}));
  ::testing::internal::CaptureStderr();
  for (const char* p : {"../../escape.bin", "/abs/outtensor0.bin", "0_1//x.bin", "0_1/./x.bin", "0_1/x.bin/"})
    d.SaveTensor("2", "0", "1", kValues, 4, p);
  d.SaveParam("{}", "../op_param.json");
  d.SaveTiling(reinterpret_cast<const uint8_t*>(kValues), 4, "../../tiling.bin");
  d.SaveTensor("2", "0", "1", nullptr, 4, "0_1/0/0_Op/after/outtensor0.bin");
  d.SaveTensor("2", "0", "1\n$End=1", kValues, 4, "0_1/0/0_Op/after/outtensor0.bin");
  d.Flush();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(FilesUnder(dir.path()), std::vector<std::string>{});
  EXPECT_EQ(d.errors().count(ErrorKind::kUnsafeName), 7u);
  EXPECT_EQ(d.errors().count(ErrorKind::kBadValue), 2u);
  // Once per kind on stderr.
  EXPECT_EQ(Lines(err).size(), 2u) << err;
  EXPECT_NE(err.find("../../escape.bin"), std::string::npos) << err;
}

TEST(Dumper, AnUnwritableOutputFolderIsReportedOnceWithTheReason) {
  TempDir dir;
  std::ofstream(dir.path() / "file") << "not a folder";
  Dumper d(DumpConfig(dir, {{"ATB_OUTPUT_DIR", (dir.path() / "file").string() + "/"},
                            {"ATB_DUMP_TYPE", "tensor|layer|cpu_profiling"}}));
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 20; ++i)
    d.SaveTensor("2", "0", "1", kValues, 4, "0_1/" + std::to_string(i) + "/0_Op/after/outtensor0.bin");
  d.ReportStatistic(0, "Op_0", "totalTime:1");
  d.ReportOperationGraph("L_1", R"({"opName":"L_1","opType":"L","inTensorNum":1,"outTensorNum":1})");
  d.Flush();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(d.errors().count(ErrorKind::kCreateDir), 22u);
  EXPECT_EQ(Lines(err).size(), 1u) << err;
  EXPECT_NE(err.find("Not a directory"), std::string::npos) << err;
  EXPECT_NE(err.find((dir.path() / "file").string()), std::string::npos) << err;
}

TEST(Dumper, TensorsSkippedForFreeSpaceAreCountedWithTheReasonForTheDumpSummary) {
  TempDir dir;
  const fs::path lost = dir.path() / "lost.txt";
  Dumper d(DumpConfig(dir, {{"AIT_PROBE_TEST_MIN_FREE_BYTES", std::to_string(uint64_t{1} << 50)},
                            {"AIT_DUMP_LOST_OUTPUTS_FILE", lost.string()}}));
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 3; ++i)
    d.SaveTensor("2", "0", "1", kValues, 4, "0_1/" + std::to_string(i) + "/0_Op/after/outtensor0.bin");
  d.SaveParam("{}", "0_1/0/0_Op/op_param.json");  // not a tensor: no free-space rule
  d.Flush();
  d.ReportLostOutputs();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(d.errors().count(ErrorKind::kLowSpace), 3u);
  EXPECT_EQ(Lines(err).size(), 1u) << err;  // said once on stderr
  EXPECT_EQ(FilesUnder(dir.path()),
            (std::vector<std::string>{"ait_dump/tensors/0_1/0/0_Op/op_param.json", "lost.txt"}));
  // The tensor folder does not exist yet: the free space is that of the nearest folder.
  const std::vector<std::string> lines = Lines(ReadFile(lost));
  ASSERT_EQ(lines.size(), 1u);
  const std::string head = "3\ttensors were not written\tonly ";
  const std::string tail = " MiB free under '" + dir.path().string() +
                           "': tensors are skipped while less than 1048576 GiB (or twice the tensor) is free";
  ASSERT_TRUE(lines[0].starts_with(head) && lines[0].ends_with(tail)) << lines[0];
  const std::string mib = lines[0].substr(head.size(), lines[0].size() - head.size() - tail.size());
  EXPECT_TRUE(!mib.empty() && mib.find_first_not_of("0123456789") == std::string::npos) << lines[0];
  // Appended: a second process of the same run adds its own line.
  d.ReportLostOutputs();
  EXPECT_EQ(Lines(ReadFile(lost)).size(), 2u);
}

TEST(Dumper, NothingLostWritesNoLostOutputsFile) {
  TempDir dir;
  const fs::path lost = dir.path() / "lost.txt";
  Dumper d(DumpConfig(dir, {{"AIT_DUMP_LOST_OUTPUTS_FILE", lost.string()}}));
  ::testing::internal::CaptureStderr();
  d.SaveTensor("2", "0", "1", kValues, 4, "0_1/0/0_Op/after/outtensor0.bin");
  d.SaveTensor("2", "0", "1", nullptr, 4, "0_1/0/0_Op/after/outtensor1.bin");  // the host's fault, not a loss
  d.Flush();
  d.ReportLostOutputs();
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(d.errors().count(ErrorKind::kBadValue), 1u);
  EXPECT_FALSE(fs::exists(lost));
}

TEST(Dumper, FailedWritesAreLostOutputsAndAForkedChildReportsOnlyItsOwn) {
  TempDir dir;
  std::ofstream(dir.path() / "file") << "not a folder";
  ErrorReporter errors;
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 2; ++i) WriteFileAtomically((dir.path() / "file/sub/x.bin").string(), "x", 1, errors);
  errors.Report(ErrorKind::kUnsafeName, "refusing tensor path '../x'");  // the host's fault, not a loss
  EXPECT_EQ(errors.LostOutputs(), "2\tfile writes failed\tcannot create folder '" +
                                      (dir.path() / "file/sub").string() + "': Not a directory\n");
  errors.ForgetAfterFork();
  EXPECT_EQ(errors.LostOutputs(), "");
  errors.Report(ErrorKind::kLowSpace, "only 5 MiB\tfree\n");  // kept on one line, a record of three fields
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(errors.LostOutputs(), "1\ttensors were not written\tonly 5 MiB free \n");
}

TEST(Dumper, SaveParamAndSaveTiling) {
  TempDir dir;
  Dumper d(DumpConfig(dir));
  d.SaveParam(R"({"hasBias":false})", "0_1/0/1_L/1_LinearOperation/op_param.json");
  const uint8_t tiling[5] = {1, 2, 3, 0, 255};
  d.SaveTiling(tiling, sizeof tiling, "0_1/0/1_L/1_LinearOperation/0_MatMul/kernel_tilingdata.bin");
  ::testing::internal::CaptureStdout();  // the probe's log channel
  d.SaveTiling(nullptr, 4, "0_1/0/x/kernel_tilingdata.bin");
  const std::string log = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(Lines(log).size(), 1u) << log;
  EXPECT_TRUE(log.starts_with("[WARNING] [dumper.cc:")) << log;
  EXPECT_TRUE(log.ends_with("][SaveTiling] no tiling data for 0_1/0/x/kernel_tilingdata.bin\n")) << log;
  d.Flush();
  EXPECT_EQ(ReadFile(dir.path() / "ait_dump/tensors/0_1/0/1_L/1_LinearOperation/op_param.json"),
            "{\"hasBias\":false}\n");
  // FORMATS.md policy 9: under ait_dump/tiling/ (probe-ait wrote {OUT}{filePath}).
  EXPECT_EQ(ReadFile(dir.path() / "ait_dump/tiling/0_1/0/1_L/1_LinearOperation/0_MatMul/kernel_tilingdata.bin"),
            std::string("\x01\x02\x03\x00\xff", 5));
}

const char* kLayer = R"({"opName":"LlamaLayer_1","opType":"LlamaLayer","param":{"layerId":0},"inTensorNum":2,
  "outTensorNum":1,"internalTensorNum":1,"nodes":[
  {"opName":"RmsNormOperation_1_0","opType":"RmsNormOperation","param":{},"inTensorIds":[0,1],"outTensorIds":[3]},
  {"opName":"ElewiseOperation_1_1","opType":"ElewiseOperation","param":{},"inTensorIds":[3,0],"outTensorIds":[2]}]})";
const char* kModel = R"({"inTensors":["M_input_0"],"modelName":"LlamaModel","nodes":[
  {"inTensors":["M_input_0"],"opName":"GatherOperation","outTensors":["M_internal_0"]},
  {"inTensors":["M_internal_0","M_weight_0"],"opName":"LlamaLayer","outTensors":["M_output_0"]}],
  "outTensors":["M_output_0"]})";

TEST(Dumper, LayerAndModelTopologyFiles) {
  TempDir dir;
  const fs::path info = dir.path() / "cli_pid";
  Dumper d(DumpConfig(dir, {{"ATB_DUMP_TYPE", "model|onnx"}, {"ATB_DUMP_SUB_PROC_INFO_SAVE_PATH", info.string()}}));
  EXPECT_TRUE(d.IsReportModelTopoInfo("LlamaModel"));
  d.ReportOperationGraph("LlamaLayer_1", kLayer);
  d.ReportModelTopoInfo("LlamaModel", kModel);
  EXPECT_FALSE(d.IsReportModelTopoInfo("LlamaModel"));  // once per model per process
  EXPECT_TRUE(d.IsReportModelTopoInfo("OtherModel"));

  const fs::path layer = dir.path() / "ait_dump/layer" / Pid() / "LlamaLayer_1.json";
  std::string error;
  EXPECT_EQ(ReadFile(layer), DumpCompact(*BuildLayerJson(OrderedJson::parse(kLayer), &error)) + "\n");
  const fs::path model = dir.path() / "ait_dump/model" / Pid() / "LlamaModel.json";
  EXPECT_EQ(ReadFile(model),
            R"({"inTensors":["M_input_0"],"modelName":"LlamaModel","nodes":[)"
            R"({"inTensors":["M_input_0"],"opName":"GatherOperation_0","outTensors":["M_internal_0"],)"
            R"("opType":"GatherOperation"},)"
            R"({"inTensors":["M_internal_0","M_weight_0"],"opName":"LlamaLayer_1","outTensors":["M_output_0"],)"
            R"("opType":"LlamaLayer","internalTensors":["LlamaLayer_1_internal_0"],"nodes":[)"
            R"({"opName":"RmsNormOperation_1_0","opType":"RmsNormOperation","param":{},)"
            R"("inTensors":["M_internal_0","M_weight_0"],"outTensors":["LlamaLayer_1_internal_0"]},)"
            R"({"opName":"ElewiseOperation_1_1","opType":"ElewiseOperation","param":{},)"
            R"("inTensors":["LlamaLayer_1_internal_0","M_internal_0"],"outTensors":["M_output_0"]}]}],)"
            R"("outTensors":["M_output_0"]})"
            "\n");
  // With `onnx`, every JSON written is listed for the CLI's conversion.
  EXPECT_EQ(ReadFile(info / "subprocess_info.txt"), layer.string() + "\n" + model.string() + "\n");
}

TEST(Dumper, TopologyNeedsItsDumpTypeAndAMatchingName) {
  TempDir dir;
  Dumper d(DumpConfig(dir, {{"ATB_DUMP_TYPE", "layer"}}));
  EXPECT_FALSE(d.IsReportModelTopoInfo("LlamaModel"));
  ::testing::internal::CaptureStdout();  // the probe's log channel
  ::testing::internal::CaptureStderr();  // its problems with what the host passed
  d.ReportModelTopoInfo("LlamaModel", kModel);                           // `model` not enabled
  d.ReportOperationGraph("LlamaLayer_2", kLayer);                        // names another op
  d.ReportOperationGraph("LlamaLayer_1", "{not json");                   // parse error
  d.ReportOperationGraph("../LlamaLayer_1", kLayer);                     // not a file name
  d.ReportOperationGraph("LlamaLayer_1", kLayer);                        // the one that counts
  const std::string err = ::testing::internal::GetCapturedStderr();
  const std::string log = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(FilesUnder(dir.path()), std::vector<std::string>{"ait_dump/layer/" + Pid() + "/LlamaLayer_1.json"});
  const std::vector<std::string> lines = Lines(log);
  ASSERT_EQ(lines.size(), 2u) << log;
  EXPECT_TRUE(lines[0].starts_with("[ERROR] ") &&
              lines[0].ends_with("[ReportOperationGraph] the graph reported for LlamaLayer_2 names another operation"))
      << log;
  EXPECT_TRUE(lines[1].starts_with("[ERROR] ") &&
              lines[1].ends_with("[ReportOperationGraph] the graph of LlamaLayer_1 is not valid JSON"))
      << log;
  EXPECT_EQ(err,
            "ait_probe: refusing layer name '../LlamaLayer_1': not a plain file name"
            " (further problems of this kind are not reported)\n");
}

TEST(Dumper, IoCsvRowsNumberedFromOneWithAHeader) {
  TempDir dir;
  Dumper d(DumpConfig(dir, {{"ATB_DUMP_TYPE", "op|kernel"}}));
  const std::vector<atb::Probe::Tensor> in = {{"float", "nd", "3,64", "0_1/0/0_G/after/intensor0.bin"}};
  const std::vector<atb::Probe::Tensor> out = {{"float", "nd", "3,64", "0_1/0/0_G/after/outtensor0.bin"}};
  d.ReportIoTensor(Dumper::IoKind::kOperation, 0, "GatherOperation_0", "{}", in, out);
  d.ReportIoTensor(Dumper::IoKind::kOperation, 0, "LinearOperation_3", "{}", in, out);
  d.ReportIoTensor(Dumper::IoKind::kOperation, 1, "GatherOperation_0", "{}", in, out);
  d.ReportIoTensor(Dumper::IoKind::kKernel, 0, "Gather", "{}", in, out);
  const std::string root = dir.Out() + "ait_dump/";
  const auto op0 = Lines(ReadFile(root + "operation_io_tensors/" + Pid() + "/operation_tensors_0.csv"));
  ASSERT_EQ(op0.size(), 3u);
  EXPECT_EQ(op0[0] + "\n", IoCsvHeader());
  EXPECT_EQ(op0[1].substr(0, op0[1].find("|{}")), "1|GatherOperation_01|GatherOperation_0");
  EXPECT_EQ(op0[2].substr(0, op0[2].find("|{}")), "2|LinearOperation_32|LinearOperation_3");
  EXPECT_NE(op0[1].find("|" + root + "tensors/0_1/0/0_G/after/intensor0.bin|"), std::string::npos);
  EXPECT_EQ(Lines(ReadFile(root + "operation_io_tensors/" + Pid() + "/operation_tensors_1.csv")).size(), 2u);
  const auto k0 = Lines(ReadFile(root + "kernel_io_tensors/" + Pid() + "/kernel_tensors_0.csv"));
  ASSERT_EQ(k0.size(), 2u);
  EXPECT_EQ(k0[1].substr(0, 15), "1|Gather1|Gathe");
}

TEST(Dumper, IoCsvContinuesTheNumberingOfAnExistingFile) {
  TempDir dir;
  const fs::path csv = dir.path() / "ait_dump/operation_io_tensors" / Pid() / "operation_tensors_0.csv";
  fs::create_directories(csv.parent_path());
  std::ofstream(csv) << IoCsvHeader() << "1|a\n2|b\n3|c\n";
  Dumper d(DumpConfig(dir, {{"ATB_DUMP_TYPE", "op"}}));
  d.ReportIoTensor(Dumper::IoKind::kOperation, 0, "Op_0", "{}", {}, {});
  d.ReportIoTensor(Dumper::IoKind::kOperation, 0, "Op_0", "{}", {}, {});
  const auto lines = Lines(ReadFile(csv));
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[4].substr(0, 8), "4|Op_04|");
  EXPECT_EQ(lines[5].substr(0, 8), "5|Op_05|");
}

TEST(Dumper, IoCsvRowsFromManyThreadsGetDistinctNumbers) {
  TempDir dir;
  Dumper d(DumpConfig(dir, {{"ATB_DUMP_TYPE", "op"}}));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) d.ReportIoTensor(Dumper::IoKind::kOperation, 0, "Op", "{}", {}, {});
    });
  for (auto& t : threads) t.join();
  const auto lines = Lines(ReadFile(dir.Out() + "ait_dump/operation_io_tensors/" + Pid() + "/operation_tensors_0.csv"));
  ASSERT_EQ(lines.size(), 201u);
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_EQ(lines[i].substr(0, lines[i].find('|')), std::to_string(i));
}

TEST(Dumper, StatisticsAppendOneLinePerReport) {
  TempDir dir;
  Dumper d(DumpConfig(dir, {{"ATB_DUMP_TYPE", "cpu_profiling"}}));
  d.ReportStatistic(0, "LinearOperation_3", "totalTime:5, runnerSetupTime:2");
  d.ReportStatistic(0, "LinearOperation_3", "totalTime:9, kernelExecuteTime:4");
  d.ReportStatistic(2, "GatherOperation_0", "totalTime:1");
  // One folder per process run, named by its local start time (FORMATS.md policy 1), with
  // the pid recorded inside.
  std::vector<fs::path> runs;
  for (const auto& e : fs::directory_iterator(dir.Out() + "ait_dump/cpu_profiling")) runs.push_back(e.path());
  ASSERT_EQ(runs.size(), 1u);
  const std::string stamp = runs[0].filename().string();
  EXPECT_EQ(stamp.size(), 14u);
  EXPECT_EQ(stamp.find_first_not_of("0123456789"), std::string::npos);
  const std::string root = runs[0].string() + "/";
  EXPECT_EQ(ReadFile(root + "pid.txt"), Pid() + "\n");
  EXPECT_EQ(ReadFile(root + "operation_statistic_0.txt"),
            "[LinearOperation_3]:totalTime:5, runnerSetupTime:2\n[LinearOperation_3]:totalTime:9, kernelExecuteTime:4\n");
  EXPECT_EQ(ReadFile(root + "operation_statistic_2.txt"), "[GatherOperation_0]:totalTime:1\n");
  Dumper off(DumpConfig(dir, {{"ATB_DUMP_TYPE", "tensor"}}));
  off.ReportStatistic(5, "X", "y");
  EXPECT_FALSE(fs::exists(root + "operation_statistic_5.txt"));
}

TEST(Dumper, OverflowLinesGoToTheOutputDirAndNeedIt) {
  TempDir dir;
  Dumper d(DumpConfig(dir, {{"ATB_OUTPUT_DIR", dir.path().string()}}));  // errcheck: no trailing '/'
  d.ReportOverflowKernel("LinearOperation_1_2:MatMul");
  d.ReportOverflowKernel("");
  d.ReportOverflowKernel("ElewiseOperation_1_7:Add");
  EXPECT_EQ(ReadFile(dir.path() / ("ait_overflow_res_" + Pid() + ".txt")),
            "Overflow detected! Operator name: LinearOperation_1_2:MatMul\n"
            "Overflow detected! Operator name: ElewiseOperation_1_7:Add\n");
  Dumper unset(ConfigFrom({}, dir.path().string() + "/elsewhere"));
  unset.ReportOverflowKernel("X_0:Y");
  EXPECT_EQ(FilesUnder(dir.path()).size(), 1u);
}

TEST(Dumper, OverflowLinesAppendTheTokenAndTheKindAfterTheOriginalsText) {
  TempDir dir;
  Dumper d(DumpConfig(dir, {{"ATB_OUTPUT_DIR", dir.path().string()}}));
  d.ReportOverflowKernel("RmsNormOperation_1_8:RmsNorm", 0, overflow_report::Values{41, 0, 4096});
  d.ReportOverflowKernel("LinearOperation_1_9:MatMul", 2, overflow_report::Values{0, 3, 64});
  d.ReportOverflowKernel("ElewiseOperation_1_7:Add", 2, overflow_report::Values{1, 2, 8});
  d.ReportOverflowKernel("A_0:B", 5);                                   // a host that announced nothing
  d.ReportOverflowKernel("C_0:D", -1, overflow_report::Values{0, 0, 9});  // nothing to name: no kind
  EXPECT_EQ(ReadFile(dir.path() / ("ait_overflow_res_" + Pid() + ".txt")),
            "Overflow detected! Operator name: RmsNormOperation_1_8:RmsNorm, execute count 0, kind NaN "
            "(41 NaN, 0 inf of 4096 output values)\n"
            "Overflow detected! Operator name: LinearOperation_1_9:MatMul, execute count 2, kind inf "
            "(0 NaN, 3 inf of 64 output values)\n"
            "Overflow detected! Operator name: ElewiseOperation_1_7:Add, execute count 2, kind NaN+inf "
            "(1 NaN, 2 inf of 8 output values)\n"
            "Overflow detected! Operator name: A_0:B, execute count 5\n"
            "Overflow detected! Operator name: C_0:D\n");
}

TEST(Dumper, TheQueueIsBoundedAndEverythingIsWrittenInTheEnd) {
  TempDir dir;
  Dumper d(DumpConfig(dir), /*max_queued_bytes=*/8 << 10);
  std::vector<float> data(1024);
  for (int i = 0; i < 300; ++i) {
    data[0] = static_cast<float>(i);
    d.SaveTensor("2", "0", "1024", data.data(), 4096, "0_1/" + std::to_string(i) + "/0_Op/after/outtensor0.bin");
    EXPECT_LE(d.writer().pending_bytes(), (8u << 10) + 4096);
  }
  d.Flush();
  EXPECT_EQ(d.writer().pending_jobs().load(), 0u);
  EXPECT_EQ(FilesUnder(dir.path()).size(), 300u);
  const Tensor t = ReadTensor((dir.path() / "ait_dump/tensors/0_1/299/0_Op/after/outtensor0.bin").string());
  float first = 0;
  std::memcpy(&first, t.data, sizeof first);  // mapped at the header's length: not aligned
  EXPECT_EQ(first, 299.0f);
}

TEST(Dumper, AJobLargerThanTheBoundStillGoesThrough) {
  TempDir dir;
  Dumper d(DumpConfig(dir), /*max_queued_bytes=*/1024);
  std::vector<float> data(4096, 1.0f);
  for (int i = 0; i < 3; ++i)
    d.SaveTensor("2", "0", "4096", data.data(), 16384, "0_1/" + std::to_string(i) + "/outtensor0.bin");
  d.Flush();
  EXPECT_EQ(FilesUnder(dir.path()).size(), 3u);
}

TEST(Dumper, AfterFlushWritesAreSynchronous) {
  TempDir dir;
  Dumper d(DumpConfig(dir));
  d.Flush();
  d.SaveTensor("2", "0", "1", kValues, 4, "0_1/0/0_Op/after/outtensor0.bin");
  EXPECT_TRUE(fs::exists(dir.path() / "ait_dump/tensors/0_1/0/0_Op/after/outtensor0.bin"));
}

TEST(Dumper, ManyThreadsSavingAtOnce) {
  TempDir dir;
  Dumper d(DumpConfig(dir), 64 << 10);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<float> data(256, static_cast<float>(t));
      for (int i = 0; i < 100; ++i)
        d.SaveTensor("2", "0", "256", data.data(), 1024,
                     "0_1/" + std::to_string(i) + "/" + std::to_string(t) + "_Op/after/outtensor0.bin");
    });
  for (auto& t : threads) t.join();
  d.Flush();
  const auto files = FilesUnder(dir.path());
  ASSERT_EQ(files.size(), 400u);
  for (const auto& f : files) EXPECT_EQ(ReadTensor((dir.path() / f).string()).nbytes, 1024u) << f;
}

TEST(Dumper, AForkedChildWritesSynchronously) {
  TempDir dir;
  Dumper d(DumpConfig(dir), 1 << 20);
  d.SaveTensor("2", "0", "1", kValues, 4, "0_1/0/0_Parent/after/outtensor0.bin");  // starts the thread
  d.PrepareFork();
  const pid_t pid = ::fork();
  if (pid == 0) {
    d.ChildAfterFork();
    d.SaveTensor("2", "0", "1", kValues, 4, "0_1/0/0_Child/after/outtensor0.bin");
    // Written before SaveTensor returned, with no writer thread in this process.
    ::_exit(fs::exists(dir.path() / "ait_dump/tensors/0_1/0/0_Child/after/outtensor0.bin") ? 0 : 1);
  }
  d.ParentAfterFork();
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  d.SaveTensor("2", "0", "1", kValues, 4, "0_1/0/1_Parent/after/outtensor0.bin");
  d.Flush();
  EXPECT_EQ(FilesUnder(dir.path()).size(), 3u);
}

// Runs `body` in a forked child and returns its wait status.
template <typename Body>
int InChild(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}

TEST(Dumper, SigtermWritesTheQueueThenEndsTheProcessBySigterm) {
  TempDir dir;
  const int status = InChild([&] {
    // A slow disk: each file takes 30 ms between its temporary copy and its rename.
    Dumper d(DumpConfig(dir, {{"AIT_PROBE_TEST_WRITE_DELAY_MS", "30"}}));
    d.writer().set_on_start([&d] { InstallFlushOnSignal(&d.writer().pending_jobs()); });
    for (int i = 0; i < 10; ++i)
      d.SaveTensor("2", "0", "2,3", kValues, sizeof kValues, "0_1/" + std::to_string(i) + "/0_Op/after/outtensor0.bin");
    ::kill(::getpid(), SIGTERM);  // handled in this thread: recorded, and the host goes on
    d.SaveTensor("2", "0", "2,3", kValues, sizeof kValues, "0_1/late/0_Op/after/outtensor0.bin");  // dropped
    ::sleep(20);  // the writer ends the process long before
    ::_exit(3);
  });
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  const auto files = FilesUnder(dir.path());
  EXPECT_EQ(files.size(), 10u);  // every queued tensor, no temporary file, not the late one
  for (const auto& f : files) EXPECT_EQ(ReadTensor((dir.path() / f).string()).nbytes, 24u) << f;
}

TEST(Dumper, SigtermWithNothingQueuedEndsTheProcessAtOnce) {
  TempDir dir;
  const auto start = std::chrono::steady_clock::now();
  const int status = InChild([&] {
    // A shell without job control starts background commands with SIGINT ignored, and the
    // probe leaves an ignored signal alone (the host's choice): start from the default.
    ::signal(SIGINT, SIG_DFL);
    Dumper d(DumpConfig(dir));
    d.writer().set_on_start([&d] { InstallFlushOnSignal(&d.writer().pending_jobs()); });
    d.SaveTensor("2", "0", "2,3", kValues, sizeof kValues, "0_1/0/0_Op/after/outtensor0.bin");
    while (d.writer().pending_jobs().load() != 0) ::usleep(1000);
    ::kill(::getpid(), SIGINT);
    ::sleep(20);
    ::_exit(3);
  });
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << status;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(FilesUnder(dir.path()).size(), 1u);
}

TEST(Dumper, AHostHandlerIsLeftAlone) {
  const int status = InChild([] {
    ::signal(SIGTERM, SIG_IGN);
    std::atomic<uint64_t> pending{0};
    InstallFlushOnSignal(&pending);
    ::kill(::getpid(), SIGTERM);  // still ignored
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace ait::probe
