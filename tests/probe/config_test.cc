// Config::FromEnv: how each ATB_* variable is read (FORMATS.md 3.3, 3.4), leniently.
#include "probe/config.h"

#include <gtest/gtest.h>

#include "probe_test_util.h"

namespace ait::probe {
namespace {

using testing::ConfigFrom;

TEST(ParseInt, ReadsLikeStoiWithoutThrowing) {
  EXPECT_EQ(ParseInt("0"), 0);
  EXPECT_EQ(ParseInt("  42"), 42);
  EXPECT_EQ(ParseInt("-7"), -7);
  EXPECT_EQ(ParseInt("+3"), 3);
  EXPECT_EQ(ParseInt("12abc"), 12);  // stoi stops at the first non-digit
  EXPECT_EQ(ParseInt("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(ParseInt("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(ParseInt("9223372036854775808"), std::nullopt);  // out of range
  EXPECT_EQ(ParseInt(""), std::nullopt);
  EXPECT_EQ(ParseInt("abc"), std::nullopt);
  EXPECT_EQ(ParseInt("-"), std::nullopt);
  EXPECT_EQ(ParseInt(" - 1"), std::nullopt);
}

TEST(AbsoluteDir, MakesAbsoluteNormalizedFoldersEndingInSlash) {
  EXPECT_EQ(AbsoluteDir("./", "/home/u"), "/home/u/");
  EXPECT_EQ(AbsoluteDir("out", "/home/u"), "/home/u/out/");
  EXPECT_EQ(AbsoluteDir("../x/./y/", "/home/u"), "/home/x/y/");
  EXPECT_EQ(AbsoluteDir("/abs//dir", "/home/u"), "/abs/dir/");
  EXPECT_EQ(AbsoluteDir("/../..", "/home/u"), "/");
}

TEST(Config, UnsetEnvironmentSavesNothingAndWritesUnderTheWorkingDir) {
  const Config c = ConfigFrom({}, "/run/here");
  EXPECT_EQ(c.out, "/run/here/");
  EXPECT_EQ(c.root, "/run/here/ait_dump/");
  EXPECT_FALSE(c.overflow_dir.has_value());  // no overflow report without ATB_OUTPUT_DIR
  EXPECT_FALSE(c.IsTensorNeedSave({0}, "LinearOperation"));  // no `tensor` dump type
  EXPECT_FALSE(c.IsExecuteCountInRange(0));
  EXPECT_FALSE(c.IsSaveChild());
  EXPECT_FALSE(c.IsSaveTensorData());
  EXPECT_FALSE(c.IsSaveTensorBefore());
  EXPECT_TRUE(c.IsSaveTensorAfter());  // ATB_SAVE_TENSOR_TIME defaults to 1
  EXPECT_FALSE(c.IsSaveIntensor());    // ATB_SAVE_TENSOR_PART unset: neither part
  EXPECT_FALSE(c.IsSaveOuttensor());
  EXPECT_FALSE(c.IsSaveTiling());
  EXPECT_FALSE(c.ReportOperationGraphEnable());
  EXPECT_FALSE(c.ReportOperationStatisticEnable());
  EXPECT_FALSE(c.ReportOperationIOTensorEnable());
  EXPECT_FALSE(c.ReportKernelIOTensorEnable());
  EXPECT_FALSE(c.IsOverflowCheck());
  EXPECT_FALSE(c.IsOverflowStop());
  EXPECT_EQ(c.log_level, 1);
  EXPECT_TRUE(c.DeviceSelected("5_123/0/x.bin"));
}

TEST(Config, OutputDirIsARawPrefixMadeAbsoluteWithATrailingSlash) {
  EXPECT_EQ(ConfigFrom({{"ATB_OUTPUT_DIR", "/data/dump/"}}).root, "/data/dump/ait_dump/");
  EXPECT_EQ(ConfigFrom({{"ATB_OUTPUT_DIR", "/data/dump"}}).root, "/data/dump/ait_dump/");
  EXPECT_EQ(ConfigFrom({{"ATB_OUTPUT_DIR", "rel/"}}, "/w").root, "/w/rel/ait_dump/");
  EXPECT_EQ(ConfigFrom({{"ATB_OUTPUT_DIR", "/data/dump"}}).overflow_dir, "/data/dump/");
  EXPECT_EQ(ConfigFrom({{"ATB_OUTPUT_DIR", ""}}, "/w").root, "/w/ait_dump/");
}

TEST(Config, DumpTypesAreExactPipeSeparatedNames) {
  const Config c = ConfigFrom({{"ATB_DUMP_TYPE", "tensor|layer|cpu_profiling"}});
  EXPECT_TRUE(c.DumpTypeEnabled("tensor"));
  EXPECT_TRUE(c.ReportOperationGraphEnable());
  EXPECT_TRUE(c.ReportOperationStatisticEnable());
  EXPECT_FALSE(c.DumpTypeEnabled("model"));
  EXPECT_FALSE(c.ReportOperationIOTensorEnable());
  EXPECT_FALSE(ConfigFrom({{"ATB_DUMP_TYPE", "Tensor"}}).DumpTypeEnabled("tensor"));  // case-sensitive
  EXPECT_FALSE(ConfigFrom({{"ATB_DUMP_TYPE", "tensors"}}).DumpTypeEnabled("tensor"));
  // `model` implies the layer files.
  EXPECT_TRUE(ConfigFrom({{"ATB_DUMP_TYPE", "model"}}).ReportOperationGraphEnable());
  const Config ok = ConfigFrom({{"ATB_DUMP_TYPE", "op|kernel"}});
  EXPECT_TRUE(ok.ReportOperationIOTensorEnable());
  EXPECT_TRUE(ok.ReportKernelIOTensorEnable());
}

TEST(Config, SaveTensorTimeZeroOneTwo) {
  for (auto [value, before, after] : {std::tuple{"0", true, false}, std::tuple{"1", false, true},
                                      std::tuple{"2", true, true}, std::tuple{"3", false, false},
                                      std::tuple{"junk", false, true}}) {
    const Config c = ConfigFrom({{"ATB_SAVE_TENSOR_TIME", value}});
    EXPECT_EQ(c.IsSaveTensorBefore(), before) << value;
    EXPECT_EQ(c.IsSaveTensorAfter(), after) << value;
  }
}

TEST(Config, SaveTensorPartZeroOneTwo) {
  for (auto [value, in, out] : {std::tuple{"0", true, false}, std::tuple{"1", false, true}, std::tuple{"2", true, true},
                                std::tuple{"x", false, false}}) {
    const Config c = ConfigFrom({{"ATB_SAVE_TENSOR_PART", value}});
    EXPECT_EQ(c.IsSaveIntensor(), in) << value;
    EXPECT_EQ(c.IsSaveOuttensor(), out) << value;
  }
}

TEST(Config, IntegerFlagsAreNonZeroIntegersAndGarbageMeansUnset) {
  EXPECT_TRUE(ConfigFrom({{"ATB_SAVE_CHILD", "1"}}).IsSaveChild());
  EXPECT_TRUE(ConfigFrom({{"ATB_SAVE_CHILD", "2"}}).IsSaveChild());
  EXPECT_FALSE(ConfigFrom({{"ATB_SAVE_CHILD", "0"}}).IsSaveChild());
  EXPECT_FALSE(ConfigFrom({{"ATB_SAVE_CHILD", "True"}}).IsSaveChild());  // the original would abort
  EXPECT_TRUE(ConfigFrom({{"ATB_SAVE_TILING", "1"}}).IsSaveTiling());
  EXPECT_FALSE(ConfigFrom({{"ATB_SAVE_TILING", "0"}}).IsSaveTiling());
  EXPECT_TRUE(ConfigFrom({{"ATB_SAVE_TENSOR", "1"}}).IsSaveTensorData());
  EXPECT_FALSE(ConfigFrom({{"ATB_SAVE_TENSOR", "2"}}).IsSaveTensorData());  // description only
  EXPECT_FALSE(ConfigFrom({{"ATB_SAVE_TENSOR", "yes"}}).IsSaveTensorData());
  EXPECT_EQ(ConfigFrom({{"ATB_AIT_LOG_LEVEL", "3"}}).log_level, 3);
  EXPECT_EQ(ConfigFrom({{"ATB_AIT_LOG_LEVEL", "loud"}}).log_level, 1);
}

TEST(Config, OverflowCheckLooksForTheCharacterOneAndStopNeedsExactlyOne) {
  EXPECT_TRUE(ConfigFrom({{"ATB_CHECK_TYPE", "1"}}).IsOverflowCheck());
  EXPECT_TRUE(ConfigFrom({{"ATB_CHECK_TYPE", "21"}}).IsOverflowCheck());
  EXPECT_FALSE(ConfigFrom({{"ATB_CHECK_TYPE", "2"}}).IsOverflowCheck());
  EXPECT_TRUE(ConfigFrom({{"ATB_EXIT", "1"}}).IsOverflowStop());
  EXPECT_FALSE(ConfigFrom({{"ATB_EXIT", "0"}}).IsOverflowStop());
  EXPECT_FALSE(ConfigFrom({{"ATB_EXIT", "1 "}}).IsOverflowStop());
  EXPECT_FALSE(ConfigFrom({{"ATB_EXIT", "11"}}).IsOverflowStop());
}

TEST(Config, DeviceFilterComparesTheTextBeforeTheFirstUnderscore) {
  const Config c = ConfigFrom({{"ATB_DEVICE_ID", "1"}});
  EXPECT_TRUE(c.DeviceSelected("1_2222/0/3_Layer/after/outtensor0.bin"));
  EXPECT_FALSE(c.DeviceSelected("0_2222/0/3_Layer/after/outtensor0.bin"));
  EXPECT_FALSE(c.DeviceSelected("11_2222/0/x.bin"));
  EXPECT_FALSE(c.DeviceSelected("nounderscore"));
  EXPECT_TRUE(ConfigFrom({{"ATB_DEVICE_ID", "not a number"}}).DeviceSelected("0_1/x.bin"));  // as unset
}

TEST(Config, SubProcessInfoFolder) {
  EXPECT_EQ(ConfigFrom({{"ATB_DUMP_SUB_PROC_INFO_SAVE_PATH", "/o/123"}}).sub_proc_info_dir, "/o/123/");
  EXPECT_FALSE(ConfigFrom({}).sub_proc_info_dir.has_value());
}

TEST(Config, LostOutputsFileIsMadeAbsolute) {
  EXPECT_EQ(ConfigFrom({{"AIT_DUMP_LOST_OUTPUTS_FILE", "/o/ait_dump/.lost_outputs_9.txt"}}).lost_outputs_file,
            "/o/ait_dump/.lost_outputs_9.txt");
  EXPECT_EQ(ConfigFrom({{"AIT_DUMP_LOST_OUTPUTS_FILE", "o/./lost.txt"}}, "/w").lost_outputs_file, "/w/o/lost.txt");
  EXPECT_FALSE(ConfigFrom({{"AIT_DUMP_LOST_OUTPUTS_FILE", ""}}).lost_outputs_file.has_value());
  EXPECT_FALSE(ConfigFrom({}).lost_outputs_file.has_value());
}

TEST(Config, FreeSpaceGuardIsTwoGibUnlessATestSetsIt) {
  EXPECT_EQ(ConfigFrom({}).min_free_bytes, uint64_t{2} << 30);
  EXPECT_EQ(ConfigFrom({{"AIT_PROBE_TEST_MIN_FREE_BYTES", "1125899906842624"}}).min_free_bytes, uint64_t{1} << 50);
  EXPECT_EQ(ConfigFrom({{"AIT_PROBE_TEST_MIN_FREE_BYTES", "0"}}).min_free_bytes, 0u);
  EXPECT_EQ(ConfigFrom({{"AIT_PROBE_TEST_MIN_FREE_BYTES", "-5"}}).min_free_bytes, uint64_t{2} << 30);
  EXPECT_EQ(ConfigFrom({{"AIT_PROBE_TEST_MIN_FREE_BYTES", "lots"}}).min_free_bytes, uint64_t{2} << 30);
}

}  // namespace
}  // namespace ait::probe
