// What `ait llm dump` and `ait llm errcheck` share: validating and splitting `--exec`,
// finding the probe library and its string-ABI flavour, and running the command with the
// probe preloaded while passing signals through.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ait::cli {

// The original's safe_string check: only `_ A-Z a-z 0-9 " ' > < = [ ] ) ( , } { : space / . ~ -`.
// Returns the first offending character's description, or nullopt when the string is safe.
std::optional<std::string> UnsafeCharacter(const std::string& s);

// `--exec` split into argv as a POSIX shell splits words — spaces/tabs separate, '...' is
// literal, "..." keeps spaces (\\ \" \$ \` escaped), a backslash outside quotes escapes the
// next character — but no shell ever runs it (FORMATS.md policy: the original split on
// whitespace only). Throws ait::Error (naming --exec) for an empty command, a control
// character, an unclosed quote, or an unquoted | ; & < > ` $ (no pipes, redirection, command
// lists or expansions: the error says so).
std::vector<std::string> SplitExecCommand(const std::string& exec);

enum class ProbeAbi { kAuto, kOld, kCxx11 };

struct ProbeChoice {
  std::string path;    // the .so to preload
  std::string reason;  // why this flavour ("ATB_HOME_PATH's libatb.so exports cxx11 probe symbols", ...)
};

// Picks libait_probe_abi{0,1}.so from `<ait executable dir>/../lib`. kAuto: when ATB_HOME_PATH
// names a folder with lib/libatb.so, the flavour of its atb::Probe symbols (as the original:
// `nm -D libatb.so`, cxx11 in a Probe symbol -> abi1, none -> abi0, nm failing -> warning, abi0);
// otherwise the flavour this program (and our engine) is built with. Throws ait::Error when
// the library is missing, a symlink, not owned by the user (or root), or group/other-writable.
ProbeChoice ChooseProbe(ProbeAbi abi);

// Runs argv with `env` set (added to / replacing this process's environment; an empty value
// in `unset` removes a variable) and `preload` prepended to LD_PRELOAD. SIGINT, SIGTERM,
// SIGHUP and SIGQUIT received meanwhile are passed to the child. Returns the child's exit
// status, or 128 + signal when it was killed. `child_pid` receives its pid. Throws ait::Error
// when the program cannot be started (not found, not executable).
int RunWithProbe(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                 const std::vector<std::string>& unset, const std::string& preload, int* child_pid = nullptr);

}  // namespace ait::cli
