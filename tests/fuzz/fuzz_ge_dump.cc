// libFuzzer target: a GE dump file (FORMATS.md 9.2) on arbitrary bytes: its member names from
// the header alone, then every member read on its own (the FRACTAL_NZ / NC1HWC0 conversions
// included) and touched, as compare reads `FILE,inputs,K`. See docs/FUZZING.md.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ait::TensorFormat& format = ait::GeDumpFormat();
  const std::string& path = ait::fuzz::InputPath(".Add_2.44.6.1706596912161941");
  ait::fuzz::WriteInput(path, data, size);
  std::vector<std::string> names;
  try {
    names = format.MemberNames(path);
  } catch (const ait::Error&) {
    return 0;  // the expected outcome for a malformed file
  }
  size_t budget = ait::fuzz::kTouchBudget;
  for (const std::string& name : names) {
    try {
      ait::fuzz::Touch(format.ReadMember(path, name), budget);
    } catch (const ait::Error&) {
      // a tensor of a format or type that is not read, a shape that does not fit its size
    }
  }
  return 0;
}
