// ait_llm._ait_core: the C++ core seen from Python, so both give identical answers.
// Heavy work runs with the GIL released; ait::Error surfaces as ait_llm.AitError (a
// RuntimeError) carrying the C++ message, which names the file and the reason: the very text
// the CLI prints. PyErr_SetString needs it NUL-free, valid UTF-8 (a message it cannot decode
// leaves the exception empty), which ait::Error guarantees (PrintableText, ait/error.h).
#include "ait/error.h"
#include "bindings.h"

namespace py = pybind11;

PYBIND11_MODULE(_ait_core, m) {
  m.doc() = "ait-llm C++ core: tensor I/O, compare metrics, ATB JSON -> ONNX";
  m.attr("__version__") = AIT_VERSION;
  py::register_exception<ait::Error>(m, "AitError", PyExc_RuntimeError);
  ait::python::RegisterTensorIo(m);
  ait::python::RegisterCompare(m);
  ait::python::RegisterOnnx(m);
  ait::python::RegisterOpcheck(m);
}
