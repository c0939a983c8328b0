// Strategy "path": two same-layout dumps, files paired by relative path and grouped by
// operation folder; and the execution order of dump paths.
#include "compare/pairing/pair_by_path.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "ait/error.h"
#include "ait/tensor_io.h"
#include "compare/pairing/dump_layout.h"
#include "compare/pairing/dump_tree.h"
#include "compare/pairing/pairing_strategy.h"
#include "compare/pairing/path_grouping.h"

namespace ait {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> ListTensorFiles(const fs::path& root) {
  std::vector<std::string> out;
  std::error_code ec;
  auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) Fail(root.string(), "cannot list folder ({})", ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) Fail(root.string(), "cannot list folder ({})", ec.message());
    if (it.depth() > kMaxDumpDepth) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && !it->is_symlink(ec) && IsTensorFile(it->path().filename().string())) {
      out.push_back(fs::relative(it->path(), root).generic_string());
      if (out.size() > kMaxTensorFiles) Fail(root.string(), "more than {} tensor files", kMaxTensorFiles);
    }
  }
  return out;
}

// Post-order ranks of module names from a torch dump's model_tree.json; empty without one.
std::unordered_map<std::string, size_t> ReadModuleOrder(const fs::path& root) {
  std::unordered_map<std::string, size_t> order;
  auto tree = Capture([&] { return topo::DumpTree::ReadTorchModelTree(root / kTorchModelTreeFile); });
  if (tree.ok())
    for (int n : tree.value().PostOrder()) order.emplace(tree.value().node(n).name, order.size());
  return order;
}

// Sort key of one path segment: (rank, number, text).
struct SegmentKey {
  int rank;
  int64_t number;
  std::string_view text;
  auto operator<=>(const SegmentKey&) const = default;
};

SegmentKey KeyOf(std::string_view seg) {
  auto leading_number = [](std::string_view s, int64_t* n) {  // `12` or `12_...`
    const std::string_view digits = s.substr(0, s.find('_'));
    if (!IsDigits(digits)) return false;
    *n = DigitsValue(digits);
    return true;
  };
  auto trailing_number = [](std::string_view s) -> int64_t {  // `input_12.pth` -> 12
    s = s.substr(0, s.find('.'));
    size_t i = s.size();
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9') --i;
    return IsDigits(s.substr(i)) ? DigitsValue(s.substr(i)) : 0;
  };
  int64_t n = 0;
  if (seg == "before") return {0, 0, ""};
  if (seg == "after") return {2, 0, ""};
  if (seg.starts_with("intensor") || seg.starts_with("inTensor") || seg.starts_with("input"))
    return {0, trailing_number(seg), seg};
  if (seg.starts_with("outtensor") || seg.starts_with("outTensor") || seg.starts_with("output"))
    return {2, trailing_number(seg), seg};
  if (leading_number(seg, &n)) return {1, n, seg};
  return {1, -1, seg};
}

// Torch module folder names: children (longer dotted names) before their parent.
int CompareModuleNames(std::string_view a, std::string_view b) {
  while (true) {
    size_t da = a.find('.'), db = b.find('.');
    std::string_view ha = a.substr(0, da), hb = b.substr(0, db);
    if (ha != hb) {
      if (IsDigits(ha) && IsDigits(hb)) return DigitsValue(ha) < DigitsValue(hb) ? -1 : 1;
      return ha < hb ? -1 : 1;
    }
    if (da == std::string_view::npos && db == std::string_view::npos) return 0;
    if (da == std::string_view::npos) return 1;  // a is the parent: after
    if (db == std::string_view::npos) return -1;
    a.remove_prefix(da + 1);
    b.remove_prefix(db + 1);
  }
}

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

}  // namespace

bool ExecutionOrderLess(const std::string& a, const std::string& b,
                        const std::unordered_map<std::string, size_t>& module_order) {
  auto sa = Split(a), sb = Split(b);
  for (size_t i = 0; i < sa.size() && i < sb.size(); ++i) {
    if (sa[i] == sb[i]) continue;
    const bool dir_a = i + 1 < sa.size(), dir_b = i + 1 < sb.size();
    // Torch module folders ("root.model.layers.0") are ordered as modules complete.
    if (dir_a && dir_b && sa[i].starts_with("root") && sb[i].starts_with("root")) {
      auto ia = module_order.find(std::string(sa[i])), ib = module_order.find(std::string(sb[i]));
      if (ia != module_order.end() && ib != module_order.end()) return ia->second < ib->second;
      return CompareModuleNames(sa[i], sb[i]) < 0;
    }
    SegmentKey ka = KeyOf(sa[i]), kb = KeyOf(sb[i]);
    if (ka != kb) return ka < kb;
  }
  return sa.size() < sb.size();
}

PairingResult PairByRelativePath(const fs::path& golden, const fs::path& my) {
  for (const auto& [path, what] : {std::pair{golden, "golden path"}, std::pair{my, "my path"}})
    if (!fs::is_directory(path)) Fail(path.string(), "{} is not a folder", what);
  PairingResult result;
  result.strategy = "same layout (files paired by relative path)";
  result.golden_root = TensorRoot(golden);
  result.my_root = TensorRoot(my);
  std::vector<std::string> g = ListTensorFiles(result.golden_root), m = ListTensorFiles(result.my_root);
  std::set<std::string> my_set(m.begin(), m.end());
  std::set<std::string> golden_set(g.begin(), g.end());
  std::vector<std::string> common;
  for (const auto& rel : g) (my_set.count(rel) ? common : result.only_in_golden).push_back(rel);
  for (const auto& rel : m)
    if (!golden_set.count(rel)) result.only_in_my.push_back(rel);
  auto order = ReadModuleOrder(result.golden_root);
  auto less = [&](const std::string& x, const std::string& y) { return ExecutionOrderLess(x, y, order); };
  std::sort(common.begin(), common.end(), less);
  std::sort(result.only_in_golden.begin(), result.only_in_golden.end(), less);
  std::sort(result.only_in_my.begin(), result.only_in_my.end(), less);
  for (size_t i = 0; i < common.size(); ++i) {
    TensorPair p;
    std::string_view first = Split(common[i]).front();
    p.token_id = IsDigits(first) && common[i].find('/') != std::string::npos ? std::string(first) : "0";
    p.data_id = std::to_string(i);
    p.golden_path = (result.golden_root / common[i]).string();
    p.my_path = (result.my_root / common[i]).string();
    p.label = common[i];
    result.pairs.push_back(std::move(p));
  }
  return result;
}

namespace {

class ByPath final : public PairingStrategy {
 public:
  std::string_view name() const override { return "path"; }
  std::string_view summary() const override {
    return "two dumps of one graph, or without topology: tensor files by relative path";
  }
  bool fallback() const override { return true; }

  Recognition Recognize(DumpPair& dumps) const override {
    for (auto side : {DumpPair::kGolden, DumpPair::kMy}) {
      std::error_code ec;
      if (!fs::is_directory(dumps.path(side), ec))
        return Recognition::Block(fmt::format("{}: {} is not a folder", dumps.path(side).string(),
                                              side == DumpPair::kGolden ? "golden path" : "my path"));
    }
    return Recognition::Accept();
  }

  OpPairing Pair(DumpPair& dumps) const override {
    PairingResult files = PairByRelativePath(dumps.path(DumpPair::kGolden), dumps.path(DumpPair::kMy));
    NameTensorPairsByPath(files);
    OpPairing ops = GroupByOperation(files);
    ops.nothing_paired = fmt::format(
        "no tensor file has the same relative path in both folders ({} in golden, {} in my). Both must be dumps "
        "of the same graph: the same `ait_dump`, `tensors/` or `{{dev}}_{{pid}}` level on each side.",
        files.only_in_golden.size(), files.only_in_my.size());
    ops.rows = std::move(files.pairs);  // path pairing reports every file, as the original does
    return ops;
  }
};

}  // namespace

const PairingStrategy& PathStrategy() {
  static const ByPath strategy;
  return strategy;
}

}  // namespace ait
