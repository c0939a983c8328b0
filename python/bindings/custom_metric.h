// Custom metrics in Python (`ait llm compare -alg FILE.py:FUNC`, compare_folders(custom_algorithms=...)):
// the registration rules of the original (FORMATS.md 4.4) and the wrapping of a Python callable
// as an ait::CustomMetric the compare library calls from its worker threads. Header-only, shared
// by the extension ait_llm._ait_core and the CLI's plugin (src/cli/pyalg/), which embeds Python;
// the compare library itself knows no Python.
#pragma once

#include <pwd.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ait/compare_pair.h"
#include "ait/tensor.h"

namespace ait::python {

namespace py = pybind11;

// A registration that breaks the rules; what() says why, naming the spec.
class AlgorithmSpecError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct AlgorithmSpec {
  std::string spec;             // as given
  std::filesystem::path file;   // absolute, `~` expanded
  std::string function;
};

// `~` and `~user` at the start of a path, as os.path.expanduser does.
inline std::string ExpandUser(const std::string& path) {
  if (path.empty() || path[0] != '~') return path;
  const size_t slash = path.find('/');
  const std::string user = path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
  std::string home;
  if (user.empty()) {
    if (const char* h = std::getenv("HOME")) home = h;
    else if (const passwd* pw = getpwuid(getuid())) home = pw->pw_dir;
  } else if (const passwd* pw = getpwnam(user.c_str())) {
    home = pw->pw_dir;
  }
  if (home.empty()) return path;
  return home + (slash == std::string::npos ? "" : path.substr(slash));
}

// "FILE.py:FUNC": split on ':' into exactly two parts, `~` expanded, FILE an existing regular
// file ending in .py. Needs no Python. Throws AlgorithmSpecError.
inline AlgorithmSpec ParseAlgorithmSpec(const std::string& spec) {
  size_t parts = 1;
  for (char c : spec) parts += c == ':';
  const size_t colon = spec.find(':');
  if (parts != 2 || colon == 0 || colon + 1 == spec.size())
    throw AlgorithmSpecError("'" + spec + "' is not FILE.py:FUNCTION (split on ':' it gives " +
                             (parts == 2 ? std::string("an empty part")
                                         : std::to_string(parts) + (parts == 1 ? " part" : " parts") + ", not 2") +
                             ")");
  AlgorithmSpec out;
  out.spec = spec;
  out.function = spec.substr(colon + 1);
  namespace fs = std::filesystem;
  const std::string file = ExpandUser(spec.substr(0, colon));
  std::error_code ec;
  if (!fs::exists(file, ec)) throw AlgorithmSpecError("'" + spec + "': " + file + " does not exist");
  if (!fs::is_regular_file(file, ec)) throw AlgorithmSpecError("'" + spec + "': " + file + " is not a file");
  if (fs::path(file).extension() != ".py") throw AlgorithmSpecError("'" + spec + "': " + file + " is not a .py file");
  out.file = fs::absolute(file, ec).lexically_normal();
  return out;
}

// "ValueError: message" of the Python exception being handled.
inline std::string PythonErrorText(py::error_already_set& e) {
  std::string type = "Exception";
  std::string text;
  try {
    type = py::cast<std::string>(e.type().attr("__name__"));
    text = py::cast<std::string>(py::str(e.value()));
  } catch (...) {
  }
  return text.empty() ? type : type + ": " + text;
}

// Imports FILE's module by its stem with FILE's folder appended to sys.path (as the original
// does), and returns its attribute FUNC, checked to be callable with exactly two parameters.
// REQUIRES: the GIL. Throws AlgorithmSpecError.
inline py::object ImportAlgorithm(const AlgorithmSpec& s) {
  const std::string folder = s.file.parent_path().string(), stem = s.file.stem().string();
  py::object module;
  try {
    py::list path = py::module_::import("sys").attr("path");
    if (!path.contains(py::str(folder))) path.append(folder);
    module = py::module_::import("importlib").attr("import_module")(stem);
  } catch (py::error_already_set& e) {
    throw AlgorithmSpecError("'" + s.spec + "': cannot import " + stem + " from " + folder + ": " + PythonErrorText(e));
  }
  if (!py::hasattr(module, s.function.c_str()))
    throw AlgorithmSpecError("'" + s.spec + "': module " + stem + " (" +
                             py::cast<std::string>(py::str(module.attr("__file__"))) + ") has no attribute '" +
                             s.function + "'");
  py::object fn = module.attr(s.function.c_str());
  if (!PyCallable_Check(fn.ptr()))
    throw AlgorithmSpecError("'" + s.spec + "': " + s.function + " is not a function");
  size_t params = 0;
  try {
    params = py::len(py::module_::import("inspect").attr("signature")(fn).attr("parameters"));
  } catch (py::error_already_set& e) {
    throw AlgorithmSpecError("'" + s.spec + "': cannot read the parameters of " + s.function + ": " +
                             PythonErrorText(e));
  }
  if (params != 2)
    throw AlgorithmSpecError("'" + s.spec + "': " + s.function + " takes " + std::to_string(params) +
                             " parameters, not 2 (golden, my)");
  return fn;
}

// The tensor as a new numpy array of its shape: bfloat16 as float32, every other dtype as
// numpy's own. REQUIRES: the GIL, t.has_data.
inline py::array ToNumpyArray(const Tensor& t) {
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
  size_t n = 1;
  for (int64_t d : t.shape) n *= static_cast<size_t>(d);
  if (t.dtype == DType::kBFloat16) {
    py::array_t<float> out(shape);
    float* dst = out.mutable_data();
    for (size_t i = 0; i < n; ++i) {
      uint16_t bits;
      std::memcpy(&bits, t.data + 2 * i, 2);
      const uint32_t word = static_cast<uint32_t>(bits) << 16;
      std::memcpy(dst + i, &word, 4);
    }
    return out;
  }
  const char* name = "float32";
  switch (t.dtype) {
    case DType::kFloat32: name = "float32"; break;
    case DType::kFloat16: name = "float16"; break;
    case DType::kFloat64: name = "float64"; break;
    case DType::kInt8: name = "int8"; break;
    case DType::kInt16: name = "int16"; break;
    case DType::kInt32: name = "int32"; break;
    case DType::kInt64: name = "int64"; break;
    case DType::kUInt8: name = "uint8"; break;
    case DType::kUInt16: name = "uint16"; break;
    case DType::kUInt32: name = "uint32"; break;
    case DType::kUInt64: name = "uint64"; break;
    case DType::kBool: name = "bool"; break;
    case DType::kComplex64: name = "complex64"; break;
    case DType::kBFloat16: break;
  }
  py::array out(py::dtype(name), shape);  // owns a fresh buffer
  if (t.nbytes) std::memcpy(out.mutable_data(), t.data, t.nbytes);
  return out;
}

// What the function returned as the two cells: `(value, message)`, any 2-sequence but text;
// None gives an empty cell, anything else str(). REQUIRES: the GIL.
inline CustomMetricValue MetricCells(const std::string& name, const py::object& result) {
  const bool text = py::isinstance<py::str>(result) || py::isinstance<py::bytes>(result);
  if (text || !PySequence_Check(result.ptr()) || PySequence_Size(result.ptr()) != 2) {
    PyErr_Clear();
    return {"", name + " returned " + py::cast<std::string>(py::str(py::type::handle_of(result).attr("__name__"))) +
                    ", not (value, message)"};
  }
  auto cell = [](const py::object& v) { return v.is_none() ? std::string() : py::cast<std::string>(py::str(v)); };
  py::sequence pair = py::reinterpret_borrow<py::sequence>(result);
  return {cell(pair[0]), cell(pair[1])};
}

// `fn` as a CustomMetric named `name`: called as fn(golden, my) with numpy arrays
// (ToNumpyArray) under the GIL, which it takes itself, from whatever thread scores the pair.
// An exception the function raises, or a result that is no (value, message) pair, becomes the
// row's message ("ValueError: ..."). The Python object is released under the GIL as well.
inline CustomMetric MakeCustomMetric(std::string name, py::object fn) {
  std::shared_ptr<py::object> held(new py::object(std::move(fn)), [](py::object* p) {
    py::gil_scoped_acquire gil;
    delete p;
  });
  CustomMetric metric;
  metric.name = name;
  metric.fn = [held, name](const Tensor& golden, const Tensor& my) -> CustomMetricValue {
    py::gil_scoped_acquire gil;
    try {
      py::array g = ToNumpyArray(golden), m = ToNumpyArray(my);
      return MetricCells(name, (*held)(g, m));
    } catch (py::error_already_set& e) {
      return {"", PythonErrorText(e)};
    }
  };
  return metric;
}

}  // namespace ait::python
