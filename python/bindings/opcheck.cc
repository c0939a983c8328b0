// opcheck from Python: one float64 reference on numpy arrays (what the references' tests
// compare with torch), and the whole opcheck run (ait_llm.opcheck).
#include <pybind11/stl.h>

#include <cstring>

#include "ait/dtype.h"
#include "ait/error.h"
#include "bindings.h"
#include "opcheck/reference.h"

namespace ait::python {
namespace {

DType DTypeNamed(const std::string& name) {
  auto t = ParseDTypeName(name);
  if (!t) Fail("opcheck_reference", "unknown dtype name '{}'", name);
  return *t;
}

// inputs: [(float64 array, storage dtype name)]; returns [(float64 array, dtype name)].
py::list RunReference(const std::string& type, const std::string& param_json, const py::list& inputs,
                      const std::vector<std::string>& out_dtypes) {
  const opcheck::Reference* ref = opcheck::FindReference(type);
  if (!ref) Fail("opcheck_reference", "no reference for operation type '{}'", type);
  nlohmann::json param = param_json.empty() ? nlohmann::json::object() : nlohmann::json::parse(param_json);
  std::vector<opcheck::RefTensor> in;
  for (const auto& item : inputs) {
    auto pair = item.cast<py::tuple>();
    auto arr = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(pair[0]);
    if (!arr) throw py::type_error("opcheck_reference: inputs must be (array, dtype name) pairs");
    opcheck::RefTensor t;
    t.dtype = DTypeNamed(pair[1].cast<std::string>());
    t.shape.assign(arr.shape(), arr.shape() + arr.ndim());
    t.data.assign(arr.data(), arr.data() + arr.size());
    in.push_back(std::move(t));
  }
  opcheck::RefCall call{type, param, in, {}};
  for (const auto& n : out_dtypes) call.out_dtypes.push_back(DTypeNamed(n));
  std::vector<opcheck::RefTensor> out;
  {
    py::gil_scoped_release release;
    out = ref->fn(call);
  }
  py::list result;
  for (const auto& t : out) {
    std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
    py::array_t<double> arr(shape);
    if (!t.data.empty()) std::memcpy(arr.mutable_data(), t.data.data(), t.data.size() * sizeof(double));
    result.append(py::make_tuple(arr, std::string(ShortName(t.dtype))));
  }
  return result;
}

}  // namespace

void RegisterOpcheck(py::module_& m) {
  m.def("opcheck_reference", &RunReference, py::arg("op_type"), py::arg("param_json"), py::arg("inputs"),
        py::arg("out_dtypes") = std::vector<std::string>{},
        "Runs opcheck's float64 reference of one ATB operation type on [(array, storage dtype name)] inputs; "
        "returns [(float64 array, dtype name)] outputs.");
  m.def("opcheck_reference_types", [] {
    std::vector<std::string> v;
    for (const auto& r : opcheck::AllReferences()) v.emplace_back(r.type);
    return v;
  });
}

}  // namespace ait::python
