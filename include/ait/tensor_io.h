// Tensor file formats behind one small interface, and the registry that picks one by
// file name. Adding a format = one new file in src/formats/ and one registry line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ait/error.h"
#include "ait/tensor.h"

namespace ait {

class TensorFormat {
 public:
  virtual ~TensorFormat() = default;
  // Short name for messages: "atb-bin", "npy", "pth", "safetensors".
  virtual std::string_view name() const = 0;
  // Whether `path` (by its extension) belongs to this format.
  virtual bool Matches(std::string_view path) const = 0;
  // Every tensor in the file, in file order; names are "" for single-tensor formats.
  // Throws ait::Error("{path}: reason") for anything malformed. Never reads out of
  // bounds, never trusts a size it has not checked against the file.
  virtual NamedTensors ReadAll(const std::string& path) const = 0;
  virtual bool CanWrite() const { return false; }
  // Writes atomically (temporary + rename). Single-tensor formats REQUIRE one tensor.
  virtual void WriteAll(const std::string& path, const NamedTensors& tensors) const;
};

// The format for `path`, or nullptr when no format claims its extension.
const TensorFormat* FindFormat(std::string_view path);
// Every registered format.
const std::vector<const TensorFormat*>& AllFormats();
// Whether some format claims `path`.
bool IsTensorFile(std::string_view path);

// Reads the one tensor in `path`. A container holding several tensors is an error
// unless exactly one of them is a tensor of data. Throws ait::Error.
Tensor ReadTensor(const std::string& path);
NamedTensors ReadTensors(const std::string& path);
void WriteTensor(const std::string& path, const Tensor& tensor);

// The individual formats (defined in src/formats/*.cc).
const TensorFormat& AtbBinFormat();
const TensorFormat& NpyFormat();
const TensorFormat& PthFormat();
const TensorFormat& SafetensorsFormat();

}  // namespace ait
