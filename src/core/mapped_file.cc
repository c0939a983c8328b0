// MappedFile: mmap for big files (zero copy, page cache), read() for small ones.
#include "ait/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "ait/error.h"

namespace ait {
namespace {

constexpr size_t kMapThreshold = 256 * 1024;

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::Open(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) Fail(path, "cannot open ({})", std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) Fail(path, "cannot stat ({})", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) Fail(path, "not a regular file");
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<size_t>(st.st_size);
  if (m->size_ >= kMapThreshold) {
    void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, f.fd, 0);
    if (p == MAP_FAILED) Fail(path, "cannot map ({})", std::strerror(errno));
    m->data_ = static_cast<const std::byte*>(p);
    m->mapped_ = true;
    return m;
  }
  m->heap_.reset(new std::byte[m->size_ == 0 ? 1 : m->size_]);
  size_t done = 0;
  while (done < m->size_) {
    ssize_t r = ::read(f.fd, m->heap_.get() + done, m->size_ - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) Fail(path, "read failed ({})", std::strerror(errno));
    if (r == 0) break;  // file shrank while reading
    done += static_cast<size_t>(r);
  }
  m->size_ = done;
  m->data_ = m->heap_.get();
  return m;
}

MappedFile::~MappedFile() {
  if (mapped_) ::munmap(const_cast<std::byte*>(data_), size_);
}

void WriteFileAtomically(const std::string& path, const std::function<void(std::FILE*)>& write) {
  static std::atomic<unsigned> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) Fail(path, "cannot create file ({})", std::strerror(errno));
  try {
    write(f);
    if (std::fflush(f) != 0 || std::ferror(f)) Fail(path, "write failed ({})", std::strerror(errno));
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  if (std::fclose(f) != 0) {
    std::remove(tmp.c_str());
    Fail(path, "write failed ({})", std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    Fail(path, "cannot move file into place ({})", std::strerror(e));
  }
}

}  // namespace ait
