// Tensor files <-> numpy arrays through the core's readers and writers (tensor_io.h).
#include <pybind11/stl.h>

#include <cstring>

#include "ait/dtype.h"
#include "ait/tensor_io.h"
#include "bindings.h"

namespace ait::python {
namespace {

// Copies `t`'s bytes into a fresh numpy array (GIL held on entry; the copy runs without).
py::array ToNumpy(const Tensor& t) {
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
  py::array out(NumpyDType(t.dtype), shape);
  if (t.nbytes) {
    std::byte* dst = static_cast<std::byte*>(out.mutable_data());
    py::gil_scoped_release release;
    std::memcpy(dst, t.data, t.nbytes);
  }
  return out;
}

// (name, dtype short name, shape, atb_format, array or None) for each tensor.
py::tuple Describe(const std::string& name, const Tensor& t) {
  py::tuple shape(t.shape.size());
  for (size_t i = 0; i < t.shape.size(); ++i) shape[i] = py::int_(t.shape[i]);
  py::object data = t.has_data ? py::object(ToNumpy(t)) : py::object(py::none());
  return py::make_tuple(name, std::string(ShortName(t.dtype)), shape, t.atb_format, data);
}

NamedTensors Read(const std::string& path) {
  py::gil_scoped_release release;
  return ReadTensors(path);
}

py::list ReadAll(const std::string& path) {
  NamedTensors all = Read(path);
  py::list out;
  for (const auto& [name, t] : all) out.append(Describe(name, t));
  return out;
}

py::tuple ReadOne(const std::string& path, const std::optional<std::string>& name) {
  if (!name) {
    Tensor t;
    {
      py::gil_scoped_release release;
      t = ReadTensor(path);
    }
    return Describe("", t);
  }
  NamedTensors all = Read(path);
  std::string names;
  for (const auto& [n, t] : all) {
    if (n == *name) return Describe(n, t);
    if (names.size() < 400) names += (names.empty() ? "" : ", ") + (n.empty() ? std::string("''") : n);
  }
  Fail(path, "no tensor named '{}' (the file holds: {})", *name, names.empty() ? "nothing" : names);
}

// A tensor to write: an array (with an optional dtype override), or a description only.
Tensor ToWrite(const py::object& data, const std::optional<std::string>& dtype_name,
               const std::vector<int64_t>& shape, int atb_format) {
  Tensor t;
  if (data.is_none()) {
    auto dtype = dtype_name ? ParseDTypeName(*dtype_name) : std::nullopt;
    if (!dtype) throw py::type_error("a description-only tensor needs a known dtype name");
    t.dtype = *dtype;
    t.shape = shape;
    CheckedNumel(t.shape, ItemSize(t.dtype), "description");
    t.has_data = false;
  } else {
    // A converted temporary would be freed while the view points into it: arrays only.
    if (!py::isinstance<py::array>(data)) throw py::type_error("tensor data must be a numpy array");
    t = TensorView(py::reinterpret_borrow<py::array>(data), dtype_name);
  }
  t.atb_format = atb_format;
  return t;
}

// `items`: (name, array or None, dtype name or None, shape, atb_format) tuples.
void WriteAll(const std::string& path, const py::list& items, const std::string& format) {
  NamedTensors tensors;
  std::vector<py::object> keep;  // the arrays stay referenced while C++ reads them
  for (const py::handle& h : items) {
    auto item = py::cast<py::tuple>(h);
    keep.push_back(item[1]);
    tensors.emplace_back(py::cast<std::string>(item[0]),
                         ToWrite(item[1], py::cast<std::optional<std::string>>(item[2]),
                                 py::cast<std::vector<int64_t>>(item[3]), py::cast<int>(item[4])));
  }
  const TensorFormat* f = format == "atb-bin" ? &AtbBinFormat() : FindFormat(path);
  if (!f) Fail(path, "unknown tensor file type (expected .bin, .npy, .safetensors or a GE dump file name)");
  if (!f->CanWrite()) Fail(path, "writing {} files is not supported (the core writes .bin, .npy, .safetensors and GE "
                                 "dump files)",
                           f->name());
  py::gil_scoped_release release;
  f->WriteAll(path, tensors);
}

}  // namespace

py::dtype NumpyDType(DType t) {
  switch (t) {
    case DType::kFloat32: return py::dtype("float32");
    case DType::kFloat16: return py::dtype("float16");
    case DType::kBFloat16: return py::dtype("uint16");
    case DType::kFloat64: return py::dtype("float64");
    case DType::kInt8: return py::dtype("int8");
    case DType::kInt16: return py::dtype("int16");
    case DType::kInt32: return py::dtype("int32");
    case DType::kInt64: return py::dtype("int64");
    case DType::kUInt8: return py::dtype("uint8");
    case DType::kUInt16: return py::dtype("uint16");
    case DType::kUInt32: return py::dtype("uint32");
    case DType::kUInt64: return py::dtype("uint64");
    case DType::kBool: return py::dtype("bool");
    case DType::kComplex64: return py::dtype("complex64");
  }
  throw py::value_error("unknown dtype");
}

Tensor TensorView(const py::array& array, const std::optional<std::string>& dtype_name) {
  if (!(array.flags() & py::array::c_style))
    throw py::type_error("the array must be C-contiguous (numpy.ascontiguousarray)");
  const py::dtype dt = array.dtype();
  if (dt.byteorder() == '>') throw py::type_error("the array must be in native (little-endian) byte order");
  const char kind = dt.kind();
  const auto size = static_cast<size_t>(dt.itemsize());
  const auto dt_name = py::cast<std::string>(py::str(py::handle(dt)));
  std::optional<DType> dtype;
  if (dtype_name) {
    dtype = ParseDTypeName(*dtype_name);
    if (!dtype) throw py::type_error("unknown dtype name '" + *dtype_name + "'");
    if (ItemSize(*dtype) != size || (kind != 'i' && kind != 'u' && kind != 'f'))
      throw py::type_error("an array of " + dt_name + " cannot carry " + *dtype_name + " values");
  } else {
    for (int i = 0; i < kNumDTypes && !dtype; ++i) {
      const auto d = static_cast<DType>(i);
      if (d != DType::kBFloat16 && NumpyDType(d).kind() == kind && ItemSize(d) == size) dtype = d;
    }
    if (!dtype) throw py::type_error("numpy dtype " + dt_name + " is not supported by the core");
  }
  Tensor t;
  t.dtype = *dtype;
  t.shape.assign(array.shape(), array.shape() + array.ndim());
  t.data = static_cast<const std::byte*>(array.data());
  t.nbytes = static_cast<size_t>(array.nbytes());
  return t;
}

void RegisterTensorIo(py::module_& m) {
  m.def("read_tensors", &ReadAll, py::arg("path"),
        "Every tensor in a .bin/.npy/.pth/.pt/.safetensors or GE dump file, in file order, as tuples\n"
        "(name, dtype, shape, atb_format, array or None). bfloat16 arrays hold the raw bits as uint16.");
  m.def("read_tensor", &ReadOne, py::arg("path"), py::arg("name") = py::none(),
        "One tensor as (name, dtype, shape, atb_format, array or None); `name` picks one in a container,\n"
        "as does a FILE,MEMBER path (a GE dump file's 'FILE,outputs,0').");
  m.def("write_tensors", &WriteAll, py::arg("path"), py::arg("items"), py::arg("format") = "",
        "Writes (name, array or None, dtype name or None, shape, atb_format) tuples; the format by the\n"
        "file's extension, or 'atb-bin' to write an ATB .bin whatever the name.");
}

}  // namespace ait::python
