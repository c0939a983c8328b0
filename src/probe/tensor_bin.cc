#include "probe/tensor_bin.h"

namespace ait::probe {

std::string TensorBinHeader(const std::string& format, const std::string& dtype, const std::string& dims,
                            bool with_data, uint64_t data_size) {
  const std::string length = with_data ? std::to_string(data_size) : "0";
  std::string h;
  h.reserve(128 + dims.size());
  h += "$Version=1.0\n$Object.Count=";
  h += with_data ? "1" : "0";
  h += "\n$Object.Length=" + length + "\n";
  h += "format=" + format + "\ndtype=" + dtype + "\ndims=" + dims + "\n";
  if (with_data) h += "$Object.data=0," + length + "\n";
  h += "$End=1\n";
  return h;
}

bool IsHeaderValue(const std::string& value) {
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '=') return false;
  }
  return true;
}

}  // namespace ait::probe
