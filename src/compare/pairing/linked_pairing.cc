// Links between two dump trees -> OpPairs, token by token.
#include "compare/pairing/linked_pairing.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "ait/error.h"

#include "compare/pairing/op_alignment.h"

namespace ait::topo {
namespace {

std::string CountsByType(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [type, n] : counts) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, type.empty() ? "(no type)" : type);
  return out;
}

void NoteUnpaired(const DumpTree& tree, bool my_side, const Links& links, std::vector<std::string>* notes) {
  std::map<std::string, int> counts;
  for (size_t i = 1; i < tree.nodes().size(); ++i) {
    const int n = static_cast<int>(i);
    if (!tree.IsLeaf(n) || (my_side ? links.MyLinked(n) : links.GoldenLinked(n))) continue;
    ++counts[tree.node(n).type];
  }
  if (!counts.empty())
    notes->push_back(fmt::format("{} {} without a counterpart: {}", my_side ? "my" : "golden",
                                 tree.kind() == DumpKind::kAtb ? "operations" : "modules", CountsByType(counts)));
}

// Turns links into OpPairs, one token pair at a time.
class Assembler {
 public:
  Assembler(const LinkedPairingRules& rules, const DumpTree& my, const DumpTree& golden, const Links& links)
      : rules_(rules), my_(my), golden_(golden), links_(links) {
    const size_t n = my.nodes().size();
    layer_of_.assign(n, "");
    for (int l : DetectLayers(my))
      for (size_t i = 0; i < n; ++i)
        if (my.IsInside(static_cast<int>(i), l)) layer_of_[i] = my.node(l).name;
    depth_.assign(n, 0);
    has_linked_below_.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      if (!links.OfMy(static_cast<int>(i))) continue;
      for (int p = my.node(static_cast<int>(i)).parent; p >= 0; p = my.node(p).parent) has_linked_below_[static_cast<size_t>(p)] = 1;
    }
    // Nesting depth as GroupByOperation gives it: ATB 0 = top-level operation; torch = the
    // number of dots in the module name (the model root is 0).
    for (size_t i = 0; i < n; ++i)
      depth_[i] = my.kind() == DumpKind::kAtb ? my.nodes()[i].depth - 1 : my.nodes()[i].depth;
  }

  // Appends the OpPairs of one token pair, in my execution order.
  void AddToken(const std::string& my_token, const std::string& golden_token, OpPairing* out) {
    for (int n : my_.ExecutionOrder(my_token)) {
      const Link* l = links_.OfMy(n);
      if (!l) {
        if (my_.IsLeaf(n))
          out->my_unpaired.push_back({my_token, my_.node(n).name, my_.node(n).type,
                                      my_.kind() == DumpKind::kAtb ? my_.node(n).op_id : std::string(), out->ops.size()});
        continue;
      }
      OpPair op;
      op.token_id = my_token;
      op.my_name = my_.node(n).name;
      op.my_type = my_.node(n).type;
      op.golden_name = golden_.node(l->golden).name;
      op.golden_type = golden_.node(l->golden).type;
      op.op_id = my_.kind() == DumpKind::kAtb ? my_.node(n).op_id
                 : golden_.kind() == DumpKind::kAtb ? golden_.node(l->golden).op_id
                                                    : std::string();
      op.match = l->match;
      op.layer = layer_of_[static_cast<size_t>(n)];
      op.depth = depth_[static_cast<size_t>(n)];
      op.leaf = !has_linked_below_[static_cast<size_t>(n)];
      const int mo = l->my_outputs_of >= 0 ? l->my_outputs_of : n;
      const int go = l->golden_outputs_of >= 0 ? l->golden_outputs_of : l->golden;
      const std::vector<FilePair> ins = rules_.inputs(n, l->golden, *l, my_token, golden_token);
      const std::vector<FilePair> outs = rules_.outputs(mo, go, *l, my_token, golden_token);
      if (outs.empty()) {
        ++ops_without_outputs_;
        continue;
      }
      for (const auto& f : ins) op.inputs.push_back(Tensor(op, f, my_.node(n).name, golden_.node(l->golden).name));
      for (const auto& f : outs) op.outputs.push_back(Tensor(op, f, my_.node(mo).name, golden_.node(go).name));
      out->ops.push_back(std::move(op));
    }
  }

  size_t ops_without_outputs() const { return ops_without_outputs_; }

 private:
  const LinkedPairingRules& rules_;
  const DumpTree& my_;
  const DumpTree& golden_;
  const Links& links_;
  std::vector<std::string> layer_of_;
  std::vector<int> depth_;
  std::vector<char> has_linked_below_;
  size_t data_id_ = 0;
  size_t ops_without_outputs_ = 0;

  TensorPair Tensor(const OpPair& op, const FilePair& f, const std::string& my_node, const std::string& golden_node) {
    TensorPair p = TensorPairOf(op, f.golden.path.string(), f.my.path.string(),
                                fmt::format("{}:{} ~ {}:{}", my_node, f.my.stem, golden_node, f.golden.stem));
    p.data_id = std::to_string(data_id_++);
    p.my_layout = f.my_layout;
    p.golden_layout = f.golden_layout;
    return p;
  }
};

}  // namespace

bool Links::Add(Link l) {
  if (MyLinked(l.my) || GoldenLinked(l.golden)) return false;
  my_[static_cast<size_t>(l.my)] = golden_[static_cast<size_t>(l.golden)] = static_cast<int>(links_.size());
  links_.push_back(std::move(l));
  return true;
}

std::vector<FilePair> ByStem(const std::vector<TensorFile>& my, const std::vector<TensorFile>& golden) {
  std::vector<FilePair> out;
  for (const auto& m : my)
    for (const auto& g : golden)
      if (m.stem == g.stem) out.push_back({m, g});
  return out;
}

std::vector<std::pair<std::string, std::string>> TokenPairs(const DumpLocation& my, const DumpLocation& golden,
                                                             std::vector<std::string>* notes, std::string* error) {
  auto has = [](const DumpLocation& d, const std::string& t) {
    return std::find(d.tokens.begin(), d.tokens.end(), t) != d.tokens.end();
  };
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 8; ++i) s += (i ? ", " : "") + v[i];
    return v.size() > 8 ? s + ", ..." : s.empty() ? std::string("none") : s;
  };
  std::vector<std::pair<std::string, std::string>> out;
  if (my.token_given && golden.token_given) {
    out.emplace_back(my.tokens.front(), golden.tokens.front());
  } else if (my.token_given || golden.token_given) {
    const std::string& t = my.token_given ? my.tokens.front() : golden.tokens.front();
    if (has(my, t) && has(golden, t)) out.emplace_back(t, t);
  } else {
    std::vector<std::string> only_my, only_golden;
    for (const auto& t : my.tokens) {
      if (has(golden, t)) out.emplace_back(t, t);
      else only_my.push_back(t);
    }
    for (const auto& t : golden.tokens)
      if (!has(my, t)) only_golden.push_back(t);
    if (!only_my.empty()) notes->push_back(fmt::format("token folders only in my dump: {}", list(only_my)));
    if (!only_golden.empty()) notes->push_back(fmt::format("token folders only in the golden dump: {}", list(only_golden)));
  }
  if (out.empty())
    *error = fmt::format("{}: no token folder is present in both dumps (golden {}: {}; my: {})", my.process_dir.string(),
                         golden.process_dir.string(), list(golden.tokens), list(my.tokens));
  return out;
}

Recognition LocateBoth(DumpPair& dumps, const DumpLocation** golden, const DumpLocation** my) {
  *golden = dumps.location(DumpPair::kGolden);
  if (!*golden) return Recognition::Block(dumps.error(DumpPair::kGolden));
  *my = dumps.location(DumpPair::kMy);
  if (!*my) return Recognition::Block(dumps.error(DumpPair::kMy));
  return Recognition::Accept();
}

LinkedDumps LoadLinkedDumps(DumpPair& dumps) {
  LinkedDumps linked;
  if (Recognition r = LoadLinkedDumps(dumps, &linked); !r.accepted()) throw Error(r.reason);
  return linked;
}

Recognition LoadLinkedDumps(DumpPair& dumps, LinkedDumps* out) {
  const DumpLocation *golden, *my;
  if (Recognition r = LocateBoth(dumps, &golden, &my); !r.accepted()) return r;
  std::string error;
  out->tokens = TokenPairs(*my, *golden, &out->token_notes, &error);
  if (out->tokens.empty()) return Recognition::Block(error);
  out->my = dumps.tree(DumpPair::kMy);
  if (!out->my) return Recognition::Block(dumps.error(DumpPair::kMy));
  out->golden = dumps.tree(DumpPair::kGolden);
  if (!out->golden) return Recognition::Block(dumps.error(DumpPair::kGolden));
  return Recognition::Accept();
}

std::vector<std::string> LinkedDumps::Notes() const {
  std::vector<std::string> notes = token_notes;
  for (const auto* t : {golden, my}) notes.insert(notes.end(), t->notes().begin(), t->notes().end());
  return notes;
}

// Each positional torch input with the ATB input of the same element count: the same index
// first, else the first unused one (weights have no torch input to match).
std::vector<FilePair> AtbTorchInputs(const DumpTree& my_, const DumpTree& golden_, int m, const std::string& my_token, int g,
                                    const std::string& golden_token) {
  const bool my_atb = my_.kind() == DumpKind::kAtb;
  const DumpTree& atb = my_atb ? my_ : golden_;
  const DumpTree& torch = my_atb ? golden_ : my_;
  const auto atb_ins = atb.Inputs(my_atb ? m : g, my_atb ? my_token : golden_token);
  const auto torch_ins = torch.Inputs(my_atb ? g : m, my_atb ? golden_token : my_token);
  std::vector<FilePair> out;
  if (atb_ins.empty() || torch_ins.empty()) return out;
  std::vector<char> used(atb_ins.size(), 0);
  for (const auto& t : torch_ins) {
    const int64_t count = torch.Numel(t.path);
    if (count < 0) continue;
    const std::string same = "intensor" + t.stem.substr(6);
    int chosen = -1;
    for (size_t k = 0; k < atb_ins.size() && chosen < 0; ++k)
      if (!used[k] && atb_ins[k].stem == same && atb.Numel(atb_ins[k].path) == count) chosen = static_cast<int>(k);
    for (size_t k = 0; k < atb_ins.size() && chosen < 0; ++k)
      if (!used[k] && atb.Numel(atb_ins[k].path) == count) chosen = static_cast<int>(k);
    if (chosen < 0) continue;
    used[static_cast<size_t>(chosen)] = 1;
    const TensorFile& a = atb_ins[static_cast<size_t>(chosen)];
    out.push_back(my_atb ? FilePair{a, t} : FilePair{t, a});
  }
  return out;
}

// outtensorK with output_K (output for K = 0 when the module returned one tensor), or the
// files a custom map entry names.
std::vector<FilePair> AtbTorchOutputs(const DumpTree& my_, const DumpTree& golden_, const Link& l, int mo,
                                      const std::string& my_token, int go, const std::string& golden_token) {
  auto files = [&](const DumpTree& tree, int node, const std::string& token, const std::string& stem) {
    return stem.empty() ? tree.Outputs(node, token) : tree.NamedFile(node, token, stem);
  };
  const auto mine = files(my_, mo, my_token, l.my_file), golden = files(golden_, go, golden_token, l.golden_file);
  std::vector<FilePair> out;
  if (mine.empty() || golden.empty()) return out;
  if (!l.my_file.empty() || !l.golden_file.empty()) return {{mine.front(), golden.front()}};
  const bool my_atb = my_.kind() == DumpKind::kAtb;
  const auto& atb = my_atb ? mine : golden;
  const auto& torch = my_atb ? golden : mine;
  for (size_t k = 0; k < atb.size(); ++k) {
    const std::string index = atb[k].stem.substr(9);  // "outtensor" + K
    for (const auto& t : torch) {
      if (t.stem == "output_" + index || (index == "0" && t.stem == "output")) {
        out.push_back(my_atb ? FilePair{atb[k], t} : FilePair{t, atb[k]});
        break;
      }
    }
  }
  return out;
}

OpPairing AssembleLinkedPairing(const LinkedDumps& linked, const Links& links,
                                const LinkedPairingRules& rules, std::vector<std::string> notes) {
  OpPairing pairing;
  pairing.strategy = rules.strategy;
  pairing.broadcast = rules.broadcast;
  pairing.golden_root = linked.golden->where().process_dir;
  pairing.my_root = linked.my->where().process_dir;
  pairing.notes = std::move(notes);
  if (rules.note_unpaired) {
    NoteUnpaired(*linked.my, true, links, &pairing.notes);
    NoteUnpaired(*linked.golden, false, links, &pairing.notes);
  }
  Assembler assembler(rules, *linked.my, *linked.golden, links);
  for (const auto& [mt, gt] : linked.tokens) assembler.AddToken(mt, gt, &pairing);
  if (assembler.ops_without_outputs())
    pairing.notes.push_back(fmt::format("{} paired operation(s) skipped in some token: no output file on one side",
                                        assembler.ops_without_outputs()));
  pairing.rows = OutputPairs(pairing);
  pairing.nothing_paired = fmt::format("{}: no operation of the my dump could be paired with the golden dump", rules.strategy);
  return pairing;
}

}  // namespace ait::topo
