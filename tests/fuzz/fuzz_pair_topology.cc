// libFuzzer target: topology pairing (PairByTopology, docs/COMPARE_PAIRING.md) with an
// arbitrary ATB model JSON and torch model_tree.json / module_order.json. The input is split
// at "\n--tree--\n" and "\n--order--\n": the ATB dump's model JSON, then the torch dump's
// model_tree.json, then its module_order.json (a missing part keeps the original file). The
// tensor folders are fixed synthetic dumps of a one-layer Llama (tests/unit/synthetic_dumps.h),
// written once per process. Pairings run torch vs ATB, ATB vs torch and a quantized ATB dump
// (its own valid topology) vs the input's. ait::Error is the expected answer to bad input;
// every OpPair must hold an output, and every tensor path must lie inside its dump.
#include <string_view>

#include "ait/error.h"
#include "ait/op_mapping.h"
#include "compare/pairing/pairing_strategy.h"
#include "fuzz_common.h"
#include "unit/synthetic_dumps.h"

namespace {

namespace fs = std::filesystem;
using namespace ait::testing;

struct Dumps {
  fs::path root, atb, atb2, torch, atb_json, tree, order;
  std::string tree_original, order_original;
};

void Write(const fs::path& p, std::string_view text) {
  ait::fuzz::WriteInput(p.string(), reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const Dumps& TheDumps() {
  static const Dumps d = [] {
    Dumps d;
    d.root = fs::path(ait::fuzz::InputPath(".dumps"));
    fs::remove_all(d.root);
    d.atb = d.root / "atb";
    d.atb2 = d.root / "atb2";
    d.torch = d.root / "torch";
    WriteAtbDump(d.atb, EngineModel(1, EngineLayerOps()), true, {"0"});
    WriteAtbDump(d.atb2, EngineModel(1, EngineLayerOps("LinearQuantOperation")), true, {"0"}, "4343");
    const fs::path proc = WriteTorchDump(d.torch, HfModel(1), HfModelOrder(1), {"0"});
    d.atb_json = d.atb / "ait_dump/model/4242/LlamaModel.json";
    d.tree = proc / "model_tree.json";
    d.order = proc / "0" / "module_order.json";
    d.tree_original = ReadAll(d.tree);
    d.order_original = ReadAll(d.order);
    // scripts/run-fuzz.sh: the seed is the synthetic dumps' own three files, joined.
    if (const char* seed = std::getenv("AIT_FUZZ_SEED_OUT"); seed && *seed) {
      const std::string text = ReadAll(d.atb_json) + "\n--tree--\n" + d.tree_original + "\n--order--\n" + d.order_original;
      Write(seed, text);
    }
    std::atexit([] { std::error_code ec; fs::remove_all(fs::path(ait::fuzz::InputPath(".dumps")), ec); });
    return d;
  }();
  return d;
}

bool Inside(const std::string& path, const fs::path& root) {
  const std::string r = root.string() + "/";
  return path.compare(0, r.size(), r) == 0 && path.find("/../") == std::string::npos;
}

void Check(const std::optional<ait::OpPairing>& pairing, const Dumps& d) {
  if (!pairing) return;
  for (const ait::OpPair& op : pairing->ops) {
    if (op.outputs.empty()) ait::fuzz::Die("an OpPair without outputs");
    for (const auto* list : {&op.inputs, &op.outputs})
      for (const ait::TensorPair& t : *list)
        if (!Inside(t.golden_path, d.root) || !Inside(t.my_path, d.root))
          ait::fuzz::Die("a tensor path outside the dumps");
  }
}

void Pair(const fs::path& golden, const fs::path& my, const Dumps& d) {
  try {
    Check(ait::PairByTopology(golden, my, ait::BuiltinOpMapping()), d);
  } catch (const ait::Error&) {
    // the expected answer to bad topology
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Dumps& d = TheDumps();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view atb = input, tree, order;
  bool has_tree = false, has_order = false;
  if (size_t t = input.find("\n--tree--\n"); t != input.npos) {
    atb = input.substr(0, t);
    tree = input.substr(t + 10);
    has_tree = true;
    if (size_t o = tree.find("\n--order--\n"); o != tree.npos) {
      order = tree.substr(o + 11);
      tree = tree.substr(0, o);
      has_order = true;
    }
  }
  Write(d.atb_json, atb);
  Write(d.tree, has_tree ? tree : std::string_view(d.tree_original));
  Write(d.order, has_order ? order : std::string_view(d.order_original));
  Pair(d.torch, d.atb, d);
  Pair(d.atb, d.torch, d);
  Pair(d.atb2, d.atb, d);  // the quantized dump's own topology against the input: float vs quant rules
  return 0;
}
