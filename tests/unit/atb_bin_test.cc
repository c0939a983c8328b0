#include <gtest/gtest.h>

#include <cstring>

#include "ait/tensor_io.h"
#include "test_util.h"

namespace ait {
namespace {

using testing::TempDir;
using testing::WriteBytes;

std::string Header(const std::string& dtype, const std::string& dims, size_t n, bool with_object = true) {
  std::string h = "$Version=1.0\n$Object.Count=1\n$Object.Length=" + std::to_string(n) + "\nformat=2\ndtype=" + dtype +
                  "\ndims=" + dims + "\n";
  if (with_object) h += "$Object.data=0," + std::to_string(n) + "\n";
  return h + "$End=1\n";
}

TEST(AtbBin, ReadsTheOriginalsUnitTestExample) {
  TempDir dir;
  std::string payload("\x00\x3c\x00\x40", 4);  // fp16 1.0, 2.0
  WriteBytes(dir.File("t.bin"), Header("1", "1,1,2", 4) + payload);
  Tensor t = ReadTensor(dir.File("t.bin"));
  EXPECT_EQ(t.dtype, DType::kFloat16);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 1, 2}));
  ASSERT_EQ(t.nbytes, 4u);
  EXPECT_EQ(std::memcmp(t.data, payload.data(), 4), 0);
  EXPECT_EQ(t.atb_format, 2);
}

TEST(AtbBin, WriteThenReadRoundTripsEveryDtypeWithAnAtbCode) {
  TempDir dir;
  for (int i = 0; i < kNumDTypes; ++i) {
    DType dt = static_cast<DType>(i);
    Tensor t = Tensor::Allocate(dt, {2, 3});
    for (size_t b = 0; b < t.nbytes; ++b) t.mutable_data()[b] = std::byte(b * 7 + i);
    std::string path = dir.File(std::string(ShortName(dt)) + ".bin");
    WriteTensor(path, t);
    Tensor back = ReadTensor(path);
    EXPECT_EQ(back.dtype, dt) << ShortName(dt);
    EXPECT_EQ(back.shape, t.shape);
    ASSERT_EQ(back.nbytes, t.nbytes);
    EXPECT_EQ(std::memcmp(back.data, t.data, t.nbytes), 0) << ShortName(dt);
  }
}

TEST(AtbBin, WriterEmitsTheExactHeaderTheOriginalReaderExpects) {
  TempDir dir;
  Tensor t = Tensor::Allocate(DType::kFloat16, {1, 1, 2});
  WriteTensor(dir.File("w.bin"), t);
  std::ifstream in(dir.File("w.bin"), std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(all, Header("1", "1,1,2", 4) + std::string(4, '\0'));
}

TEST(AtbBin, WriterTruncatesAnExistingFile) {
  TempDir dir;
  WriteTensor(dir.File("x.bin"), Tensor::Allocate(DType::kFloat32, {100}));
  WriteTensor(dir.File("x.bin"), Tensor::Allocate(DType::kFloat32, {2}));
  EXPECT_EQ(ReadTensor(dir.File("x.bin")).numel(), 2);
}

TEST(AtbBin, ReadsDescriptionOnlyFilesAsDescriptions) {
  TempDir dir;
  WriteBytes(dir.File("d.bin"),
             "$Version=1.0\n$Object.Count=0\n$Object.Length=0\nformat=2\ndtype=27\ndims=4,5\n$End=1\n");
  Tensor t = ReadTensor(dir.File("d.bin"));
  EXPECT_FALSE(t.has_data);
  EXPECT_EQ(t.dtype, DType::kBFloat16);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{4, 5}));
}

TEST(AtbBin, ReadsZeroDimTensorsAndFilesWithoutObjectLine) {
  TempDir dir;
  WriteBytes(dir.File("s.bin"), Header("0", "", 4, false) + std::string("\x00\x00\x80\x3f", 4));
  Tensor t = ReadTensor(dir.File("s.bin"));
  EXPECT_TRUE(t.shape.empty());
  float v;
  std::memcpy(&v, t.data, 4);
  EXPECT_EQ(v, 1.0f);
}

using testing::ExpectReadError;

TEST(AtbBin, RejectsBadInputWithTheFileAndReason) {
  TempDir dir;
  WriteBytes(dir.File("trunc.bin"), Header("0", "4", 16) + std::string(8, '\0'));
  ExpectReadError(dir.File("trunc.bin"), "points at bytes");
  WriteBytes(dir.File("short.bin"), Header("0", "4", 16, false) + std::string(8, '\0'));
  ExpectReadError(dir.File("short.bin"), "payload holds 8 bytes");
  WriteBytes(dir.File("noend.bin"), "$Version=1.0\ndtype=0\n");
  ExpectReadError(dir.File("noend.bin"), "no '$End=1'");
  WriteBytes(dir.File("dtype.bin"), Header("99", "1", 4) + std::string(4, '\0'));
  ExpectReadError(dir.File("dtype.bin"), "unsupported dtype code 99");
  WriteBytes(dir.File("dtype32.bin"), Header("4294967296", "1", 4) + std::string(4, '\0'));
  ExpectReadError(dir.File("dtype32.bin"), "unsupported dtype code 4294967296");
  WriteBytes(dir.File("format32.bin"), "format=4294967298\n" + Header("0", "1", 4) + std::string(4, '\0'));
  ExpectReadError(dir.File("format32.bin"), "format code 4294967298 is out of range");
  WriteBytes(dir.File("huge.bin"), Header("0", "4294967296,4294967296,16", 4) + std::string(4, '\0'));
  ExpectReadError(dir.File("huge.bin"), "too large");
  WriteBytes(dir.File("neg.bin"), Header("0", "-1", 4) + std::string(4, '\0'));
  ExpectReadError(dir.File("neg.bin"), "negative dimension");
  WriteBytes(dir.File("noeq.bin"), "garbage\n$End=1\n");
  ExpectReadError(dir.File("noeq.bin"), "has no '='");
  WriteBytes(dir.File("nums.bin"), Header("1x", "1", 4) + std::string(4, '\0'));
  ExpectReadError(dir.File("nums.bin"), "expected an integer");
  WriteBytes(dir.File("huge_off.bin"), "dtype=0\ndims=1\n$Object.data=18446744073709551615,4\n$End=1\n1234");
  ExpectReadError(dir.File("huge_off.bin"), "expected an integer");
  ExpectReadError(dir.File("missing.bin"), "cannot open");
}

// A random-bytes file must not drive the terminal or cut the message at its first NUL.
TEST(AtbBin, HeaderBytesInErrorsAreEscapedAndNeverCutTheMessage) {
  TempDir dir;
  const std::string path = dir.File("random.bin");
  using namespace std::string_literals;
  WriteBytes(path, "\x1b]0;owned\x07\x00\xc3(\xff tail\n$End=1\n"s + std::string(64, '\0'));
  try {
    ReadTensor(path);
    FAIL() << "read a file without a header";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              path + ": header line '\\x1b]0;owned\\x07\\x00\\xc3(\\xff tail' has no '=': not an ATB tensor file");
  }
  // Quoted values stop after 80 bytes, and say so.
  WriteBytes(path, "dtype=" + std::string(100, '7') + "\x1b\n$End=1\n");
  ExpectReadError(path, "has value '" + std::string(80, '7') + "...', expected an integer");
}

}  // namespace
}  // namespace ait
