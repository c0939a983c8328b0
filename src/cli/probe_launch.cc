// Running a command under the probe: --exec splitting, probe flavour choice, preload and
// signal pass-through.
#include "probe_launch.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "ait/error.h"
#include "ait/log.h"
#include "ait/probe_env.h"
#include "bundled_library.h"

extern char** environ;

namespace ait::cli {
namespace fs = std::filesystem;

std::optional<std::string> UnsafeCharacter(const std::string& s) {
  static const std::string kExtra = "_\"'><=[])(,}{: /.~-";
  for (unsigned char c : s) {
    if (std::isalnum(c) || kExtra.find(static_cast<char>(c)) != std::string::npos) continue;
    if (c < 0x20 || c >= 0x7f) return fmt::format("byte 0x{:02x}", c);
    return fmt::format("'{}'", static_cast<char>(c));
  }
  return std::nullopt;
}

std::vector<std::string> SplitExecCommand(const std::string& exec) {
  std::vector<std::string> argv;
  std::string word;
  bool in_word = false;
  char quote = 0;  // ' or " while inside quotes
  for (size_t i = 0; i < exec.size(); ++i) {
    const char c = exec[i];
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
      Fail("--exec", "control character 0x{:02x} at offset {} is not allowed", static_cast<unsigned char>(c), i);
    if (quote == '\'') {
      if (c == '\'') quote = 0;
      else word += c;
      continue;
    }
    if (quote == '"') {
      if (c == '"') {
        quote = 0;
      } else if (c == '\\' && i + 1 < exec.size() && std::strchr("\\\"$`", exec[i + 1])) {
        word += exec[++i];
      } else {
        word += c;
      }
      continue;
    }
    if (c == ' ' || c == '\t') {
      if (in_word) argv.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '\\') {
      if (i + 1 == exec.size()) Fail("--exec", "a trailing backslash escapes nothing");
      word += exec[++i];
    } else if (std::strchr("|;&<>`$", c)) {
      Fail("--exec", "'{}' at offset {} is not allowed: the command runs without a shell, so pipes, redirection, "
           "command lists and expansions do not work; quote it ('{}') if it is part of an argument, or redirect "
           "the output of `ait llm` itself", c, i, c);
    } else {
      word += c;
    }
  }
  if (quote) Fail("--exec", "the {} quote opened in the command is never closed", quote == '"' ? "double" : "single");
  if (in_word) argv.push_back(std::move(word));
  if (argv.empty()) Fail("--exec", "the command is empty");
  return argv;
}

namespace {

// Runs `argv` and returns (exit status or -1, stdout).
std::pair<int, std::string> RunCapturingStdout(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) return {-1, ""};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  const int err = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  std::string out;
  if (err == 0) {
    char buf[65536];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fds[0]);
  if (err != 0) return {-1, ""};
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Whether libatb.so's dynamic symbols name atb::Probe functions with the cxx11 string ABI.
bool AtbUsesCxx11(const fs::path& libatb, std::string& reason) {
  auto [status, out] = RunCapturingStdout({"nm", "-D", libatb.string()});
  if (status != 0) {
    Log(LogLevel::kWarning, "cannot list the symbols of {} (nm failed): assuming the old string ABI", libatb.string());
    reason = "nm could not read " + libatb.string() + "; the original assumes the old ABI then";
    return false;
  }
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    if (line.find("Probe") != std::string::npos && line.find("cxx11") != std::string::npos) {
      reason = libatb.string() + " exports cxx11 (new string ABI) probe symbols";
      return true;
    }
  reason = libatb.string() + " exports no cxx11 probe symbols (old string ABI)";
  return false;
}

void CheckLibrary(const fs::path& lib) {
  struct stat st;
  if (lstat(lib.c_str(), &st) != 0)
    Fail(lib.string(), "the probe library is missing ({}); it is built with ait ('make build') and installed beside it",
         std::strerror(errno));
  if (S_ISLNK(st.st_mode)) Fail(lib.string(), "the probe library is a symbolic link; refusing to preload it");
  if (!S_ISREG(st.st_mode)) Fail(lib.string(), "the probe library is not a regular file");
  if (st.st_uid != geteuid() && st.st_uid != 0)
    Fail(lib.string(), "the probe library is owned by another user (uid {}); refusing to preload it", st.st_uid);
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    Fail(lib.string(), "the probe library is writable by group or others (mode {:o}); refusing to preload it "
         "(chmod go-w)", st.st_mode & 07777);
}

volatile sig_atomic_t g_child = 0;

// Signals another process sent us go on to the child; those from the terminal reached the
// child already (same process group).
void Forward(int sig, siginfo_t* info, void*) {
  if (g_child > 0 && info && (info->si_code == SI_USER || info->si_code == SI_QUEUE)) kill(g_child, sig);
}

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

}  // namespace

ProbeChoice ChooseProbe(ProbeAbi abi) {
  ProbeChoice choice;
  bool cxx11 = true;
  if (abi == ProbeAbi::kOld || abi == ProbeAbi::kCxx11) {
    cxx11 = abi == ProbeAbi::kCxx11;
    choice.reason = "forced by --probe-abi";
  } else if (const char* home = std::getenv(probe_env::kAtbHomePath);
             home && *home && fs::is_directory(home) && fs::exists(fs::path(home) / "lib" / "libatb.so")) {
    cxx11 = AtbUsesCxx11(fs::path(home) / "lib" / "libatb.so", choice.reason);
  } else {
#if defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI == 0
    cxx11 = false;
#endif
    choice.reason =
        fmt::format("the string ABI of ait-engine (no ATB install found through {})", probe_env::kAtbHomePath);
  }
  const fs::path lib = BundledLibrary(cxx11 ? probe_env::kProbeLibraryAbi1 : probe_env::kProbeLibraryAbi0);
  CheckLibrary(lib);
  choice.path = lib.string();
  return choice;
}

int RunWithProbe(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                 const std::vector<std::string>& unset, const std::string& preload, int* child_pid) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& name : unset) vars.erase(name);
  for (const auto& [k, v] : env) vars[k] = v;
  const auto old = vars.find(probe_env::kLdPreload);
  vars[probe_env::kLdPreload] = preload + (old != vars.end() && !old->second.empty() ? ":" + old->second : "");

  std::vector<std::string> env_strings;
  for (const auto& [k, v] : vars) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  struct sigaction forward {}, saved[std::size(kForwarded)];
  forward.sa_sigaction = Forward;
  forward.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&forward.sa_mask);
  for (size_t i = 0; i < std::size(kForwarded); ++i) sigaction(kForwarded[i], &forward, &saved[i]);

  pid_t pid;
  const int err = posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), envp.data());
  if (err != 0) {
    for (size_t i = 0; i < std::size(kForwarded); ++i) sigaction(kForwarded[i], &saved[i], nullptr);
    Fail("--exec", "cannot run '{}': {}", argv[0], std::strerror(err));
  }
  g_child = pid;
  if (child_pid) *child_pid = pid;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;
  for (size_t i = 0; i < std::size(kForwarded); ++i) sigaction(kForwarded[i], &saved[i], nullptr);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;  // stopped or continued: not an exit
}

}  // namespace ait::cli
