#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "ait/tensor_io.h"
#include "test_util.h"

namespace ait {
namespace {

using testing::TempDir;
using testing::WriteBytes;

std::string SafetensorsBytes(const std::string& header, const std::string& data) {
  uint64_t n = header.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + header + data;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST(Safetensors, WriteThenReadRoundTripsEveryDtypeInOrder) {
  TempDir dir;
  NamedTensors tensors;
  for (int i = 0; i < kNumDTypes; ++i) {
    DType dt = static_cast<DType>(i);
    Tensor t = Tensor::Allocate(dt, i % 2 ? std::vector<int64_t>{3} : std::vector<int64_t>{2, 3});
    for (size_t b = 0; b < t.nbytes; ++b) t.mutable_data()[b] = std::byte(dt == DType::kBool ? b % 2 : b * 7 + i);
    tensors.emplace_back("model.layers." + std::to_string(kNumDTypes - i) + ".weight", t);
  }
  tensors.emplace_back("scalar", Tensor::Allocate(DType::kFloat32, {}));
  tensors.emplace_back("empty", Tensor::Allocate(DType::kInt64, {4, 0}));
  tensors.emplace_back("after_empty", Tensor::Allocate(DType::kUInt8, {1}));
  std::string path = dir.File("m.safetensors");
  SafetensorsFormat().WriteAll(path, tensors);
  NamedTensors back = ReadTensors(path);
  ASSERT_EQ(back.size(), tensors.size());
  for (size_t i = 0; i < back.size(); ++i) {
    const auto& [name, t] = tensors[i];
    EXPECT_EQ(back[i].first, name);
    EXPECT_EQ(back[i].second.dtype, t.dtype) << name;
    EXPECT_EQ(back[i].second.shape, t.shape) << name;
    ASSERT_EQ(back[i].second.nbytes, t.nbytes) << name;
    EXPECT_EQ(std::memcmp(back[i].second.data, t.data, t.nbytes), 0) << name;
  }
}

TEST(Safetensors, WriterPacksTensorsAfterASpacePaddedHeader) {
  TempDir dir;
  Tensor a = Tensor::Allocate(DType::kBFloat16, {2});
  Tensor b = Tensor::Allocate(DType::kInt32, {1, 1});
  std::memcpy(b.mutable_data(), "\x01\x02\x03\x04", 4);
  SafetensorsFormat().WriteAll(dir.File("w.safetensors"), {{"z", a}, {"a", b}});
  std::string bytes = ReadFile(dir.File("w.safetensors"));
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 8);
  std::string header = bytes.substr(8, n);
  std::string json = R"({"z":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},)"
                     R"("a":{"dtype":"I32","shape":[1,1],"data_offsets":[4,8]}})";
  EXPECT_EQ(header, json + std::string(n - json.size(), ' '));
  EXPECT_EQ(bytes.substr(8 + n), std::string(4, '\0') + "\x01\x02\x03\x04");
}

TEST(Safetensors, ReadsInDataOrderSkipsMetadataAndToleratesAnyAlignment) {
  TempDir dir;
  // Header order differs from data order; the 7-byte-odd header leaves the data unaligned.
  std::string header = R"({"__metadata__":{"format":"pt"},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[2,10]},)"
                       R"("a":{"dtype":"F16","shape":[],"data_offsets":[0,2]},)"
                       R"("e":{"dtype":"BOOL","shape":[0],"data_offsets":[10,10]}} )";
  float f[2] = {1.5f, -3.0f};
  std::string data = std::string("\x00\x3c", 2) + std::string(reinterpret_cast<const char*>(f), 8);
  WriteBytes(dir.File("r.safetensors"), SafetensorsBytes(header, data));
  NamedTensors t = ReadTensors(dir.File("r.safetensors"));
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].first, "a");
  EXPECT_EQ(t[0].second.dtype, DType::kFloat16);
  EXPECT_TRUE(t[0].second.shape.empty());
  EXPECT_EQ(t[1].first, "b");
  float got[2];
  ASSERT_EQ(t[1].second.nbytes, 8u);
  std::memcpy(got, t[1].second.data, 8);
  EXPECT_EQ(got[0], 1.5f);
  EXPECT_EQ(got[1], -3.0f);
  EXPECT_EQ(t[2].first, "e");
  EXPECT_EQ(t[2].second.shape, (std::vector<int64_t>{0}));
}

TEST(Safetensors, ReadsAFileWithNoTensors) {
  TempDir dir;
  WriteBytes(dir.File("e.safetensors"), SafetensorsBytes("{}", ""));
  EXPECT_TRUE(ReadTensors(dir.File("e.safetensors")).empty());
}

using testing::ExpectReadError;

TEST(Safetensors, RejectsMalformedFilesWithTheFileAndReason) {
  TempDir dir;
  auto one = [](const std::string& entry, size_t data_size = 8) {
    return SafetensorsBytes("{\"t\":" + entry + "}", std::string(data_size, '\0'));
  };
  auto u64 = [](uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); };
  struct Case {
    std::string name, bytes, needle;
  };
  const Case cases[] = {
      {"tiny", "abc", "too short for the 8-byte header length"},
      {"absurd", u64(uint64_t{1} << 60) + "{}", "exceeds the 100000000-byte limit"},
      {"past_end", u64(100) + "{}", "header length 100 runs past the end"},
      {"not_object", SafetensorsBytes("[1]", ""), "does not start with '{'"},
      {"not_json", SafetensorsBytes("{\"t\": nope}", ""), "header is not valid JSON"},
      {"trailing_json", SafetensorsBytes("{} {}", ""), "header is not valid JSON"},
      {"bad_utf8", SafetensorsBytes("{\"\xff\":1}", ""), "header is not valid JSON"},
      {"huge_number", SafetensorsBytes("{\"x\":1e400}", ""), "header is not valid JSON"},
      {"deep", one("{\"dtype\":\"F32\",\"shape\":[" + std::string(100000, '[') + std::string(100000, ']') +
                   "],\"data_offsets\":[0,0]}"),
       "header nests deeper than 16 levels"},
      {"f8", one(R"({"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]})"), "unsupported dtype 'F8_E4M3'"},
      {"dtype", one(R"({"dtype":"Q4","shape":[8],"data_offsets":[0,8]})"), "tensor 't': unsupported dtype 'Q4'"},
      {"dtype_num", one(R"({"dtype":3,"shape":[8],"data_offsets":[0,8]})"), "dtype must be a string"},
      {"no_dtype", one(R"({"shape":[8],"data_offsets":[0,8]})"), "tensor 't': missing 'dtype'"},
      {"no_shape", one(R"({"dtype":"U8","data_offsets":[0,8]})"), "missing 'shape'"},
      {"no_offsets", one(R"({"dtype":"U8","shape":[8]})"), "missing 'data_offsets'"},
      {"entry", one("[1]"), "tensor 't': expected an object, found [1]"},
      {"shape_obj", one(R"({"dtype":"U8","shape":{},"data_offsets":[0,8]})"), "shape must be a list"},
      {"neg_dim", one(R"({"dtype":"U8","shape":[-8],"data_offsets":[0,8]})"), "non-negative integers, found -8"},
      {"float_dim", one(R"({"dtype":"U8","shape":[8.0],"data_offsets":[0,8]})"), "found 8.0"},
      {"big_dim", one(R"({"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,8]})"), "is too large"},
      {"huge", one(R"({"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]})"), "too large"},
      {"huge_fits", one(R"({"dtype":"U8","shape":[1152921504606846976],"data_offsets":[0,8]})"),
       "needs 1152921504606846976 bytes"},
      {"three_offsets", one(R"({"dtype":"U8","shape":[8],"data_offsets":[0,4,8]})"), "must be [begin, end]"},
      {"reversed", one(R"({"dtype":"U8","shape":[0],"data_offsets":[8,0]})"), "end before they begin"},
      {"out_of_bounds", one(R"({"dtype":"U8","shape":[8],"data_offsets":[4,12]})"),
       "[4, 12] run past the 8-byte data buffer"},
      {"mismatch", one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"),
       "span 8 bytes but shape [3] of F32 needs 12 bytes"},
      {"hole", one(R"({"dtype":"U8","shape":[4],"data_offsets":[4,8]})"),
       "bytes 0..4 of the data buffer belong to no tensor"},
      {"uncovered", one(R"({"dtype":"U8","shape":[4],"data_offsets":[0,4]})"),
       "the tensors cover 4 bytes but the data buffer holds 8"},
      {"overlap",
       SafetensorsBytes(R"({"a":{"dtype":"U8","shape":[6],"data_offsets":[0,6]},)"
                        R"("b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", std::string(8, '\0')),
       "tensor 'b' (bytes 4..8) overlaps tensor 'a'"},
      {"duplicate",
       SafetensorsBytes(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                        R"("a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", std::string(8, '\0')),
       "names the tensor 'a' twice"},
      {"metadata", SafetensorsBytes(R"({"__metadata__":[]})", ""), "__metadata__ must be an object"},
  };
  for (const Case& c : cases) {
    std::string path = dir.File(c.name + ".safetensors");
    WriteBytes(path, c.bytes);
    ExpectReadError(path, c.needle);
  }
  ExpectReadError(dir.File("missing.safetensors"), "cannot open");
}

TEST(Safetensors, WriterRejectsDuplicateReservedAndDescriptionOnlyTensors) {
  TempDir dir;
  Tensor t = Tensor::Allocate(DType::kFloat32, {2});
  EXPECT_THROW(SafetensorsFormat().WriteAll(dir.File("d.safetensors"), {{"a", t}, {"a", t}}), Error);
  EXPECT_THROW(SafetensorsFormat().WriteAll(dir.File("m.safetensors"), {{"__metadata__", t}}), Error);
  EXPECT_THROW(SafetensorsFormat().WriteAll(dir.File("u.safetensors"), {{"\xff", t}}), Error);
  t.has_data = false;
  EXPECT_THROW(SafetensorsFormat().WriteAll(dir.File("h.safetensors"), {{"a", t}}), Error);
  EXPECT_FALSE(std::filesystem::exists(dir.File("d.safetensors")));
}

TEST(Safetensors, MatchesOnlyTheSafetensorsExtension) {
  EXPECT_TRUE(SafetensorsFormat().Matches("model-00001-of-00002.safetensors"));
  EXPECT_FALSE(SafetensorsFormat().Matches("model.safetensors.index.json"));
  EXPECT_EQ(FindFormat("a/b.safetensors"), &SafetensorsFormat());
}

}  // namespace
}  // namespace ait
