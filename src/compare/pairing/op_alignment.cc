// Type compatibility, sequence alignment and layer detection for topology pairing.
#include "compare/pairing/op_alignment.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <set>

#include "ait/text.h"

namespace ait::topo {
namespace {

// Cells above this fall back to a greedy in-order pass (the traceback takes a byte per cell).
constexpr size_t kMaxCells = 64u << 20;

// An ATB type without its "Operation" suffix, lower-cased: "GatherOperation" must not match
// "rope" through "...r-operation".
std::string AtbStem(const std::string& type) {
  std::string_view s = type;
  if (s.ends_with("Operation")) s.remove_suffix(9);
  return AsciiLower(s);
}

bool ContainsAny(const std::string& lowered, const std::vector<std::string_view>& needles) {
  for (auto n : needles)
    if (lowered.find(AsciiLower(n)) != std::string::npos) return true;
  return false;
}

// Kinds of computation an ATB operation and a torch module (or two ATB operations) may share.
struct Family {
  std::vector<std::string_view> atb, torch, torch_not;
};

const std::vector<Family>& Families() {
  static const std::vector<Family> families = {
      // ATB's operation names, and ggml's ops (MUL_MAT, RMS_NORM, GET_ROWS, SOFT_MAX, ...).
      {{"Linear", "MatMul", "Mul_Mat"}, {"Linear", "Conv1D"}, {}},
      {{"RmsNorm", "Rms_Norm"}, {"RMSNorm", "RmsNorm"}, {}},
      {{"LayerNorm"}, {"LayerNorm"}, {}},
      {{"Activation", "Gelu", "Swish", "Silu", "Swiglu"},
       {"SiLU", "GELU", "ReLU", "Tanh", "Sigmoid", "Swish", "Mish", "Softplus", "Activation"},
       {}},
      {{"Gather", "Embedding", "Get_Rows"}, {"Embedding"}, {"Rotary", "Position"}},
      {{"Attention"}, {"Attention"}, {}},
      {{"Rope", "Rotary"}, {"Rotary", "Rope"}, {}},
      {{"Softmax", "Soft_Max"}, {"Softmax"}, {}},
  };
  return families;
}

struct Score {
  int64_t pairs = 0;
  int64_t spread = 0;  // sum of |(2i+1)m - (2j+1)n| over the pairs
  bool operator>(const Score& o) const { return pairs != o.pairs ? pairs > o.pairs : spread < o.spread; }
};

// One pass of the alignment over index lists `a` and `b`.
std::vector<std::pair<size_t, size_t>> AlignOnce(const std::vector<size_t>& a, const std::vector<size_t>& b,
                                                 const std::function<bool(size_t, size_t)>& compatible) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::pair<size_t, size_t>> out;
  if (n == 0 || m == 0) return out;
  if (n * m > kMaxCells) {  // too large for the table: first compatible partner, in order
    size_t j = 0;
    for (size_t i = 0; i < n && j < m; ++i)
      for (size_t k = j; k < m; ++k)
        if (compatible(a[i], b[k])) {
          out.emplace_back(a[i], b[k]);
          j = k + 1;
          break;
        }
    return out;
  }
  enum : uint8_t { kSkipA, kSkipB, kPair };
  std::vector<uint8_t> step(n * m);
  std::vector<Score> prev(m + 1), cur(m + 1);
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = Score{};
    for (size_t j = 1; j <= m; ++j) {
      Score best = prev[j];
      uint8_t how = kSkipA;
      if (cur[j - 1] > best) {
        best = cur[j - 1];
        how = kSkipB;
      }
      if (compatible(a[i - 1], b[j - 1])) {
        Score s = prev[j - 1];
        s.pairs += 1;
        const int64_t x = static_cast<int64_t>(2 * i - 1) * static_cast<int64_t>(m);
        const int64_t y = static_cast<int64_t>(2 * j - 1) * static_cast<int64_t>(n);
        s.spread += x > y ? x - y : y - x;
        if (s > best) {
          best = s;
          how = kPair;
        }
      }
      cur[j] = best;
      step[(i - 1) * m + (j - 1)] = how;
    }
    std::swap(prev, cur);
  }
  for (size_t i = n, j = m; i > 0 && j > 0;) {
    uint8_t how = step[(i - 1) * m + (j - 1)];
    if (how == kPair) {
      out.emplace_back(a[i - 1], b[j - 1]);
      --i;
      --j;
    } else if (how == kSkipA) {
      --i;
    } else {
      --j;
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::pair<size_t, size_t>> AlignSequences(size_t n, size_t m,
                                                      const std::function<bool(size_t, size_t)>& compatible) {
  std::vector<char> used_a(n, 0), used_b(m, 0);
  std::vector<std::pair<size_t, size_t>> all;
  for (int pass = 0; pass < 16; ++pass) {
    std::vector<size_t> a, b;
    for (size_t i = 0; i < n; ++i)
      if (!used_a[i]) a.push_back(i);
    for (size_t j = 0; j < m; ++j)
      if (!used_b[j]) b.push_back(j);
    auto found = AlignOnce(a, b, compatible);
    if (found.empty()) break;
    for (auto [i, j] : found) {
      used_a[i] = used_b[j] = 1;
      all.emplace_back(i, j);
    }
  }
  std::sort(all.begin(), all.end());
  return all;
}

std::vector<std::pair<size_t, size_t>> AlignSequences(const std::vector<int>& group_a, const std::vector<int>& group_b,
                                                      const std::function<bool(size_t, size_t)>& compatible) {
  std::vector<char> used_a(group_a.size(), 0), used_b(group_b.size(), 0);
  std::vector<std::pair<size_t, size_t>> all;
  auto run = [&](const std::vector<size_t>& a, const std::vector<size_t>& b) {
    for (auto [i, j] : AlignSequences(a.size(), b.size(), [&](size_t x, size_t y) { return compatible(a[x], b[y]); })) {
      used_a[a[i]] = used_b[b[j]] = 1;
      all.emplace_back(a[i], b[j]);
    }
  };
  std::set<int> groups(group_a.begin(), group_a.end());
  for (int g : groups) {
    if (g < 0) continue;
    std::vector<size_t> a, b;
    for (size_t i = 0; i < group_a.size(); ++i)
      if (group_a[i] == g) a.push_back(i);
    for (size_t j = 0; j < group_b.size(); ++j)
      if (group_b[j] == g) b.push_back(j);
    run(a, b);
  }
  std::vector<size_t> a, b;
  for (size_t i = 0; i < group_a.size(); ++i)
    if (!used_a[i]) a.push_back(i);
  for (size_t j = 0; j < group_b.size(); ++j)
    if (!used_b[j]) b.push_back(j);
  run(a, b);
  std::sort(all.begin(), all.end());
  return all;
}

std::pair<std::string, std::string> SplitMappingEntry(const std::string& entry) {
  size_t us = entry.find('_');
  if (us == std::string::npos) return {entry, ""};
  return {entry.substr(0, us), entry.substr(us + 1)};
}

bool AtbTorchTypesCompatible(const std::string& atb_type, const std::string& torch_type, const OpMapping& mapping) {
  if (atb_type.empty() || torch_type.empty()) return false;
  for (const auto& [a, t] : mapping.exact)
    if (a == atb_type && t == torch_type) return true;
  for (const auto& [key, values] : mapping.custom) {
    auto [a, a_file] = SplitMappingEntry(key);
    if (a.empty() || atb_type.find(a) == std::string::npos) continue;
    for (const auto& v : values) {
      auto [t, t_file] = SplitMappingEntry(v);
      if (!t.empty() && torch_type.find(t) != std::string::npos) return true;
    }
  }
  const int fa = AtbFamily(atb_type);
  return fa >= 0 && fa == TorchFamily(torch_type);
}

int AtbFamily(const std::string& atb_type) {
  const std::string la = AtbStem(atb_type);
  const auto& families = Families();
  for (size_t i = 0; i < families.size(); ++i)
    if (ContainsAny(la, families[i].atb)) return static_cast<int>(i);
  return -1;
}

int TorchFamily(const std::string& torch_type) {
  const std::string lt = AsciiLower(torch_type);
  const auto& families = Families();
  for (size_t i = 0; i < families.size(); ++i)
    if (ContainsAny(lt, families[i].torch) && !ContainsAny(lt, families[i].torch_not)) return static_cast<int>(i);
  return -1;
}

bool AtbTypesCompatible(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  if (a == b) return true;
  const int fa = AtbFamily(a);
  return fa >= 0 && fa == AtbFamily(b);
}

std::vector<int> DetectLayers(const DumpTree& tree, std::string* layer_type) {
  const auto& nodes = tree.nodes();
  // Nodes whose type is unknown (torch dumps without model_tree.json) are keyed by their
  // numbering: "root.model.layers.3" -> "<numbered>".
  auto key = [&](int i) -> std::string {
    const Node& n = tree.node(i);
    if (!n.type.empty()) return n.type;
    size_t dot = n.name.rfind('.');
    std::string_view tail = dot == std::string::npos ? std::string_view() : std::string_view(n.name).substr(dot + 1);
    bool numbered = !tail.empty() && std::all_of(tail.begin(), tail.end(), [](char c) { return c >= '0' && c <= '9'; });
    return numbered ? "<numbered>" : "";
  };
  std::vector<int> preorder;
  std::function<void(int)> walk = [&](int i) {
    preorder.push_back(i);
    for (int c : tree.node(i).children) walk(c);
  };
  if (!nodes.empty()) walk(0);
  // Most common key among the non-leaf children of node i.
  auto most_common = [&](int i, int* count) {
    std::map<std::string, int> counts;
    std::string best;
    *count = 0;
    for (int c : tree.node(i).children) {
      if (tree.IsLeaf(c)) continue;
      std::string k = key(c);
      if (k.empty()) continue;
      int v = ++counts[k];
      if (v > *count) {
        *count = v;
        best = k;
      }
    }
    return best;
  };
  std::string type;
  for (int i : preorder) {  // the original's rule
    int count = 0;
    std::string k = most_common(i, &count);
    if (tree.node(i).children.size() > 10 && count > 5) {
      type = k;
      break;
    }
  }
  if (type.empty()) {  // small models: the most repeated
    int best = 1;
    for (int i : preorder) {
      int count = 0;
      std::string k = most_common(i, &count);
      if (count > best) {
        best = count;
        type = k;
      }
    }
  }
  if (type.empty() && !nodes.empty()) {  // one layer
    if (tree.kind() == DumpKind::kAtb) {
      std::vector<int> graphs;
      for (int c : tree.node(0).children)
        if (!tree.IsLeaf(c)) graphs.push_back(c);
      if (graphs.size() == 1) type = key(graphs[0]);
    } else {
      for (int i : preorder) {
        const std::string& t = tree.node(i).type;
        if (t != "ModuleList" && t != "Sequential") continue;
        for (int c : tree.node(i).children)
          if (!tree.IsLeaf(c)) {
            type = key(c);
            break;
          }
        if (!type.empty()) break;
      }
    }
  }
  std::vector<int> layers;
  if (!type.empty()) {
    std::function<void(int)> collect = [&](int i) {
      if (i != 0 && key(i) == type && !tree.IsLeaf(i)) {
        layers.push_back(i);
        return;
      }
      for (int c : tree.node(i).children) collect(c);
    };
    collect(0);
  }
  if (layer_type) *layer_type = layers.empty() ? std::string() : type;
  return layers;
}

}  // namespace ait::topo
