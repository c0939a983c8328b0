// libFuzzer target: NpzFormat().ReadAll on arbitrary bytes saved as the pre-converted .npz of
// a GE dump file (`<GE dump file name>.npz`), so both the stacked `inputs` / `outputs` rule and
// plain members are reached. The zip layer is fuzz_pth's too; the .npy members are parsed by
// the .npy reader. See docs/FUZZING.md; the shared body is in fuzz_common.h.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ait::fuzz::RunOne(ait::NpzFormat(), ".Add_2.44.6.1706596912161941.npz", data, size);
}
