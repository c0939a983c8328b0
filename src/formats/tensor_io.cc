// The format registry and the single-tensor convenience functions.
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "ait/tensor_io.h"

namespace ait {

void TensorFormat::WriteAll(const std::string& path, const NamedTensors&) const {
  Fail(path, "writing {} files is not supported", name());
}

Tensor TensorFormat::ReadMember(const std::string& path, std::string_view member) const {
  NamedTensors all = ReadAll(path);
  for (auto& [name, tensor] : all)
    if (name == member) return std::move(tensor);
  std::string names;
  for (size_t i = 0; i < all.size() && i < 8; ++i) names += (i ? ", " : "") + all[i].first;
  if (all.size() > 8) names += ", ...";
  Fail(path, "no tensor '{}' in the file (it holds: {})", Excerpt(member, 80), names.empty() ? "none" : names);
}

std::vector<std::string> TensorFormat::MemberNames(const std::string& path) const {
  std::vector<std::string> names;
  for (auto& [name, tensor] : ReadAll(path)) names.push_back(name);
  return names;
}

const std::vector<const TensorFormat*>& AllFormats() {
  static const std::vector<const TensorFormat*> formats = {
      &AtbBinFormat(), &NpyFormat(), &NpzFormat(), &PthFormat(), &SafetensorsFormat(), &GeDumpFormat(),
  };
  return formats;
}

const TensorFormat* FindFormat(std::string_view path) {
  for (const TensorFormat* f : AllFormats())
    if (f->Matches(path)) return f;
  return nullptr;
}

bool IsTensorFile(std::string_view path) { return FindFormat(path) != nullptr; }

namespace {

const TensorFormat& FormatOf(const std::string& path) {
  const TensorFormat* f = FindFormat(path);
  if (!f)
    Fail(path, "unknown tensor file type (expected .bin, .npy, .npz, .pth, .pt, .safetensors or a GE dump file "
               "named OpType.OpName.task.stream.timestamp)");
  return *f;
}

}  // namespace

TensorAddress SplitTensorAddress(const std::string& address) {
  const size_t slash = address.rfind('/');
  const size_t comma = address.find(',', slash == std::string::npos ? 0 : slash + 1);
  std::error_code ec;
  if (comma == std::string::npos || std::filesystem::is_regular_file(address, ec)) return {address, ""};
  return {address.substr(0, comma), address.substr(comma + 1)};
}

bool PathOrAddressExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec) || std::filesystem::is_regular_file(SplitTensorAddress(path).file, ec);
}

std::string MemberAddress(const std::string& file, std::string_view member) {
  return member.empty() ? file : fmt::format("{},{}", file, member);
}

NamedTensors ReadTensors(const std::string& path) { return FormatOf(path).ReadAll(path); }

std::vector<std::string> TensorMemberNames(const std::string& path) { return FormatOf(path).MemberNames(path); }

Tensor ReadTensor(const std::string& path) {
  if (TensorAddress a = SplitTensorAddress(path); !a.member.empty()) return FormatOf(a.file).ReadMember(a.file, a.member);
  NamedTensors all = ReadTensors(path);
  if (all.size() == 1) return std::move(all.front().second);
  if (all.empty()) Fail(path, "the file holds no tensor");
  std::string names;
  for (size_t i = 0; i < all.size() && i < 8; ++i) names += (i ? ", " : "") + all[i].first;
  if (all.size() > 8) names += ", ...";
  Fail(path, "the file holds {} tensors ({}); expected exactly one (name one as FILE,NAME)", all.size(), names);
}

void WriteTensor(const std::string& path, const Tensor& tensor) { FormatOf(path).WriteAll(path, {{"", tensor}}); }

}  // namespace ait
