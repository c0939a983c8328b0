// ATB topology JSON -> ONNX through the core's converter (atb_onnx.h, FORMATS.md 5.4).
#include <nlohmann/json.hpp>

#include "ait/atb_onnx.h"
#include "ait/error.h"
#include "bindings.h"

namespace ait::python {
namespace {

std::string JsonFileToOnnx(const std::string& json_path, int target_level) {
  py::gil_scoped_release release;
  return AtbJsonToOnnx(json_path, target_level);
}

py::bytes JsonFileToOnnxBytes(const std::string& json_path, int target_level) {
  std::string bytes;
  {
    py::gil_scoped_release release;
    bytes = AtbJsonFileToOnnxBytes(json_path, target_level);
  }
  return py::bytes(bytes);
}

py::bytes JsonTextToOnnxBytes(const std::string& text, int target_level, const std::string& where) {
  std::string bytes;
  {
    py::gil_scoped_release release;
    if (target_level < -1)
      Fail(where, "target level must be -1 (all leaves), 0 (the root as one node) or a depth >= 1, got {}",
           target_level);
    nlohmann::json topology;
    constexpr int kMaxDepth = 128;  // as the C++ file reader: deeper JSON would recurse that deep later
    bool too_deep = false;
    const nlohmann::json::parser_callback_t limit_depth = [&](int depth, nlohmann::json::parse_event_t event,
                                                              nlohmann::json&) {
      if ((event == nlohmann::json::parse_event_t::object_start ||
           event == nlohmann::json::parse_event_t::array_start) && depth >= kMaxDepth)
        too_deep = true;
      return !too_deep;
    };
    try {
      topology = nlohmann::json::parse(text, limit_depth);
      if (too_deep) Fail(where, "JSON nested more than {} levels deep", kMaxDepth);
    } catch (const nlohmann::json::exception& e) {
      std::string_view what = e.what();  // "[json.exception.parse_error.101] parse error at ..."
      if (size_t end = what.find("] "); what.starts_with("[json.exception.") && end != what.npos)
        what.remove_prefix(end + 2);
      Fail(where, "not valid JSON: {}", what);
    }
    bytes = AtbJsonToOnnxBytes(topology, target_level, where);
  }
  return py::bytes(bytes);
}

}  // namespace

void RegisterOnnx(py::module_& m) {
  m.def("atb_json_to_onnx", &JsonFileToOnnx, py::arg("json_path"), py::arg("target_level") = -1,
        "Converts an ATB topology JSON file to x.onnx beside it (x.json -> x.onnx); returns the path.");
  m.def("atb_json_file_to_onnx_bytes", &JsonFileToOnnxBytes, py::arg("json_path"), py::arg("target_level") = -1,
        "The ONNX model bytes for an ATB topology JSON file.");
  m.def("atb_json_text_to_onnx_bytes", &JsonTextToOnnxBytes, py::arg("text"), py::arg("target_level") = -1,
        py::arg("where") = "<topology>", "The ONNX model bytes for ATB topology JSON text.");
}

}  // namespace ait::python
