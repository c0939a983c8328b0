// libFuzzer target: the manual-mapping strategy (src/compare/pairing/pair_manual_mapping.cc)
// reading an arbitrary golden_tensor/metadata.json. The input is the file; the dump around it
// is a fixed dump_data folder (two tokens of golden .npy files, my files beside it), written
// once per process. The strategy is asked at the dump_data output folder and at golden_tensor/
// itself. ait::Error is the expected answer to bad input only from Pair (Recognize never
// throws); an accepted metadata.json must give one OpPair per row with that row as its only
// output, data_id / token_id straight from the keys, and a reason whenever nothing pairs.
#include <fstream>
#include <set>
#include <string_view>

#include "ait/error.h"
#include "ait/op_mapping.h"
#include "compare/pairing/pairing_strategy.h"
#include "fuzz_common.h"

namespace {

namespace fs = std::filesystem;

struct Dump {
  fs::path out, golden_tensor, metadata, my;
};

void Write(const fs::path& p, std::string_view text) {
  ait::fuzz::WriteInput(p.string(), reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

const Dump& TheDump() {
  static const Dump d = [] {
    Dump d;
    const fs::path root = fs::path(ait::fuzz::InputPath(".manual"));
    fs::remove_all(root);
    d.out = root / "out";
    d.golden_tensor = d.out / "ait_dump" / "1_-1" / "golden_tensor";
    d.metadata = d.golden_tensor / "metadata.json";
    d.my = root / "my";
    fs::create_directories(d.my);
    // The files are never read here (pairing only resolves paths); their names matter.
    for (const char* token : {"0", "1"}) {
      fs::create_directories(d.golden_tensor / token);
      for (const char* data : {"1", "2"}) {
        Write(d.golden_tensor / token / (std::string(data) + "_tensor.npy"), "x");
        Write(d.my / (std::string(token) + "_" + data + ".npy"), "x");
      }
    }
    // scripts/run-fuzz.sh: the seed is a metadata.json as dump_data writes it.
    if (const char* seed = std::getenv("AIT_FUZZ_SEED_OUT"); seed && *seed) {
      std::string text = "{";
      for (const char* data : {"1", "2"}) {
        text += std::string(text.size() > 1 ? ", " : "") + "\"" + data + "\": {";
        for (const char* token : {"0", "1"})
          text += std::string(token[0] == '1' ? ", " : "") + "\"" + token + "\": [\"" +
                  (d.golden_tensor / token / (std::string(data) + "_tensor.npy")).string() + "\", \"" +
                  (d.my / (std::string(token) + "_" + data + ".npy")).string() + "\"]";
        text += "}";
      }
      text += ", \"3\": {\"0\": [\"./ait_dump/1_-1/golden_tensor/0/1_tensor.npy\", \"my/0_1.npy\"]}}";
      Write(seed, text);
    }
    std::atexit([] { std::error_code ec; fs::remove_all(fs::path(ait::fuzz::InputPath(".manual")), ec); });
    return d;
  }();
  return d;
}

void Check(const ait::OpPairing& ops) {
  if (ops.rows.empty() && ops.nothing_paired.empty()) ait::fuzz::Die("nothing paired and no reason given");
  if (ops.ops.size() != ops.rows.size()) ait::fuzz::Die("not one OpPair per row");
  if (ops.broadcast) ait::fuzz::Die("manual mapping broadcasts");
  std::multiset<std::string> rows, outputs;
  for (const ait::TensorPair& r : ops.rows) {
    if (r.golden_path.empty() || r.my_path.empty()) ait::fuzz::Die("a row with an empty path");
    if (r.my_name != "data_" + r.data_id || r.match != "manual") ait::fuzz::Die("a row not named by its data_id");
    rows.insert(r.token_id + '\n' + r.data_id + '\n' + ait::PathKey(r));
  }
  for (const ait::OpPair& op : ops.ops) {
    if (op.outputs.size() != 1 || !op.inputs.empty()) ait::fuzz::Die("an OpPair that is not exactly one row");
    const ait::TensorPair& t = op.outputs.front();
    if (op.token_id != t.token_id || op.my_name != t.my_name) ait::fuzz::Die("an OpPair unlike its row");
    outputs.insert(t.token_id + '\n' + t.data_id + '\n' + ait::PathKey(t));
  }
  if (rows != outputs) ait::fuzz::Die("the OpPairs are not the rows");
  if (ops.notes.size() > 16) ait::fuzz::Die("too many notes");
}

void Ask(const fs::path& golden, const Dump& d) {
  static const ait::OpMapping mapping = ait::BuiltinOpMapping();
  ait::DumpPair dumps(golden, d.my, mapping);
  const ait::PairingStrategy& strategy = ait::ManualMappingStrategy();
  const ait::Recognition r = strategy.Recognize(dumps);
  if (!r.accepted()) {
    if (r.reason.empty()) ait::fuzz::Die("a refusal without a reason");
    return;
  }
  try {
    Check(strategy.Pair(dumps));
  } catch (const ait::Error&) {
    // only if the file changed between Recognize and Pair, which it does not here
    ait::fuzz::Die("Pair threw after Recognize accepted");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Dump& d = TheDump();
  Write(d.metadata, std::string_view(reinterpret_cast<const char*>(data), size));
  Ask(d.out, d);
  Ask(d.golden_tensor, d);
  return 0;
}
