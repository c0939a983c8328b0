// ATB `.bin` tensor files (FORMATS.md section 1): `name=value` header lines up to
// `$End=1`, then the raw payload. Reads every dtype code with a fixed element size and
// description-only files; writes exactly what the original Python reader accepts.
#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>

#include "ait/error.h"
#include "ait/mapped_file.h"
#include "ait/tensor_io.h"

namespace ait {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kQuotedBytes = 80;  // of a header line or value quoted in a message

int64_t ParseInt(std::string_view text, const std::string& path, std::string_view field) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size())
    Fail(path, "header field '{}' has value '{}', expected an integer", field, Excerpt(text, kQuotedBytes));
  return v;
}

class AtbBin final : public TensorFormat {
 public:
  std::string_view name() const override { return "atb-bin"; }
  bool Matches(std::string_view path) const override { return path.ends_with(".bin"); }

  NamedTensors ReadAll(const std::string& path) const override {
    auto file = MappedFile::Open(path);
    const char* base = reinterpret_cast<const char*>(file->data());
    const size_t size = file->size();
    std::optional<int64_t> dtype_code, object_count;
    std::optional<std::vector<int64_t>> dims;
    std::optional<std::pair<uint64_t, uint64_t>> data_object;
    int format = 2;
    size_t pos = 0, payload_start = 0;
    bool ended = false;
    const size_t header_limit = std::min(size, kMaxHeaderBytes);
    while (!ended) {
      const void* nl = pos < header_limit ? std::memchr(base + pos, '\n', header_limit - pos) : nullptr;
      if (!nl) {
        if (header_limit == size)
          Fail(path, "truncated header: no '$End=1' line (not an ATB tensor file, or cut short)");
        Fail(path, "no '$End=1' line in the first {} bytes: not an ATB tensor file", kMaxHeaderBytes);
      }
      size_t end = static_cast<size_t>(static_cast<const char*>(nl) - base);
      std::string_view line(base + pos, end - pos);
      pos = end + 1;
      size_t eq = line.find('=');
      if (eq == std::string_view::npos)
        Fail(path, "header line '{}' has no '=': not an ATB tensor file", Excerpt(line, kQuotedBytes));
      std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
      if (key == "$End") {
        ended = true;
        payload_start = pos;
      } else if (key == "dtype") {
        dtype_code = ParseInt(value, path, key);
      } else if (key == "format") {
        const int64_t code = ParseInt(value, path, key);
        if (code < -1 || code > std::numeric_limits<int>::max()) Fail(path, "format code {} is out of range", code);
        format = static_cast<int>(code);
      } else if (key == "dims") {
        std::vector<int64_t> d;
        size_t start = 0;
        while (start < value.size()) {
          size_t comma = value.find(',', start);
          if (comma == std::string_view::npos) comma = value.size();
          d.push_back(ParseInt(value.substr(start, comma - start), path, key));
          if (d.size() > 64) Fail(path, "dims has more than 64 dimensions");
          start = comma + 1;
        }
        dims = std::move(d);
      } else if (key == "$Object.Count") {
        object_count = ParseInt(value, path, key);
      } else if (key == "$Object.data") {
        size_t comma = value.find(',');
        if (comma == std::string_view::npos)
          Fail(path, "header field '$Object.data' is '{}', expected 'offset,length'", Excerpt(value, kQuotedBytes));
        int64_t off = ParseInt(value.substr(0, comma), path, key);
        int64_t len = ParseInt(value.substr(comma + 1), path, key);
        if (off < 0 || len < 0) Fail(path, "header field '$Object.data' has a negative offset or length");
        data_object = {static_cast<uint64_t>(off), static_cast<uint64_t>(len)};
      }
      // $Version, $Object.Length and unknown attributes are informational.
    }
    if (!dtype_code) Fail(path, "header has no 'dtype' field");
    if (!dims) Fail(path, "header has no 'dims' field");
    auto dtype = *dtype_code >= -1 && *dtype_code <= std::numeric_limits<int>::max()
                     ? DTypeFromAtbCode(static_cast<int>(*dtype_code))
                     : std::nullopt;
    if (!dtype) Fail(path, "unsupported dtype code {} (see the ATB dtype table)", *dtype_code);
    Tensor t;
    t.dtype = *dtype;
    t.shape = *dims;
    t.atb_format = format;
    const int64_t numel = CheckedNumel(t.shape, ItemSize(t.dtype), path);
    const uint64_t need = static_cast<uint64_t>(numel) * ItemSize(t.dtype);
    const uint64_t available = size - payload_start;
    if (object_count && *object_count == 0) {  // description only
      t.has_data = false;
      return {{"", std::move(t)}};
    }
    uint64_t offset = 0, length = available;
    if (data_object) {
      std::tie(offset, length) = *data_object;
      if (offset > available || length > available - offset)
        Fail(path, "'$Object.data' points at bytes {}..{} but the payload holds only {} bytes", offset,
             offset + length, available);
    }
    if (length != need)
      Fail(path, "payload holds {} bytes but dims [{}] of {} need {} bytes", length, Join(t.shape), ShortName(t.dtype),
           need);
    t.owner = file;
    t.data = file->data() + payload_start + offset;
    t.nbytes = need;
    return {{"", std::move(t)}};
  }

  bool CanWrite() const override { return true; }

  void WriteAll(const std::string& path, const NamedTensors& tensors) const override {
    if (tensors.size() != 1) Fail(path, "an ATB .bin file holds exactly one tensor, got {}", tensors.size());
    const Tensor& t = tensors.front().second;
    int code = AtbCode(t.dtype);
    if (code < 0) Fail(path, "dtype {} has no ATB code", ShortName(t.dtype));
    const size_t n = t.has_data ? t.nbytes : 0;
    std::string header = "$Version=1.0\n";
    header += fmt::format("$Object.Count={}\n$Object.Length={}\n", t.has_data ? 1 : 0, n);
    header += fmt::format("format={}\ndtype={}\ndims={}\n", t.atb_format, code, Join(t.shape));
    if (t.has_data) header += fmt::format("$Object.data=0,{}\n", n);
    header += "$End=1\n";
    WriteFileAtomically(path, [&](std::FILE* f) {
      std::fwrite(header.data(), 1, header.size(), f);
      if (n) std::fwrite(t.data, 1, n, f);
    });
  }

 private:
  static std::string Join(const std::vector<int64_t>& dims) {
    std::string s;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (i) s += ',';
      s += std::to_string(dims[i]);
    }
    return s;
  }
};

}  // namespace

const TensorFormat& AtbBinFormat() {
  static AtbBin f;
  return f;
}

}  // namespace ait
