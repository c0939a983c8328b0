#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "ait/tensor_io.h"
#include "test_util.h"

namespace ait {
namespace {

using testing::TempDir;
using testing::Values;
using testing::WriteBytes;

// A .npy file with the given header dict (unpadded: readers must not need the padding).
std::string NpyBytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string s("\x93NUMPY", 6);
  s += static_cast<char>(major);
  s += '\0';
  uint32_t len = static_cast<uint32_t>(dict.size());
  s.append(reinterpret_cast<const char*>(&len), major == 1 ? 2 : 4);
  return s + dict + data;
}

template <typename T>
std::string Raw(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return s;
}

std::string BigEndian(std::string little, size_t unit) {
  for (size_t i = 0; i < little.size(); i += unit) std::reverse(little.begin() + i, little.begin() + i + unit);
  return little;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST(Npy, WriteThenReadRoundTripsEveryDtypeButBFloat16) {
  TempDir dir;
  for (int i = 0; i < kNumDTypes; ++i) {
    DType dt = static_cast<DType>(i);
    if (dt == DType::kBFloat16) continue;
    for (const std::vector<int64_t>& shape : {std::vector<int64_t>{2, 3}, {}, {0, 3}, {4, 0}, {5}}) {
      Tensor t = Tensor::Allocate(dt, shape);
      for (size_t b = 0; b < t.nbytes; ++b) t.mutable_data()[b] = std::byte(dt == DType::kBool ? b % 2 : b * 7 + i);
      std::string path = dir.File(std::string(ShortName(dt)) + ".npy");
      WriteTensor(path, t);
      EXPECT_EQ(ReadFile(path).size() % 64, t.nbytes % 64) << "data must start at a multiple of 64";
      Tensor back = ReadTensor(path);
      EXPECT_EQ(back.dtype, dt) << ShortName(dt);
      EXPECT_EQ(back.shape, t.shape) << ShortName(dt);
      ASSERT_EQ(back.nbytes, t.nbytes);
      EXPECT_EQ(std::memcmp(back.data, t.data, t.nbytes), 0) << ShortName(dt);
    }
  }
}

TEST(Npy, WriterEmitsTheBytesNpSaveWrites) {
  TempDir dir;
  auto expected = [](const std::string& dict) {
    std::string s = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict;
    s.resize(127, ' ');
    return s + '\n';
  };
  WriteTensor(dir.File("a.npy"), Tensor::Allocate(DType::kFloat32, {2, 3}));
  EXPECT_EQ(ReadFile(dir.File("a.npy")),
            expected("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") + std::string(24, '\0'));
  WriteTensor(dir.File("b.npy"), Tensor::Allocate(DType::kInt64, {3}));
  EXPECT_EQ(ReadFile(dir.File("b.npy")),
            expected("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }") + std::string(24, '\0'));
  WriteTensor(dir.File("c.npy"), Tensor::Allocate(DType::kBool, {0}));
  EXPECT_EQ(ReadFile(dir.File("c.npy")), expected("{'descr': '|b1', 'fortran_order': False, 'shape': (0,), }"));
  WriteTensor(dir.File("d.npy"), Tensor::Allocate(DType::kFloat64, {}));
  EXPECT_EQ(ReadFile(dir.File("d.npy")),
            expected("{'descr': '<f8', 'fortran_order': False, 'shape': (), }") + std::string(8, '\0'));
}

TEST(Npy, WriterSwitchesToVersion2WhenTheHeaderOutgrows64K) {
  TempDir dir;
  WriteTensor(dir.File("v2.npy"), Tensor::Allocate(DType::kUInt8, std::vector<int64_t>(30000, 1)));
  std::string bytes = ReadFile(dir.File("v2.npy"));
  ASSERT_GT(bytes.size(), 12u);
  EXPECT_EQ(bytes[6], '\x02');
  uint32_t len;
  std::memcpy(&len, bytes.data() + 8, 4);
  EXPECT_EQ(len + 12 + 1, bytes.size());
  EXPECT_EQ((12 + len) % 64, 0u);
}

TEST(Npy, ReadsHandwrittenHeadersOfEveryVersionAndSpelling) {
  TempDir dir;
  const std::string data = Raw<float>({1, 2, 3});
  const std::string headers[] = {
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
      "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"<f4\"}",
      "{ 'fortran_order' : False ,\n 'shape' : ( 3 , ) , 'descr':'=f4',}\n   \n",
      "{'descr': 'f4', 'fortran_order': False, 'shape': (3L,)}",
      "{'descr': '|f4', 'fortran_order': True, 'shape': (3,), }",
  };
  int n = 0;
  for (int major = 1; major <= 3; ++major) {
    for (const std::string& h : headers) {
      std::string path = dir.File(fmt::format("h{}.npy", n++));
      WriteBytes(path, NpyBytes(h, data, major));
      Tensor t = ReadTensor(path);
      EXPECT_EQ(t.dtype, DType::kFloat32) << h;
      EXPECT_EQ(t.shape, (std::vector<int64_t>{3})) << h;
      EXPECT_EQ(Values<float>(t), (std::vector<float>{1, 2, 3})) << h;
    }
  }
}

TEST(Npy, ReadsZeroDimAndEmptyArrays) {
  TempDir dir;
  WriteBytes(dir.File("s.npy"), NpyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': ()}", Raw<int32_t>({-7})));
  Tensor s = ReadTensor(dir.File("s.npy"));
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(Values<int32_t>(s), (std::vector<int32_t>{-7}));
  WriteBytes(dir.File("e.npy"), NpyBytes("{'descr': '>f8', 'fortran_order': True, 'shape': (2, 0, 3)}", ""));
  Tensor e = ReadTensor(dir.File("e.npy"));
  EXPECT_EQ(e.shape, (std::vector<int64_t>{2, 0, 3}));
  EXPECT_EQ(e.nbytes, 0u);
}

TEST(Npy, MaterializesFortranOrderInCOrder) {
  TempDir dir;
  // 2x3 int32 [[0,1,2],[3,4,5]] stored column by column.
  WriteBytes(dir.File("f2.npy"), NpyBytes("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3)}",
                                          Raw<int32_t>({0, 3, 1, 4, 2, 5})));
  Tensor t = ReadTensor(dir.File("f2.npy"));
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Values<int32_t>(t), (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
  // 2x3x4 int16 with value 100*i + 10*j + k at [i][j][k].
  std::string fortran;
  for (int16_t k = 0; k < 4; ++k)
    for (int16_t j = 0; j < 3; ++j)
      for (int16_t i = 0; i < 2; ++i) fortran += Raw<int16_t>({static_cast<int16_t>(100 * i + 10 * j + k)});
  WriteBytes(dir.File("f3.npy"), NpyBytes("{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3, 4)}", fortran));
  std::vector<int16_t> got = Values<int16_t>(ReadTensor(dir.File("f3.npy")));
  ASSERT_EQ(got.size(), 24u);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(got[i * 12 + j * 4 + k], 100 * i + 10 * j + k);
}

TEST(Npy, ByteSwapsBigEndianData) {
  TempDir dir;
  WriteBytes(dir.File("f4.npy"), NpyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (3,)}",
                                          BigEndian(Raw<float>({1.5f, -2.0f, 1e30f}), 4)));
  EXPECT_EQ(Values<float>(ReadTensor(dir.File("f4.npy"))), (std::vector<float>{1.5f, -2.0f, 1e30f}));
  WriteBytes(dir.File("u8.npy"), NpyBytes("{'descr': '>u8', 'fortran_order': False, 'shape': (2,)}",
                                          BigEndian(Raw<uint64_t>({1, 0x0102030405060708ull}), 8)));
  EXPECT_EQ(Values<uint64_t>(ReadTensor(dir.File("u8.npy"))), (std::vector<uint64_t>{1, 0x0102030405060708ull}));
  // complex64 is two big-endian float32s, each swapped on its own.
  WriteBytes(dir.File("c8.npy"), NpyBytes("{'descr': '>c8', 'fortran_order': False, 'shape': (2,)}",
                                          BigEndian(Raw<float>({1, 2, 3, 4}), 4)));
  Tensor c = ReadTensor(dir.File("c8.npy"));
  EXPECT_EQ(c.dtype, DType::kComplex64);
  EXPECT_EQ(Values<float>(c), (std::vector<float>{1, 2, 3, 4}));
  // Big endian and Fortran order at once.
  WriteBytes(dir.File("bf.npy"), NpyBytes("{'descr': '>i2', 'fortran_order': True, 'shape': (2, 2)}",
                                          BigEndian(Raw<int16_t>({1, 3, 2, 4}), 2)));
  EXPECT_EQ(Values<int16_t>(ReadTensor(dir.File("bf.npy"))), (std::vector<int16_t>{1, 2, 3, 4}));
  // One-byte types ignore the byte order.
  WriteBytes(dir.File("i1.npy"), NpyBytes("{'descr': '>i1', 'fortran_order': False, 'shape': (2,)}", "\x01\xff"));
  EXPECT_EQ(Values<int8_t>(ReadTensor(dir.File("i1.npy"))), (std::vector<int8_t>{1, -1}));
}

using testing::ExpectReadError;

TEST(Npy, RejectsMalformedFilesWithTheFileAndReason) {
  TempDir dir;
  const std::string f4 = Raw<float>({1, 2, 3});
  struct Case {
    std::string name, bytes, needle;
  };
  const std::string ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}";
  std::string long_header = NpyBytes(ok_dict, f4);
  long_header[9] = '\x01';  // header length 55 + 256
  const Case cases[] = {
      {"empty", "", "expected the magic"},
      {"magic", "PK\x03\x04 not numpy at all", "expected the magic"},
      {"short", std::string("\x93NUMPY\x01\x00", 8), "expected the magic"},
      {"version4", NpyBytes(ok_dict, f4, 4), "unsupported .npy format version 4.0"},
      {"version1_1", [&] { auto s = NpyBytes(ok_dict, f4); s[7] = 1; return s; }(), "version 1.1"},
      {"v2_short", std::string("\x93NUMPY\x02\x00\x01\x00", 10), "too short for the version 2.0 preamble"},
      {"header_len", long_header, "header length 311 runs past the end"},
      {"descr", NpyBytes("{'descr': '<V2', 'fortran_order': False, 'shape': (3,)}", f4), "unsupported descr '<V2'"},
      {"c16", NpyBytes("{'descr': '<c16', 'fortran_order': False, 'shape': (3,)}", f4), "unsupported descr '<c16'"},
      {"structured", NpyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,)}", f4),
       "structured dtypes"},
      {"no_shape", NpyBytes("{'descr': '<f4', 'fortran_order': False}", f4), "no 'shape' key"},
      {"no_descr", NpyBytes("{'fortran_order': False, 'shape': (3,)}", f4), "no 'descr' key"},
      {"no_order", NpyBytes("{'descr': '<f4', 'shape': (3,)}", f4), "no 'fortran_order' key"},
      {"dup", NpyBytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", f4),
       "key 'descr' twice"},
      {"extra_key", NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", f4),
       "unexpected header key 'x'"},
      {"int_shape", NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3)}", f4), "expected (3,)"},
      {"list_shape", NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': [3]}", f4), "expected a tuple"},
      {"neg_dim", NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}", f4),
       "expected a non-negative integer dimension"},
      {"big_dim", NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", f4),
       "over 64 bits"},
      {"huge", NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824, 1073741824, 4)}", f4),
       "too large"},
      {"huge_data", NpyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1073741824, 1073741824)}", f4),
       "needs 4611686018427387904 bytes"},
      {"dims65", NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (" + [] {
         std::string s;
         for (int i = 0; i < 65; ++i) s += "1,";
         return s;
       }() + ")}", f4), "more than 64 dimensions"},
      {"order", NpyBytes("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}", f4), "True or False"},
      {"quote", NpyBytes("{'descr': '<f4", f4), "expected a closing quote"},
      {"escape", NpyBytes("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (3,)}", f4), "without escapes"},
      {"unclosed", NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)", f4), "found the end"},
      {"no_colon", NpyBytes("{'descr' '<f4'}", f4), "expected ':'"},
      {"after", NpyBytes(ok_dict + " junk", f4), "only padding after the header dict"},
      {"nul_pad", NpyBytes(ok_dict + std::string(3, '\0'), f4), "found '\\x00\\x00\\x00'"},
      {"truncated", NpyBytes(ok_dict, f4.substr(0, 10)), "data holds 10 bytes but shape (3,) of float32 needs 12"},
      {"trailing", NpyBytes(ok_dict, f4 + "xx"), "data holds 14 bytes"},
  };
  for (const Case& c : cases) {
    std::string path = dir.File(c.name + ".npy");
    WriteBytes(path, c.bytes);
    ExpectReadError(path, c.needle);
  }
  ExpectReadError(dir.File("missing.npy"), "cannot open");
}

TEST(Npy, WritingBFloat16FailsNamingTheFileAndTheAlternatives) {
  TempDir dir;
  std::string path = dir.File("x.npy");
  try {
    WriteTensor(path, Tensor::Allocate(DType::kBFloat16, {2}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("no bfloat16"), std::string::npos) << msg;
    EXPECT_NE(msg.find(".safetensors"), std::string::npos) << msg;
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Npy, WriterRejectsSeveralTensorsAndDescriptions) {
  TempDir dir;
  Tensor t = Tensor::Allocate(DType::kFloat32, {2});
  EXPECT_THROW(NpyFormat().WriteAll(dir.File("two.npy"), {{"a", t}, {"b", t}}), Error);
  t.has_data = false;
  EXPECT_THROW(WriteTensor(dir.File("d.npy"), t), Error);
}

TEST(Npy, MatchesOnlyTheNpyExtension) {
  EXPECT_TRUE(NpyFormat().Matches("dir/x.npy"));
  EXPECT_FALSE(NpyFormat().Matches("x.npz"));
  EXPECT_FALSE(NpyFormat().Matches("x.npy.bin"));
  EXPECT_EQ(FindFormat("a/b.npy"), &NpyFormat());
}

}  // namespace
}  // namespace ait
