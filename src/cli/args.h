// Argument conventions of the original (argparse): multi-letter single-dash options
// (`-gp`) and unique prefixes of long options (`--golden` for `--golden-path`). CLI11 has
// neither, so argv is rewritten to canonical long options before CLI11 parses it.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <utility>
#include <vector>

namespace ait::cli {

struct OptionAlias {
  std::string short_form;  // "-gp"
  std::string long_form;   // "--golden-path"
};

// Rewrites `args` (without the program and subcommand names): each short form becomes its
// long form (also in `-gp=x` form), and a `--prefix` that starts exactly one long option
// becomes that option. Ambiguous prefixes are left for CLI11 to reject.
std::vector<std::string> NormalizeArgs(const std::vector<std::string>& args, const std::vector<OptionAlias>& aliases,
                                       const std::vector<std::string>& long_options);

// Normalizes `raw` (NormalizeArgs over the app's long options) and parses it into `app`.
// Returns -1 when parsing succeeded and the command should run, else the exit status to
// return: kExitOk after --help, kExitUsage for a parse error (CLI11 printed the message).
int ParseArgs(CLI::App& app, const std::vector<std::string>& raw, const std::vector<OptionAlias>& aliases);

// Shell completion (src/cli/completion.bash): `ait llm COMMAND __complete` prints the
// command's option names, one per line (short aliases, long names), instead of running it.
inline constexpr const char* kCompleteRequest = "__complete";
std::vector<std::string> CompletionWords(const CLI::App& app, const std::vector<OptionAlias>& aliases);

// Limits `option` to numbers from `lo` to `hi` (`hi` infinite: no upper bound), in words people
// read: `--help` shows the type as "FLOAT in [-1, 1]" or "INT (>= 0)", and a value outside gets
// "--threads: '-1' is not >= 0" (CLI11's own ranges print DBL_MAX in full).
CLI::Option* Bounded(CLI::Option* option, const std::string& type, double lo, double hi);

// A CLI11 help formatter that shows "-gp, --golden-path" for aliased options.
// Columns --help fits its option descriptions into.
inline constexpr size_t kHelpWidth = 100;

// `text` with its lines broken at spaces so that none exceeds `width` (a longer word stays whole).
std::string WrapText(const std::string& text, size_t width);

class AliasFormatter : public CLI::Formatter {
 public:
  explicit AliasFormatter(std::vector<OptionAlias> aliases) : aliases_(std::move(aliases)) {}
  std::string make_option_name(const CLI::Option* opt, bool positional) const override;
  // The description wrapped at word boundaries to fit kHelpWidth beside the name column.
  std::string make_option_desc(const CLI::Option* opt) const override;

 private:
  std::vector<OptionAlias> aliases_;
};

// Prints "ait llm COMMAND: error: MESSAGE" and the --help hint to stderr; returns kExitUsage.
int UsageError(const char* command, const std::string& message);

// Exit codes of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the work could not be done (unreadable input, unwritable output)
inline constexpr int kExitUsage = 2;    // bad arguments (as argparse)
// dump: the command exited 0, but the probe could not write some outputs (too little free
// space, failed writes); otherwise dump exits with the command's status.
inline constexpr int kExitDumpIncomplete = 3;

}  // namespace ait::cli
