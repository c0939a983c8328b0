// The format registry and the single-tensor convenience functions.
#include <algorithm>

#include "ait/tensor_io.h"

namespace ait {

void TensorFormat::WriteAll(const std::string& path, const NamedTensors&) const {
  Fail(path, "writing {} files is not supported", name());
}

const std::vector<const TensorFormat*>& AllFormats() {
  static const std::vector<const TensorFormat*> formats = {
      &AtbBinFormat(), &NpyFormat(), &PthFormat(), &SafetensorsFormat(),
  };
  return formats;
}

const TensorFormat* FindFormat(std::string_view path) {
  for (const TensorFormat* f : AllFormats())
    if (f->Matches(path)) return f;
  return nullptr;
}

bool IsTensorFile(std::string_view path) { return FindFormat(path) != nullptr; }

NamedTensors ReadTensors(const std::string& path) {
  const TensorFormat* f = FindFormat(path);
  if (!f) Fail(path, "unknown tensor file type (expected .bin, .npy, .pth, .pt or .safetensors)");
  return f->ReadAll(path);
}

Tensor ReadTensor(const std::string& path) {
  NamedTensors all = ReadTensors(path);
  if (all.size() == 1) return std::move(all.front().second);
  if (all.empty()) Fail(path, "the file holds no tensor");
  std::string names;
  for (size_t i = 0; i < all.size() && i < 8; ++i) names += (i ? ", " : "") + all[i].first;
  if (all.size() > 8) names += ", ...";
  Fail(path, "the file holds {} tensors ({}); expected exactly one", all.size(), names);
}

void WriteTensor(const std::string& path, const Tensor& tensor) {
  const TensorFormat* f = FindFormat(path);
  if (!f) Fail(path, "unknown tensor file type (expected .bin, .npy, .pth, .pt or .safetensors)");
  f->WriteAll(path, {{"", tensor}});
}

}  // namespace ait
