#include "args.h"

#include <cstdio>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace ait::cli {

std::vector<std::string> NormalizeArgs(const std::vector<std::string>& args, const std::vector<OptionAlias>& aliases,
                                       const std::vector<std::string>& long_options) {
  std::vector<std::string> out;
  bool rest_positional = false;
  for (const std::string& arg : args) {
    if (rest_positional || arg.size() < 2 || arg[0] != '-') {
      out.push_back(arg);
      continue;
    }
    if (arg == "--") {
      rest_positional = true;
      out.push_back(arg);
      continue;
    }
    size_t eq = arg.find('=');
    std::string name = arg.substr(0, eq), value = eq == std::string::npos ? "" : arg.substr(eq);
    bool done = false;
    for (const OptionAlias& a : aliases) {
      if (name == a.short_form) {
        out.push_back(a.long_form + value);
        done = true;
        break;
      }
    }
    if (done) continue;
    if (name.rfind("--", 0) == 0) {
      std::string match;
      int matches = 0;
      for (const std::string& opt : long_options) {
        if (opt == name) {
          matches = 1;
          match = opt;
          break;
        }
        if (opt.rfind(name, 0) == 0) {
          ++matches;
          match = opt;
        }
      }
      if (matches == 1) {
        out.push_back(match + value);
        continue;
      }
    }
    out.push_back(arg);
  }
  return out;
}

std::string AliasFormatter::make_option_name(const CLI::Option* opt, bool positional) const {
  std::string name = CLI::Formatter::make_option_name(opt, positional);
  for (const OptionAlias& a : aliases_)
    if (name.find(a.long_form) != std::string::npos) return a.short_form + ", " + name;
  return name;
}

std::string WrapText(const std::string& text, size_t width) {
  std::string out;
  size_t line = 0;  // characters on the current output line
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find_first_of(" \n", start), text.size());
    const std::string_view word(text.data() + start, end - start);
    if (line > 0 && line + 1 + word.size() > width) {
      out += '\n';
      line = 0;
    } else if (line > 0) {
      out += ' ';
      ++line;
    }
    out += word;
    line += word.size();
    if (end < text.size() && text[end] == '\n') {
      out += '\n';
      line = 0;
    }
    start = end + 1;
  }
  return out;
}

std::string AliasFormatter::make_option_desc(const CLI::Option* opt) const {
  const size_t column = get_column_width();
  return WrapText(CLI::Formatter::make_option_desc(opt), kHelpWidth > column + 20 ? kHelpWidth - column : 20);
}

int ParseArgs(CLI::App& app, const std::vector<std::string>& raw, const std::vector<OptionAlias>& aliases) {
  if (raw.size() == 1 && raw[0] == kCompleteRequest) {
    for (const std::string& word : CompletionWords(app, aliases)) std::printf("%s\n", word.c_str());
    return kExitOk;
  }
  std::vector<std::string> long_options;
  for (const CLI::Option* opt : app.get_options())
    if (!opt->get_lnames().empty()) long_options.push_back("--" + opt->get_lnames().front());
  std::vector<std::string> args = NormalizeArgs(raw, aliases, long_options);
  std::reverse(args.begin(), args.end());  // CLI11 consumes a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  return -1;
}

std::vector<std::string> CompletionWords(const CLI::App& app, const std::vector<OptionAlias>& aliases) {
  std::vector<std::string> words;
  for (const CLI::Option* opt : app.get_options()) {
    for (const std::string& name : opt->get_lnames()) {
      const std::string long_form = "--" + name;
      for (const OptionAlias& alias : aliases)
        if (alias.long_form == long_form) words.push_back(alias.short_form);
      words.push_back(long_form);
    }
    for (const std::string& name : opt->get_snames()) words.push_back("-" + name);
  }
  return words;
}

CLI::Option* Bounded(CLI::Option* option, const std::string& type, double lo, double hi) {
  const std::string range = std::isinf(hi) ? fmt::format(">= {}", lo) : fmt::format("in [{}, {}]", lo, hi);
  option->type_name(std::isinf(hi) ? type + " (" + range + ")" : type + " " + range);
  return option->check(CLI::Validator(
      [lo, hi, range](std::string& value) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(value, v) || std::isnan(v)) return "'" + value + "' is not a number";
        if (v < lo || v > hi) return "'" + value + "' is not " + range;
        return {};
      },
      ""));
}

int UsageError(const char* command, const std::string& message) {
  std::fprintf(stderr, "ait llm %s: error: %s\n(see 'ait llm %s --help')\n", command, message.c_str(), command);
  return kExitUsage;
}

}  // namespace ait::cli
