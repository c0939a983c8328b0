// The ATB `.bin` tensor file (FORMATS.md 1.1): an ASCII `name=value` header, then the data.
#pragma once

#include <cstdint>
#include <string>

namespace ait::probe {

// The header for a tensor with the given decimal format/dtype codes and ','-joined dims.
// With `with_data`, the header declares one object "data" of `data_size` bytes (the bytes
// follow the header); without, it is a description-only file (`$Object.Count=0`).
std::string TensorBinHeader(const std::string& format, const std::string& dtype, const std::string& dims,
                            bool with_data, uint64_t data_size);

// True when `value` can be a header value: no control characters (a newline would end the
// line early) and no '='.
bool IsHeaderValue(const std::string& value);

}  // namespace ait::probe
