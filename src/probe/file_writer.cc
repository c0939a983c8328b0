#include "probe/file_writer.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "probe/signals.h"

namespace ait::probe {

namespace {

// How often waiting threads look for a termination signal, and how long the writer goes on
// writing the queue after one.
constexpr auto kSignalPoll = std::chrono::milliseconds(50);
constexpr auto kTerminationDrain = std::chrono::seconds(10);

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    // At most 1 GiB per call, as the original copies; write(2) takes no more than ~2 GiB anyway.
    const ssize_t n = ::write(fd, data, size < (size_t{1} << 30) ? size : (size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = EIO;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

// open(2) that creates missing parent folders on ENOENT (or ENOTDIR, so that a file in the
// way is reported as the folder that cannot be made) and retries once.
int OpenCreating(const std::string& path, int flags, ErrorReporter& errors) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0640);
  if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
    if (!MakeDirs(Parent(path), errors)) return -2;
    fd = ::open(path.c_str(), flags | O_CLOEXEC, 0640);
  }
  return fd;
}

// The signals the flush-on-signal handler answers: blocked in the writer thread, so that
// they interrupt host threads only.
sigset_t FlushSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  return set;
}

class BlockFlushSignals {
 public:
  BlockFlushSignals() {
    const sigset_t set = FlushSignals();
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~BlockFlushSignals() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

}  // namespace

bool MakeDirs(const std::string& dir, ErrorReporter& errors) {
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    const std::string prefix = dir.substr(0, pos);
    if (prefix.empty() || ::mkdir(prefix.c_str(), 0750) == 0 || errno == EEXIST) continue;
    errors.Report(ErrorKind::kCreateDir, "cannot create folder '" + prefix + "': " + ErrnoText(errno));
    return false;
  }
  return true;
}

bool WriteFileAtomically(const std::string& path, const char* data, size_t size, ErrorReporter& errors,
                         int64_t delay_ms) {
  return WriteFileAtomically(path, data, size, nullptr, 0, errors, delay_ms);
}

bool WriteFileAtomically(const std::string& path, const char* head, size_t head_size, const char* data, size_t size,
                         ErrorReporter& errors, int64_t delay_ms, FileId* id) {
  static std::atomic<uint64_t> sequence{0};
  const size_t slash = path.rfind('/');
  const std::string tmp = path.substr(0, slash + 1) + "." + path.substr(slash + 1) + ".tmp." +
                          std::to_string(::getpid()) + "." + std::to_string(sequence.fetch_add(1));
  const int fd = OpenCreating(tmp, O_WRONLY | O_CREAT | O_TRUNC, errors);
  if (fd == -2) return false;
  if (fd < 0) {
    errors.Report(ErrorKind::kOpen, "cannot create '" + tmp + "': " + ErrnoText(errno));
    return false;
  }
  const bool written = WriteAll(fd, head, head_size) && WriteAll(fd, data, size);
  const int write_errno = errno;
  if (id != nullptr) {
    struct stat st {};
    *id = ::fstat(fd, &st) == 0 ? FileId{st.st_dev, st.st_ino} : FileId{};
  }
  if (::close(fd) != 0 || !written) {
    errors.Report(ErrorKind::kWrite, "cannot write '" + tmp + "': " + ErrnoText(written ? errno : write_errno));
    ::unlink(tmp.c_str());
    return false;
  }
  if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    errors.Report(ErrorKind::kRename, "cannot rename '" + tmp + "' to '" + path + "': " + ErrnoText(errno));
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

bool LinkToSameFile(const std::string& existing, const FileId& id, const std::string& path, ErrorReporter& errors) {
  static std::atomic<uint64_t> sequence{0};
  if (id == FileId{}) return false;
  const size_t slash = path.rfind('/');
  const std::string tmp = path.substr(0, slash + 1) + "." + path.substr(slash + 1) + ".lnk." +
                          std::to_string(::getpid()) + "." + std::to_string(sequence.fetch_add(1));
  if (::link(existing.c_str(), tmp.c_str()) != 0) {
    if (errno != ENOENT || !MakeDirs(path.substr(0, slash), errors) || ::link(existing.c_str(), tmp.c_str()) != 0)
      return false;
  }
  // `existing` may have been replaced since it was written: keep the link only if it is the
  // very file written.
  struct stat linked {};
  if (::lstat(tmp.c_str(), &linked) != 0 || !(FileId{linked.st_dev, linked.st_ino} == id)) {
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  // When `path` already was a link to the same file, rename(2) succeeds without doing
  // anything and the temporary name remains: remove it (its name is ours alone).
  ::unlink(tmp.c_str());
  return true;
}

bool AppendToFile(const std::string& path, const std::string& bytes, ErrorReporter& errors) {
  const int fd = OpenCreating(path, O_WRONLY | O_APPEND | O_CREAT, errors);
  if (fd == -2) return false;
  if (fd < 0) {
    errors.Report(ErrorKind::kOpen, "cannot open '" + path + "' for appending: " + ErrnoText(errno));
    return false;
  }
  const bool written = WriteAll(fd, bytes.data(), bytes.size());
  const int write_errno = errno;
  if (::close(fd) != 0 || !written) {
    errors.Report(ErrorKind::kWrite, "cannot append to '" + path + "': " + ErrnoText(written ? errno : write_errno));
    return false;
  }
  return true;
}

std::optional<bool> CreateExclusive(const std::string& path, const std::string& bytes, ErrorReporter& errors) {
  const int fd = OpenCreating(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL, errors);
  if (fd == -2) return std::nullopt;
  if (fd < 0) {
    if (errno == EEXIST) return false;
    errors.Report(ErrorKind::kOpen, "cannot create '" + path + "': " + ErrnoText(errno));
    return std::nullopt;
  }
  const bool written = WriteAll(fd, bytes.data(), bytes.size());
  const int write_errno = errno;
  if (::close(fd) != 0 || !written) {
    errors.Report(ErrorKind::kWrite, "cannot write '" + path + "': " + ErrnoText(written ? errno : write_errno));
    return std::nullopt;
  }
  return true;
}

uint64_t CountLines(const std::string& path, uint64_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  uint64_t lines = 0;
  std::vector<char> buf(1 << 16);
  while (lines < limit) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n && lines < limit; ++i) lines += buf[static_cast<size_t>(i)] == '\n';
  }
  ::close(fd);
  return lines;
}

// --- AsyncWriter --------------------------------------------------------------------------

AsyncWriter::AsyncWriter(ErrorReporter* errors, int64_t delay_ms, size_t max_bytes)
    : errors_(errors), delay_ms_(delay_ms), max_bytes_(max_bytes) {}

AsyncWriter::~AsyncWriter() { Flush(); }

bool AsyncWriter::Submit(WriteJob job) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!synchronous_ && thread_ == nullptr && !stop_) {
      try {
        BlockFlushSignals blocked;  // the thread inherits the mask: signals go to host threads
        thread_ = new std::thread([this] { Run(); });
        if (on_start_) on_start_();
      } catch (...) {
        thread_ = nullptr;
        synchronous_ = true;  // no thread to be had: write in the caller's thread
      }
    }
    // Timed waits: a termination signal is recorded by a handler that cannot notify.
    while (!synchronous_ && TerminationSignal() == 0) {
      const uint64_t pending = pending_bytes_.load();
      if (pending == 0 || pending + job.size <= max_bytes_) break;
      has_space_.wait_for(lock, kSignalPoll);
    }
    if (TerminationSignal() != 0 && !synchronous_) return false;  // the process is ending: only the queue is written
    if (!synchronous_) {
      pending_jobs_.fetch_add(1);
      pending_bytes_.fetch_add(job.size);
      queue_.push_back(std::move(job));
      has_job_.notify_one();
      return true;
    }
  }
  Write(job);
  return true;
}

void AsyncWriter::Run() {
  std::optional<std::chrono::steady_clock::time_point> deadline;  // set once a signal is seen
  while (true) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_ && queue_.empty() && TerminationSignal() == 0) has_job_.wait_for(lock, kSignalPoll);
    if (const int sig = TerminationSignal(); sig != 0) {
      const auto now = std::chrono::steady_clock::now();
      if (!deadline) deadline = now + kTerminationDrain;
      if (queue_.empty() || now > *deadline) {
        lock.unlock();
        ReraiseTermination(sig);
      }
    }
    if (queue_.empty()) return;  // stopped, and everything is written
    WriteJob job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    Write(job);
    const size_t size = job.size;
    job.data.reset();
    lock.lock();
    pending_bytes_.fetch_sub(size);
    pending_jobs_.fetch_sub(1);
    lock.unlock();
    has_space_.notify_all();
  }
}

void AsyncWriter::Write(const WriteJob& job) {
  WriteFileAtomically(job.path, job.data.get(), job.size, *errors_, delay_ms_);
}

void AsyncWriter::Flush() {
  std::thread* thread = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (synchronous_) return;
    stop_ = true;
    thread = thread_;
    thread_ = nullptr;
  }
  has_job_.notify_all();
  if (thread != nullptr) {
    if (thread->get_id() == std::this_thread::get_id()) {
      thread->detach();
    } else {
      thread->join();
    }
    delete thread;
  }
  std::deque<WriteJob> rest;  // submitted after the thread saw an empty queue
  {
    std::lock_guard<std::mutex> lock(mu_);
    synchronous_ = true;
    rest.swap(queue_);
  }
  has_space_.notify_all();
  for (WriteJob& job : rest) {
    Write(job);
    pending_bytes_.fetch_sub(job.size);
    pending_jobs_.fetch_sub(1);
  }
  // A signal recorded while the queue was being written here ends the process now.
  if (const int sig = TerminationSignal(); sig != 0) ReraiseTermination(sig);
}

void AsyncWriter::PrepareFork() { mu_.lock(); }

void AsyncWriter::ParentAfterFork() { mu_.unlock(); }

void AsyncWriter::ChildAfterFork() {
  // The parent's thread does not exist here, and the condition variables may count its
  // waiters: never wait on them again. The std::thread object is dropped, not destroyed
  // (destroying a joinable one terminates).
  thread_ = nullptr;
  synchronous_ = true;
  queue_.clear();
  pending_jobs_.store(0);
  pending_bytes_.store(0);
  mu_.unlock();
}

}  // namespace ait::probe
