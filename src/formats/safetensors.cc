// safetensors files (FORMATS.md section 11.3): an 8-byte header length, a JSON header
// naming each tensor's dtype, shape and byte range, then one contiguous data buffer.
// Reads as zero-copy views in data order; writes tensors packed in the given order.
#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "ait/mapped_file.h"
#include "ait/tensor_io.h"

namespace ait {
namespace {

using Json = nlohmann::ordered_json;  // keeps header order for tensors sharing an offset

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr int kMaxHeaderDepth = 16;
constexpr size_t kMaxDims = 64;
constexpr std::string_view kMetadataKey = "__metadata__";

constexpr std::pair<std::string_view, DType> kDTypes[] = {
    {"BOOL", DType::kBool},    {"U8", DType::kUInt8},     {"I8", DType::kInt8},       {"I16", DType::kInt16},
    {"U16", DType::kUInt16},   {"F16", DType::kFloat16},  {"BF16", DType::kBFloat16}, {"I32", DType::kInt32},
    {"U32", DType::kUInt32},   {"F32", DType::kFloat32},  {"F64", DType::kFloat64},   {"I64", DType::kInt64},
    {"U64", DType::kUInt64},   {"C64", DType::kComplex64},
};

std::string Brief(const Json& v) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  return s.size() > 40 ? s.substr(0, 40) + "..." : s;
}

struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

// Validates one header entry (everything but its place among the others).
class EntryReader {
 public:
  EntryReader(const std::string& path, const std::string& name) : path_(path), name_(name) {}

  Entry Read(const Json& v, uint64_t buffer_size) const {
    if (!v.is_object()) Fail(path_, "tensor '{}': expected an object, found {}", name_, Brief(v));
    Entry e{name_, DType::kFloat32, {}, 0, 0};
    const Json& dtype = Field(v, "dtype");
    if (!dtype.is_string()) Fail(path_, "tensor '{}': dtype must be a string, found {}", name_, Brief(dtype));
    const auto& dname = dtype.get_ref<const std::string&>();
    auto it = std::find_if(std::begin(kDTypes), std::end(kDTypes), [&](const auto& p) { return p.first == dname; });
    if (it == std::end(kDTypes))
      Fail(path_, "tensor '{}': unsupported dtype '{}' (supported: BOOL U8 I8 I16 U16 F16 BF16 I32 U32 F32 F64 "
                  "I64 U64 C64)", name_, dname);
    e.dtype = it->second;
    const Json& shape = Field(v, "shape");
    if (!shape.is_array()) Fail(path_, "tensor '{}': shape must be a list, found {}", name_, Brief(shape));
    if (shape.size() > kMaxDims) Fail(path_, "tensor '{}': shape has more than {} dimensions", name_, kMaxDims);
    for (const Json& d : shape) {
      uint64_t dim = Unsigned(d, "shape");
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        Fail(path_, "tensor '{}': shape dimension {} is too large", name_, dim);
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    const Json& offsets = Field(v, "data_offsets");
    if (!offsets.is_array() || offsets.size() != 2)
      Fail(path_, "tensor '{}': data_offsets must be [begin, end], found {}", name_, Brief(offsets));
    e.begin = Unsigned(offsets[0], "data_offsets");
    e.end = Unsigned(offsets[1], "data_offsets");
    if (e.end < e.begin) Fail(path_, "tensor '{}': data_offsets [{}, {}] end before they begin", name_, e.begin, e.end);
    if (e.end > buffer_size)
      Fail(path_, "tensor '{}': data_offsets [{}, {}] run past the {}-byte data buffer", name_, e.begin, e.end,
           buffer_size);
    const size_t item = ItemSize(e.dtype);
    const uint64_t need =
        static_cast<uint64_t>(CheckedNumel(e.shape, item, fmt::format("{}: tensor '{}'", path_, name_))) * item;
    if (e.end - e.begin != need)
      Fail(path_, "tensor '{}': data_offsets [{}, {}] span {} bytes but shape {} of {} needs {} bytes", name_,
           e.begin, e.end, e.end - e.begin, Brief(shape), dname, need);
    return e;
  }

 private:
  const Json& Field(const Json& v, const char* key) const {
    auto it = v.find(key);
    if (it == v.end()) Fail(path_, "tensor '{}': missing '{}'", name_, key);
    return *it;
  }
  uint64_t Unsigned(const Json& v, std::string_view field) const {
    if (!v.is_number_unsigned())
      Fail(path_, "tensor '{}': {} must hold non-negative integers, found {}", name_, field, Brief(v));
    return v.get<uint64_t>();
  }

  const std::string& path_;
  const std::string& name_;
};

class Safetensors final : public TensorFormat {
 public:
  std::string_view name() const override { return "safetensors"; }
  bool Matches(std::string_view path) const override { return path.ends_with(".safetensors"); }

  NamedTensors ReadAll(const std::string& path) const override {
    auto file = MappedFile::Open(path);
    const char* base = reinterpret_cast<const char*>(file->data());
    const size_t size = file->size();
    if (size < 8) Fail(path, "file is {} bytes, too short for the 8-byte header length", size);
    uint64_t header_len = 0;
    std::memcpy(&header_len, base, 8);  // little endian, as is the host
    if (header_len > kMaxHeaderBytes)
      Fail(path, "header length {} exceeds the {}-byte limit (not a safetensors file?)", header_len, kMaxHeaderBytes);
    if (header_len > size - 8)
      Fail(path, "header length {} runs past the end of the file ({} bytes after the length)", header_len, size - 8);
    std::string_view text(base + 8, header_len);
    if (text.empty() || text.front() != '{') Fail(path, "header does not start with '{{' (not a safetensors file?)");

    // nlohmann keeps one of two duplicate keys silently; a duplicate name must fail.
    std::unordered_set<std::string> names;
    std::optional<std::string> duplicate;
    auto on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
      if (event == Json::parse_event_t::key && depth == 1 && !names.insert(parsed.get<std::string>()).second)
        duplicate = parsed.get<std::string>();
      // A real header nests 3 levels; deep nesting would only exhaust the stack later.
      if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
          depth > kMaxHeaderDepth)
        Fail(path, "header nests deeper than {} levels (not a safetensors header)", kMaxHeaderDepth);
      return true;
    };
    Json header;
    try {
      header = Json::parse(text.begin(), text.end(), on_event);
    } catch (const Json::exception& e) {  // syntax errors, and numbers out of double's range
      Fail(path, "header is not valid JSON: {}", e.what());
    }
    if (duplicate) Fail(path, "header names the tensor '{}' twice", *duplicate);

    const uint64_t buffer_size = size - 8 - header_len;
    std::vector<Entry> entries;
    for (const auto& [name, value] : header.items()) {
      if (name == kMetadataKey) {
        if (!value.is_object()) Fail(path, "__metadata__ must be an object, found {}", Brief(value));
        continue;
      }
      entries.push_back(EntryReader(path, name).Read(value, buffer_size));
    }
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
    });
    // The spec demands the ranges tile the buffer exactly: no overlap, no hole.
    uint64_t covered = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      const Entry& e = entries[i];
      if (e.begin < covered)
        Fail(path, "tensor '{}' (bytes {}..{}) overlaps tensor '{}' (ending at {})", e.name, e.begin, e.end,
             entries[i - 1].name, covered);
      if (e.begin > covered)
        Fail(path, "bytes {}..{} of the data buffer belong to no tensor (next is '{}')", covered, e.begin, e.name);
      covered = e.end;
    }
    if (covered != buffer_size)
      Fail(path, "the tensors cover {} bytes but the data buffer holds {} bytes", covered, buffer_size);

    NamedTensors out;
    out.reserve(entries.size());
    const std::byte* data = file->data() + 8 + header_len;
    for (Entry& e : entries) {
      Tensor t;
      t.dtype = e.dtype;
      t.shape = std::move(e.shape);
      t.owner = file;
      t.data = data + e.begin;
      t.nbytes = e.end - e.begin;
      out.emplace_back(std::move(e.name), std::move(t));
    }
    return out;
  }

  bool CanWrite() const override { return true; }

  void WriteAll(const std::string& path, const NamedTensors& tensors) const override {
    Json header = Json::object();
    uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
      if (!t.has_data) Fail(path, "tensor '{}' has no data (description only); safetensors needs data", name);
      if (name == kMetadataKey) Fail(path, "'{}' is reserved and cannot name a tensor", name);
      if (header.contains(name)) Fail(path, "two tensors are named '{}'", name);
      auto it = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                             [dt = t.dtype](const auto& p) { return p.second == dt; });
      if (it == std::end(kDTypes)) Fail(path, "tensor '{}': safetensors has no {} type", name, ShortName(t.dtype));
      header[name] = {{"dtype", std::string(it->first)},
                      {"shape", t.shape},
                      {"data_offsets", Json::array({offset, offset + t.nbytes})}};
      offset += t.nbytes;
    }
    std::string text;
    try {
      text = header.dump();
    } catch (const Json::type_error& e) {
      Fail(path, "a tensor name is not valid UTF-8 ({})", e.what());
    }
    text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
    const uint64_t header_len = text.size();
    WriteFileAtomically(path, [&](std::FILE* f) {
      std::fwrite(&header_len, 1, 8, f);
      std::fwrite(text.data(), 1, text.size(), f);
      for (const auto& [name, t] : tensors)
        if (t.nbytes) std::fwrite(t.data, 1, t.nbytes, f);
    });
  }
};

}  // namespace

const TensorFormat& SafetensorsFormat() {
  static Safetensors f;
  return f;
}

}  // namespace ait
