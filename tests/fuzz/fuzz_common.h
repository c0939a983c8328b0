// Shared body of the format fuzz targets (tests/fuzz/fuzz_*.cc, docs/FUZZING.md).
//
// Each target writes libFuzzer's input to one file per process (rewritten every run),
// reads it back through one format's ReadAll and then touches every byte of every
// returned tensor, so ASan sees views that point outside the file. ait::Error is the
// expected answer to a bad file; anything else (a crash, a sanitizer report, another
// exception escaping, a broken Tensor invariant, a timeout, running out of memory) is a
// finding.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ait/convert.h"
#include "ait/error.h"
#include "ait/tensor.h"
#include "ait/tensor_io.h"

namespace ait::fuzz {

// Bytes touched per input across all tensors, beyond the first and last byte of each
// (which are always touched). Views into the input are bounded by the input size
// already; this only bounds a reader that hands out many copies of one big storage.
inline constexpr size_t kTouchBudget = size_t{64} << 20;

[[noreturn]] inline void Die(const char* what) {
  std::fprintf(stderr, "ait fuzz: %s\n", what);
  std::abort();
}

// "$AIT_FUZZ_DIR/ait_fuzz_<pid><ext>"; without AIT_FUZZ_DIR, /dev/shm (no disk
// writes) when writable, else $TMPDIR, else /tmp. Removed at normal exit.
inline const std::string& InputPath(const char* ext) {
  static const std::string path = [ext] {
    std::string dir;
    if (const char* d = std::getenv("AIT_FUZZ_DIR"); d && *d) dir = d;
    else if (::access("/dev/shm", W_OK) == 0) dir = "/dev/shm";
    else if (const char* t = std::getenv("TMPDIR"); t && *t) dir = t;
    else dir = "/tmp";
    return dir + "/ait_fuzz_" + std::to_string(::getpid()) + ext;
  }();
  static const bool registered = [] {
    std::atexit([] { ::unlink(path.c_str()); });
    return true;
  }();
  (void)registered;
  return path;
}

inline void WriteInput(const std::string& path, const uint8_t* data, size_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) Die("cannot create the input file");
  size_t done = 0;
  while (done < size) {
    ssize_t w = ::write(fd, data + done, size - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) Die("cannot write the input file");
    done += static_cast<size_t>(w);
  }
  ::close(fd);
}

// Checks the Tensor invariants a reader promises and reads every byte it points at:
// summed as bytes, and (for convertible dtypes) through ConvertToFloat64 as the
// compare path does, which also catches a tail element that runs past the view.
inline void Touch(const Tensor& t, size_t& budget) {
  if (!t.has_data) return;
  int64_t numel = 0;
  try {
    numel = CheckedNumel(t.shape, ItemSize(t.dtype), "fuzz");
  } catch (const Error&) {
    Die("reader returned a tensor whose shape overflows (CheckedNumel throws)");
  }
  if (t.nbytes != static_cast<uint64_t>(numel) * ItemSize(t.dtype))
    Die("reader returned a tensor with nbytes != numel * itemsize");
  if (t.nbytes == 0) return;
  if (t.data == nullptr) Die("reader returned a tensor with nbytes > 0 and data == nullptr");
  if (!t.owner) Die("reader returned a tensor with data but no owner");
  volatile unsigned sink = 0;
  sink = sink + static_cast<unsigned>(t.data[0]) + static_cast<unsigned>(t.data[t.nbytes - 1]);
  const size_t n = t.nbytes < budget ? t.nbytes : budget;
  budget -= n;
  unsigned sum = 0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<unsigned>(t.data[i]);
  sink = sink + sum;
  if (IsConvertible(t.dtype)) {
    constexpr size_t kChunk = 1024;
    double out[kChunk];
    const size_t item = ItemSize(t.dtype);
    const size_t elems = n / item;
    for (size_t i = 0; i < elems; i += kChunk) {
      const size_t m = elems - i < kChunk ? elems - i : kChunk;
      ConvertToFloat64(t.dtype, t.data + i * item, m, out);
      sink = sink + static_cast<unsigned>(out[0] == out[m - 1]);
    }
  }
}

// The whole of one LLVMFuzzerTestOneInput.
inline int RunOne(const TensorFormat& format, const char* ext, const uint8_t* data, size_t size) {
  const std::string& path = InputPath(ext);
  WriteInput(path, data, size);
  try {
    NamedTensors tensors = format.ReadAll(path);
    size_t budget = kTouchBudget;
    for (const auto& [name, t] : tensors) {
      volatile size_t sink = name.size();
      (void)sink;
      Touch(t, budget);
    }
  } catch (const Error&) {
    // The expected outcome for a malformed file.
  }
  return 0;
}

}  // namespace ait::fuzz
