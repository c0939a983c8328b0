// Rows of the operation/kernel IO description files (FORMATS.md 2.5):
// operation_io_tensors/{pid}/operation_tensors_{n}.csv and kernel_io_tensors/.../kernel_tensors_{n}.csv.
// '|'-separated, no quoting, 21 columns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ait/atb_probe_abi.h"

namespace ait::probe {

// The header line, with its '\n'.
const std::string& IoCsvHeader();

// The CaseNum a new row gets in a file that already holds `lines` lines (header included):
// the original counts the lines, stopping at 10000.
uint64_t NextCaseNum(uint64_t lines);

// One row with its '\n'. Every tensor path is prefixed with `tensor_root` (the absolute
// `<OUT>ait_dump/tensors/`). probe-ait prefixed only the first path of each column (the
// whole ';'-joined list got one prefix); we prefix each element, as probe-ait-late does, so
// every path in the file can be opened as it stands. Line breaks inside a field (a kernel's
// stringified param) become spaces so that a row stays one line.
std::string IoCsvRow(uint64_t case_num, const std::string& op_name, const std::string& op_param,
                     const std::vector<atb::Probe::Tensor>& in, const std::vector<atb::Probe::Tensor>& out,
                     const std::string& tensor_root);

}  // namespace ait::probe
