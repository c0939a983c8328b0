// Shared pieces of the ait_llm._ait_core bindings: numpy <-> ait::Tensor, and the
// registration functions each bindings/*.cc file defines.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>
#include <string>

#include "ait/tensor.h"

namespace ait::python {

namespace py = pybind11;

// The numpy dtype holding `t`'s elements: bfloat16 has none and comes back as uint16
// (its raw bits), for the Python side to turn into a torch tensor or float32.
py::dtype NumpyDType(DType t);

// A view of a C-contiguous, native-byte-order numpy array as a Tensor (no copy; the
// array must outlive the tensor and stay unchanged while C++ reads it). `dtype_name`
// overrides the element type for arrays that carry another type's bits, e.g. "bfloat16"
// for a 2-byte integer array. Throws py::type_error for what the core cannot hold.
Tensor TensorView(const py::array& array, const std::optional<std::string>& dtype_name);

void RegisterTensorIo(py::module_& m);
void RegisterCompare(py::module_& m);
void RegisterOnnx(py::module_& m);
void RegisterOpcheck(py::module_& m);

}  // namespace ait::python
