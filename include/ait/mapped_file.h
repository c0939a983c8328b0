// Read-only view of a whole file: memory-mapped when large, read into memory when small.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

namespace ait {

class MappedFile {
 public:
  // Opens `path`; throws ait::Error naming the file on any failure (missing, not a
  // regular file, unreadable).
  static std::shared_ptr<const MappedFile> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::unique_ptr<std::byte[]> heap_;
};

// Writes a file under a temporary name in the same folder and renames it into place,
// so readers never see a half-written file. `write` receives a FILE* to fill. On any
// failure the temporary is removed and ait::Error is thrown naming `path`.
void WriteFileAtomically(const std::string& path, const std::function<void(std::FILE*)>& write);

}  // namespace ait
