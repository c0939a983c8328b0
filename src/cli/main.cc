// `ait`: the command-line program. `ait llm <subcommand> ...`, as the original.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "cli/ait_revision.h"
#include "commands.h"

namespace {

constexpr const char* kUsage =
    "usage: ait llm <command> [options]\n"
    "\n"
    "Find the root cause of precision problems in LLM inference.\n"
    "\n"
    "commands:\n"
    "  compare (cc)   pair the tensors of a golden and a 'my' dump (or two files), score every\n"
    "                 pair (cosine similarity, relative/absolute error, KL divergence, ...),\n"
    "                 write CSV, JSON and HTML reports and name the operation where the\n"
    "                 error is born (the root cause)\n"
    "  dump (dd)      run a command with the ATB probe preloaded; dump tensors, topology,\n"
    "                 operation/kernel IO and CPU profiling to OUTPUT/ait_dump/\n"
    "  errcheck (ee)  run a command with the probe in overflow-check mode; report (or stop at)\n"
    "                 every kernel whose output holds an inf or a NaN\n"
    "  onnx           convert ATB topology JSON files (an ait_dump's layer/ and model/) to\n"
    "                 ONNX models for Netron, at a chosen nesting level\n"
    "  opcheck        check each operation of a dump on its own inputs against a float64\n"
    "                 reference; PASS/FAILED per output tensor by the standard of its dtype\n"
    "\n"
    "Run 'ait llm <command> --help' (or 'man ait-llm-<command>') for the options of a command,\n"
    "'ait --version' for the version and the git revision it was built from.\n";

struct Command {
  const char* name;
  const char* alias;  // the original's short name, or nullptr
  int (*run)(const std::vector<std::string>&);
};

constexpr Command kCommands[] = {
    {"compare", "cc", ait::cli::RunCompare}, {"dump", "dd", ait::cli::RunDump},
    {"errcheck", "ee", ait::cli::RunErrcheck}, {"onnx", nullptr, ait::cli::RunOnnx},
    {"opcheck", nullptr, ait::cli::RunOpcheck},
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // `ait --version` and `ait llm --version`: the version, and the git revision built from.
  auto is_version = [](const std::string& a) { return a == "--version" || a == "-V"; };
  if ((!args.empty() && is_version(args[0])) || (args.size() >= 2 && args[0] == "llm" && is_version(args[1]))) {
    std::printf("ait-llm %s (git %s)\n", AIT_VERSION, kAitRevision);
    return ait::cli::kExitOk;
  }
  // Shell completion (src/cli/completion.bash): the words that may come next.
  if (args.size() == 1 && args[0] == ait::cli::kCompleteRequest) {
    std::puts("llm\n--help\n--version");
    return ait::cli::kExitOk;
  }
  if (args.size() == 2 && args[0] == "llm" && args[1] == ait::cli::kCompleteRequest) {
    for (const Command& c : kCommands) std::puts(c.name);
    std::puts("--help\n--version");
    return ait::cli::kExitOk;
  }
  auto is_help = [](const std::string& a) { return a == "-h" || a == "--help"; };
  if ((!args.empty() && is_help(args[0])) || (args.size() >= 2 && args[0] == "llm" && is_help(args[1]))) {
    std::fputs(kUsage, stdout);
    return ait::cli::kExitOk;
  }
  if (args.size() < 2 || args[0] != "llm") {
    if (!args.empty() && args[0] != "llm") std::fprintf(stderr, "ait: unknown component '%s'\n\n", args[0].c_str());
    std::fputs(kUsage, stderr);
    return ait::cli::kExitUsage;
  }
  const std::string& command = args[1];
  std::vector<std::string> rest(args.begin() + 2, args.end());
  for (const Command& c : kCommands)
    if (command == c.name || (c.alias && command == c.alias)) return c.run(rest);
  std::fprintf(stderr, "ait llm: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return ait::cli::kExitUsage;
}
