// PyTorch torch.save files (FORMATS.md 11.1): a zip archive with `{top}/data.pkl` and one
// raw storage per key under `{top}/data/`. The pickle runs through the safe unpickler
// (pickle.h); contiguous little-endian tensors are zero-copy views of stored entries.
#include <fmt/ranges.h>
#include <zip.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "ait/mapped_file.h"
#include "ait/tensor_io.h"
#include "formats/pickle.h"

namespace ait {
namespace {

using pickle::Quote;

constexpr uint64_t kMaxPickleBytes = uint64_t{64} << 20;
// Deflate cannot expand data more than ~1032:1; a larger claimed ratio is a lie.
constexpr uint64_t kMaxDeflateRatio = 1032;
// Non-contiguous views are copied; their total may exceed the file (stride-0 expands)
// but not without bound.
constexpr uint64_t kMinCopyBudget = uint64_t{256} << 20;
constexpr uint64_t kCopyBudgetPerFileByte = 8;

uint64_t Le(const std::byte* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

struct Bytes {
  std::shared_ptr<const void> owner;
  const std::byte* data = nullptr;
  size_t size = 0;
};

struct ZipEntry {
  std::string name;
  uint64_t index, flags, method, comp_size, size, header_offset;
};

// The central directory is read here because zero-copy views of stored entries need
// each entry's data offset, which libzip does not expose; libzip inflates the rare
// compressed entry.
class ZipArchive {
 public:
  explicit ZipArchive(std::shared_ptr<const MappedFile> file) : file_(std::move(file)), path_(file_->path()) {
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

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* Find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }

  // The entry's uncompressed bytes. REQUIRES: the caller has checked e.size against
  // what it needs, so nothing larger is ever allocated.
  Bytes Read(const ZipEntry& e) const {
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

 private:
  template <typename... Args>
  [[noreturn]] void FailEntry(const ZipEntry& e, fmt::format_string<Args...> reason, Args&&... args) const {
    Fail(path_, "zip entry '{}' {}", Quote(e.name), fmt::format(reason, std::forward<Args>(args)...));
  }

  void ReadZip64Extra(const std::byte* q, uint64_t len, ZipEntry& e) const {
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

  Bytes Inflate(const ZipEntry& e) const {
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

  std::shared_ptr<const MappedFile> file_;
  std::string path_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
  mutable std::unique_ptr<zip_t, void (*)(zip_t*)> zip_{nullptr, zip_discard};
};

std::string TopFolder(const ZipArchive& zip, const std::string& path) {
  std::vector<std::string> tops;
  for (const ZipEntry& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.substr(slash) == "/data.pkl") tops.push_back(e.name.substr(0, slash));
  }
  if (tops.empty()) Fail(path, "zip archive has no '<folder>/data.pkl' entry: not a torch.save file");
  if (tops.size() > 1) Fail(path, "zip archive has {} '<folder>/data.pkl' entries; expected one", tops.size());
  return tops.front();
}

bool IsBigEndian(const ZipArchive& zip, const std::string& top, const std::string& path) {
  const ZipEntry* e = zip.Find(top + "/byteorder");
  if (!e) return false;  // torch < 2.1 wrote no byteorder entry: native little endian
  if (e->size > 16) Fail(path, "'byteorder' entry is {} bytes; expected 'little' or 'big'", e->size);
  Bytes b = zip.Read(*e);
  std::string order(reinterpret_cast<const char*>(b.data), b.size);
  while (!order.empty() && std::isspace(static_cast<unsigned char>(order.back()))) order.pop_back();
  if (order == "little") return false;
  if (order == "big") return true;
  Fail(path, "'byteorder' entry says '{}'; expected 'little' or 'big'", Quote(order));
}

// Byte-swaps every element of `unit` bytes (a complex64 swaps its two float halves).
Bytes SwapBytes(const Bytes& in, size_t unit) {
  auto out = std::make_shared<std::vector<std::byte>>(in.data, in.data + in.size);
  for (size_t i = 0; i + unit <= out->size(); i += unit) std::reverse(out->begin() + i, out->begin() + i + unit);
  return {out, out->data(), out->size()};
}

// Copies a strided view into C order. REQUIRES: the view was checked against its storage.
void CopyStrided(const std::byte* src, size_t item, const std::vector<int64_t>& sizes,
                 const std::vector<int64_t>& strides, std::byte* dst) {
  const size_t nd = sizes.size();
  const int64_t inner = nd ? sizes[nd - 1] : 1, inner_stride = nd ? strides[nd - 1] : 0;
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < nd; ++d) rows *= sizes[d];
  if (inner == 0 || rows == 0) return;
  std::vector<int64_t> idx(nd, 0);
  int64_t offset = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (inner_stride == 1) {
      std::memcpy(dst, src + offset * item, inner * item);
    } else {
      for (int64_t j = 0; j < inner; ++j) std::memcpy(dst + j * item, src + (offset + j * inner_stride) * item, item);
    }
    dst += inner * item;
    for (size_t d = nd - 1; d-- > 0;) {  // odometer over the outer dims
      offset += strides[d];
      if (++idx[d] < sizes[d]) break;
      offset -= strides[d] * sizes[d];
      idx[d] = 0;
    }
  }
}

class PthReader {
 public:
  explicit PthReader(const std::string& path)
      : path_(path), file_(MappedFile::Open(path)), zip_(CheckMagic(file_, path)) {
    copy_budget_ = std::max(kMinCopyBudget, kCopyBudgetPerFileByte * file_->size());
  }

  NamedTensors ReadAll() {
    top_ = TopFolder(zip_, path_);
    big_endian_ = IsBigEndian(zip_, top_, path_);
    const ZipEntry* pkl = zip_.Find(top_ + "/data.pkl");
    if (pkl->size > kMaxPickleBytes)
      Fail(path_, "data.pkl is {} bytes; refusing pickles over {}", pkl->size, kMaxPickleBytes);
    Bytes pickle_bytes = zip_.Read(*pkl);
    pickle::Unpickler unpickler(std::string_view(reinterpret_cast<const char*>(pickle_bytes.data), pickle_bytes.size),
                                path_);
    NamedTensors out;
    for (const auto& [name, ref] : pickle::CollectTensors(unpickler.Load(), path_))
      out.emplace_back(name, MakeTensor(name, *ref));
    return out;
  }

 private:
  static const std::shared_ptr<const MappedFile>& CheckMagic(const std::shared_ptr<const MappedFile>& file,
                                                            const std::string& path) {
    const std::byte* p = file->data();
    if (file->size() >= 1 && p[0] == std::byte{0x80})
      Fail(path, "legacy torch.save format (torch < 1.6) is not supported; re-save with torch >= 1.6");
    if (file->size() < 2 || p[0] != std::byte{'P'} || p[1] != std::byte{'K'})
      Fail(path, "not a torch.save file: expected a zip archive (torch >= 1.6)");
    return file;
  }

  // The storage's bytes in native order, read once per key and shared by its views.
  const Bytes& Storage(const pickle::StorageRef& s, size_t swap_unit) {
    const std::string key(s.key);
    auto it = storages_.find(key);
    if (it == storages_.end()) {
      const std::string entry_name = top_ + "/data/" + key;
      const ZipEntry* e = zip_.Find(entry_name);
      if (!e)
        Fail(path_, "storage '{}' is missing from the archive (no entry '{}')", Quote(key), Quote(entry_name));
      if (e->size != static_cast<uint64_t>(s.nbytes))
        Fail(path_, "storage '{}' holds {} bytes but the pickle declares {} bytes", Quote(key), e->size, s.nbytes);
      Bytes b = zip_.Read(*e);
      if (big_endian_ && swap_unit > 1) b = SwapBytes(b, swap_unit);
      it = storages_.emplace(key, std::make_pair(std::move(b), swap_unit)).first;
    }
    const auto& [bytes, unit] = it->second;
    if (bytes.size != static_cast<uint64_t>(s.nbytes))
      Fail(path_, "storage '{}' is declared with two sizes ({} and {} bytes)", Quote(key), bytes.size, s.nbytes);
    if (big_endian_ && unit != swap_unit) Fail(path_, "storage '{}' is viewed with two element sizes", Quote(key));
    return bytes;
  }

  Tensor MakeTensor(const std::string& name, const pickle::TensorRef& ref) {
    const std::string where = name.empty() ? path_ : fmt::format("{}: tensor '{}'", path_, Quote(name));
    const size_t item = ItemSize(ref.dtype);
    const int64_t numel = CheckedNumel(ref.sizes, item, where);
    const Bytes& storage = Storage(*ref.storage, ref.dtype == DType::kComplex64 ? 4 : item);
    const int64_t storage_elems = static_cast<int64_t>(storage.size / item);
    // The farthest element the view reaches must lie inside the storage.
    int64_t last = ref.offset;
    bool overflow = false;
    for (size_t d = 0; d < ref.sizes.size() && numel > 0; ++d) {
      int64_t span = 0;
      overflow |= __builtin_mul_overflow(ref.sizes[d] - 1, ref.strides[d], &span);
      overflow |= __builtin_add_overflow(last, span, &last);
    }
    if (overflow || (numel > 0 ? last >= storage_elems : ref.offset > storage_elems))
      Fail(where, "view (offset {}, sizes [{}], strides [{}]) reaches beyond its storage '{}' of {} elements",
           ref.offset, fmt::join(ref.sizes, ", "), fmt::join(ref.strides, ", "), Quote(ref.storage->key),
           storage_elems);
    Tensor t;
    t.dtype = ref.dtype;
    t.shape = ref.sizes;
    const std::byte* start = storage.data + ref.offset * item;
    if (IsContiguous(ref)) {
      t.owner = storage.owner;
      t.data = start;
      t.nbytes = static_cast<size_t>(numel) * item;
      return t;
    }
    const uint64_t bytes = static_cast<uint64_t>(numel) * item;
    if (bytes > copy_budget_)
      Fail(where, "copying this strided view needs {} bytes, over the {} bytes allowed for this file", bytes,
           copy_budget_);
    copy_budget_ -= bytes;
    t = Tensor::Allocate(ref.dtype, ref.sizes);
    CopyStrided(start, item, ref.sizes, ref.strides, t.mutable_data());
    return t;
  }

  static bool IsContiguous(const pickle::TensorRef& ref) {
    int64_t expected = 1;
    for (size_t d = ref.sizes.size(); d-- > 0;) {
      if (ref.sizes[d] == 0) return true;
      if (ref.sizes[d] != 1 && ref.strides[d] != expected) return false;
      expected *= ref.sizes[d];
    }
    return true;
  }

  std::string path_;
  std::shared_ptr<const MappedFile> file_;
  ZipArchive zip_;
  std::string top_;
  bool big_endian_ = false;
  uint64_t copy_budget_ = 0;
  std::unordered_map<std::string, std::pair<Bytes, size_t>> storages_;
};

class Pth final : public TensorFormat {
 public:
  std::string_view name() const override { return "pth"; }
  bool Matches(std::string_view path) const override { return path.ends_with(".pth") || path.ends_with(".pt"); }
  NamedTensors ReadAll(const std::string& path) const override { return PthReader(path).ReadAll(); }
};

}  // namespace

const TensorFormat& PthFormat() {
  static Pth f;
  return f;
}

}  // namespace ait
