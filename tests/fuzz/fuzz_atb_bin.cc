// libFuzzer target: AtbBinFormat().ReadAll on arbitrary bytes saved as a .bin file.
// See docs/FUZZING.md; the shared body is in fuzz_common.h.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ait::fuzz::RunOne(ait::AtbBinFormat(), ".bin", data, size);
}
