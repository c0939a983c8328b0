// How the probe puts bytes on disk. Whole files are written under a temporary name in their
// folder (".<name>.tmp.<pid>.<n>") and renamed into place, so a file under its final name is
// always complete, even when the process is killed mid-write (the temporary may remain).
// Line outputs are appended with one write(2) on an O_APPEND descriptor, so lines from
// several threads or processes never interleave. Missing folders are created with mode 0750,
// files with 0640. No function here throws: failures are reported through ErrorReporter
// (once per kind) and the output is skipped.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "probe/probe_log.h"

namespace ait::probe {

// mkdir -p with mode 0750. `dir` is absolute.
bool MakeDirs(const std::string& dir, ErrorReporter& errors);

// Which file a name refers to.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId&) const = default;
};

// Writes `size` bytes to `path` (absolute) through a temporary file and rename(2); replaces
// an existing file. `delay_ms` (tests only) sleeps between writing and renaming.
bool WriteFileAtomically(const std::string& path, const char* data, size_t size, ErrorReporter& errors,
                         int64_t delay_ms = 0);
// The same for a file made of two pieces, `head` then `data` (either may be empty); `id`, when
// given, receives the file written.
bool WriteFileAtomically(const std::string& path, const char* head, size_t head_size, const char* data, size_t size,
                         ErrorReporter& errors, int64_t delay_ms = 0, FileId* id = nullptr);

// Makes `path` a hard link to `existing` (through a temporary name and rename(2), replacing
// `path`) when `existing` still is the file `id` (the one the caller wrote). Returns false,
// quietly and without touching `path`, otherwise or when a link cannot be made (another file
// system, no hard links, too many links): the caller writes the file instead. Missing folders
// of `path` are created (errors doing so are reported).
bool LinkToSameFile(const std::string& existing, const FileId& id, const std::string& path, ErrorReporter& errors);

// Appends `bytes` to `path` with one write(2), creating the file (and folders) if needed.
bool AppendToFile(const std::string& path, const std::string& bytes, ErrorReporter& errors);

// Creates `path` exclusively and writes `bytes` to it. true: created and written; false: it
// already existed; nullopt: an error (reported).
std::optional<bool> CreateExclusive(const std::string& path, const std::string& bytes, ErrorReporter& errors);

// Number of '\n'-terminated lines in `path`, counting stops at `limit`; 0 if unreadable.
uint64_t CountLines(const std::string& path, uint64_t limit);

// One whole-file write.
struct WriteJob {
  std::string path;
  std::unique_ptr<char[]> data;
  size_t size = 0;
};

// A single writer thread serving a queue of whole-file jobs, so the host only pays for
// copying the bytes. The queue is bounded by bytes: Submit blocks while the jobs queued or
// in progress hold `max_bytes` or more (one job larger than that is admitted when the queue
// is empty), which bounds the probe's memory and makes a fast host wait for the disk rather
// than grow without limit. The thread starts with the first job, with SIGTERM, SIGINT,
// SIGHUP and SIGQUIT blocked. After the flush-on-signal handler recorded one of those
// (signals.h), the thread writes what is queued, for at most 10 s, then raises the signal
// again; jobs submitted after the signal are dropped.
class AsyncWriter {
 public:
  AsyncWriter(ErrorReporter* errors, int64_t delay_ms, size_t max_bytes = size_t{256} << 20);
  ~AsyncWriter();  // Flush()
  AsyncWriter(const AsyncWriter&) = delete;
  AsyncWriter& operator=(const AsyncWriter&) = delete;

  // Queues `job`, or writes it at once when the writer was flushed (exit is under way) or
  // this is a forked child (the thread belongs to the parent). Drops it when a termination
  // signal was recorded, and returns false then.
  bool Submit(WriteJob job);

  // Writes everything queued, then stops the thread. Later jobs are written synchronously.
  // Raises a recorded termination signal once the queue is written.
  void Flush();

  // Jobs submitted and not yet finished. Lock-free, so a signal handler may poll it.
  const std::atomic<uint64_t>& pending_jobs() const { return pending_jobs_; }
  // Bytes queued or being written (the free-space check counts them as used).
  uint64_t pending_bytes() const { return pending_bytes_.load(); }

  // Called once when the thread starts (the probe installs its signal handlers then).
  void set_on_start(std::function<void()> f) { on_start_ = std::move(f); }

  // pthread_atfork protocol: the child of a fork has no writer thread; it writes
  // synchronously and drops the parent's queue (the parent writes those files).
  void PrepareFork();
  void ParentAfterFork();
  void ChildAfterFork();

 private:
  void Run();
  void Write(const WriteJob& job);

  ErrorReporter* errors_;
  const int64_t delay_ms_;
  const size_t max_bytes_;
  std::function<void()> on_start_;

  std::mutex mu_;
  std::condition_variable has_job_;
  std::condition_variable has_space_;
  std::deque<WriteJob> queue_;  // guarded by mu_
  bool stop_ = false;           // guarded by mu_
  bool synchronous_ = false;    // guarded by mu_: after Flush, or in a forked child
  std::thread* thread_ = nullptr;  // guarded by mu_; a pointer so a forked child can drop it
  std::atomic<uint64_t> pending_jobs_{0};
  std::atomic<uint64_t> pending_bytes_{0};
};

}  // namespace ait::probe
