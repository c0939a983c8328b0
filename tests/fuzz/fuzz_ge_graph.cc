// libFuzzer target: the GE graph text (`dynamo_original_graph_*.txt`, FORMATS.md 9.3) on
// arbitrary bytes, read with protobuf's TextFormat parser into the operators the GE pairing
// strategies use. ait::Error is the expected answer to a malformed text. See docs/FUZZING.md.
#include "formats/ge_graph.h"

#include "ait/error.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = ait::fuzz::InputPath(".txt");
  ait::fuzz::WriteInput(path, data, size);
  try {
    ait::GeGraph graph;
    ait::ReadGeGraph(path, graph);
    size_t sink = 0;
    for (const ait::GeGraphOp& op : graph.ops) {
      if (graph.Find(op.name) == nullptr) ait::fuzz::Die("an operator of the graph is not found by its name");
      sink += op.inputs.size() + op.fx_tensor_names.size();
    }
    volatile size_t keep = sink;
    (void)keep;
  } catch (const ait::Error&) {
  }
  return 0;
}
