// The safe unpickler on handcrafted pickles, and the .pth reader on small archives
// written with libzip. Real torch files are covered by tests/python/test_pth.py.
#include <gtest/gtest.h>
#include <zip.h>

#include <cstring>

#include "ait/tensor_io.h"
#include "formats/pickle.h"
#include "test_util.h"

namespace ait {
namespace {

using namespace std::string_literals;
using pickle::Unpickler;
using pickle::Value;
using testing::TempDir;
using testing::WriteBytes;

// --- A tiny pickle writer (protocol 2 opcodes, as torch emits them) ---

std::string Le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}
std::string Str(std::string_view s) {
  std::string out(1, 'X');
  out.append(Le32(static_cast<uint32_t>(s.size()))).append(s);
  return out;
}
std::string Int(uint8_t v) { return std::string("K") + static_cast<char>(v); }
std::string Global(std::string_view module, std::string_view name) {
  return fmt::format("c{}\n{}\n", module, name);
}
std::string Tuple(const std::vector<std::string>& items) {
  std::string s = "(";
  for (const auto& i : items) s += i;
  return s + "t";
}
std::string Pickle(const std::string& body) { return "\x80\x02" + body + "."; }

std::string Storage(std::string_view type, std::string_view key, uint8_t numel) {
  return Tuple({Str("storage"), Global("torch", type), Str(key), Str("cpu"), Int(numel)}) + "Q";
}
std::string Ints(const std::vector<uint8_t>& v) {
  std::vector<std::string> items;
  for (uint8_t i : v) items.push_back(Int(i));
  return Tuple(items);
}
std::string TensorV2(const std::string& storage, uint8_t offset, const std::vector<uint8_t>& sizes,
                     const std::vector<uint8_t>& strides) {
  const std::string hooks = Global("collections", "OrderedDict") + ")R";
  return Global("torch._utils", "_rebuild_tensor_v2") +
         Tuple({storage, Int(offset), Ints(sizes), Ints(strides), "\x89", hooks}) + "R";
}

std::string ErrorOf(const std::string& pickle_bytes) {
  try {
    Unpickler u(pickle_bytes, "t.pth");
    pickle::CollectTensors(u.Load(), "t.pth");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Pickle, ReadsContainersScalarsAndMemo) {
  // {'a': [1, -2, 300], 'b': ((None, True, 1.5), <the same list>)}: the list is memoized and fetched again.
  const std::string p = Pickle("}(" + Str("a") + "]q\x00("s + Int(1) + "J\xfe\xff\xff\xff" + "M\x2c\x01"s + "e" +
                               Str("b") + "N\x88G\x3f\xf8\x00\x00\x00\x00\x00\x00\x87"s + "h\x00"s + "\x86" + "u");
  Unpickler u(p, "t.pth");
  const Value& root = u.Load();
  ASSERT_EQ(root.kind, Value::Kind::kDict);
  const auto& kv = root.items();
  ASSERT_EQ(kv.size(), 4u);
  EXPECT_EQ(kv[0]->text(), "a");
  const Value& list = *kv[1];
  ASSERT_EQ(list.items().size(), 3u);
  EXPECT_EQ(list.items()[0]->integer(), 1);
  EXPECT_EQ(list.items()[1]->integer(), -2);
  EXPECT_EQ(list.items()[2]->integer(), 300);
  const Value& pair = *kv[3];  // ((None, True, 1.5), the memoized list)
  ASSERT_EQ(pair.items().size(), 2u);
  const auto& triple = pair.items()[0]->items();
  EXPECT_EQ(triple[0]->kind, Value::Kind::kNone);
  EXPECT_EQ(triple[1]->integer(), 1);
  EXPECT_EQ(std::get<double>(triple[2]->data), 1.5);
  EXPECT_EQ(pair.items()[1], kv[1]) << "BINGET must return the very object BINPUT stored";
}

TEST(Pickle, Long1SignExtends) {
  const std::string p = Pickle(std::string("\x8a\x02\x00\xff", 4));
  Unpickler u(p, "t.pth");
  EXPECT_EQ(u.Load().integer(), -256);
}

TEST(Pickle, CollectsTensorsWithTheirContainerPaths) {
  const std::string t1 = TensorV2(Storage("FloatStorage", "0", 6), 1, {2, 2}, {1, 2});
  const std::string t2 = TensorV2(Storage("HalfStorage", "1", 4), 0, {4}, {1});
  const std::string p = Pickle("}(" + Str("a") + t1 + Str("b") + Tuple({t2, Int(3), "N"}) + "u");
  Unpickler u(p, "t.pth");
  auto tensors = pickle::CollectTensors(u.Load(), "t.pth");
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_EQ(tensors[0].first, "a");
  EXPECT_EQ(tensors[1].first, "b.0");
  const pickle::TensorRef& a = *tensors[0].second;
  EXPECT_EQ(a.dtype, DType::kFloat32);
  EXPECT_EQ(a.offset, 1);
  EXPECT_EQ(a.sizes, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a.strides, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(a.storage->key, "0");
  EXPECT_EQ(a.storage->nbytes, 24);
  EXPECT_EQ(tensors[1].second->dtype, DType::kFloat16);
}

TEST(Pickle, RebuildTensorV3TakesItsDtypeFromTheArgument) {
  const std::string p = Pickle(Global("torch._utils", "_rebuild_tensor_v3") +
                               Tuple({Storage("UntypedStorage", "0", 8), Int(0), Ints({4}), Ints({1}), "\x89",
                                      Global("collections", "OrderedDict") + ")R", Global("torch", "uint16")}) +
                               "R");
  Unpickler u(p, "t.pth");
  auto tensors = pickle::CollectTensors(u.Load(), "t.pth");
  ASSERT_EQ(tensors.size(), 1u);
  EXPECT_EQ(tensors[0].first, "");
  EXPECT_EQ(tensors[0].second->dtype, DType::kUInt16);
  EXPECT_EQ(tensors[0].second->storage->nbytes, 8);
}

TEST(Pickle, RefusesGlobalsOutsideTheAllowlist) {
  std::string err = ErrorOf(Pickle(Global("os", "system") + Tuple({Str("touch /tmp/pwned")}) + "R"));
  EXPECT_NE(err.find("t.pth: refusing to unpickle global 'os.system'"), std::string::npos) << err;
  // STACK_GLOBAL (protocol 4) goes through the same allowlist.
  err = ErrorOf("\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93.");
  EXPECT_NE(err.find("'builtins.eval'"), std::string::npos) << err;
}

TEST(Pickle, RefusesToCallAllowedNonFunctions) {
  std::string err = ErrorOf(Pickle(Global("torch", "FloatStorage") + ")R"));
  EXPECT_NE(err.find("calling a storage type"), std::string::npos) << err;
}

TEST(Pickle, MalformedPicklesFailCleanly) {
  EXPECT_NE(ErrorOf(Pickle("\xff")).find("unsupported pickle opcode 0xff"), std::string::npos);
  EXPECT_NE(ErrorOf("\x80\x02X\xe8\x03\x00\x00"s + "abc").find("truncated"), std::string::npos);
  EXPECT_NE(ErrorOf("\x80\x02N").find("without a STOP"), std::string::npos);
  EXPECT_NE(ErrorOf(Pickle("h\x05")).find("memo key 5 was never stored"), std::string::npos);
  EXPECT_NE(ErrorOf(Pickle("\x85")).find("stack underflow"), std::string::npos);
  EXPECT_NE(ErrorOf(Pickle("N(\x85")).find("stack underflow"), std::string::npos) << "pops may not cross a MARK";
  EXPECT_NE(ErrorOf(Pickle("NN")).find("malformed stack"), std::string::npos);
  EXPECT_NE(ErrorOf(Pickle("\x8a\x09" + std::string(9, '\x01'))).find("does not fit 64 bits"), std::string::npos);
  EXPECT_NE(ErrorOf("\x80\x07N.").find("unsupported pickle protocol 7"), std::string::npos);
  // A persistent id that is not a storage, and a view with negative sizes.
  EXPECT_NE(ErrorOf(Pickle(Str("x") + "Q")).find("persistent id"), std::string::npos);
  std::string neg = Global("torch._utils", "_rebuild_tensor_v2") +
                    Tuple({Storage("FloatStorage", "0", 4), Int(0), Tuple({"J\xff\xff\xff\xff"}), Ints({1}), "\x89",
                           "N"}) +
                    "R";
  EXPECT_NE(ErrorOf(Pickle(neg)).find("non-negative"), std::string::npos);
}

TEST(Pickle, StringsMustBeUtf8AndErrorsQuoteThemSafely) {
  EXPECT_TRUE(IsUtf8("layers.0.\xe5\xb1\x82"));
  EXPECT_FALSE(IsUtf8("\xc0\x80"));          // overlong NUL
  EXPECT_FALSE(IsUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsUtf8("\xe5\xb1"));          // cut short
  EXPECT_NE(ErrorOf(Pickle(Str("a\xff"))).find("not valid UTF-8"), std::string::npos);
  // Quoted names are cut to 200 bytes, at a character boundary, and escaped by ait::Error.
  EXPECT_EQ(pickle::Quote(std::string(199, 'x') + "\xe5\xb1\x82"), std::string(199, 'x') + "...");
  const std::string err = ErrorOf(Pickle(Global("os\x1b[2J", "system")));
  EXPECT_NE(err.find("refusing to unpickle global 'os\\x1b[2J.system'"), std::string::npos) << err;
}

TEST(Pickle, SelfReferenceAndExponentialSharingAreBounded) {
  EXPECT_NE(ErrorOf(Pickle("]q\x00h\x00"s + "a")).find("nest deeper"), std::string::npos);
  // L[i] = [L[i-1], L[i-1]]: 2^40 paths through 40 small lists.
  std::string body = "]q\x00"s;
  for (int i = 1; i <= 40; ++i) {
    const std::string prev(1, static_cast<char>(i - 1));
    body += "0](h" + prev + "h" + prev + "eq" + static_cast<char>(i);  // POP the previous level, build the next
  }
  EXPECT_NE(ErrorOf(Pickle(body)).find("expand to more than"), std::string::npos);
}

// --- Archives ---

struct Entry {
  std::string name, data;
  bool deflate = false;
};

void WriteZip(const std::string& path, const std::vector<Entry>& entries) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  for (const Entry& e : entries) {
    zip_source_t* src = zip_source_buffer(z, e.data.data(), e.data.size(), 0);
    zip_int64_t idx = zip_file_add(z, e.name.c_str(), src, ZIP_FL_OVERWRITE);
    ASSERT_GE(idx, 0);
    zip_set_file_compression(z, idx, e.deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  ASSERT_EQ(zip_close(z), 0);
}

std::string Floats(const std::vector<float>& v) { return {reinterpret_cast<const char*>(v.data()), v.size() * 4}; }

std::vector<float> Values(const Tensor& t) {
  std::vector<float> v(t.nbytes / 4);
  std::memcpy(v.data(), t.data, t.nbytes);
  return v;
}

std::string ReadError(const std::string& path) {
  try {
    ReadTensors(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Pth, ReadsStoredAndDeflatedStoragesUnderAnyTopFolder) {
  TempDir dir;
  const std::string pkl = Pickle("}(" + Str("w") + TensorV2(Storage("FloatStorage", "0", 6), 0, {2, 3}, {3, 1}) +
                                 Str("t") + TensorV2(Storage("FloatStorage", "1", 6), 0, {3, 2}, {1, 3}) + "u");
  const std::vector<float> a{1, 2, 3, 4, 5, 6};
  for (bool deflate : {false, true}) {
    const std::string path = dir.File(deflate ? "d.pth" : "s.pth");
    WriteZip(path, {{"weights/data.pkl", pkl, deflate},
                    {"weights/data/0", Floats(a), deflate},
                    {"weights/data/1", Floats(a), deflate},
                    {"weights/version", "3\n"}});
    NamedTensors ts = ReadTensors(path);
    ASSERT_EQ(ts.size(), 2u);
    EXPECT_EQ(ts[0].first, "w");
    EXPECT_EQ(ts[0].second.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(Values(ts[0].second), a);
    EXPECT_EQ(ts[1].first, "t");  // a transposed view, copied into C order
    EXPECT_EQ(Values(ts[1].second), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  }
}

TEST(Pth, SwapsBigEndianStorages) {
  TempDir dir;
  std::string be = Floats({1.5f, -2.0f});
  for (size_t i = 0; i < be.size(); i += 4) std::reverse(be.begin() + i, be.begin() + i + 4);
  WriteZip(dir.File("b.pt"), {{"archive/data.pkl", Pickle(TensorV2(Storage("FloatStorage", "0", 2), 0, {2}, {1}))},
                              {"archive/byteorder", "big"},
                              {"archive/data/0", be}});
  EXPECT_EQ(Values(ReadTensor(dir.File("b.pt"))), (std::vector<float>{1.5f, -2.0f}));
}

TEST(Pth, RejectsBadArchivesWithTheFileName) {
  TempDir dir;
  const std::string pkl = Pickle(TensorV2(Storage("FloatStorage", "0", 4), 0, {4}, {1}));
  WriteBytes(dir.File("legacy.pth"), "\x80\x02\x8a\x0a" + std::string(10, 'x'));
  EXPECT_NE(ReadError(dir.File("legacy.pth")).find("legacy.pth: legacy torch.save format"), std::string::npos);
  WriteBytes(dir.File("text.pth"), "hello");
  EXPECT_NE(ReadError(dir.File("text.pth")).find("not a torch.save file"), std::string::npos);
  WriteZip(dir.File("short.pth"), {{"a/data.pkl", pkl}, {"a/data/0", Floats({1, 2, 3})}});
  EXPECT_NE(ReadError(dir.File("short.pth")).find("short.pth: storage '0' holds 12 bytes but the pickle declares 16"),
            std::string::npos);
  WriteZip(dir.File("two.pth"), {{"a/data.pkl", pkl}, {"b/data.pkl", pkl}});
  EXPECT_NE(ReadError(dir.File("two.pth")).find("2 '<folder>/data.pkl' entries"), std::string::npos);
  WriteZip(dir.File("order.pth"), {{"a/data.pkl", pkl}, {"a/byteorder", "middle"}});
  EXPECT_NE(ReadError(dir.File("order.pth")).find("'byteorder' entry says 'middle'"), std::string::npos);
  // Cut inside the central directory.
  WriteZip(dir.File("whole.pth"), {{"a/data.pkl", pkl}, {"a/data/0", Floats({1, 2, 3, 4})}});
  std::ifstream in(dir.File("whole.pth"), std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  WriteBytes(dir.File("cut.pth"), all.substr(0, all.size() - 30));
  EXPECT_NE(ReadError(dir.File("cut.pth")).find("cut.pth: "), std::string::npos);
}

}  // namespace
}  // namespace ait
