// Scoring two tensors or two files with the core's ComparePair / CompareTensors, and two
// dump folders with RunCompare, returning the cells `ait llm compare` writes to its CSV (and
// the summary document it writes beside them) as Python values.
#include <pybind11/stl.h>

#include <cstdlib>
#include <unordered_set>

#include "ait/compare_run.h"
#include "ait/csv_report.h"
#include "bindings.h"
#include "custom_metric.h"

namespace ait::python {
namespace {

// The row as {column: value}: numeric columns as float (the value the CSV's text reads
// back as, float32-rounded where the CSV rounds) or None where the CSV cell is empty,
// the rest as str. A custom metric's value column is a float when Python's float() reads its
// text, else str; its message column str. token_id and data_id are left out; the paths only
// for files. `columns`: CsvColumns(custom metric names).
py::dict RowDict(const CompareRow& row, bool with_paths, const std::vector<std::string>& columns = CsvColumns()) {
  static const std::unordered_set<std::string> kText = {"token_id",      "data_id",  "golden_data_path",
                                                        "golden_dtype",  "golden_shape", "my_data_path",
                                                        "my_dtype",      "my_shape", "cmp_fail_reason"};
  const size_t custom_from = kOriginalCsvColumns + kExtraCsvColumns;
  const std::vector<std::string> cells = CsvCells(row, (columns.size() - custom_from) / 2);
  py::dict out;
  for (size_t i = 0; i < columns.size(); ++i) {
    const std::string& c = columns[i];
    if (c == "token_id" || c == "data_id") continue;
    if (!with_paths && (c == "golden_data_path" || c == "my_data_path")) continue;
    if (i >= custom_from && (i - custom_from) % 2 == 0) {  // a custom metric's value
      py::str text(cells[i]);
      PyObject* number = cells[i].empty() ? nullptr : PyFloat_FromString(text.ptr());
      if (!number) PyErr_Clear();
      if (cells[i].empty()) out[c.c_str()] = py::none();
      else if (number) out[c.c_str()] = py::reinterpret_steal<py::object>(number);
      else out[c.c_str()] = text;
    } else if (c == "local_error" || c == "expected_local_error") {  // extra columns with numbers
      if (cells[i].empty()) out[c.c_str()] = py::none();
      else out[c.c_str()] = std::strtod(cells[i].c_str(), nullptr);
    } else if (kText.count(c) || i >= kOriginalCsvColumns) {  // the other extra columns are text
      out[c.c_str()] = cells[i];
    } else if (cells[i].empty()) {
      out[c.c_str()] = py::none();
    } else {
      out[c.c_str()] = std::strtod(cells[i].c_str(), nullptr);  // repr text: exact round trip
    }
  }
  return out;
}

py::dict CompareArrays(const py::array& golden, const std::optional<std::string>& golden_dtype, const py::array& my,
                       const std::optional<std::string>& my_dtype, bool broadcast) {
  const Tensor g = TensorView(golden, golden_dtype), m = TensorView(my, my_dtype);
  CompareOptions options;
  options.broadcast = broadcast;
  CompareRow row;
  {
    py::gil_scoped_release release;  // `golden` and `my` keep the bytes alive
    row = CompareTensors(g, m, options);
  }
  return RowDict(row, false);
}

py::dict CompareFiles(const std::string& golden_path, const std::string& my_path, bool broadcast) {
  CompareOptions options;
  options.broadcast = broadcast;
  CompareRow row;
  {
    py::gil_scoped_release release;
    row = ComparePair({"0", "0", golden_path, my_path, my_path}, options);
  }
  return RowDict(row, true);
}

// The whole folder compare (RunCompare). The summary document comes back as JSON text for
// the Python side to parse.
// `custom_algorithms`: (name, callable) pairs, wrapped as custom metrics; `cmp_level` a name of
// kCompareLevelNames.
py::dict CompareFolders(const std::string& golden, const std::string& my, const std::optional<std::string>& output,
                        double cosine_threshold, const std::optional<std::string>& op_mapping_file, int threads,
                        const std::string& cmp_level, const std::vector<std::pair<std::string, py::object>>& custom_algorithms,
                        const std::optional<std::string>& peer, const std::vector<std::string>& fail_on, bool opcheck) {
  CompareRequest request;
  request.fail_on = fail_on;
  request.opcheck = opcheck;
  const std::optional<CompareLevel> level = ParseCompareLevel(cmp_level);
  if (!level)
    throw py::value_error("cmp_level: '" + cmp_level + "' is not one of " + std::string(kCompareLevelNames));
  request.level = *level;
  for (const auto& [name, fn] : custom_algorithms) request.custom_metrics.push_back(MakeCustomMetric(name, fn));
  request.golden = golden;
  request.my = my;
  if (peer) request.peer = *peer;
  if (output) request.output = *output;
  request.cosine_threshold = cosine_threshold;
  request.threads = threads;
  if (op_mapping_file) request.mapping = LoadOpMapping(*op_mapping_file);
  CompareResult result;
  std::string summary;
  {
    py::gil_scoped_release release;
    result = RunCompare(request);
    summary = CompareSummaryJson(result);
  }
  py::list rows;
  const std::vector<std::string> columns = CsvColumns(CustomMetricNames(request));
  for (const CompareRow& row : result.rows) {
    py::dict d = RowDict(row, true, columns);
    d["token_id"] = row.pair.token_id;
    d["data_id"] = row.pair.data_id;
    rows.append(std::move(d));
  }
  py::list refusals;
  for (const StrategyRefusal& r : result.refusals)
    refusals.append(py::dict(py::arg("strategy") = r.strategy, py::arg("reason") = r.reason, py::arg("blocked") = r.blocked));
  py::object reports = py::none();
  if (!result.reports.csv.empty())
    reports = py::dict(py::arg("csv") = result.reports.csv.string(), py::arg("json") = result.reports.json.string(),
                       py::arg("html") = result.reports.html.string());
  return py::dict(py::arg("strategy") = result.strategy, py::arg("declined") = refusals, py::arg("rows") = rows,
                  py::arg("summary") = summary, py::arg("reports") = reports);
}

}  // namespace

void RegisterCompare(py::module_& m) {
  m.def("compare_arrays", &CompareArrays, py::arg("golden"), py::arg("golden_dtype"), py::arg("my"),
        py::arg("my_dtype"), py::arg("broadcast") = false,
        "Scores two C-contiguous arrays (dtype names override their element type, e.g. 'bfloat16')\n"
        "and returns the CSV row of `ait llm compare` as a dict.");
  m.def("compare_files", &CompareFiles, py::arg("golden_path"), py::arg("my_path"), py::arg("broadcast") = false,
        "Scores two tensor files and returns the CSV row of `ait llm compare` as a dict.");
  m.def("compare_folders", &CompareFolders, py::arg("golden"), py::arg("my"), py::arg("output") = py::none(),
        py::arg("cosine_threshold") = 0.99, py::arg("op_mapping_file") = py::none(), py::arg("threads") = 0,
        py::arg("cmp_level") = "layer", py::arg("custom_algorithms") = std::vector<std::pair<std::string, py::object>>{},
        py::arg("peer") = py::none(), py::arg("fail_on") = std::vector<std::string>{}, py::arg("opcheck") = false,
        "Compares two dump folders as `ait llm compare` does (RunCompare): the chosen strategy, the\n"
        "strategies that declined, the CSV rows, the summary document (JSON text), the reports written.\n"
        "custom_algorithms: (name, callable) pairs; cmp_level: layer, token, module, api or logits;\n"
        "peer: a third dump folder (--peer-path); fail_on: --fail-on's conditions (the summary's verdict).");
  m.def(
      "csv_columns",
      [](const std::vector<std::string>& custom_names) { return CsvColumns(custom_names); },
      py::arg("custom_names") = std::vector<std::string>{},
      "The CSV columns of `ait llm compare`, in order: the original's 22, then the operation columns,\n"
      "then name and name_message for each custom metric name given.");
  m.def(
      "load_custom_algorithm",
      [](const std::string& spec) {
        try {
          AlgorithmSpec parsed = ParseAlgorithmSpec(spec);
          return py::make_tuple(parsed.function, ImportAlgorithm(parsed));
        } catch (const AlgorithmSpecError& e) {
          throw py::value_error(e.what());
        }
      },
      py::arg("spec"),
      "(name, function) of \"FILE.py:FUNC\" by the rules of `ait llm compare -alg` (FORMATS.md 4.4);\n"
      "ValueError naming the spec when it breaks them.");
}

}  // namespace ait::python
