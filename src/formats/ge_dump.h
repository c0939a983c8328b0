// torchair GE dump files (FORMATS.md 9.2): what their names say. The reader itself is the
// tensor format GeDumpFormat() (include/ait/tensor_io.h); the GE pairing strategies use the
// names to find each operator and its place in the run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ait {

// `<op_type>.<op_name>.<task_id>.<stream_id>.<timestamp>`; op_name may hold dots (every
// piece between the first and the last three).
struct GeDumpName {
  std::string op_type, op_name;
  uint64_t task_id = 0, stream_id = 0, timestamp = 0;
};

// The parts of a GE dump file's name (no folders), or nullopt when it is not one: fewer than
// five dot-separated pieces, a `.txt`/`.npy`/`.bin`/... extension, or non-numeric task, stream
// or timestamp pieces.
std::optional<GeDumpName> ParseGeDumpName(std::string_view filename);

// A GE dump file's member names: `inputs,K` and `outputs,K` (as the original's report
// addresses them).
std::string GeMemberName(bool input, size_t index);

}  // namespace ait
