// CPU profiling post-processing: the original's merge rule and the Chrome trace.
#include "ait/cpu_profiling.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace ait {
namespace {
namespace fs = std::filesystem;

constexpr const char* kSetup =
    "totalTime:{}, runnerCreateTime:0, runnerSetupTime:{}, runnerFillHostTilingTime:0, setupTotalCount:1";
std::string SetupStat(int t) { return fmt::format(kSetup, t, t); }
std::string ExecStat(int total, int kernel) {
  return fmt::format("totalTime:{}, streamSyncTime:0, tillingCopyTime:0, kernelExecuteTime:{}, launchTime:0", total,
                     kernel);
}

fs::path TempDir(const char* name) {
  fs::path d = fs::temp_directory_path() / fmt::format("ait_cpu_prof_{}_{}", name, ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void Write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

TEST(CpuProfiling, ParsesOnlyWellFormedLines) {
  const auto lines = ParseStatisticLines("[Op_1]:a:1\nnoise\n[bad name]:x\n[Op_2]:\n[]:empty\n[X]y\n");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].op_name, "Op_1");
  EXPECT_EQ(lines[0].statistics, "a:1");
  EXPECT_EQ(lines[1].op_name, "Op_2");
  EXPECT_EQ(lines[1].statistics, "");
  EXPECT_EQ(lines[2].op_name, "");
}

TEST(CpuProfiling, MergeKeepsTheLastOfEachKindInFirstSeenOrder) {
  const std::string text = "[B_1]:" + SetupStat(5) + "\n[A_0]:" + SetupStat(1) + "\n[A_0]:" + ExecStat(10, 7) + "\n[B_1]:" +
                           ExecStat(20, 9) + "\n[A_0]:" + ExecStat(11, 8) + "\n[C_2]:something else\n";
  EXPECT_EQ(MergeStatistics(ParseStatisticLines(text)),
            "B_1:\n[execute] " + ExecStat(20, 9) + "\n[setup] " + SetupStat(5) + "\n\n" + "A_0:\n[execute] " + ExecStat(11, 8) +
                "\n[setup] " + SetupStat(1) + "\n\n" + "C_2:\n[execute] \n[setup] \n\n");
}

TEST(CpuProfiling, FindsStatisticFilesInCountOrder) {
  const fs::path d = TempDir("find");
  fs::create_directories(d / "123");
  for (const char* name : {"operation_statistic_10.txt", "operation_statistic_2.txt", "operation_statistic_x.txt",
                           "operation_statistic_3.txt.bak", "other.txt"})
    Write(d / "123" / name, "");
  const auto files = FindStatisticFiles(d);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename(), "operation_statistic_2.txt");
  EXPECT_EQ(files[1].filename(), "operation_statistic_10.txt");
  fs::remove_all(d);
}

TEST(CpuProfiling, TraceNestsChildrenInsideTheirGraphAndChainsTokens) {
  const fs::path d = TempDir("trace");
  // Token 0: layer L_1 with two nodes, then a leaf; token 1: the leaf only.
  Write(d / "operation_statistic_0.txt", "[L_1]:" + SetupStat(3) + "\n[A_1_0]:" + SetupStat(0) + "\n[A_1_0]:" + ExecStat(10, 8) +
                                             "\n[B_1_1]:" + SetupStat(0) + "\n[B_1_1]:" + ExecStat(5, 4) + "\n[L_1]:" +
                                             ExecStat(20, 20) + "\n[H_2]:" + SetupStat(1) + "\n[H_2]:" + ExecStat(7, 6) + "\n");
  Write(d / "operation_statistic_1.txt", "[H_2]:" + SetupStat(1) + "\n[H_2]:" + ExecStat(4, 3) + "\n");
  const auto files = FindStatisticFiles(d);
  EXPECT_EQ(WriteChromeTrace(files, d / "trace.json", 42), 5u);
  const auto trace = nlohmann::json::parse(std::ifstream(d / "trace.json"));
  const auto& ev = trace["traceEvents"];
  auto find = [&](const std::string& name, int count) {
    for (const auto& e : ev)
      if (e["name"] == name && e["args"]["executeCount"] == count) return e;
    ADD_FAILURE() << name;
    return nlohmann::json();
  };
  const auto a = find("A_1_0", 0), b = find("B_1_1", 0), l = find("L_1", 0), h0 = find("H_2", 0), h1 = find("H_2", 1);
  EXPECT_EQ(l["ts"], 0);
  EXPECT_EQ(l["dur"], 20);
  EXPECT_EQ(a["ts"], 0);
  EXPECT_EQ(a["dur"], 10);
  EXPECT_EQ(b["ts"], 10);  // after its sibling, inside the layer
  EXPECT_EQ(b["dur"], 5);
  EXPECT_EQ(h0["ts"], 20);  // after the layer
  EXPECT_EQ(h1["ts"], 27);  // the next token follows
  EXPECT_EQ(h1["args"]["execute"]["kernelExecuteTime"], 3);
  EXPECT_EQ(h0["args"]["setup"]["runnerSetupTime"], 1);
  EXPECT_EQ(h0["ph"], "X");
  EXPECT_EQ(h0["pid"], 42);
  fs::remove_all(d);
}

TEST(CpuProfiling, ParentLastsAtLeastAsLongAsItsChildren) {
  const fs::path d = TempDir("parent");
  Write(d / "operation_statistic_0.txt", "[L_1]:" + SetupStat(0) + "\n[A_1_0]:" + SetupStat(0) + "\n[A_1_0]:" + ExecStat(30, 1) +
                                             "\n[L_1]:" + ExecStat(10, 10) + "\n");
  WriteChromeTrace(FindStatisticFiles(d), d / "t.json", 1);
  const auto trace = nlohmann::json::parse(std::ifstream(d / "t.json"));
  EXPECT_EQ(trace["traceEvents"][1]["name"], "L_1");
  EXPECT_EQ(trace["traceEvents"][1]["dur"], 30);
  fs::remove_all(d);
}

TEST(CpuProfiling, MergeRewritesFilesInPlace) {
  const fs::path d = TempDir("merge");
  Write(d / "operation_statistic_0.txt", "[A_0]:" + SetupStat(2) + "\n[A_0]:" + ExecStat(9, 8) + "\n");
  MergeStatisticFiles(FindStatisticFiles(d));
  std::ifstream in(d / "operation_statistic_0.txt");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "A_0:\n[execute] " + ExecStat(9, 8) + "\n[setup] " + SetupStat(2) + "\n\n");
  fs::remove_all(d);
}

}  // namespace
}  // namespace ait
