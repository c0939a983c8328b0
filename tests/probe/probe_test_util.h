// Helpers for the probe's unit tests: a Config from a table of variables, a temporary
// output folder, file reading.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "probe/config.h"
#include "test_util.h"

namespace ait::probe::testing {

// Config::FromEnv over `vars` (absent = unset), relative paths taken from `cwd`.
inline Config ConfigFrom(const std::map<std::string, std::string>& vars, const std::string& cwd = "/work/dir") {
  return Config::FromEnv(
      [&](const char* name) -> const char* {
        const auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
      },
      cwd);
}

// The shared temp folder (tests/test_util.h) plus the form the CLI passes as ATB_OUTPUT_DIR.
class TempDir : public ait::testing::TempDir {
 public:
  // The folder with a trailing '/'.
  std::string Out() const { return path().string() + "/"; }
};

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  return lines;
}

// Every regular file under `dir`, relative, sorted.
inline std::vector<std::string> FilesUnder(const std::filesystem::path& dir) {
  std::vector<std::string> files;
  if (!std::filesystem::exists(dir)) return files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(std::filesystem::relative(e.path(), dir).string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace ait::probe::testing
