// Writes the seed corpus of the fuzz targets (scripts/run-fuzz.sh, docs/FUZZING.md):
//
//   ait_fuzz_seeds OUT_DIR      -> OUT_DIR/<target>/seedNNN, one folder per target
//
// Well-formed tensor files come from the project's own writers: TensorFormat::WriteAll for
// ATB .bin, .npy and .safetensors, and the unit tests' WritePth for .pth (the core does not
// write .pth). Each is read back with the format's ReadAll, so a seed meant to be valid is.
// The malformed seeds are derived from those bytes: truncations, edited, duplicated or
// removed header fields, other versions of the same header. fuzz_atb_onnx gets ATB topology
// JSON written with nlohmann. Seeds from third-party writers (numpy.save, torch.save) come
// from tests/fuzz/third_party_seeds.py; fuzz_pair_topology writes its own seed. fuzz_pair_ggml gets
// ggml_graph.json texts shaped as libait_ggml_dump writes them (a 1-layer Llama graph).
//
// An ordinary program built with the fuzz targets (-DAIT_FUZZ=ON), not a fuzz target.
#include <zip.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "ait/convert.h"
#include "ait/tensor_io.h"
#include "formats/proto/ge_dump_data.pb.h"
#include "unit/synthetic_dumps.h"

namespace {

namespace fs = std::filesystem;
using ait::DType;
using ait::NamedTensors;
using ait::Tensor;
using Json = nlohmann::ordered_json;  // keeps the keys in the order written, as ATB does

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// OUT_DIR/<target>/seedNNN, numbered per target.
class Corpus {
 public:
  explicit Corpus(fs::path root) : root_(std::move(root)) {}

  fs::path Next(const std::string& target) {
    fs::create_directories(root_ / target);
    return root_ / target / fmt::format("seed{:03d}", count_[target]++);
  }

  void Raw(const std::string& target, std::string_view bytes) {
    const fs::path p = Next(target);
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) throw std::runtime_error("cannot write " + p.string());
  }

  // Writes `tensors` with `format`'s own writer, checks that its reader takes the file back
  // (same number of tensors), and returns the file's bytes for derived variants.
  std::string Write(const std::string& target, const ait::TensorFormat& format, const NamedTensors& tensors) {
    const fs::path p = Next(target);
    format.WriteAll(p.string(), tensors);
    if (format.ReadAll(p.string()).size() != tensors.size())
      throw std::runtime_error(p.string() + ": the reader did not return every tensor written");
    return ReadFile(p);
  }

  void Report() const {
    for (const auto& [target, n] : count_) std::cout << target << ": " << n << " seeds\n";
  }

 private:
  fs::path root_;
  std::map<std::string, int> count_;
};

// --- tensors -----------------------------------------------------------------------------

using ait::testing::MakeTensor;
Tensor Half(std::vector<int64_t> shape, const std::vector<float>& v) {
  std::vector<uint16_t> h;
  for (float f : v) h.push_back(ait::FloatToHalf(f));
  return MakeTensor(DType::kFloat16, std::move(shape), h);
}
Tensor BFloat16(std::vector<int64_t> shape, const std::vector<float>& v) {
  std::vector<uint16_t> h;
  for (float f : v) h.push_back(ait::FloatToBFloat16(f));
  return MakeTensor(DType::kBFloat16, std::move(shape), h);
}
// A [2] tensor of `dtype` holding 1 and the type's all-ones bit pattern.
Tensor Pair(DType dtype) {
  Tensor t = Tensor::Allocate(dtype, {2});
  const size_t item = ait::ItemSize(dtype);
  std::memset(t.mutable_data() + item, 0xff, item);
  t.mutable_data()[0] = std::byte{1};
  return t;
}
NamedTensors One(Tensor t) { return {{"", std::move(t)}}; }

// --- byte edits on a writer's output ---------------------------------------------------------

// `s` with the first `from` replaced by `to`; `from` must be there (an edit never silently
// does nothing when a writer changes).
std::string Replace(std::string s, std::string_view from, std::string_view to) {
  const size_t at = s.find(from);
  if (at == std::string::npos) throw std::logic_error(fmt::format("seed edit: '{}' not found", from));
  return s.replace(at, from.size(), to);
}
std::string Truncate(const std::string& s, size_t drop) { return s.substr(0, s.size() > drop ? s.size() - drop : 0); }
std::string Le(uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}
uint64_t ReadLe(std::string_view s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(s.at(at + i));
  return v;
}

// --- ATB .bin ------------------------------------------------------------------------------

void AtbBinSeeds(Corpus& c) {
  const auto& f = ait::AtbBinFormat();
  const std::string t = "atb_bin";
  const std::string f32 = c.Write(t, f, One(MakeTensor<float>(DType::kFloat32, {2, 3}, {0, 1, 2, 3, 4, 5})));
  c.Write(t, f, One(Half({4}, {1, -2, 0.5, 65504})));
  c.Write(t, f, One(BFloat16({1, 2}, {1, 2})));
  const std::string i64 = c.Write(t, f, One(MakeTensor<int64_t>(DType::kInt64, {2}, {-1, int64_t{1} << 40})));
  c.Write(t, f, One(MakeTensor<uint8_t>(DType::kBool, {3}, {0, 1, 1})));
  Tensor cplx = MakeTensor<float>(DType::kComplex64, {1}, {1, -1});
  cplx.atb_format = 29;  // FRACTAL_NZ
  const std::string c64 = c.Write(t, f, One(cplx));
  c.Write(t, f, One(Tensor::Allocate(DType::kInt32, {0, 5})));
  c.Write(t, f, One(MakeTensor<double>(DType::kFloat64, {}, {3.25})));
  Tensor description = Tensor::Allocate(DType::kFloat16, {8, 16, 2});
  description.has_data = false;  // "$Object.Count=0": shape and dtype only, as `ait llm dump -sd` writes
  c.Write(t, f, One(description));
  for (DType d : {DType::kInt8, DType::kUInt8, DType::kInt16, DType::kUInt16, DType::kUInt32, DType::kUInt64})
    if (ait::AtbCode(d) >= 0) c.Write(t, f, One(Pair(d)));

  // Derived: valid without "$Object.data" (the payload follows the header), a field twice.
  c.Raw(t, Replace(i64, "$Object.data=0,16\n", ""));
  c.Raw(t, Replace(c64, "$End=1\n", "format=2\n$End=1\n"));
  // Malformed: cut payload, cut header, offsets past the end, unknown dtype code, negative and
  // overflowing dims, a header past the reader's 64 KiB cap.
  c.Raw(t, Truncate(f32, 3));
  c.Raw(t, f32.substr(0, f32.find("dims=")));
  c.Raw(t, Replace(f32, "$Object.data=0,24", "$Object.data=8,24"));
  c.Raw(t, Replace(f32, "dtype=0\n", "dtype=99\n"));
  c.Raw(t, Replace(f32, "dims=2,3\n", "dims=-2,-3\n"));
  c.Raw(t, Replace(f32, "dims=2,3\n", "dims=4294967296,4294967296\n"));
  c.Raw(t, Replace(f32, "$End=1\n", "note=" + std::string(66000, 'x') + "\n$End=1\n"));
}

// --- .npy ----------------------------------------------------------------------------------

// The same header and payload under another format version (its own preamble), after `edit`
// changed the header text.
template <class Edit>
std::string NpyRewrite(const std::string& v1, int version, Edit edit) {
  const size_t len = ReadLe(v1, 8, 2);
  std::string header = edit(v1.substr(10, len));
  const int width = version == 1 ? 2 : 4;
  return v1.substr(0, 6) + static_cast<char>(version) + '\0' + Le(header.size(), width) + header + v1.substr(10 + len);
}

void NpySeeds(Corpus& c) {
  const auto& f = ait::NpyFormat();
  const std::string t = "npy";
  const std::string f32 = c.Write(t, f, One(MakeTensor<float>(DType::kFloat32, {2, 3}, {0, 1, 2, 3, 4, 5})));
  const std::string i16 = c.Write(t, f, One(MakeTensor<int16_t>(DType::kInt16, {2, 2}, {1, 2, 3, 4})));
  const std::string b1 = c.Write(t, f, One(MakeTensor<uint8_t>(DType::kBool, {3}, {0, 1, 0})));
  const std::string c8 = c.Write(t, f, One(MakeTensor<float>(DType::kComplex64, {}, {1, 2})));
  c.Write(t, f, One(Tensor::Allocate(DType::kFloat16, {0, 3})));
  c.Write(t, f, One(MakeTensor<uint16_t>(DType::kUInt16, {5}, {0, 1, 2, 3, 4})));
  for (DType d : {DType::kFloat64, DType::kInt8, DType::kInt32, DType::kInt64, DType::kUInt8, DType::kUInt32,
                  DType::kUInt64})
    c.Write(t, f, One(Pair(d)));

  // Derived, valid: big endian + Fortran order; double quotes, a Python 2 "3L" and version
  // 2.0; a 0-d complex under version 3.0.
  c.Raw(t, Replace(Replace(i16, "'<i2'", "'>i2'"), "False", "True "));
  c.Raw(t, NpyRewrite(b1, 2, [](std::string h) {
          for (char& ch : h) ch = ch == '\'' ? '"' : ch;
          return Replace(Replace(h, "(3,)", "(3L,)"), ", }", "}");
        }));
  c.Raw(t, NpyRewrite(c8, 3, [](std::string h) { return h; }));
  // Malformed: cut payload, header length past the end, version 4.0, a shape the data does
  // not fill, an unknown descr, a missing key, text after the dict.
  c.Raw(t, Truncate(f32, 1));
  c.Raw(t, f32.substr(0, 8) + Le(0xffff, 2) + f32.substr(10));
  c.Raw(t, f32.substr(0, 6) + '\4' + f32.substr(7));
  c.Raw(t, Replace(f32, "(2, 3)", "(3, 3)"));
  c.Raw(t, Replace(f32, "'<f4'", "'<U4'"));
  c.Raw(t, NpyRewrite(f32, 1, [](std::string h) { return Replace(h, "'fortran_order': False, ", ""); }));
  c.Raw(t, Replace(f32, ", } ", ", }x"));
}

// --- .safetensors --------------------------------------------------------------------------

// The same file after `edit` changed its JSON header (the length field follows).
template <class Edit>
std::string SafetensorsRewrite(const std::string& file, Edit edit) {
  const size_t len = ReadLe(file, 0, 8);
  const std::string header = edit(file.substr(8, len));
  return Le(header.size(), 8) + header + file.substr(8 + len);
}

void SafetensorsSeeds(Corpus& c) {
  const auto& f = ait::SafetensorsFormat();
  const std::string t = "safetensors";
  const std::string a = c.Write(t, f, {{"a", MakeTensor<float>(DType::kFloat32, {2, 2}, {1, 2, 3, 4})}});
  const std::string three = c.Write(t, f,
                                    {{"w", Half({3}, {1, 2, 3})},
                                     {"b", BFloat16({1, 1}, {4})},
                                     {"i", MakeTensor<int64_t>(DType::kInt64, {}, {5})}});
  c.Write(t, f,
          {{"e", Tensor::Allocate(DType::kUInt8, {0, 4})},
           {"m", MakeTensor<uint8_t>(DType::kBool, {2}, {1, 0})},
           {"c", MakeTensor<float>(DType::kComplex64, {1}, {1, 2})}});
  const std::string empty = c.Write(t, f, {});
  for (DType d : {DType::kInt8, DType::kInt16, DType::kUInt16, DType::kInt32, DType::kUInt32, DType::kFloat64,
                  DType::kUInt64})
    c.Write(t, f, {{"x", Pair(d)}});

  // Derived, valid: "__metadata__" (and trailing spaces), an empty file's metadata.
  c.Raw(t, SafetensorsRewrite(three, [](std::string h) {
          return Replace(h, "{", R"({"__metadata__":{"format":"pt"},)") + "     ";
        }));
  c.Raw(t, SafetensorsRewrite(empty, [](std::string h) { return Replace(h, "{}", R"({"__metadata__":{}})"); }));
  // Malformed: offsets that do not tile the data, a shape the offsets do not fit, a name
  // twice, an unknown dtype, cut data, a header length past the end.
  c.Raw(t, SafetensorsRewrite(a, [](std::string h) { return Replace(h, "[0,16]", "[0,12]"); }));
  c.Raw(t, SafetensorsRewrite(a, [](std::string h) { return Replace(h, "[2,2]", "[2,3]"); }));
  c.Raw(t, SafetensorsRewrite(a, [](std::string h) {
          const std::string entry = h.substr(1, h.find('}') + 1 - 1);
          return Replace(h, "{", "{" + entry + ",");
        }));
  c.Raw(t, SafetensorsRewrite(a, [](std::string h) { return Replace(h, "\"F32\"", "\"F8_E4M3\""); }));
  c.Raw(t, Truncate(a, 1));
  c.Raw(t, Le(uint64_t{1} << 40, 8) + a.substr(8));
}

// --- .pth ------------------------------------------------------------------------------------

// The zip's entry `name`.
std::string ZipEntry(const fs::path& path, const std::string& name) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (!z) throw std::runtime_error(path.string() + ": not a zip archive");
  zip_stat_t st;
  zip_file_t* file = zip_stat(z, name.c_str(), 0, &st) == 0 ? zip_fopen(z, name.c_str(), 0) : nullptr;
  std::string out(file ? st.size : 0, '\0');
  const bool ok = file && zip_fread(file, out.data(), out.size()) == static_cast<zip_int64_t>(out.size());
  if (file) zip_fclose(file);
  zip_discard(z);
  if (!ok) throw std::runtime_error(path.string() + ": cannot read " + name);
  return out;
}

void PthSeeds(Corpus& c) {
  const std::string t = "pth";
  const std::vector<std::vector<int64_t>> shapes = {{2, 3}, {4}, {}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    const fs::path p = c.Next(t);
    ait::testing::WritePth(p.string(), shapes[i], static_cast<unsigned>(i));
    if (ait::PthFormat().ReadAll(p.string()).size() != 1) throw std::runtime_error(p.string() + ": unreadable");
    // fuzz_pth's structured form: byteorder flag, data.pkl, "#AIT", storage 0.
    const std::string parts = ZipEntry(p, "archive/data.pkl") + "#AIT" + ZipEntry(p, "archive/data/0");
    for (char flag : i == 0 ? std::string("\0\1\2", 3) : std::string(1, '\0')) c.Raw(t, flag + parts);
    if (i == 0) c.Raw(t, Truncate(ReadFile(p), 7));  // the end of central directory cut short
  }
}

// --- ATB topology JSON for fuzz_atb_onnx (FORMATS.md 5.1/5.2) -------------------------------------

Json Names(std::initializer_list<std::string> names) { return Json(std::vector<std::string>(names)); }

void Topo(Corpus& c, const Json& j, int indent = -1) { c.Raw("atb_onnx", j.dump(indent) + "\n"); }

// A layer with nested children and an in-place cache write, a merged model, a bare operation,
// odd params, and a few broken shapes.
void TopologySeeds(Corpus& c) {
  const std::string L = "Bloom7bCommonLayer_3";
  Json attention_nodes = Json::array();
  attention_nodes.push_back({{"opName", "ReshapeAndCache_3_2_0"},
                             {"opType", "ReshapeAndCacheOperation"},
                             {"param", nullptr},
                             {"inTensors", Names({L + "_internal_1", L + "_input_2"})},
                             {"outTensors", Names({L + "_input_2"})}});
  attention_nodes.push_back(
      {{"opName", "Elewise_3_2_1"},
       {"opType", "ElewiseOperation"},
       {"param", {{"elewiseType", "ELEWISE_ADD"}, {"mixed", Json::array({1, "a", nullptr, Json::array({2})})}}},
       {"inTensors", Names({L + "_input_2", ""})},
       {"outTensors", Names({L + "_internal_2"})}});
  Json nodes = Json::array();
  nodes.push_back(
      {{"opName", "LayerNormOperation_3_0"},
       {"opType", "LayerNormOperation"},
       {"param",
        {{"layerType", 1},
         {"normParam", {{"epsilon", 1e-5}, {"beginNormAxis", 2}, {"quant", {{"scale", Json::array({0.5, 1})}}}}}}},
       {"inTensors", Names({L + "_input_0", L + "_input_1"})},
       {"outTensors", Names({L + "_internal_0"})}});
  nodes.push_back({{"opName", "LinearOperation_3_1"},
                   {"opType", "LinearOperation"},
                   {"param", {{"hasBias", true}, {"transposeA", false}, {"transposeB", false}}},
                   {"inTensors", Names({L + "_internal_0", L + "_input_2"})},
                   {"outTensors", Names({L + "_internal_1"})}});
  nodes.push_back({{"opName", "SelfAttention_3_2"},
                   {"opType", "GraphOperation"},
                   {"param", Json::object()},
                   {"inTensors", Names({L + "_internal_1"})},
                   {"outTensors", Names({L + "_internal_2"})},
                   {"internalTensors", Names({"SelfAttention_3_2_internal_0"})},
                   {"nodes", attention_nodes}});
  nodes.push_back({{"opName", "Elewise_3_3"},
                   {"opType", "ElewiseOperation"},
                   {"param", "ELEWISE_MULS"},
                   {"inTensors", Names({L + "_internal_2", L + "_input_0"})},
                   {"outTensors", Names({L + "_output_0"})}});
  const Json layer = {{"opName", L},
                      {"opType", "BloomLayer"},
                      {"param", {{"headNum", 32}, {"rmsNormEps", 1e-5}}},
                      {"inTensors", Names({L + "_input_0", L + "_input_1", L + "_input_2"})},
                      {"outTensors", Names({L + "_output_0"})},
                      {"internalTensors", Names({L + "_internal_0", L + "_internal_1", L + "_internal_2"})},
                      {"nodes", nodes}};
  Topo(c, layer);
  Topo(c, layer, 2);

  const std::string M = "BloomModel";
  Json model_nodes = Json::array();
  model_nodes.push_back({{"inTensors", Names({M + "_input_0", M + "_weight_0", M + "_kCache_0"})},
                         {"opName", L},
                         {"outTensors", Names({M + "_internal_0"})},
                         {"opType", "BloomLayer"},
                         {"internalTensors", Names({L + "_internal_0"})},
                         {"nodes", Json::array({nodes[0], nodes[1]})}});
  model_nodes.push_back({{"inTensors", Names({M + "_internal_0", M + "_weight_1"})},
                         {"opName", "LmHead_4"},
                         {"outTensors", Names({M + "_output_0"})},
                         {"opType", "LmHead"}});
  Topo(c, {{"inTensors", Names({M + "_input_0"})},
           {"internalTensors", Names({M + "_internal_0"})},
           {"kCacheTensors", Names({M + "_kCache_0"})},
           {"modelName", M},
           {"nodes", model_nodes},
           {"outTensors", Names({M + "_output_0"})},
           {"vCacheTensors", Names({M + "_vCache_0"})},
           {"weightTensors", Names({M + "_weight_0", M + "_weight_1"})}});
  Topo(c, {{"opName", "LinearOperation_0"},
           {"opType", "LinearOperation"},
           {"inTensors", Names({"x", "w"})},
           {"outTensors", Names({"y"})}});
  Topo(c, {{"modelName", "Empty"}});
  Json bad_child = {{"opName", "C"}, {"opType", "U"}, {"inTensors", Json::array({1})}};
  Topo(c, {{"opName", "L"}, {"opType", "T"}, {"nodes", Json::array({bad_child})}});
  Json deep = Json::array({Json::array({Json::array({1})})});
  Topo(c, {{"opName", "L"},
           {"opType", "T"},
           {"nodes", Json::array({Json::array()})},
           {"param", {{"a", {{"b", {{"c", {{"d", deep}}}}}}}}}});
}

// --- torchair GE dump files and graph text --------------------------------------------------

// A GE dump file of one fp16 output in `format` with `shape` and `original` shape.
std::string GeLayoutFile(int format, std::vector<uint64_t> shape, std::vector<uint64_t> original) {
  toolkit::dumpdata::DumpData h;
  auto* o = h.add_output();
  o->set_data_type(toolkit::dumpdata::DT_FLOAT16);
  o->set_format(static_cast<toolkit::dumpdata::OutputFormat>(format));
  uint64_t n = 1;
  for (uint64_t d : shape) o->mutable_shape()->add_dim(d), n *= d;
  for (uint64_t d : original) o->mutable_original_shape()->add_dim(d);
  o->set_size(n * 2);
  const std::string header = h.SerializeAsString();
  std::string payload(n * 2, '\0');
  for (uint64_t i = 0; i < n; ++i) payload[2 * i + 1] = static_cast<char>(0x3c);  // 1.0
  return Le(header.size(), 8) + header + payload;
}

void GeDumpSeeds(Corpus& c) {
  const auto& f = ait::GeDumpFormat();
  const std::string t = "ge_dump";
  const std::string three = c.Write(t, f, {{"inputs,0", Half({2, 3}, {1, 2, 3, 4, 5, 6})},
                                           {"inputs,1", MakeTensor<int64_t>(DType::kInt64, {2}, {2, 3})},
                                           {"outputs,0", MakeTensor<float>(DType::kFloat32, {3}, {1, 2, 3})}});
  c.Write(t, f, {{"outputs,0", BFloat16({2}, {1, -1})}});
  c.Raw(t, GeLayoutFile(29, {2, 1, 16, 16}, {3, 20}));           // FRACTAL_NZ
  c.Raw(t, GeLayoutFile(29, {2, 2, 1, 16, 16}, {2, 3, 20}));     // FRACTAL_NZ, batched
  c.Raw(t, GeLayoutFile(3, {1, 1, 2, 1, 16}, {1, 5, 2, 1}));     // NC1HWC0
  c.Raw(t, GeLayoutFile(4, {1, 1, 16, 16}, {16, 16}));           // FRACTAL_Z: not converted
  c.Raw(t, Truncate(three, 1));
  c.Raw(t, three + "x");
  c.Raw(t, Le(1ull << 40, 8) + three.substr(8));
}

void GeGraphSeeds(Corpus& c) {
  const std::string t = "ge_graph";
  const std::string op = R"(op {
  name: "Add_2"
  type: "Add"
  input: "arg0_1:0"
  input: "Cast_1:-1"
  output_desc {
    name: "y"
    dtype: DT_FLOAT16
    shape { dim: 2 dim: 3 }
    attr { key: "_fx_tensor_name" value { s: "add_1-aten.add.Tensor.OUTPUT.0" } }
  }
}
)";
  c.Raw(t, "name: \"graph_1\"\nop {\n  name: \"arg0_1\"\n  type: \"Data\"\n}\n" + op);
  c.Raw(t, "name: \"model\"\ngraph {\n  name: \"g\"\n  " + op + "}\n");
  c.Raw(t, op + "future_field { x: 1 }\n");
}

// --- ggml_graph.json for fuzz_pair_ggml (docs/LLAMA_CPP.md) ---------------------------------

// A ggml graph node as libait_ggml_dump's topology writes it (src/dump/ggml/ggml_dumper.cc).
struct GgmlSource {
  std::string name, type;
  int node;  // graph index, -1 for a leaf (weight, input, cache)
};

class GgmlGraph {
 public:
  // Appends a node; `layer` as the dumper derives it from the name (LayerOf). Returns its index.
  int Add(const std::string& op, const std::string& name, std::vector<int64_t> ne, std::vector<GgmlSource> sources,
          const std::string& view_of = "", const std::string& type = "f32", bool contiguous = true,
          bool written = true) {
    ne.resize(4, 1);
    const int index = static_cast<int>(nodes_.size());
    const std::string out_name = name.empty() ? fmt::format("node_{}", index) : name;
    Json src = Json::array(), in_names = Json::array();
    for (const auto& s : sources) {
      src.push_back({{"name", s.name}, {"type", s.type}, {"node", s.node}, {"written", ""}});
      in_names.push_back(s.name);
    }
    std::string what = type == "f16" ? "float16" : "float32";
    if (!contiguous) what += ", made contiguous";
    Json param = {{"index", index},     {"name", out_name}, {"layer", LayerOf(out_name)}, {"type", type},
                  {"ne", ne},           {"contiguous", contiguous}, {"sources", src},
                  {"written", written ? what : ""}, {"view_of", view_of}};
    nodes_.push_back({{"opName", out_name},
                      {"opType", op},
                      {"folderId", std::to_string(index)},
                      {"param", std::move(param)},
                      {"inTensors", std::move(in_names)},
                      {"outTensors", Json::array({out_name})}});
    names_.push_back(out_name);
    return index;
  }
  // A source that is node `i`'s output.
  GgmlSource Of(int i, const std::string& type = "f32") const { return {names_.at(static_cast<size_t>(i)), type, i}; }
  static GgmlSource Leaf(const std::string& name, const std::string& type = "f32") { return {name, type, -1}; }

  Json& node(int i) { return nodes_.at(static_cast<size_t>(i)); }
  Json Model() const {
    return {{"modelName", "ggml_graph"}, {"engine", "ggml"}, {"token", 0}, {"nodes", Json(nodes_)}};
  }

 private:
  static int LayerOf(const std::string& name) {
    const std::string base = name.substr(0, name.find(" ("));
    const size_t dash = base.rfind('-');
    if (dash == std::string::npos || dash + 1 == base.size() || base.size() - dash > 7) return -1;
    for (size_t i = dash + 1; i < base.size(); ++i)
      if (base[i] < '0' || base[i] > '9') return -1;
    return std::stoi(base.substr(dash + 1));
  }
  std::vector<Json> nodes_;
  std::vector<std::string> names_;
};

// llama.cpp's Llama graph (llm_build_llama, as a real dump of the tiny preset records it: F16
// KV cache, no flash attention, every position's logits) for `layers` layers of the fixed torch
// dump's sizes (tests/unit/synthetic_dumps.h: hidden 8, 2 heads of 4, 1 KV head, FFN 12,
// vocab 16) over a 3-token prompt; the cache holds 256 cells. In the last layer the attention
// output and the residual are GET_ROWS'd by out_ids (unnamed nodes), as llama.cpp does.
// `named_only`: only the nodes of the strategy's Llama table are written (a node_filter run).
Json GgmlLlama(int layers, bool named_only = false) {
  const int64_t T = 3, H = ait::testing::kHidden, hd = 4, nh = H / hd, kvd = ait::testing::kKv, nkv = kvd / hd,
                F = ait::testing::kInter, V = ait::testing::kVocab, ctx = 256;
  GgmlGraph g;
  int inp = g.Add("GET_ROWS", "embd", {H, T},
                  {GgmlGraph::Leaf("token_embd.weight", "f16"), GgmlGraph::Leaf("inp_tokens", "i32")});
  for (int il = 0; il < layers; ++il) {
    const std::string n = std::to_string(il), blk = "blk." + n + ".", ck = "cache_k_l" + n, cv = "cache_v_l" + n;
    auto W = [&](const std::string& w) { return GgmlGraph::Leaf(blk + w + ".weight", "f16"); };
    auto N = [&](const std::string& w) { return GgmlGraph::Leaf(blk + w + ".weight"); };
    const int norm = g.Add("RMS_NORM", "norm-" + n, {H, T}, {g.Of(inp)});
    const int attn_norm = g.Add("MUL", "attn_norm-" + n, {H, T}, {g.Of(norm), N("attn_norm")});
    const int q = g.Add("MUL_MAT", "Qcur-" + n, {H, T}, {W("attn_q"), g.Of(attn_norm)});
    const int q3 = g.Add("RESHAPE", "Qcur-" + n, {hd, nh, T}, {g.Of(q)}, "Qcur-" + n);
    const int qr = g.Add("ROPE", "Qcur-" + n, {hd, nh, T}, {g.Of(q3), GgmlGraph::Leaf("inp_pos", "i32")});
    const int v = g.Add("MUL_MAT", "Vcur-" + n, {kvd, T}, {W("attn_v"), g.Of(attn_norm)});
    const int v3 = g.Add("RESHAPE", "Vcur-" + n, {hd, nkv, T}, {g.Of(v)}, "Vcur-" + n);
    const int k = g.Add("MUL_MAT", "Kcur-" + n, {kvd, T}, {W("attn_k"), g.Of(attn_norm)});
    const int k3 = g.Add("RESHAPE", "Kcur-" + n, {hd, nkv, T}, {g.Of(k)}, "Kcur-" + n);
    const int kr = g.Add("ROPE", "Kcur-" + n, {hd, nkv, T}, {g.Of(k3), GgmlGraph::Leaf("inp_pos", "i32")});
    const int kview = g.Add("VIEW", "Kcur-" + n + " (view)", {kvd, T}, {g.Of(kr)}, "Kcur-" + n);
    g.Add("SET_ROWS", ck + " (view)", {kvd, ctx},
          {g.Of(kview), GgmlGraph::Leaf("attn_inp_k_idxs", "i64"), GgmlGraph::Leaf(ck, "f16")}, ck, "f16");
    const int vr1 = g.Add("RESHAPE", "Vcur-" + n + " (reshaped)", {kvd, T}, {g.Of(v3)}, "Vcur-" + n);
    const int vr2 = g.Add("RESHAPE", "Vcur-" + n + " (reshaped) (reshaped)", {1, kvd * T}, {g.Of(vr1)}, "Vcur-" + n);
    const int cvr = g.Add("RESHAPE", cv + " (reshaped)", {1, kvd * ctx}, {GgmlGraph::Leaf(cv, "f16")}, cv, "f16");
    g.Add("SET_ROWS", cv + " (reshaped) (view)", {1, kvd * ctx},
          {g.Of(vr2), GgmlGraph::Leaf("attn_inp_v_idxs", "i64"), g.Of(cvr, "f16")}, cv, "f16");
    const int cvv = g.Add("VIEW", cv + " (view)", {ctx, nkv, hd}, {GgmlGraph::Leaf(cv, "f16")}, cv, "f16", false);
    const int cvp = g.Add("PERMUTE", cv + " (view) (permuted)", {ctx, hd, nkv}, {g.Of(cvv, "f16")}, cv, "f16");
    const int ckv = g.Add("VIEW", ck + " (view)", {hd, nkv, ctx}, {GgmlGraph::Leaf(ck, "f16")}, ck, "f16");
    const int ckp = g.Add("PERMUTE", ck + " (view) (permuted)", {hd, ctx, nkv}, {g.Of(ckv, "f16")}, ck, "f16", false);
    const int qv = g.Add("VIEW", "Qcur-" + n + " (view)", {hd, nh, T}, {g.Of(qr)}, "Qcur-" + n);
    const int qp =
        g.Add("PERMUTE", "Qcur-" + n + " (view) (permuted)", {hd, T, nh}, {g.Of(qv)}, "Qcur-" + n, "f32", false);
    const int kq = g.Add("MUL_MAT", "kq-" + n, {ctx, T, nh}, {g.Of(ckp, "f16"), g.Of(qp)});
    const int sm =
        g.Add("SOFT_MAX", "kq_soft_max-" + n, {ctx, T, nh}, {g.Of(kq), GgmlGraph::Leaf("attn_inp_kq_mask", "f16")});
    const int kqv = g.Add("MUL_MAT", "kqv-" + n, {hd, T, nh}, {g.Of(cvp, "f16"), g.Of(sm)});
    const int kqvp = g.Add("PERMUTE", "kqv-" + n + " (permuted)", {hd, nh, T}, {g.Of(kqv)}, "kqv-" + n, "f32", false);
    const int kqv_out = g.Add("CONT", "kqv_out-" + n, {H, T}, {g.Of(kqvp)});
    int attn_out = g.Add("MUL_MAT", "attn_out-" + n, {H, T}, {W("attn_output"), g.Of(kqv_out)});
    int residual = inp;
    if (il == layers - 1) {  // the last layer keeps the rows of out_ids
      attn_out = g.Add("GET_ROWS", "", {H, T}, {g.Of(attn_out), GgmlGraph::Leaf("out_ids", "i32")});
      residual = g.Add("GET_ROWS", "", {H, T}, {g.Of(inp), GgmlGraph::Leaf("out_ids", "i32")});
    }
    const int ffn_inp = g.Add("ADD", "ffn_inp-" + n, {H, T}, {g.Of(attn_out), g.Of(residual)});
    const int norm2 = g.Add("RMS_NORM", "norm-" + n, {H, T}, {g.Of(ffn_inp)});
    const int ffn_norm = g.Add("MUL", "ffn_norm-" + n, {H, T}, {g.Of(norm2), N("ffn_norm")});
    const int gate = g.Add("MUL_MAT", "ffn_gate-" + n, {F, T}, {W("ffn_gate"), g.Of(ffn_norm)});
    const int up = g.Add("MUL_MAT", "ffn_up-" + n, {F, T}, {W("ffn_up"), g.Of(ffn_norm)});
    const int swiglu = g.Add("SWIGLU", "ffn_swiglu-" + n, {F, T}, {g.Of(gate), g.Of(up)});
    const int ffn_out = g.Add("MUL_MAT", "ffn_out-" + n, {H, T}, {W("ffn_down"), g.Of(swiglu)});
    inp = g.Add("ADD", "l_out-" + n, {H, T}, {g.Of(ffn_out), g.Of(ffn_inp)});
  }
  const int norm = g.Add("RMS_NORM", "norm", {H, T}, {g.Of(inp)});
  const int result_norm = g.Add("MUL", "result_norm", {H, T}, {g.Of(norm), GgmlGraph::Leaf("output_norm.weight")});
  g.Add("MUL_MAT", "result_output", {V, T}, {GgmlGraph::Leaf("output.weight", "f16"), g.Of(result_norm)});
  Json model = g.Model();
  if (named_only) {
    static const std::vector<std::string> kStems = {"embd", "attn_norm", "Qcur", "Kcur", "Vcur", "kqv_out", "attn_out",
                                                    "ffn_norm", "ffn_gate", "ffn_up", "ffn_swiglu", "ffn_out", "l_out",
                                                    "result_norm", "result_output"};
    for (Json& node : model["nodes"]) {
      const std::string name = node["param"]["name"];
      const std::string stem = name.substr(0, name.rfind('-') == std::string::npos ? name.size() : name.rfind('-'));
      if (std::find(kStems.begin(), kStems.end(), stem) == kStems.end() || name.find(" (") != std::string::npos)
        node["param"]["written"] = "";
    }
  }
  return model;
}

// A well-formed 1-layer graph of the fixed torch dump's sizes (every node written, and a
// node_filter run), 2 layers (one more than the torch dump), the 1-layer graph with `-mf`
// entries after "\n--mf--\n", and broken edges: sources after their consumer, indices out of
// range or repeated, cache writes into their own readers, layers and shapes past the limits.
void GgmlSeeds(Corpus& c) {
  const std::string t = "pair_ggml";
  const Json one = GgmlLlama(1);
  c.Raw(t, one.dump() + "\n");
  c.Raw(t, GgmlLlama(1, true).dump() + "\n");
  c.Raw(t, GgmlLlama(2).dump(1) + "\n");
  c.Raw(t, one.dump() + "\n--mf--\n" +
               Json({{"ffn_inp", "post_attention_layernorm_input_0"}, {"kq_soft_max", Json::array({"self_attn"})},
                     {"norm", "LlamaRMSNorm"}, {"attn_out", "o_proj_output"}})
                   .dump());
  Json broken = one;
  Json& nodes = broken["nodes"];
  nodes[1]["param"]["sources"][0]["node"] = 5;                        // a source after its consumer
  nodes[2]["param"]["sources"].push_back({{"name", "x"}, {"node", 2}});  // itself
  nodes[3]["param"]["sources"][1]["node"] = 1 << 30;
  nodes[4]["param"]["index"] = 3;                                     // an index twice
  nodes[4]["param"]["ne"] = Json::array({0, 3});                      // Qcur's heads of size 0
  nodes[6]["param"]["layer"] = 2147483647;
  nodes[7]["param"]["layer"] = -2147483647 - 1;
  nodes[8]["param"]["view_of"] = "Kcur-0";
  nodes[8]["opType"] = "CPY";
  nodes[9]["param"]["sources"] = Json::array({{{"name", "Kcur-0"}, {"node", -1}}});
  nodes[10]["param"]["ne"] = Json::array({-1, 3});
  nodes[11]["param"] = "not an object";
  nodes[12]["param"]["sources"] = Json::object();
  c.Raw(t, broken.dump() + "\n");
}

// Configurations of libait_ggml_dump (include/ait/ggml_dump.h): what the Python API sends, every
// key, and bad ones.
void GgmlOptionSeeds(Corpus& c) {
  const std::string t = "ggml_dump_options";
  c.Raw(t, R"({"output_dir": "/tmp/out", "token_range": [[0, 0], [1, 1]], "tensor_part": 1})");
  c.Raw(t, R"({"output_dir": "out", "token_range": [[0, 3]], "tensor_part": 2, "node_filter": ["attn_norm-*", "ffn_[ug]*-1"],)"
           R"( "perturb": ["ffn_up-1=scale:1.05", "Vcur-?=noise:0.05", "l_out-0=bias", "x=nan:0.5", "y=fp16-saturate"],)"
           R"( "device": "cpu"})");
  c.Raw(t, R"({"token_range": [], "perturb": ["a=zero", "b=inf:1"]})");
  c.Raw(t, R"({"tensor_part": 3, "token_range": [[2, 1]], "node_filter": ["[a"], "perturb": ["=scale"]})");
  c.Raw(t, R"({"unknown": 1})");
  c.Raw(t, "");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " OUT_DIR\n"
              << "Writes the fuzz targets' seed corpus into OUT_DIR/<target>/ (docs/FUZZING.md).\n";
    return 2;
  }
  try {
    Corpus corpus(argv[1]);
    AtbBinSeeds(corpus);
    NpySeeds(corpus);
    SafetensorsSeeds(corpus);
    PthSeeds(corpus);
    TopologySeeds(corpus);
    GeDumpSeeds(corpus);
    GeGraphSeeds(corpus);
    GgmlSeeds(corpus);
    GgmlOptionSeeds(corpus);
    corpus.Report();
  } catch (const std::exception& e) {
    std::cerr << "ait_fuzz_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
