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
  // The tensor named `member` (as ReadAll names it) alone. The default reads them all; a
  // container whose members are costly to decode reads only the one asked for. Throws
  // ait::Error naming the file and the member.
  virtual Tensor ReadMember(const std::string& path, std::string_view member) const;
  // The names ReadAll would give, in file order, without decoding tensors where the format
  // allows it. The default reads them all.
  virtual std::vector<std::string> MemberNames(const std::string& path) const;
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

// One tensor inside a container file, addressed as `FILE,MEMBER`: a GE dump file's
// `Add.Add_2.44.6.1706596912161941,inputs,0` (FORMATS.md 9.6; the original's report writes
// GE tensors so). The member starts at the first comma of the last path component, so the
// folders may hold commas; a path naming an existing file is always the whole file.
struct TensorAddress {
  std::string file;
  std::string member;  // "" for the whole file
};
TensorAddress SplitTensorAddress(const std::string& address);
std::string MemberAddress(const std::string& file, std::string_view member);
// Whether `path` names an existing file or folder, or a member of an existing file.
bool PathOrAddressExists(const std::string& path);

// Reads the one tensor in `path`, or the member a `FILE,MEMBER` address names. A container
// holding several tensors is an error unless exactly one of them is a tensor of data.
// Throws ait::Error.
Tensor ReadTensor(const std::string& path);
// The member names of a container file (TensorFormat::MemberNames). Throws ait::Error.
std::vector<std::string> TensorMemberNames(const std::string& path);
NamedTensors ReadTensors(const std::string& path);
void WriteTensor(const std::string& path, const Tensor& tensor);

// The individual formats (defined in src/formats/*.cc).
const TensorFormat& AtbBinFormat();
const TensorFormat& NpyFormat();
const TensorFormat& NpzFormat();   // np.savez archives; a GE dump file's pre-converted .npz
const TensorFormat& PthFormat();
const TensorFormat& SafetensorsFormat();
const TensorFormat& GeDumpFormat();  // torchair GE dump files (no extension; FORMATS.md 9.2)

}  // namespace ait
