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
#include "formats/zip_archive.h"

namespace ait {
namespace {

using pickle::Quote;

constexpr uint64_t kMaxPickleBytes = uint64_t{64} << 20;
// Non-contiguous views are copied; their total may exceed the file (stride-0 expands)
// but not without bound.
constexpr uint64_t kMinCopyBudget = uint64_t{256} << 20;
constexpr uint64_t kCopyBudgetPerFileByte = 8;



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
