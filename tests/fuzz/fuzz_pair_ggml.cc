// libFuzzer target: the "ggml-torch" pairing strategy (src/compare/pairing/pair_ggml_torch.cc,
// docs/LLAMA_CPP.md) with an arbitrary ggml_graph.json, the ATB model JSON libait_ggml_dump
// writes, against a fixed torch dump. The input is split at "\n--mf--\n": the ggml dump's
// ait_dump/model/{pid}/ggml_graph.json, then (optional, at most 2 KiB) an op_mapping_file.json
// read with LoadOpMapping, whose entries extend the strategy's Llama table (a file it refuses
// leaves the built-ins). The ggml dump's tensor folders follow the input as the dumper writes them:
// every top-level node whose param.written is a non-empty string gets
// {folderId (else its position)}_{opType}/after/outtensor0.bin, shaped by param.ne (slowest dimension first,
// trailing 1s dropped), typed by param.written ("float16...", "bfloat16...", "int32...",
// else float32), when its opType is a folder name ([A-Za-z0-9_], at most 40 characters) and
// ne holds at most 4 dimensions of at most 4096 elements in all. The torch dump (model_tree.json,
// module_order.json and module folders of one-layer Llama tensors, tests/unit/synthetic_dumps.h)
// is written once per process. Pairings run torch vs ggml and ggml vs torch; a pairing is then
// scored (ScoreForAnalysis: every tensor pair read, its layout applied) and analysed
// (AnalyzeDivergence), as compare does. ait::Error is the expected answer to bad input; every
// OpPair must hold an output, and every tensor path must lie inside the dumps.
// AIT_FUZZ_PRINT=1 prints each pairing's strategy, counts and notes (to see what a seed reaches);
// Each ggml node must be paired with its own file (Check; AIT_FUZZ_CHECK_FOLDERS=0 turns that off).
#include <cstdio>
#include <map>
#include <set>
#include <string_view>

#include "ait/divergence.h"
#include "ait/error.h"
#include "ait/op_mapping.h"
#include "compare/pairing/dump_layout.h"
#include "compare/pairing/pairing_strategy.h"
#include "compare/scoring/score_pairing.h"
#include "fuzz_common.h"
#include "unit/synthetic_dumps.h"

namespace {

namespace fs = std::filesystem;
using namespace ait::testing;

constexpr size_t kMaxFolders = 512;       // tensor folders written per input
constexpr int64_t kMaxElements = 4096;    // per tensor
constexpr size_t kMaxOpTypeChars = 40;
constexpr size_t kMaxMappingBytes = 2048;  // the -mf part (see LLVMFuzzerTestOneInput)

struct Dumps {
  fs::path root, ggml, torch, ggml_json, ggml_token, mapping;
};

// This input's tensor folders ("12_MUL_MAT") and the opName of the node each was written for.
std::map<std::string, std::string> g_folder_node;
// The opNames of the nodes that carry a "folderId" (as the dumper writes every node): their
// folder is known, so Check holds them to it; without one the reader may guess another's.
std::set<std::string> g_exact_names;

void Write(const fs::path& p, std::string_view text) {
  ait::fuzz::WriteInput(p.string(), reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

const Dumps& TheDumps() {
  static const Dumps d = [] {
    Dumps d;
    d.root = fs::path(ait::fuzz::InputPath(".dumps"));
    fs::remove_all(d.root);
    d.ggml = d.root / "ggml";
    d.torch = d.root / "torch";
    WriteTorchDump(d.torch, HfModel(1), HfModelOrder(1), {"0"});
    d.ggml_json = d.ggml / "ait_dump/model/4242/ggml_graph.json";
    d.ggml_token = d.ggml / "ait_dump/tensors/0_4242/0";
    d.mapping = d.root / "op_mapping_file.json";
    fs::create_directories(d.ggml_json.parent_path());
    std::atexit([] { std::error_code ec; fs::remove_all(fs::path(ait::fuzz::InputPath(".dumps")), ec); });
    return d;
  }();
  return d;
}

bool FolderName(const std::string& s) {
  if (s.empty() || s.size() > kMaxOpTypeChars) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// The file's dims as the dumper writes them: ggml's ne reversed, trailing 1s (outer dims) dropped.
bool Dims(const nlohmann::json& ne, std::vector<int64_t>* dims) {
  if (!ne.is_array() || ne.empty() || ne.size() > 4) return false;
  std::vector<int64_t> v;
  int64_t numel = 1;
  for (const auto& e : ne) {
    if (!e.is_number_integer()) return false;
    const int64_t x = e.get<int64_t>();
    if (x < 0 || x > kMaxElements) return false;
    numel *= x;
    if (numel > kMaxElements) return false;
    v.push_back(x);
  }
  while (v.size() > 1 && v.back() == 1) v.pop_back();
  dims->assign(v.rbegin(), v.rend());
  return true;
}

ait::DType WrittenType(const std::string& written) {
  if (written.starts_with("float16")) return ait::DType::kFloat16;
  if (written.starts_with("bfloat16")) return ait::DType::kBFloat16;
  if (written.starts_with("int32")) return ait::DType::kInt32;
  return ait::DType::kFloat32;
}

ait::Tensor Values(ait::DType dtype, const std::vector<int64_t>& dims, uint32_t seed) {
  ait::Tensor t = ait::Tensor::Allocate(dtype, dims);
  std::byte* p = t.mutable_data();
  uint32_t x = seed * 2654435761u + 12345u;
  for (int64_t i = 0; i < t.numel(); ++i) {
    x = x * 1664525u + 1013904223u;
    const float f = static_cast<float>(static_cast<int32_t>(x >> 8) % 2000) / 1000.0f;  // [-2, 2)
    if (dtype == ait::DType::kFloat16) {
      const uint16_t h = ait::FloatToHalf(f);
      std::memcpy(p + 2 * i, &h, 2);
    } else if (dtype == ait::DType::kBFloat16) {
      const uint16_t h = ait::FloatToBFloat16(f);
      std::memcpy(p + 2 * i, &h, 2);
    } else if (dtype == ait::DType::kInt32) {
      const int32_t v = static_cast<int32_t>(x >> 28);
      std::memcpy(p + 4 * i, &v, 4);
    } else {
      std::memcpy(p + 4 * i, &f, 4);
    }
  }
  return t;
}

// The token folder of the ggml dump, rewritten for this input (it always exists, so the dump
// is recognised even when nothing was written).
void WriteGgmlTensors(const Dumps& d) {
  g_folder_node.clear();
  g_exact_names.clear();
  fs::remove_all(d.ggml_token);
  fs::create_directories(d.ggml_token);
  const std::optional<nlohmann::json> model = ait::TryReadJsonFile(d.ggml_json);
  if (!model || !model->is_object()) return;
  auto nodes = model->find("nodes");
  if (nodes == model->end() || !nodes->is_array()) return;
  size_t position = 0, folders = 0;
  for (const nlohmann::json& n : *nodes) {
    if (!n.is_object()) continue;  // the reader skips them without counting a position
    const size_t here = position++;
    auto type = n.find("opType");
    auto param = n.find("param");
    if (type == n.end() || !type->is_string() || !FolderName(type->get<std::string>())) continue;
    if (param == n.end() || !param->is_object()) continue;
    auto written = param->find("written");
    auto ne = param->find("ne");
    if (written == param->end() || !written->is_string() || written->get<std::string>().empty()) continue;
    std::vector<int64_t> dims;
    if (ne == param->end() || !Dims(*ne, &dims)) continue;
    if (++folders > kMaxFolders) break;
    // The folder is named by the node's "folderId" as the dumper writes it, else by its position.
    auto id = n.find("folderId");
    const bool id_ok = id != n.end() && id->is_string() && !id->get<std::string>().empty() &&
                       id->get<std::string>().size() <= 9 &&
                       id->get<std::string>().find_first_not_of("0123456789") == std::string::npos;
    const std::string folder = (id_ok ? id->get<std::string>() : std::to_string(here)) + "_" + type->get<std::string>();
    auto name = n.find("opName");
    const std::string node_name = name != n.end() && name->is_string() ? name->get<std::string>() : "";
    if (!g_folder_node.emplace(folder, node_name).second) continue;  // the dumper writes one node per folder
    if (id_ok) g_exact_names.insert(node_name);
    const fs::path file = d.ggml_token / folder / "after/outtensor0.bin";
    WriteBin(file, Values(WrittenType(written->get<std::string>()), dims, static_cast<uint32_t>(here)));
  }
}

bool Inside(const std::string& path, const fs::path& root) {
  const std::string r = root.string() + "/";
  return path.compare(0, r.size(), r) == 0 && path.find("/../") == std::string::npos;
}

// Also, unless AIT_FUZZ_CHECK_FOLDERS=0: a ggml node's output file is the one written for it
// (folder {position}_{opType} of a node of its name), not another node's. (The ATB reader's
// rank-of-type fallback used to give a node without a folder, in a node_filter dump, the folder
// of a later node of its type; the dumper's "folderId" rules that out.)
void Check(const ait::OpPairing& pairing, const Dumps& d, bool ggml_is_my) {
  static const bool check_folders = [] {
    const char* v = std::getenv("AIT_FUZZ_CHECK_FOLDERS");
    return !(v && *v == '0');
  }();
  for (const ait::OpPair& op : pairing.ops) {
    if (op.outputs.empty()) ait::fuzz::Die("an OpPair without outputs");
    for (const auto* list : {&op.inputs, &op.outputs})
      for (const ait::TensorPair& t : *list)
        if (!Inside(t.golden_path, d.root) || !Inside(t.my_path, d.root))
          ait::fuzz::Die("a tensor path outside the dumps");
    if (!check_folders || !g_exact_names.count(ggml_is_my ? op.my_name : op.golden_name)) continue;
    for (const ait::TensorPair& t : op.outputs) {
      const fs::path file = ggml_is_my ? t.my_path : t.golden_path;
      auto it = g_folder_node.find(file.parent_path().parent_path().filename().string());
      if (it == g_folder_node.end()) ait::fuzz::Die("a ggml output file this input did not write");
      if (it->second != (ggml_is_my ? op.my_name : op.golden_name)) {
        std::fprintf(stderr, "ait fuzz: %s paired with %s, written for %s\n",
                     (ggml_is_my ? op.my_name : op.golden_name).c_str(), file.c_str(), it->second.c_str());
        ait::fuzz::Die("a ggml node paired with another node's tensor file");
      }
    }
  }
}

void Print(const ait::OpPairing& p, const std::vector<ait::CompareRow>& rows) {
  size_t scored = 0;
  for (const auto& r : rows) scored += r.metrics.has_value();
  std::fprintf(stderr, "strategy: %s; %zu ops, %zu rows, %zu tensor pairs scored of %zu\n", p.strategy.c_str(),
               p.ops.size(), p.rows.size(), scored, rows.size());
  for (const auto& n : p.notes) std::fprintf(stderr, "  note: %s\n", n.c_str());
  for (const auto& op : p.ops)
    std::fprintf(stderr, "  %s %s ~ %s (%zu in, %zu out%s%s)\n", op.match.c_str(), op.my_name.c_str(),
                 op.golden_name.c_str(), op.inputs.size(), op.outputs.size(),
                 op.outputs.front().my_layout.empty() ? "" : ", my layout ",
                 op.outputs.front().my_layout.c_str());
}

void PairAndScore(const fs::path& golden, const fs::path& my, const ait::OpMapping& mapping, const Dumps& d) {
  const bool ggml_is_my = my == d.ggml;
  std::optional<ait::OpPairing> pairing;
  try {
    pairing = ait::PairByTopology(golden, my, mapping);
  } catch (const ait::Error&) {
    return;  // the expected answer to bad topology
  }
  if (!pairing) return;
  Check(*pairing, d, ggml_is_my);
  ait::CompareOptions options;
  options.threads = 1;
  options.broadcast = pairing->broadcast;
  const std::vector<ait::CompareRow> rows = ait::ScoreForAnalysis(pairing->rows, *pairing, options);  // never throws
  if (rows.size() < pairing->rows.size()) ait::fuzz::Die("fewer scored rows than report rows");
  const ait::DivergenceReport report = ait::AnalyzeDivergence(*pairing, rows, ait::DivergenceOptions{});
  if (report.ops.size() != pairing->ops.size()) ait::fuzz::Die("the analysis does not cover every OpPair");
  if (const char* p = std::getenv("AIT_FUZZ_PRINT"); p && *p == '1') Print(*pairing, rows);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Dumps& d = TheDumps();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view graph = input, mf;
  bool has_mf = false;
  if (size_t m = input.find("\n--mf--\n"); m != input.npos) {
    graph = input.substr(0, m);
    mf = input.substr(m + 8);
    has_mf = true;
  }
  Write(d.ggml_json, graph);
  WriteGgmlTensors(d);
  ait::OpMapping mapping = ait::BuiltinOpMapping();
  // LoadOpMapping checks each key and value with std::regex_match, whose libstdc++ matcher
  // recurses once per character: a name of ~16 000 characters overflows the stack under ASan
  // (~50 000 in a release build: `ait llm compare -mf` segfaults). Known; kept short here so
  // that the fuzzer explores the strategy rather than that.
  if (has_mf && mf.size() <= kMaxMappingBytes) {
    Write(d.mapping, mf);
    try {
      mapping = ait::LoadOpMapping(d.mapping.string());
    } catch (const ait::Error&) {
      // a refused file: the built-ins
    }
  }
  PairAndScore(d.torch, d.ggml, mapping, d);
  PairAndScore(d.ggml, d.torch, mapping, d);
  return 0;
}
