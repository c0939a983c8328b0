// libFuzzer target: PthFormat().ReadAll on .pth files (zip archive + safe unpickler).
// See docs/FUZZING.md; the shared body is in fuzz_common.h.
//
// Two input modes, so that byte mutations reach both the zip reader and the unpickler:
//  - first byte 0, 1 or 2 (structured): parts separated by "#AIT" follow; part 0 becomes
//    "archive/data.pkl", part i the storage "archive/data/{i-1}", and this target packs
//    them into a well-formed stored zip, so inserting or deleting pickle bytes cannot
//    break zip offsets. The first byte picks the "archive/byteorder" entry: 0 none,
//    1 "little", 2 "big";
//  - any other input (a real .pth starts with "PK") is the .pth file as is: zip parsing,
//    zip64, deflate, central directory vs. local headers, the magic checks.
#include <string_view>
#include <vector>

#include "fuzz_common.h"

namespace {

uint32_t Crc32(std::string_view s) {
  static const auto table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void Put(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// A stored (uncompressed) zip holding `entries`, as torch.save writes them.
std::string StoredZip(const std::vector<std::pair<std::string, std::string_view>>& entries) {
  std::string out, central;
  for (const auto& [name, body] : entries) {
    const uint32_t crc = Crc32(body), offset = static_cast<uint32_t>(out.size());
    Put(out, 0x04034b50, 4);
    Put(out, 20, 2);  // version needed
    Put(out, 0, 2);   // flags
    Put(out, 0, 2);   // stored
    Put(out, 0, 4);   // time, date
    Put(out, crc, 4);
    Put(out, body.size(), 4);
    Put(out, body.size(), 4);
    Put(out, name.size(), 2);
    Put(out, 0, 2);  // extra
    out += name;
    out += body;
    Put(central, 0x02014b50, 4);
    Put(central, 20, 2);  // version made by
    Put(central, 20, 2);  // version needed
    Put(central, 0, 2);
    Put(central, 0, 2);
    Put(central, 0, 4);
    Put(central, crc, 4);
    Put(central, body.size(), 4);
    Put(central, body.size(), 4);
    Put(central, name.size(), 2);
    Put(central, 0, 2);  // extra
    Put(central, 0, 2);  // comment
    Put(central, 0, 2);  // disk
    Put(central, 0, 2);  // internal attributes
    Put(central, 0, 4);  // external attributes
    Put(central, offset, 4);
    central += name;
  }
  const uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out += central;
  Put(out, 0x06054b50, 4);
  Put(out, 0, 4);  // disk numbers
  Put(out, entries.size(), 2);
  Put(out, entries.size(), 2);
  Put(out, central.size(), 4);
  Put(out, cd_offset, 4);
  Put(out, 0, 2);  // comment
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.empty() || static_cast<unsigned char>(in[0]) > 2) return ait::fuzz::RunOne(ait::PthFormat(), ".pth", data, size);

  const unsigned flags = static_cast<unsigned char>(in[0]);
  in.remove_prefix(1);
  constexpr std::string_view kSep = "#AIT";
  std::vector<std::pair<std::string, std::string_view>> entries;
  for (int part = 0; part < 4096; ++part) {
    const size_t cut = in.find(kSep);
    std::string name = part == 0 ? "archive/data.pkl" : "archive/data/" + std::to_string(part - 1);
    entries.emplace_back(std::move(name), in.substr(0, cut));
    if (cut == std::string_view::npos) break;
    in.remove_prefix(cut + kSep.size());
  }
  entries.emplace_back("archive/version", "3\n");
  if (flags == 1) entries.emplace_back("archive/byteorder", "little");
  if (flags == 2) entries.emplace_back("archive/byteorder", "big");
  const std::string zip = StoredZip(entries);
  return ait::fuzz::RunOne(ait::PthFormat(), ".pth", reinterpret_cast<const uint8_t*>(zip.data()), zip.size());
}
