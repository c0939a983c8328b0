// NumPy `.npy` files (FORMATS.md section 11.2): magic, version, a Python dict literal
// header, then the raw array. Reads versions 1.0-3.0 in either byte order and either
// memory order; writes what np.save writes (little endian, C order, 64-byte aligned data).
#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>

#include "ait/error.h"
#include "ait/mapped_file.h"
#include "ait/tensor_io.h"
#include "formats/npy.h"

namespace ait {
namespace {

constexpr std::string_view kMagic("\x93NUMPY", 6);
constexpr size_t kMaxDims = 64;  // numpy 2's NPY_MAXDIMS
constexpr size_t kAlign = 64;    // numpy's ARRAY_ALIGN

constexpr size_t kQuotedBytes = 40;  // of header text quoted in a message

struct NpyDescr {
  DType dtype;
  bool big_endian;
};

// "<f4", ">i8", "|b1", "=c8", "u2" -> dtype and byte order.
std::optional<NpyDescr> ParseDescr(std::string_view d) {
  bool big = false;
  if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) {
    big = d[0] == '>';
    d.remove_prefix(1);
  }
  static constexpr std::pair<std::string_view, DType> kTypes[] = {
      {"f2", DType::kFloat16}, {"f4", DType::kFloat32}, {"f8", DType::kFloat64}, {"i1", DType::kInt8},
      {"i2", DType::kInt16},   {"i4", DType::kInt32},   {"i8", DType::kInt64},   {"u1", DType::kUInt8},
      {"u2", DType::kUInt16},  {"u4", DType::kUInt32},  {"u8", DType::kUInt64},  {"b1", DType::kBool},
      {"c8", DType::kComplex64},
  };
  for (const auto& [code, dtype] : kTypes)
    if (d == code) return NpyDescr{dtype, big};
  return std::nullopt;
}

std::string_view Descr(DType t) {
  switch (t) {
    case DType::kFloat16: return "<f2";
    case DType::kFloat32: return "<f4";
    case DType::kFloat64: return "<f8";
    case DType::kInt8: return "|i1";
    case DType::kInt16: return "<i2";
    case DType::kInt32: return "<i4";
    case DType::kInt64: return "<i8";
    case DType::kUInt8: return "|u1";
    case DType::kUInt16: return "<u2";
    case DType::kUInt32: return "<u4";
    case DType::kUInt64: return "<u8";
    case DType::kBool: return "|b1";
    case DType::kComplex64: return "<c8";
    case DType::kBFloat16: break;
  }
  return {};
}

struct NpyHeader {
  NpyDescr descr;
  bool fortran_order;
  std::vector<int64_t> shape;
};

// Strict parser for the dict literal np.save writes, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// Exactly the three keys, in any order; single or double quotes; optional trailing commas.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : text_(text), path_(path) {}

  NpyHeader Parse() {
    std::optional<NpyDescr> descr;
    std::optional<bool> fortran;
    std::optional<std::vector<int64_t>> shape;
    SkipSpace();
    Expect('{', "'{' opening the header dict");
    while (SkipSpace(), !Eat('}')) {
      std::string_view key = String("a quoted key or '}'");
      SkipSpace();
      Expect(':', "':' after a key");
      SkipSpace();
      if (key == "descr") {
        if (descr) Duplicate(key);
        if (Peek() == '[') Fail(path_, "structured dtypes (descr is a list) are not supported");
        std::string_view d = String("a quoted descr such as '<f4'");
        descr = ParseDescr(d);
        if (!descr)
          Fail(path_, "unsupported descr '{}' (expected one of f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1 c8 "
                      "with a '<', '>', '|' or '=' byte order)", Excerpt(d, kQuotedBytes));
      } else if (key == "fortran_order") {
        if (fortran) Duplicate(key);
        if (EatWord("True")) fortran = true;
        else if (EatWord("False")) fortran = false;
        else Expected("True or False for 'fortran_order'");
      } else if (key == "shape") {
        if (shape) Duplicate(key);
        shape = Tuple();
      } else {
        Fail(path_, "unexpected header key '{}' (expected 'descr', 'fortran_order' and 'shape')",
             Excerpt(key, kQuotedBytes));
      }
      SkipSpace();
      if (!Eat(',')) {
        SkipSpace();
        Expect('}', "',' or '}' after a value");
        break;
      }
    }
    SkipSpace();
    if (pos_ != text_.size()) Expected("only padding after the header dict");
    if (!descr) Fail(path_, "header has no 'descr' key");
    if (!fortran) Fail(path_, "header has no 'fortran_order' key");
    if (!shape) Fail(path_, "header has no 'shape' key");
    return {*descr, *fortran, std::move(*shape)};
  }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool Eat(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  bool EatWord(std::string_view w) {
    if (text_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  void SkipSpace() {
    while (pos_ < text_.size() && std::string_view(" \t\r\n").find(text_[pos_]) != std::string_view::npos) ++pos_;
  }
  void Expect(char c, std::string_view what) {
    if (!Eat(c)) Expected(what);
  }
  [[noreturn]] void Expected(std::string_view what) const {
    const std::string found =
        pos_ < text_.size() ? fmt::format("'{}'", Excerpt(text_.substr(pos_), 20)) : "the end of the header";
    Fail(path_, "malformed header: expected {} at offset {}, found {}", what, pos_, found);
  }
  [[noreturn]] void Duplicate(std::string_view key) const { Fail(path_, "header has the key '{}' twice", key); }

  std::string_view String(std::string_view what) {
    char q = Peek();
    if (q != '\'' && q != '"') Expected(what);
    size_t start = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != q) {
      if (text_[pos_] == '\\' || text_[pos_] == '\n') Expected("a plain string without escapes or newlines");
      ++pos_;
    }
    if (pos_ >= text_.size()) Expected("a closing quote");
    return text_.substr(start, pos_++ - start);
  }

  // "()", "(3,)", "(2, 3)", "(2, 3,)"; Python 2 files may write "3L".
  std::vector<int64_t> Tuple() {
    Expect('(', "a tuple such as (2, 3) for 'shape'");
    std::vector<int64_t> dims;
    bool trailing_comma = false;
    while (SkipSpace(), !Eat(')')) {
      int64_t d = 0;
      auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), d);
      if (ec == std::errc::result_out_of_range) Fail(path_, "shape dimension is too large (over 64 bits)");
      if (ec != std::errc() || d < 0) Expected("a non-negative integer dimension");
      pos_ = static_cast<size_t>(end - text_.data());
      Eat('L');
      if (dims.size() == kMaxDims) Fail(path_, "shape has more than {} dimensions", kMaxDims);
      dims.push_back(d);
      SkipSpace();
      trailing_comma = Eat(',');
      if (!trailing_comma) {
        SkipSpace();
        Expect(')', "',' or ')' in the shape tuple");
        break;
      }
    }
    if (dims.size() == 1 && !trailing_comma)
      Fail(path_, "shape ({}) is an integer, not a tuple: expected ({},)", dims[0], dims[0]);
    return dims;
  }

  std::string_view text_;
  const std::string& path_;
  size_t pos_ = 0;
};

// Copies the elements of `src` at byte `stride`s into `dst` in C order. kItem > 0 makes the
// element copy a fixed-size move (a Fortran-order fp32 matrix is a transpose: a memcpy call
// per element cost more than the rest of a compare).
template <size_t kItem>
void GatherCOrder(const std::byte* src, std::byte* dst, size_t item, const std::vector<int64_t>& shape,
                  const std::vector<size_t>& stride, int64_t n) {
  const size_t size = kItem ? kItem : item;
  const size_t rank = shape.size();
  std::vector<int64_t> index(rank, 0);
  size_t from = 0;
  for (int64_t i = 0; i < n; ++i, dst += size) {
    std::memcpy(dst, src + from, kItem ? kItem : item);
    for (size_t k = rank; k-- > 0;) {  // advance the C-order odometer
      if (++index[k] < shape[k]) {
        from += stride[k];
        break;
      }
      from -= stride[k] * static_cast<size_t>(shape[k] - 1);
      index[k] = 0;
    }
  }
}

// A Fortran-order matrix [rows, cols] (a transposed tensor saved as it is) into C order, in
// tiles that stay in cache on both sides.
template <size_t kItem>
void TransposeTiles(const std::byte* src, std::byte* dst, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile)
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) std::memcpy(dst + (r * cols + c) * kItem, src + (c * rows + r) * kItem, kItem);
    }
}

// Copies `src` (Fortran or C order, either byte order) into a fresh C-order native tensor.
Tensor ToNativeCOrder(const std::byte* src, DType dtype, const std::vector<int64_t>& shape, bool fortran,
                      bool swap) {
  Tensor out = Tensor::Allocate(dtype, shape);
  const size_t item = ItemSize(dtype);
  const size_t unit = dtype == DType::kComplex64 ? 4 : item;  // complex swaps each float half
  const size_t rank = shape.size();
  std::vector<size_t> stride(rank);  // source byte strides
  size_t s = item;
  for (size_t k = 0; k < rank; ++k) {
    size_t axis = fortran ? k : rank - 1 - k;
    stride[axis] = s;
    s *= static_cast<size_t>(shape[axis]);
  }
  const int64_t n = out.numel();
  std::byte* dst = out.mutable_data();
  const bool matrix = fortran && rank == 2;
  if (matrix && item == 2) TransposeTiles<2>(src, dst, shape[0], shape[1]);
  else if (matrix && item == 4) TransposeTiles<4>(src, dst, shape[0], shape[1]);
  else if (matrix && item == 8) TransposeTiles<8>(src, dst, shape[0], shape[1]);
  else switch (item) {
    case 1: GatherCOrder<1>(src, dst, item, shape, stride, n); break;
    case 2: GatherCOrder<2>(src, dst, item, shape, stride, n); break;
    case 4: GatherCOrder<4>(src, dst, item, shape, stride, n); break;
    case 8: GatherCOrder<8>(src, dst, item, shape, stride, n); break;
    default: GatherCOrder<0>(src, dst, item, shape, stride, n); break;
  }
  if (swap)
    for (int64_t i = 0; i < n; ++i)
      for (size_t u = 0; u < item; u += unit) std::reverse(dst + i * item + u, dst + i * item + u + unit);
  return out;
}

std::string ShapeTuple(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

Tensor ParseNpy(const Bytes& bytes, const std::string& path) {
  const char* base = reinterpret_cast<const char*>(bytes.data);
  const size_t size = bytes.size;
  if (size < 10 || std::string_view(base, 6) != kMagic)
    Fail(path, "not a .npy file: expected the magic \\x93NUMPY, found '{}'",
         std::string_view(base, std::min<size_t>(size, 6)));
  const int major = static_cast<unsigned char>(base[6]), minor = static_cast<unsigned char>(base[7]);
  if (major < 1 || major > 3 || minor != 0)
    Fail(path, "unsupported .npy format version {}.{} (expected 1.0, 2.0 or 3.0)", major, minor);
  const size_t prefix = major == 1 ? 10 : 12;
  if (size < prefix) Fail(path, "truncated: {} bytes, too short for the version {}.0 preamble", size, major);
  uint32_t header_len = 0;
  std::memcpy(&header_len, base + 8, prefix - 8);  // little-endian uint16 or uint32
  if (header_len > size - prefix)
    Fail(path, "header length {} runs past the end of the file ({} bytes after the preamble)", header_len,
         size - prefix);
  NpyHeader h = HeaderParser({base + prefix, header_len}, path).Parse();

  Tensor t;
  t.dtype = h.descr.dtype;
  t.shape = std::move(h.shape);
  const size_t item = ItemSize(t.dtype);
  const uint64_t need = static_cast<uint64_t>(CheckedNumel(t.shape, item, path)) * item;
  const size_t payload = prefix + header_len;
  if (need != size - payload)
    Fail(path, "data holds {} bytes but shape {} of {} needs {} bytes", size - payload, ShapeTuple(t.shape),
         ShortName(t.dtype), need);
  const bool swap = h.descr.big_endian && item > 1;
  const bool fortran = h.fortran_order && t.shape.size() > 1;
  if (swap || fortran) return ToNativeCOrder(bytes.data + payload, t.dtype, t.shape, fortran, swap);
  t.owner = bytes.owner;
  t.data = bytes.data + payload;
  t.nbytes = need;
  return t;
}

namespace {

class Npy final : public TensorFormat {
 public:
  std::string_view name() const override { return "npy"; }
  bool Matches(std::string_view path) const override { return path.ends_with(".npy"); }

  NamedTensors ReadAll(const std::string& path) const override {
    auto file = MappedFile::Open(path);
    return {{"", ParseNpy(Bytes{file, file->data(), file->size()}, path)}};
  }

  bool CanWrite() const override { return true; }

  void WriteAll(const std::string& path, const NamedTensors& tensors) const override {
    if (tensors.size() != 1) Fail(path, "a .npy file holds exactly one tensor, got {}", tensors.size());
    const Tensor& t = tensors.front().second;
    if (t.dtype == DType::kBFloat16)
      Fail(path, ".npy has no bfloat16 type; write bfloat16 tensors as .bin or .safetensors instead");
    if (!t.has_data) Fail(path, "cannot write a description-only tensor (no data) to .npy");
    // The same header bytes np.save writes: dict, spaces, '\n', data at a multiple of 64.
    const std::string dict =
        fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", Descr(t.dtype), ShapeTuple(t.shape));
    int major = 1;
    size_t prefix = 10;
    size_t padded = dict.size() + 1 + kAlign - (prefix + dict.size() + 1) % kAlign;
    if (padded > 0xffff) {
      major = 2;
      prefix = 12;
      padded = dict.size() + 1 + kAlign - (prefix + dict.size() + 1) % kAlign;
    }
    std::string header(kMagic);
    header += static_cast<char>(major);
    header += '\0';
    const auto len = static_cast<uint32_t>(padded);
    header.append(reinterpret_cast<const char*>(&len), prefix - 8);
    header += dict;
    header.append(padded - dict.size() - 1, ' ');
    header += '\n';
    WriteFileAtomically(path, [&](std::FILE* f) {
      std::fwrite(header.data(), 1, header.size(), f);
      if (t.nbytes) std::fwrite(t.data, 1, t.nbytes, f);
    });
  }
};

}  // namespace

const TensorFormat& NpyFormat() {
  static Npy f;
  return f;
}

}  // namespace ait
