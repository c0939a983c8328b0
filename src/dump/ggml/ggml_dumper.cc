// The ggml eval-callback dumper (ggml_dumper.h).
#include "dump/ggml/ggml_dumper.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>
#include <ggml.h>

#include "ait/error.h"
#include "ait/ggml_dump.h"
#include "ait/probe_env.h"
#include "dump/ggml/ggml_tensor_read.h"
#include "probe/file_writer.h"

namespace ait::ggml_dump {
namespace {

using nlohmann::json;

constexpr size_t kMaxProblems = 8;

// The layer a llama.cpp node name carries: "attn_norm-3" and "Qcur-3 (reshaped)" -> 3; -1
// for names without one ("inp_embd", "result_output").
int LayerOf(const std::string& name) {
  std::string base = name.substr(0, name.find(" ("));
  const size_t dash = base.rfind('-');
  if (dash == std::string::npos || dash + 1 == base.size() || base.size() - dash > 7) return -1;
  for (size_t i = dash + 1; i < base.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(base[i]))) return -1;
  return std::stoi(base.substr(dash + 1));
}

// The op as a folder name part: letters, digits and '_' ("MUL_MAT", "SILU").
std::string FolderOp(const char* op) {
  std::string s = op ? op : "NONE";
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  return s.empty() ? "NONE" : s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string JoinDims(const std::vector<int64_t>& dims) {
  std::string out;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(dims[i]);
  }
  return out;
}

}  // namespace

GgmlDumper::GgmlDumper(DumperOptions options) : options_(std::move(options)), dumper_(options_.config) {}

void GgmlDumper::Problem(std::string message) {
  if (problems_.size() < kMaxProblems) problems_.push_back(std::move(message));
}

bool GgmlDumper::Selected(const Node& node, int index) const {
  const probe::Config& c = options_.config;
  if (!c.IsExecuteCountInRange(token_) || !c.IsTensorNeedSave({index}, Lower(node.op))) return false;
  if (options_.node_filter.empty()) return true;
  return std::any_of(options_.node_filter.begin(), options_.node_filter.end(),
                     [&](const std::string& glob) { return engine::GlobMatch(glob, node.name); });
}

std::string GgmlDumper::Folder(int index, const std::string& op) const {
  return fmt::format("{}_{}/{}/{}_{}/after/", options_.device, getpid(), token_, index, op);
}

bool GgmlDumper::Eval(ggml_tensor* t, bool ask) {
  if (ask) {
    Node n;
    n.name = ggml_get_name(t);
    n.op = FolderOp(ggml_op_desc(t));
    n.type = TypeName(t);
    n.ne.assign(t->ne, t->ne + GGML_MAX_DIMS);
    n.contiguous = ggml_is_contiguous(t);
    if (t->view_src != nullptr) n.view_of = ggml_get_name(t->view_src);
    for (int k = 0; k < GGML_MAX_SRC; ++k) {
      const ggml_tensor* s = t->src[k];
      if (s == nullptr) continue;
      auto it = index_.find(s);
      n.sources.push_back({ggml_get_name(s), TypeName(s), it == index_.end() ? -1 : it->second, ""});
    }
    const int index = static_cast<int>(nodes_.size());
    const probe::Config& c = options_.config;
    const bool selected = Selected(n, index);
    // Sources are read now, before the node runs: ggml computes some ops (MUL, ADD, RMS_NORM,
    // SOFT_MAX) in place, in a source's memory. They are ready because, while sources are
    // wanted, every node is computed on its own (the `true` below).
    const bool sources_wanted = c.IsSaveIntensor() && c.IsExecuteCountInRange(token_);
    if (selected && c.IsSaveIntensor())
      for (int k = 0, j = 0; k < GGML_MAX_SRC; ++k)
        if (t->src[k] != nullptr) {
          Write(t->src[k], Folder(index, n.op) + "intensor" + std::to_string(j) + ".bin",
                &n.sources[static_cast<size_t>(j)].written);
          ++j;
        }
    pending_ = index;
    pending_write_ = selected && c.IsSaveOuttensor();
    // A view holds no values of its own (a reshape of Qcur-N shares its name and memory):
    // perturbing it would apply the fault to the viewed node a second time.
    pending_perturb_ = t->view_src == nullptr &&
                       std::any_of(options_.perturb.begin(), options_.perturb.end(),
                                   [&](const engine::Perturbation& p) { return p.Matches(n.name); });
    index_[t] = index;
    nodes_.push_back(std::move(n));
    ++nodes_seen_;
    return pending_write_ || pending_perturb_ || sources_wanted;
  }
  auto it = index_.find(t);
  if (it == index_.end() || it->second != pending_) return true;
  Node& n = nodes_[static_cast<size_t>(pending_)];
  if (pending_perturb_) Perturb(t, n);
  if (pending_write_) Write(t, Folder(pending_, n.op) + "outtensor0.bin", &n.written);
  pending_ = -1;
  return true;
}

void GgmlDumper::Write(const ggml_tensor* t, const std::string& file_path, std::string* written) {
  HostTensor host;
  std::string error;
  if (!ReadHostTensor(t, &host, &error)) {
    ++unreadable_;
    Problem(fmt::format("{}: '{}' not written: {}", file_path, ggml_get_name(t), error));
    return;
  }
  *written = std::string(ShortName(host.dtype)) + (host.converted.empty() ? "" : ", " + host.converted);
  dumper_.SaveTensor("2", std::to_string(AtbCode(host.dtype)), JoinDims(host.dims),
                     host.host != nullptr ? static_cast<const void*>(host.host) : host.data.data(), host.nbytes, file_path);
  ++files_;
  bytes_ += host.nbytes;
}

void GgmlDumper::Perturb(ggml_tensor* t, const Node& node) {
  std::vector<float> values;
  std::string error;
  if (!ReadFloats(t, &values, &error)) {
    Problem(fmt::format("perturbing '{}' (token {}): {}", node.name, token_, error));
    return;
  }
  Tensor view;
  view.dtype = DType::kFloat32;
  view.shape = {static_cast<int64_t>(values.size())};
  view.data = reinterpret_cast<const std::byte*>(values.data());
  view.nbytes = values.size() * sizeof(float);
  for (const engine::Perturbation& p : options_.perturb)
    if (p.Matches(node.name)) p.Apply(view, engine::PerturbSeed(node.name, token_, 0));
  if (!WriteFloats(t, values, &error)) {
    Problem(fmt::format("perturbing '{}' (token {}): {}", node.name, token_, error));
    return;
  }
  ++perturbed_;
}

std::string GgmlDumper::Signature() const {
  std::string s;
  for (const Node& n : nodes_) s += n.name + '\x1f' + n.op + '\x1e';
  return s;
}

void GgmlDumper::WriteTopology() {
  json nodes = json::array();
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    json sources = json::array(), in_names = json::array();
    for (const Node::Source& s : n.sources) {
      sources.push_back({{"name", s.name}, {"type", s.type}, {"node", s.node}, {"written", s.written}});
      in_names.push_back(s.name);
    }
    json param = {{"index", i},          {"name", n.name},         {"layer", LayerOf(n.name)},
                  {"type", n.type},      {"ne", n.ne},             {"contiguous", n.contiguous},
                  {"sources", sources},  {"written", n.written},   {"view_of", n.view_of}};
    // An unnamed node is named as ATB names operations, `{OP}_{index}`. "folderId" (ait's
    // extension of the model JSON) ties each node to its folder, written or not.
    nodes.push_back({{"opName", n.name.empty() ? fmt::format("{}_{}", n.op, i) : n.name},
                     {"opType", n.op},
                     {"folderId", std::to_string(i)},
                     {"param", std::move(param)},
                     {"inTensors", std::move(in_names)},
                     {"outTensors", json::array({n.name})}});
  }
  json model = {{"modelName", AIT_GGML_MODEL_NAME}, {"engine", "ggml"}, {"token", token_}, {"nodes", std::move(nodes)}};
  const std::string dir = options_.config.root + probe_env::kModelDir + "/" + std::to_string(getpid());
  const std::string text = model.dump(1) + "\n";
  if (probe::MakeDirs(dir, dumper_.errors()))
    probe::WriteFileAtomically(dir + "/" AIT_GGML_MODEL_NAME ".json", text.data(), text.size(), dumper_.errors());
}

int GgmlDumper::EndToken() {
  const int count = static_cast<int>(nodes_.size());
  if (count > 0) {
    const bool dumped = options_.config.IsExecuteCountInRange(token_);
    if (!topology_written_ && dumped) {
      WriteTopology();
      topology_written_ = true;
      topology_signature_ = Signature();
    } else if (topology_written_ && !topology_changed_ && dumped && Signature() != topology_signature_) {
      topology_changed_ = true;
      Problem(fmt::format("token {}: the graph differs from the one {} records (nodes, names or ops): its folders "
                          "follow this token's own node order",
                          token_, AIT_GGML_MODEL_NAME ".json"));
    }
    ++tokens_;
    ++token_;
  }
  nodes_.clear();
  index_.clear();
  pending_ = -1;
  return count;
}

json GgmlDumper::Close(int* lost) {
  if (!nodes_.empty()) EndToken();
  dumper_.Flush();
  dumper_.ReportLostOutputs();
  const std::string lost_text = dumper_.errors().LostOutputs();
  int lost_files = 0;
  json losses = json::array();
  for (size_t start = 0; start < lost_text.size();) {
    size_t end = lost_text.find('\n', start);
    if (end == std::string::npos) end = lost_text.size();
    const std::string line = lost_text.substr(start, end - start);
    if (!line.empty()) {
      lost_files += std::atoi(line.c_str());
      losses.push_back(line);
    }
    start = end + 1;
  }
  *lost = lost_files + static_cast<int>(unreadable_);
  return {{"tokens", tokens_},       {"nodes", nodes_seen_},          {"files", files_},
          {"bytes", bytes_},         {"perturbed", perturbed_},       {"unreadable", unreadable_},
          {"lost", losses},          {"problems", problems_},         {"dump_dir", options_.config.root},
          {"graph_changed", topology_changed_}};
}

}  // namespace ait::ggml_dump
