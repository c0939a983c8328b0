// libFuzzer target: SafetensorsFormat().ReadAll on arbitrary bytes saved as a .safetensors file.
// See docs/FUZZING.md; the shared body is in fuzz_common.h.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ait::fuzz::RunOne(ait::SafetensorsFormat(), ".safetensors", data, size);
}
