// The OpPairing of the GE strategies, one GE operator at a time.
#include "compare/pairing/ge_op_pairs.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "ait/tensor_io.h"
#include "formats/ge_dump.h"

namespace ait {

GeOpPairingBuilder::GeOpPairingBuilder(std::string strategy) { pairing_.strategy = std::move(strategy); }

std::vector<std::pair<size_t, size_t>> GeOpPairingBuilder::CommonTokens(const std::vector<std::string>& golden_tokens,
                                                                        const std::vector<std::string>& my_tokens) {
  std::unordered_map<std::string, size_t> golden_at;
  for (size_t i = 0; i < golden_tokens.size(); ++i) golden_at.emplace(golden_tokens[i], i);
  std::vector<std::pair<size_t, size_t>> common;
  std::vector<std::string> only_my, only_golden;
  std::unordered_set<std::string> matched;
  for (size_t j = 0; j < my_tokens.size(); ++j) {
    auto it = golden_at.find(my_tokens[j]);
    if (it == golden_at.end()) only_my.push_back(my_tokens[j]);
    else common.emplace_back(it->second, j), matched.insert(my_tokens[j]);
  }
  for (const std::string& t : golden_tokens)
    if (!matched.count(t)) only_golden.push_back(t);
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 10; ++i) s += (i ? ", " : "") + v[i];
    if (v.size() > 10) s += fmt::format(" and {} more", v.size() - 10);
    return s;
  };
  if (!only_my.empty()) Note(fmt::format("tokens only in my dump, not compared: {}", list(only_my)));
  if (!only_golden.empty()) Note(fmt::format("tokens only in the golden dump, not compared: {}", list(only_golden)));
  return common;
}

bool GeOpPairingBuilder::Add(OpPair op, const std::vector<std::string>& golden_inputs,
                             const std::vector<std::string>& my_inputs, const std::vector<std::string>& golden_outputs,
                             const std::vector<std::string>& my_outputs) {
  auto zip = [&](const std::vector<std::string>& golden, const std::vector<std::string>& my,
                 std::vector<TensorPair>& out) {
    for (size_t k = 0; k < golden.size() && k < my.size(); ++k)
      if (!golden[k].empty())
        out.push_back(TensorPairOf(op, golden[k], my[k], fmt::format("{}/{}", op.token_id, my[k].substr(my[k].rfind('/') + 1))));
  };
  zip(golden_inputs, my_inputs, op.inputs);
  zip(golden_outputs, my_outputs, op.outputs);
  if (op.outputs.empty()) return false;
  for (const auto* side : {&op.inputs, &op.outputs})
    for (const TensorPair& p : *side) pairing_.rows.push_back(p);
  pairing_.ops.push_back(std::move(op));
  return true;
}

void GeOpPairingBuilder::AddRow(const std::string& token, const std::string& golden, const std::string& my,
                                const std::string& label) {
  TensorPair p;
  p.token_id = token;
  p.golden_path = golden;
  p.my_path = my;
  p.label = label;
  p.match = "self";
  pairing_.rows.push_back(std::move(p));
}

void GeOpPairingBuilder::NoteNames(std::string_view what, const std::vector<std::string>& names) {
  if (names.empty()) return;
  std::string examples;
  for (size_t i = 0; i < names.size() && i < 5; ++i) examples += (i ? ", " : "") + names[i];
  Note(fmt::format("{} {}: {}{}", names.size(), what, examples, names.size() > 5 ? ", ..." : ""));
}

void GeOpPairingBuilder::NoteDumpFiles(const GeDumpTree& tree) {
  if (tree.unnamed_files)
    Note(fmt::format("{}: {} file(s) are not named OpType.OpName.task.stream.timestamp; left out", tree.root.string(),
                     tree.unnamed_files));
  if (tree.duplicates)
    Note(fmt::format("{}: {} operator name(s) appear twice in one token; the larger file was kept", tree.root.string(),
                     tree.duplicates));
}

OpPairing GeOpPairingBuilder::Finish(std::string nothing_paired) {
  // Each (golden, my) pair once, data_id in order; the operations' copies get the same ids.
  std::unordered_map<std::string, std::string> ids;
  std::vector<TensorPair> rows;
  for (TensorPair& p : pairing_.rows)
    if (ids.emplace(PathKey(p), std::to_string(rows.size())).second) {
      p.data_id = std::to_string(rows.size());
      rows.push_back(std::move(p));
    }
  pairing_.rows = std::move(rows);
  for (OpPair& op : pairing_.ops)
    for (auto* side : {&op.inputs, &op.outputs})
      for (TensorPair& p : *side) p.data_id = ids.at(PathKey(p));
  pairing_.nothing_paired = std::move(nothing_paired);
  return std::move(pairing_);
}

GeTensorAddresses GeTensorsOf(const std::string& file) {
  GeTensorAddresses out;
  for (const std::string& name : TensorMemberNames(file))
    (name.starts_with("inputs,") ? out.inputs : out.outputs).push_back(MemberAddress(file, name));
  return out;
}

}  // namespace ait
