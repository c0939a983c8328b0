// libFuzzer target: AtbJsonToOnnx on arbitrary bytes saved as a topology .json file, at
// levels -1, 0, 1 and 2. ait::Error is the expected answer to bad input; every model that
// is written must parse and pass onnx's own checker (the promise of include/ait/atb_onnx.h).
// The input is the file itself: reproduce with `ait llm onnx x.json --level N`.
// See docs/FUZZING.md; the file helpers are in fuzz_common.h.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <fstream>

#include "ait/atb_onnx.h"
#include "fuzz_common.h"

namespace {

void CheckWrittenModel(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  onnx::ModelProto model;
  if (!in || !model.ParseFromIstream(&in)) ait::fuzz::Die("the written .onnx file does not parse as a ModelProto");
  try {
    onnx::checker::check_model(model);
  } catch (const onnx::checker::ValidationError& e) {
    std::fprintf(stderr, "onnx checker: %s\n", e.what());
    ait::fuzz::Die("onnx's checker rejects a written model");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = ait::fuzz::InputPath(".json");
  static const std::string onnx_path = [&] {
    std::string p = path.substr(0, path.size() - 5) + ".onnx";
    std::atexit([] { ::unlink(onnx_path.c_str()); });
    return p;
  }();
  ait::fuzz::WriteInput(path, data, size);
  for (int level : {-1, 0, 1, 2}) {
    ::unlink(onnx_path.c_str());
    try {
      std::string written = ait::AtbJsonToOnnx(path, level);
      if (written != onnx_path) ait::fuzz::Die("AtbJsonToOnnx wrote somewhere else than x.json -> x.onnx");
      CheckWrittenModel(written);
    } catch (const ait::Error&) {
      // The expected outcome for malformed input; nothing may be left behind.
      if (::access(onnx_path.c_str(), F_OK) == 0) ait::fuzz::Die("a failed conversion left an .onnx file");
    }
  }
  return 0;
}
