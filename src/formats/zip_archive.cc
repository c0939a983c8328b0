// Zip archives (see zip_archive.h).
#include "formats/zip_archive.h"

#include "ait/error.h"
#include "formats/pickle.h"

namespace ait {
namespace {

using pickle::Quote;

// Deflate cannot expand data more than ~1032:1; a larger claimed ratio is a lie.
constexpr uint64_t kMaxDeflateRatio = 1032;

}  // namespace

uint64_t Le(const std::byte* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

template <typename... Args>
[[noreturn]] void ZipArchive::FailEntry(const ZipEntry& e, fmt::format_string<Args...> reason, Args&&... args) const {
  Fail(path_, "zip entry '{}' {}", Quote(e.name), fmt::format(reason, std::forward<Args>(args)...));
}

ZipArchive::ZipArchive(std::shared_ptr<const MappedFile> file) : file_(std::move(file)), path_(file_->path()) {
  const std::byte* p = file_->data();
  const size_t n = file_->size();
  if (n < 22) Fail(path_, "too small to be a zip archive");
  const size_t lowest = n - 22 > 0xFFFF ? n - 22 - 0xFFFF : 0;  // the comment is at most 64 KiB
  size_t eocd = SIZE_MAX;
  for (size_t i = n - 22 + 1; i-- > lowest;) {
    if (Le(p + i, 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd == SIZE_MAX) Fail(path_, "not a zip archive (no end-of-central-directory record)");
  uint64_t count = Le(p + eocd + 10, 2), cd_size = Le(p + eocd + 12, 4), cd_offset = Le(p + eocd + 16, 4);
  if (eocd >= 20 && Le(p + eocd - 20, 4) == 0x07064b50) {  // zip64 locator
    const uint64_t z = Le(p + eocd - 20 + 8, 8);
    if (z > n || n - z < 56 || Le(p + z, 4) != 0x06064b50)
      Fail(path_, "corrupt zip64 end-of-central-directory record");
    count = Le(p + z + 32, 8);
    cd_size = Le(p + z + 40, 8);
    cd_offset = Le(p + z + 48, 8);
  }
  if (cd_offset > n || cd_size > n - cd_offset) Fail(path_, "zip central directory lies outside the file");
  if (count > cd_size / 46) Fail(path_, "zip central directory claims {} entries in {} bytes", count, cd_size);
  entries_.reserve(count);
  const std::byte* pos = p + cd_offset;
  const std::byte* end = pos + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (end - pos < 46 || Le(pos, 4) != 0x02014b50) Fail(path_, "corrupt zip central directory entry {}", i);
    const uint64_t name_len = Le(pos + 28, 2), extra_len = Le(pos + 30, 2), comment_len = Le(pos + 32, 2);
    if (46 + name_len + extra_len + comment_len > static_cast<uint64_t>(end - pos))
      Fail(path_, "corrupt zip central directory entry {}", i);
    ZipEntry e{std::string(reinterpret_cast<const char*>(pos + 46), name_len), i, Le(pos + 8, 2), Le(pos + 10, 2),
               Le(pos + 20, 4), Le(pos + 24, 4), Le(pos + 42, 4)};
    ReadZip64Extra(pos + 46 + name_len, extra_len, e);
    if (!index_.emplace(e.name, entries_.size()).second)
      Fail(path_, "zip entry '{}' appears twice", Quote(e.name));
    entries_.push_back(std::move(e));
    pos += 46 + name_len + extra_len + comment_len;
  }
}

Bytes ZipArchive::Read(const ZipEntry& e) const {
  const std::byte* p = file_->data();
  const size_t n = file_->size();
  if (e.flags & 1) FailEntry(e, "is encrypted");
  const uint64_t h = e.header_offset;
  if (h > n || n - h < 30 || Le(p + h, 4) != 0x04034b50)
    FailEntry(e, "has no local header at offset {}", h);
  const uint64_t data = h + 30 + Le(p + h + 26, 2) + Le(p + h + 28, 2);
  if (data > n || e.comp_size > n - data) FailEntry(e, "extends past the end of the file");
  if (e.method == ZIP_CM_STORE) {
    if (e.comp_size != e.size) FailEntry(e, "is stored but its sizes differ");
    return {file_, p + data, static_cast<size_t>(e.size)};
  }
  if (e.method != ZIP_CM_DEFLATE)
    FailEntry(e, "uses compression method {}; only stored and deflated entries are supported", e.method);
  if (e.size / kMaxDeflateRatio > e.comp_size)
    FailEntry(e, "claims {} bytes from {} compressed bytes, beyond deflate's maximum ratio (zip bomb?)", e.size,
              e.comp_size);
  return Inflate(e);
}

void ZipArchive::ReadZip64Extra(const std::byte* q, uint64_t len, ZipEntry& e) const {
  const std::byte* end = q + len;
  while (end - q >= 4) {
    const uint64_t id = Le(q, 2), size = Le(q + 2, 2);
    if (size > static_cast<uint64_t>(end - q - 4)) FailEntry(e, "has a corrupt extra field");
    if (id == 0x0001) {
      const std::byte* f = q + 4;
      for (uint64_t* field : {&e.size, &e.comp_size, &e.header_offset}) {
        if (*field != 0xFFFFFFFF) continue;
        if (q + 4 + size - f < 8) FailEntry(e, "has a corrupt zip64 extra field");
        *field = Le(f, 8);
        f += 8;
      }
    }
    q += 4 + size;
  }
}

Bytes ZipArchive::Inflate(const ZipEntry& e) const {
  if (!zip_) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(file_->data(), file_->size(), 0, &err);
    zip_t* z = src ? zip_open_from_source(src, ZIP_RDONLY, &err) : nullptr;
    if (!z) {
      if (src) zip_source_free(src);
      std::string why = zip_error_strerror(&err);
      zip_error_fini(&err);
      Fail(path_, "libzip cannot open the archive: {}", why);
    }
    zip_error_fini(&err);
    zip_.reset(z);
  }
  const char* name = zip_get_name(zip_.get(), e.index, ZIP_FL_ENC_RAW);
  if (!name || e.name != name) FailEntry(e, "is named differently by libzip");
  std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> f(zip_fopen_index(zip_.get(), e.index, 0), zip_fclose);
  if (!f) FailEntry(e, "cannot be opened: {}", zip_strerror(zip_.get()));
  auto buffer = std::make_shared<std::vector<std::byte>>(e.size);
  uint64_t got = 0;
  while (got < e.size) {
    const zip_int64_t r = zip_fread(f.get(), buffer->data() + got, e.size - got);
    if (r <= 0) FailEntry(e, "cannot be inflated: {}", r < 0 ? zip_file_strerror(f.get()) : "data too short");
    got += static_cast<uint64_t>(r);
  }
  std::byte extra;
  if (zip_fread(f.get(), &extra, 1) != 0) FailEntry(e, "inflates to more than its declared size");
  return {buffer, buffer->data(), buffer->size()};
}

}  // namespace ait
