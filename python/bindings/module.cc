// ait_llm._ait_core: the C++ core seen from Python, so both give identical answers.
#include <pybind11/pybind11.h>

namespace py = pybind11;

PYBIND11_MODULE(_ait_core, m) {
  m.doc() = "ait-llm C++ core: tensor I/O, compare metrics, ATB JSON -> ONNX";
  m.attr("__version__") = AIT_VERSION;
}
