// NumPy `.npz` archives (np.savez / np.savez_compressed): one `.npy` member per array, named
// by the member without `.npy`. The pre-converted form of a torchair GE dump file (FORMATS.md
// 9.2; the original loads it with np.load and takes loaded["inputs"] and loaded["outputs"]) is
// an .npz named like a GE dump file plus `.npz`: its `inputs` and `outputs` arrays are read as
// the tensors along their first axis, named `inputs,K` / `outputs,K` as in a GE dump file.
#include <cstring>

#include "ait/error.h"
#include "ait/mapped_file.h"
#include "ait/tensor_io.h"
#include "formats/ge_dump.h"
#include "formats/npy.h"
#include "formats/zip_archive.h"

namespace ait {
namespace {

constexpr size_t kMaxMembers = 100'000;

// Whether `path` is a GE dump file's pre-converted .npz: `<GE dump file name>.npz`.
bool IsGeNpz(std::string_view path) {
  const size_t slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  name.remove_suffix(4);
  return ParseGeDumpName(name).has_value();
}

// The tensors of a stacked array along its first axis: views into it.
void Unstack(const std::string& prefix, const Tensor& stack, const std::string& where, NamedTensors& out) {
  if (stack.shape.empty()) Fail(where, "'{}' is a 0-d array; expected one tensor per index of its first axis", prefix);
  const std::vector<int64_t> shape(stack.shape.begin() + 1, stack.shape.end());
  const size_t bytes = static_cast<size_t>(CheckedNumel(shape, ItemSize(stack.dtype), where)) * ItemSize(stack.dtype);
  for (int64_t k = 0; k < stack.shape[0]; ++k) {
    Tensor t;
    t.dtype = stack.dtype;
    t.shape = shape;
    t.owner = stack.owner;
    t.data = stack.data + static_cast<size_t>(k) * bytes;
    t.nbytes = bytes;
    out.emplace_back(GeMemberName(prefix == "inputs", static_cast<size_t>(k)), std::move(t));
  }
}

class Npz final : public TensorFormat {
 public:
  std::string_view name() const override { return "npz"; }
  bool Matches(std::string_view path) const override { return path.ends_with(".npz"); }

  NamedTensors ReadAll(const std::string& path) const override {
    const ZipArchive zip(MappedFile::Open(path));
    if (zip.entries().size() > kMaxMembers) Fail(path, "more than {} members", kMaxMembers);
    const bool ge = IsGeNpz(path);
    NamedTensors out;
    for (const char* stacked : {"inputs", "outputs"}) {
      if (!ge) break;
      if (const ZipEntry* e = zip.Find(std::string(stacked) + ".npy"))
        Unstack(stacked, Member(zip, *e, path), MemberAddress(path, stacked), out);
    }
    for (const ZipEntry& e : zip.entries()) {
      if (!e.name.ends_with(".npy")) continue;
      const std::string name = e.name.substr(0, e.name.size() - 4);
      if (ge && (name == "inputs" || name == "outputs")) continue;
      out.emplace_back(name, Member(zip, e, path));
    }
    return out;
  }

 private:
  static Tensor Member(const ZipArchive& zip, const ZipEntry& e, const std::string& path) {
    return ParseNpy(zip.Read(e), MemberAddress(path, e.name));
  }
};

}  // namespace

const TensorFormat& NpzFormat() {
  static Npz f;
  return f;
}

}  // namespace ait
