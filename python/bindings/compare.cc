// Scoring two tensors or two files with the core's ComparePair / CompareTensors, returning
// the cells `ait llm compare` writes to its CSV, as Python values.
#include <pybind11/stl.h>

#include <cstdlib>
#include <unordered_set>

#include "ait/compare.h"
#include "ait/report.h"
#include "bindings.h"

namespace ait::python {
namespace {

// The row as {column: value}: numeric columns as float (the value the CSV's text reads
// back as, float32-rounded where the CSV rounds) or None where the CSV cell is empty,
// the rest as str. token_id and data_id are left out; the paths only for files.
py::dict RowDict(const CompareRow& row, bool with_paths) {
  static const std::unordered_set<std::string> kText = {"token_id",      "data_id",  "golden_data_path",
                                                        "golden_dtype",  "golden_shape", "my_data_path",
                                                        "my_dtype",      "my_shape", "cmp_fail_reason"};
  const std::vector<std::string>& columns = CsvColumns();
  const std::vector<std::string> cells = CsvCells(row);
  py::dict out;
  for (size_t i = 0; i < columns.size(); ++i) {
    const std::string& c = columns[i];
    if (c == "token_id" || c == "data_id") continue;
    if (!with_paths && (c == "golden_data_path" || c == "my_data_path")) continue;
    if (kText.count(c) || i >= kOriginalCsvColumns) {  // the extra columns name operations
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

}  // namespace

void RegisterCompare(py::module_& m) {
  m.def("compare_arrays", &CompareArrays, py::arg("golden"), py::arg("golden_dtype"), py::arg("my"),
        py::arg("my_dtype"), py::arg("broadcast") = false,
        "Scores two C-contiguous arrays (dtype names override their element type, e.g. 'bfloat16')\n"
        "and returns the CSV row of `ait llm compare` as a dict.");
  m.def("compare_files", &CompareFiles, py::arg("golden_path"), py::arg("my_path"), py::arg("broadcast") = false,
        "Scores two tensor files and returns the CSV row of `ait llm compare` as a dict.");
  m.def("csv_columns", &CsvColumns, "The CSV columns of `ait llm compare`, in order: the original's 22, then the operation columns.");
}

}  // namespace ait::python
