// torchair GE dump files (FORMATS.md 9.2): an 8-byte header length, a toolkit.dumpdata.DumpData
// protobuf (src/formats/proto/ge_dump_data.proto, parsed by libprotobuf; unknown fields kept and
// skipped), then the bytes of every input, output and buffer. Tensors are named `inputs,K` and
// `outputs,K`; FRACTAL_NZ and NC1HWC0 are converted to ND by `original_shape`, layouts that
// are dense in their own shape (ND, NCHW, NHWC, ...) are reshaped, any other format is an
// error for that tensor alone ("format X not converted"), never wrong numbers.
#include "formats/ge_dump.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "ait/error.h"
#include "ait/mapped_file.h"
#include "ait/tensor_io.h"
#include "formats/proto/ge_dump_data.pb.h"

namespace ait {
namespace {

namespace pb = toolkit::dumpdata;

constexpr uint64_t kMaxHeaderBytes = 256ull << 20;  // a header describes tensors; it never holds them
constexpr size_t kMaxDims = 64;

bool ParseUnsigned(std::string_view s, uint64_t* v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

std::optional<DType> DTypeOf(int code) {
  switch (code) {
    case pb::DT_FLOAT: return DType::kFloat32;
    case pb::DT_FLOAT16: return DType::kFloat16;
    case pb::DT_BF16: return DType::kBFloat16;
    case pb::DT_DOUBLE: return DType::kFloat64;
    case pb::DT_INT8: case pb::DT_QINT8: case pb::DT_DUAL_SUB_INT8: return DType::kInt8;
    case pb::DT_UINT8: case pb::DT_QUINT8: case pb::DT_DUAL_SUB_UINT8: return DType::kUInt8;
    case pb::DT_INT16: case pb::DT_QINT16: return DType::kInt16;
    case pb::DT_UINT16: case pb::DT_QUINT16: return DType::kUInt16;
    case pb::DT_INT32: case pb::DT_QINT32: return DType::kInt32;
    case pb::DT_UINT32: return DType::kUInt32;
    case pb::DT_INT64: return DType::kInt64;
    case pb::DT_UINT64: return DType::kUInt64;
    case pb::DT_BOOL: return DType::kBool;
    case pb::DT_COMPLEX64: return DType::kComplex64;
    default: return std::nullopt;
  }
}

std::string DataTypeName(int code) {
  return pb::OutputDataType_IsValid(code) ? pb::OutputDataType_Name(static_cast<pb::OutputDataType>(code))
                                          : fmt::format("data type {}", code);
}

std::string FormatName(int code) {
  return pb::OutputFormat_IsValid(code) ? pb::OutputFormat_Name(static_cast<pb::OutputFormat>(code))
                                        : fmt::format("format {}", code);
}

// Layouts whose bytes are dense, row-major in `shape`: reading them is a reshape.
bool IsPlainLayout(int format) {
  switch (format) {
    case pb::FORMAT_NCHW: case pb::FORMAT_NHWC: case pb::FORMAT_ND: case pb::FORMAT_CHWN: case pb::FORMAT_HWCN:
    case pb::FORMAT_MD: case pb::FORMAT_NDHWC: case pb::FORMAT_NCDHW: case pb::FORMAT_DHWCN: case pb::FORMAT_CN:
    case pb::FORMAT_NC: case pb::FORMAT_DHWNC: return true;
    default: return false;
  }
}

std::string Dims(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += fmt::format("{}{}", i ? ", " : "", d[i]);
  return s + "]";
}

// One input or output as the header describes it, and where its bytes are.
struct Entry {
  bool input = true;
  size_t index = 0;
  int data_type = 0, format = 0;
  std::vector<int64_t> shape, original_shape;
  uint64_t offset = 0, size = 0;  // within the file
};

struct Parsed {
  std::shared_ptr<const MappedFile> file;
  std::vector<Entry> entries;  // inputs, then outputs
};

// Whether the DumpData header (already parsed, so well-formed) holds a top-level field this
// proto lacks (newer CANN's workspace list, dfx_message, ...).
bool HasUnknownFields(const std::byte* header, uint64_t size) {
  namespace io = google::protobuf::io;
  io::CodedInputStream in(reinterpret_cast<const uint8_t*>(header), static_cast<int>(size));
  while (const uint32_t tag = in.ReadTag()) {
    if (google::protobuf::internal::WireFormatLite::GetTagFieldNumber(tag) > pb::DumpData::kOpNameFieldNumber) return true;
    if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) return false;
  }
  return false;
}

template <typename Message>
std::vector<int64_t> ShapeOf(const Message& shape, const std::string& path, std::string_view what) {
  if (static_cast<size_t>(shape.dim_size()) > kMaxDims) Fail(path, "{} has more than {} dimensions", what, kMaxDims);
  std::vector<int64_t> dims;
  for (uint64_t d : shape.dim()) {
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) Fail(path, "{} has dimension {}", what, d);
    dims.push_back(static_cast<int64_t>(d));
  }
  return dims;
}

Parsed Parse(const std::string& path) {
  Parsed out;
  out.file = MappedFile::Open(path);
  const std::byte* base = out.file->data();
  const uint64_t size = out.file->size();
  if (size < 8) Fail(path, "{} bytes: too short for a GE dump file (an 8-byte header length comes first)", size);
  uint64_t header = 0;
  std::memcpy(&header, base, 8);  // little endian, as GE writes it on Ascend hosts
  if (header > size - 8 || header > kMaxHeaderBytes)
    Fail(path, "header length {} does not fit the file's {} bytes: not a GE dump file, or cut short", header, size);
  pb::DumpData data;
  if (!data.ParseFromArray(base + 8, static_cast<int>(header)))
    Fail(path, "the {}-byte header is not a toolkit.dumpdata.DumpData protobuf: not a GE dump file", header);
  uint64_t offset = 8 + header;
  auto place = [&](Entry e, uint64_t bytes, std::string_view what) {
    if (bytes > size - offset)
      Fail(path, "{} claims {} bytes at offset {}, beyond the end of the {}-byte file (cut short?)", what, bytes, offset,
           size);
    e.offset = offset;
    e.size = bytes;
    offset += bytes;
    return e;
  };
  for (int i = 0; i < data.input_size(); ++i) {
    const pb::OpInput& in = data.input(i);
    const std::string what = GeMemberName(true, i);
    Entry e{true, static_cast<size_t>(i), in.data_type(), in.format(), ShapeOf(in.shape(), path, what),
            ShapeOf(in.original_shape(), path, what)};
    out.entries.push_back(place(std::move(e), in.size(), what));
  }
  for (int i = 0; i < data.output_size(); ++i) {
    const pb::OpOutput& o = data.output(i);
    const std::string what = GeMemberName(false, i);
    Entry e{false, static_cast<size_t>(i), o.data_type(), o.format(), ShapeOf(o.shape(), path, what),
            ShapeOf(o.original_shape(), path, what)};
    out.entries.push_back(place(std::move(e), o.size(), what));
  }
  for (int i = 0; i < data.buffer_size(); ++i) place(Entry{}, data.buffer(i).size(), fmt::format("buffer {}", i));
  // Newer CANN appends workspace (`space`) bytes described by fields this proto lacks; only
  // then may bytes follow the ones the known fields account for.
  const bool unknown_fields = HasUnknownFields(base + 8, header);
  if (offset != size && !(offset < size && unknown_fields))
    Fail(path, "the header accounts for {} bytes (8 + {} header + inputs, outputs and buffers) but the file has {}",
         offset, header, size);
  return out;
}

// FRACTAL_NZ [..., N1, M1, M0, N0] -> ND [..., M, N]: element (m, n) is at
// [..., n / N0, m / M0, m % M0, n % N0]; padding dropped.
Tensor FromFractalNz(const Entry& e, const std::byte* src, DType dtype, const std::string& where) {
  std::vector<int64_t> nd = e.original_shape;
  if (nd.empty()) Fail(where, "FRACTAL_NZ tensor without original_shape: cannot convert it to ND");
  if (nd.size() == 1) nd.insert(nd.begin(), 1);
  const std::vector<int64_t>& st = e.shape;
  const size_t batch_dims = nd.size() - 2;
  if (st.size() != batch_dims + 4 || !std::equal(nd.begin(), nd.begin() + batch_dims, st.begin()))
    Fail(where, "FRACTAL_NZ shape {} does not fit original shape {} (expected [..., N1, M1, M0, N0])", Dims(st),
         Dims(e.original_shape));
  const int64_t M = nd[batch_dims], N = nd[batch_dims + 1];
  const int64_t N1 = st[batch_dims], M1 = st[batch_dims + 1], M0 = st[batch_dims + 2], N0 = st[batch_dims + 3];
  if (M0 <= 0 || N0 <= 0 || M1 * M0 < M || N1 * N0 < N)
    Fail(where, "FRACTAL_NZ shape {} is too small for original shape {}", Dims(st), Dims(e.original_shape));
  Tensor t = Tensor::Allocate(dtype, e.original_shape);
  const size_t item = ItemSize(dtype);
  const int64_t batches = CheckedNumel(std::vector<int64_t>(nd.begin(), nd.begin() + batch_dims), item, where);
  const int64_t block = N1 * M1 * M0 * N0;
  std::byte* dst = t.mutable_data();
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n1 = 0; n1 < N1 && n1 * N0 < N; ++n1) {
        const int64_t run = std::min(N0, N - n1 * N0);
        const int64_t from = b * block + ((n1 * M1 + m / M0) * M0 + m % M0) * N0;
        std::memcpy(dst + ((b * M + m) * N + n1 * N0) * item, src + from * item, run * item);
      }
  return t;
}

// NC1HWC0 [N, C1, H, W, C0] -> NCHW [N, C, H, W]: element (n, c, h, w) is at
// [n, c / C0, h, w, c % C0]; padding dropped.
Tensor FromNc1hwc0(const Entry& e, const std::byte* src, DType dtype, const std::string& where) {
  const std::vector<int64_t>& nd = e.original_shape;
  const std::vector<int64_t>& st = e.shape;
  if (nd.size() != 4) Fail(where, "NC1HWC0 tensor needs a 4-d NCHW original_shape, has {}", Dims(nd));
  if (st.size() != 5 || st[0] != nd[0] || st[2] != nd[2] || st[3] != nd[3] || st[4] <= 0 || st[1] * st[4] < nd[1])
    Fail(where, "NC1HWC0 shape {} does not fit original shape {} (expected [N, C1, H, W, C0])", Dims(st), Dims(nd));
  Tensor t = Tensor::Allocate(dtype, nd);
  const size_t item = ItemSize(dtype);
  const int64_t N = nd[0], C = nd[1], HW = nd[2] * nd[3], C1 = st[1], C0 = st[4];
  std::byte* dst = t.mutable_data();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t hw = 0; hw < HW; ++hw)
        std::memcpy(dst + ((n * C + c) * HW + hw) * item, src + (((n * C1 + c / C0) * HW + hw) * C0 + c % C0) * item,
                    item);
  return t;
}

Tensor Decode(const Parsed& p, const Entry& e, const std::string& path) {
  const std::string where = MemberAddress(path, GeMemberName(e.input, e.index));
  const std::optional<DType> dtype = DTypeOf(e.data_type);
  if (!dtype) Fail(where, "{} is not read (no fixed-size numeric type to compare)", DataTypeName(e.data_type));
  const size_t item = ItemSize(*dtype);
  const int64_t numel = CheckedNumel(e.shape, item, where);
  if (static_cast<uint64_t>(numel) * item != e.size)
    Fail(where, "shape {} of {} needs {} bytes, the header gives size {}", Dims(e.shape), DataTypeName(e.data_type),
         static_cast<uint64_t>(numel) * item, e.size);
  const std::byte* src = p.file->data() + e.offset;
  if (e.format == pb::FORMAT_FRACTAL_NZ) return FromFractalNz(e, src, *dtype, where);
  if (e.format == pb::FORMAT_NC1HWC0) return FromNc1hwc0(e, src, *dtype, where);
  if (!IsPlainLayout(e.format))
    Fail(where, "{} not converted (ait converts FRACTAL_NZ and NC1HWC0 to ND; convert this tensor with CANN's "
                "msaccucmp)", FormatName(e.format));
  Tensor t;
  t.dtype = *dtype;
  t.shape = e.shape;
  t.owner = p.file;
  t.data = src;
  t.nbytes = e.size;
  return t;
}

class GeDump final : public TensorFormat {
 public:
  std::string_view name() const override { return "ge-dump"; }
  bool Matches(std::string_view path) const override {
    const size_t slash = path.rfind('/');
    return ParseGeDumpName(slash == std::string_view::npos ? path : path.substr(slash + 1)).has_value();
  }

  NamedTensors ReadAll(const std::string& path) const override {
    const Parsed p = Parse(path);
    NamedTensors out;
    for (const Entry& e : p.entries) out.emplace_back(GeMemberName(e.input, e.index), Decode(p, e, path));
    return out;
  }

  Tensor ReadMember(const std::string& path, std::string_view member) const override {
    const Parsed p = Parse(path);
    for (const Entry& e : p.entries)
      if (GeMemberName(e.input, e.index) == member) return Decode(p, e, path);
    size_t inputs = 0;
    for (const Entry& e : p.entries) inputs += e.input;
    Fail(path, "no tensor '{}' in the file (it holds {} inputs and {} outputs, named inputs,K and outputs,K)",
         Excerpt(member, 80), inputs, p.entries.size() - inputs);
  }

  std::vector<std::string> MemberNames(const std::string& path) const override {
    std::vector<std::string> names;
    for (const Entry& e : Parse(path).entries) names.push_back(GeMemberName(e.input, e.index));
    return names;
  }

  bool CanWrite() const override { return true; }

  // Inputs then outputs, named `inputs,K` / `outputs,K` in order, FORMAT_ND.
  void WriteAll(const std::string& path, const NamedTensors& tensors) const override {
    pb::DumpData data;
    data.set_version("2.0");
    size_t inputs = 0, outputs = 0;
    for (const auto& [name, tensor] : tensors) {
      const Tensor& t = tensor;  // a lambda cannot capture a structured binding (clang 14)
      const bool input = name == GeMemberName(true, inputs);
      if (!input && name != GeMemberName(false, outputs))
        Fail(path, "tensor '{}' is out of place: a GE dump file holds inputs,0.. then outputs,0..", Excerpt(name, 80));
      if (input && outputs) Fail(path, "input '{}' after the outputs", name);
      if (!t.has_data) Fail(path, "tensor '{}' has no data", name);
      const int code = DataTypeCode(t.dtype);
      if (code < 0) Fail(path, "{} has no GE data type", ShortName(t.dtype));
      auto fill = [&](auto* m) {
        m->set_data_type(static_cast<pb::OutputDataType>(code));
        m->set_format(pb::FORMAT_ND);
        for (int64_t d : t.shape) m->mutable_shape()->add_dim(static_cast<uint64_t>(d));
        m->set_size(t.nbytes);
      };
      if (input) fill(data.add_input()), ++inputs;
      else fill(data.add_output()), ++outputs;
    }
    const std::string header = data.SerializeAsString();
    const uint64_t length = header.size();
    WriteFileAtomically(path, [&](std::FILE* f) {
      std::fwrite(&length, 1, 8, f);
      std::fwrite(header.data(), 1, header.size(), f);
      for (const auto& [name, t] : tensors) std::fwrite(t.data, 1, t.nbytes, f);
    });
  }

 private:
  static int DataTypeCode(DType t) {
    for (int code = 0; code <= pb::OutputDataType_MAX; ++code)
      if (pb::OutputDataType_IsValid(code) && DTypeOf(code) == t) return code;
    return -1;
  }
};

}  // namespace

std::optional<GeDumpName> ParseGeDumpName(std::string_view filename) {
  std::vector<std::string_view> pieces;
  size_t start = 0;
  while (true) {
    const size_t dot = filename.find('.', start);
    pieces.push_back(filename.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  GeDumpName name;
  const size_t n = pieces.size();
  if (n < 5 || pieces[0].empty() || !ParseUnsigned(pieces[n - 3], &name.task_id) ||
      !ParseUnsigned(pieces[n - 2], &name.stream_id) || !ParseUnsigned(pieces[n - 1], &name.timestamp))
    return std::nullopt;
  name.op_type = std::string(pieces[0]);
  // Everything between the first piece and the last three (pieces in between keep their dots).
  const size_t first = pieces[0].size() + 1;
  const size_t tail = pieces[n - 3].size() + pieces[n - 2].size() + pieces[n - 1].size() + 3;
  name.op_name = std::string(filename.substr(first, filename.size() - first - tail));
  if (name.op_name.empty()) return std::nullopt;
  return name;
}

std::string GeMemberName(bool input, size_t index) { return fmt::format("{},{}", input ? "inputs" : "outputs", index); }

const TensorFormat& GeDumpFormat() {
  static GeDump f;
  return f;
}

}  // namespace ait
