// opcheck from Python: one float64 reference on numpy arrays (what the references' tests
// compare with torch), and the whole opcheck run (ait_llm.opcheck).
#include <pybind11/stl.h>

#include <cstring>

#include "ait/dtype.h"
#include "ait/error.h"
#include "ait/opcheck_run.h"
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

py::object Optional(const std::optional<double>& v) { return v ? py::object(py::float_(*v)) : py::object(py::none()); }

// The whole run: a dict with the counts, the report paths and one dict per case.
py::dict RunOpcheckFolder(const std::string& input, const std::optional<std::string>& output,
                          const std::optional<std::string>& csv_path, const std::vector<std::string>& ids,
                          const std::vector<std::string>& names, const std::vector<std::string>& metrics, bool rerun,
                          int threads) {
  OpcheckRequest request;
  request.input = input;
  if (output) request.output = *output;
  if (csv_path) request.op_csv = *csv_path;
  request.ids = ids;
  request.names = names;
  request.metrics = metrics;
  request.rerun = rerun;
  request.threads = threads;
  OpcheckResult result;
  {
    py::gil_scoped_release release;
    result = RunOpcheck(request);
  }
  py::list cases;
  for (const OpcheckCase& c : result.cases) {
    py::list outputs;
    for (const OutputCheck& o : c.outputs) {
      py::dict d;
      d["out_tensor_id"] = o.index;
      d["dtype"] = std::string(ShortName(o.dtype));
      d["precision_standard"] = o.standard.Text();
      d["passed"] = o.passed;
      d["rel_precision_rate"] = o.scored ? py::object(py::float_(o.rel_rate)) : py::object(py::none());
      d["max_rel_error"] = o.scored ? py::object(py::float_(o.max_rel)) : py::object(py::none());
      d["abs_precision_rate"] = Optional(o.abs_rate);
      d["max_abs_error"] = Optional(o.max_abs);
      d["cosine_similarity"] = Optional(o.cosine);
      d["kl_divergence"] = Optional(o.kl);
      d["elements"] = o.elements;
      d["worst_element"] = o.worst;
      d["fail_reason"] = o.fail_reason;
      outputs.append(d);
    }
    py::dict d;
    d["token"] = c.token;
    d["op_id"] = c.op_id;
    d["op_name"] = c.op_type;
    d["op_param"] = c.param_text;
    d["tensor_path"] = c.tensor_path.string();
    d["precision_result"] = std::string(CaseStatusText(c.status));
    d["fail_reason"] = c.fail_reason;
    d["outputs"] = outputs;
    d["rerun_vs_dump"] = c.rerun_vs_dump;
    cases.append(d);
  }
  py::dict out;
  out["base"] = result.base.string();
  out["passed"] = result.passed;
  out["failed"] = result.failed;
  out["unsupported"] = result.unsupported;
  out["graphs"] = result.graphs;
  out["rerun_differs"] = result.rerun_differs;
  out["xlsx"] = result.xlsx.empty() ? py::object(py::none()) : py::object(py::str(result.xlsx.string()));
  out["csv"] = result.csv.empty() ? py::object(py::none()) : py::object(py::str(result.csv.string()));
  out["exit_status"] = result.exit_status;
  out["cases"] = cases;
  out["summary"] = FormatOpcheckResult(result);
  return out;
}

}  // namespace

void RegisterOpcheck(py::module_& m) {
  m.def("opcheck_reference", &RunReference, py::arg("op_type"), py::arg("param_json"), py::arg("inputs"),
        py::arg("out_dtypes") = std::vector<std::string>{},
        "Runs opcheck's float64 reference of one ATB operation type on [(array, storage dtype name)] inputs; "
        "returns [(float64 array, dtype name)] outputs.");
  m.def("opcheck", &RunOpcheckFolder, py::arg("input"), py::arg("output") = py::none(),
        py::arg("csv_path") = py::none(), py::arg("ids") = std::vector<std::string>{},
        py::arg("names") = std::vector<std::string>{}, py::arg("metrics") = std::vector<std::string>{},
        py::arg("rerun") = false, py::arg("threads") = 0,
        "ait llm opcheck as one call (ait_llm.opcheck documents it).");
  m.def("opcheck_reference_types", [] {
    std::vector<std::string> v;
    for (const auto& r : opcheck::AllReferences()) v.emplace_back(r.type);
    return v;
  });
}

}  // namespace ait::python
