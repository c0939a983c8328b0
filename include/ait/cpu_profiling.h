// Post-processing of the probe's CPU profiling files (`--type cpu_profiling`, FORMATS.md 2.6):
// `ait_dump/cpu_profiling/{pid}/operation_statistic_{executeCount}.txt`, raw lines
// `[<opName>]:<statistics>` appended once at each operation's setup and once after it executed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ait {

// One parsed raw line.
struct StatisticLine {
  std::string op_name;
  std::string statistics;  // "totalTime:12, runnerSetupTime:..."
};

// Lines matching `^\[([a-zA-Z0-9_]*)\]:(.*)` in order; others are skipped.
std::vector<StatisticLine> ParseStatisticLines(const std::string& text);

// The original's merge: per op name (first-seen order) the LAST execute statistic (contains
// `kernelExecuteTime:<digits>`) and the LAST setup statistic (contains `runnerSetupTime:<digits>`
// and is not an execute one), formatted `<op>:\n[execute] <e>\n[setup] <s>\n\n`.
std::string MergeStatistics(const std::vector<StatisticLine>& lines);

// Every `operation_statistic_<n>.txt` under `cpu_profiling_dir` (recursively), in execute
// count order.
std::vector<std::filesystem::path> FindStatisticFiles(const std::filesystem::path& cpu_profiling_dir);

// A Chrome trace (chrome://tracing, Perfetto: JSON object format, "X" complete events in µs)
// of the raw statistic files of one process folder, written BEFORE they are merged. The
// files hold durations, not timestamps, so the timeline is rebuilt: a setup line opens an
// operation, its execute line closes it with `totalTime` as duration; operations opened
// inside another (a layer's nodes) start where the previous sibling ended, from the parent's
// start; execute counts (tokens) follow one another. Each event's args carry the execute
// count and both statistic strings' fields. Returns the number of events.
size_t WriteChromeTrace(const std::vector<std::filesystem::path>& statistic_files, const std::filesystem::path& out,
                        int64_t pid);

// Rewrites each file in place with MergeStatistics of its lines (atomically).
void MergeStatisticFiles(const std::vector<std::filesystem::path>& statistic_files);

}  // namespace ait
