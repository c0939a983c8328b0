// Zip archives as torch.save and numpy.savez write them: the central directory read here
// (zero-copy views of stored entries need each entry's data offset, which libzip does not
// expose), the rare deflated entry inflated by libzip. Shared by the .pth and .npz readers.
#pragma once

#include <zip.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "ait/mapped_file.h"

namespace ait {

// Little-endian unsigned integer of `bytes` bytes at `p`.
uint64_t Le(const std::byte* p, int bytes);

// Bytes that stay valid while `owner` lives: a view into the mapped file or an inflated copy.
struct Bytes {
  std::shared_ptr<const void> owner;
  const std::byte* data = nullptr;
  size_t size = 0;
};

struct ZipEntry {
  std::string name;
  uint64_t index, flags, method, comp_size, size, header_offset;
};

class ZipArchive {
 public:
  // Reads the central directory; throws ait::Error naming the file for anything malformed.
  explicit ZipArchive(std::shared_ptr<const MappedFile> file);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* Find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }

  // The entry's uncompressed bytes. REQUIRES: the caller has checked e.size against
  // what it needs, so nothing larger is ever allocated.
  Bytes Read(const ZipEntry& e) const;

 private:
  template <typename... Args>
  [[noreturn]] void FailEntry(const ZipEntry& e, fmt::format_string<Args...> reason, Args&&... args) const;
  void ReadZip64Extra(const std::byte* q, uint64_t len, ZipEntry& e) const;
  Bytes Inflate(const ZipEntry& e) const;

  std::shared_ptr<const MappedFile> file_;
  std::string path_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
  mutable std::unique_ptr<zip_t, void (*)(zip_t*)> zip_{nullptr, zip_discard};
};

}  // namespace ait
