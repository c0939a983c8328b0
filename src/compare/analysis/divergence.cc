// First-divergence analysis (divergence.h): per-tensor scores, per-operation verdicts, root causes.
#include "ait/divergence.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

namespace ait {
namespace {



// The largest finite value of a float dtype as the report spells it; 0 for other dtypes.
double MaxFinite(const std::string& dtype) {
  if (dtype == "torch.float16") return 65504.0;
  if (dtype == "torch.bfloat16") return 3.3895313892515355e38;
  if (dtype == "torch.float32") return std::numeric_limits<float>::max();
  return 0;
}

// Whether a side holds a value at its dtype's limit: an attention mask ("-inf" stored as the
// lowest finite value), not data. Both sides holding one swamps every metric.
bool HoldsDtypeLimit(const std::optional<TensorInfo>& info) {
  if (!info || !info->has_stats) return false;
  const double limit = MaxFinite(info->dtype);
  if (limit == 0) return false;
  const double lo = info->stats.min, hi = info->stats.max;
  return (std::isfinite(lo) && std::fabs(lo) >= limit * 0.999) || (std::isfinite(hi) && std::fabs(hi) >= limit * 0.999);
}

// The unit roundoff of a float dtype (half the gap between 1 and the next value); 0 for others.
double UnitRoundoff(const std::optional<TensorInfo>& info) {
  if (!info) return 0;
  if (info->dtype == "torch.float16") return 0x1p-11;
  if (info->dtype == "torch.bfloat16") return 0x1p-8;
  if (info->dtype == "torch.float32") return 0x1p-24;
  if (info->dtype == "torch.float64") return 0x1p-53;
  return 0;
}

// Whether a scored row's two sides hold the same values (no element differs, same statistics).
bool Identical(const CompareRow& row) {
  const SideStats &g = row.golden->stats, &my = row.my->stats;
  return row.metrics->max_absolute_error == 0 && row.metrics->relative_euclidean_distance == 0 && g.min == my.min &&
         g.max == my.max && g.mean == my.mean;
}

bool IsInt8(const std::optional<TensorInfo>& info) { return info && info->dtype == "torch.int8"; }

// Integer and bool tensors (ids, lengths, positions) are exact: any difference is off.
bool IsExact(const std::optional<TensorInfo>& info) {
  return info && (info->dtype.starts_with("torch.int") || info->dtype.starts_with("torch.uint") ||
                  info->dtype == "torch.bool");
}

SideScore Summarize(const std::vector<TensorPair>& pairs, const std::vector<CompareRow>& rows,
                    const std::unordered_map<std::string, size_t>& row_of) {
  SideScore s;
  double worst_distance = -1;
  bool worst_nonfinite = false;
  for (const TensorPair& p : pairs) {
    auto it = row_of.find(PathKey(p));
    TensorScore t;
    if (it == row_of.end()) {
      t.reason = "not scored";
    } else {
      t = ScoreTensor(rows[it->second]);
    }
    switch (t.state) {
      case TensorScore::State::kUnscored:
        ++s.unscored;
        if (s.unscored_reason.empty()) s.unscored_reason = t.reason;
        break;
      case TensorScore::State::kNonFinite:
        ++s.nonfinite;
        s.nan += t.my_nan;
        s.inf += t.my_inf;
        if (!worst_nonfinite) s.worst = p.my_path;
        worst_nonfinite = true;
        break;
      case TensorScore::State::kScored:
        ++s.scored;
        s.unit_roundoff = std::max({s.unit_roundoff, UnitRoundoff(rows[it->second].my), UnitRoundoff(rows[it->second].golden)});
        s.cosine = std::min(s.cosine.value_or(t.cosine), t.cosine);
        s.max_relative_error = std::max(s.max_relative_error.value_or(t.max_relative_error), t.max_relative_error);
        s.relative_l2 = std::max(s.relative_l2.value_or(t.relative_l2), t.relative_l2);
        s.distance = std::max(s.distance.value_or(t.distance), t.distance);
        if (!worst_nonfinite && t.distance > worst_distance) {
          worst_distance = t.distance;
          s.worst = p.my_path;
        }
        break;
    }
  }
  return s;
}

// Whether `inner` is inside `outer` (same token): by id path (`1_2` holds `1_2_0`) or, without
// ids, by name (`root.a` holds `root.a.b`, `Op_1` holds `Op_1:MatMul`).
// Whether the name `inner` continues `outer` with a separator (`root.a` -> `root.a.b`).
bool NameHolds(const std::string& outer, const std::string& inner) {
  if (inner.size() <= outer.size() || !inner.starts_with(outer)) return false;
  const char sep = inner[outer.size()];
  return sep == '.' || sep == '/' || sep == ':';
}

bool HoldsId(const std::string& outer, const std::string& inner) {
  return inner.size() > outer.size() && inner.starts_with(outer) && inner[outer.size()] == '_';
}

bool Holds(const OpPair& outer, const OpPair& inner) {
  if (!outer.op_id.empty() && !inner.op_id.empty()) return HoldsId(outer.op_id, inner.op_id);
  return NameHolds(outer.my_name, inner.my_name);
}

bool Holds(const OpPair& outer, const UnpairedOp& inner) {
  if (!outer.op_id.empty() && !inner.op_id.empty()) return HoldsId(outer.op_id, inner.op_id);
  return NameHolds(outer.my_name, inner.name);
}

// The first of the operations inside ops[i] (same token, completion order: they come just
// before it); i itself when it holds none. Its inner operations are [InnerStart(ops, i), i).
size_t InnerStart(const std::vector<OpPair>& ops, size_t i) {
  size_t start = i;
  while (start > 0 && ops[start - 1].token_id == ops[i].token_id && Holds(ops[i], ops[start - 1])) --start;
  return start;
}

// The distance of one tensor pair from its row: infinity for NaN/inf my side holds beyond
// golden's, nothing when it has no row or could not be scored.
std::optional<double> TensorDistance(const TensorPair& pair, const std::vector<CompareRow>& rows,
                                     const std::unordered_map<std::string, size_t>& row_of) {
  auto it = row_of.find(PathKey(pair));
  if (it == row_of.end()) return std::nullopt;
  const TensorScore t = ScoreTensor(rows[it->second]);
  if (t.state == TensorScore::State::kNonFinite) return std::numeric_limits<double>::infinity();
  if (t.state == TensorScore::State::kUnscored) return std::nullopt;
  return t.distance;
}

// Introducing operations of one token, to ask "is anything introducing inside this one?"
// by id path (`1_2` holds `1_2_0`) or, without ids, by name (`root.a` holds `root.a.b`).
struct InnerIndex {
  std::set<std::string> ids, names;

  bool HasInside(const OpPair& outer) const {
    if (!outer.op_id.empty()) {
      const std::string prefix = outer.op_id + "_";
      auto it = ids.lower_bound(prefix);
      return it != ids.end() && it->starts_with(prefix);
    }
    const std::string& a = outer.my_name;
    for (auto it = names.upper_bound(a); it != names.end() && it->starts_with(a); ++it)
      if (NameHolds(a, *it)) return true;
    return false;
  }
};

// compare --opcheck: the operation whose own check covers ops[i]: itself when it was checked,
// else the innermost checked operation of its token that holds it (a kernel's operation).
std::optional<size_t> CheckedBy(const std::vector<OpPair>& ops, const DivergenceReport& report, size_t i) {
  if (report.ops[i].local_check) return i;
  std::optional<size_t> best;
  for (size_t j = 0; j < ops.size(); ++j) {
    if (j == i || !report.ops[j].local_check || ops[j].token_id != ops[i].token_id) continue;
    InnerIndex index;
    if (!ops[i].op_id.empty()) index.ids.insert(ops[i].op_id);
    index.names.insert(ops[i].my_name);
    if (index.HasInside(ops[j]) && (!best || ops[j].depth > ops[*best].depth)) best = j;
  }
  return best;
}

// Below this distance two tensors count as identical for the noise floor: bit-identical ones
// have 0, and a different summation order of the same float32 computation (another thread
// count, another device) stays near 1e-6; a 0.5 % error is 5e-3.
constexpr double kIdentical = 1e-4;

// Whether every tensor of a side is identical to the golden's (and one was scored). An unscored
// tensor (a mask at the dtype limit swamps the metrics) may differ unseen: the side is not
// known to be identical (a softmax whose masked input is unscored, its constant axis identical).
bool IsIdentical(const SideScore& s) {
  return s.scored > 0 && s.nonfinite == 0 && s.unscored == 0 && s.distance && *s.distance <= kIdentical;
}

// The noise floor zero: where identical inputs are seen to give identical outputs. An operation
// type (my type and golden type) with such an occurrence computes bit for bit alike on both
// sides, so a difference behind identical inputs is born in it; when that holds for several
// types, the two runs are of one deterministic computation, and it holds for every operation
// whose type is the same on both sides.
struct ZeroFloor {
  static constexpr size_t kTypesForAll = 2;
  std::set<std::string> types;  // my_type + '\n' + golden_type

  static std::string TypeOf(const OpPair& op) { return op.my_type + '\n' + op.golden_type; }
  bool Everywhere() const { return types.size() >= kTypesForAll; }
  // Only an operation of one type on both sides can be bit for bit alike: another type on each
  // side (a quantized Linear against a float one, an ATB operation against a torch module) is
  // another implementation, which may agree exactly on some inputs and not on others.
  // An operation without a known type is no evidence and gets none: every such operation
  // would share one type key.
  bool Applies(const OpPair& op) const {
    return !op.my_type.empty() && op.my_type == op.golden_type && (Everywhere() || types.count(TypeOf(op)) > 0);
  }
  std::string Describe() const {
    if (types.empty()) return "threshold";
    return Everywhere() ? "zero" : "zero for " + std::to_string(types.size()) + " operation type(s)";
  }
};

ZeroFloor FindZeroFloor(const std::vector<OpPair>& ops, const std::vector<OpDivergence>& scores) {
  ZeroFloor floor;
  for (size_t i = 0; i < ops.size(); ++i)
    if (!ops[i].my_type.empty() && ops[i].my_type == ops[i].golden_type && IsIdentical(scores[i].inputs) &&
        IsIdentical(scores[i].outputs))
      floor.types.insert(ZeroFloor::TypeOf(ops[i]));
  return floor;
}

// Median of `v` (reordered); `v` is not empty.
double Median(std::vector<double>& v) {
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double m = v[mid];
  if (v.size() % 2 == 0) m = (m + *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid))) / 2;
  return m;
}

// The largest value a robust rule calls normal in `v`: max(median + k x 1.4826 x MAD, ratio x
// median) (1.4826 makes the MAD a standard deviation for normally distributed values).
double UpperNormal(std::vector<double> v, double k, double ratio) {
  const double median = Median(v);
  for (double& x : v) x = std::fabs(x - median);
  return std::max(median + k * 1.4826 * Median(v), ratio * median);
}

// Local errors of a set of operations (one sample per operation and token), to ask "what local
// error is normal for an operation whose inputs carry no more error than this one's?" without
// the operation itself. Operations downstream of a fault carry its error in, and their local
// errors (output distance less input distance, both large) are noise that must not set the
// floor for the fault itself; so do later tokens that a fault sent down another path.
class ErrorSample {
 public:
  void Add(const std::string& identity, double input_distance, double local_error) {
    auto [it, added] = identities_.try_emplace(identity, identities_.size());
    samples_.push_back({input_distance, local_error, it->second});
  }
  // Orders the samples by input distance; call once after the last Add.
  void Finish() {
    std::stable_sort(samples_.begin(), samples_.end(),
                     [](const Sample& a, const Sample& b) { return a.input_distance < b.input_distance; });
    ranks_.assign(identities_.size(), {});
    for (size_t r = 0; r < samples_.size(); ++r) ranks_[samples_[r].identity].push_back(r);
    first_positive_ = static_cast<size_t>(
        std::partition_point(samples_.begin(), samples_.end(), [](const Sample& x) { return x.input_distance <= 0; }) -
        samples_.begin());
  }
  size_t operations() const { return identities_.size(); }
  // UpperNormal over the samples of other operations whose input distance is at most
  // reference_input_ratio x `input_distance` (or x the least non-zero one of the others, if
  // larger; at least the min_floor_samples with the smallest), when there are that many. A
  // reference of more than kMaxReference samples is read at an even stride (they are ordered by
  // input distance), so that a compare of many operations stays linear.
  std::optional<double> Bound(const std::string& identity, double input_distance, const DivergenceOptions& o) {
    auto it = identities_.find(identity);
    const size_t self = it == identities_.end() ? identities_.size() : it->second;
    static const std::vector<size_t> kNone;
    const std::vector<size_t>& own = self < ranks_.size() ? ranks_[self] : kNone;  // ascending
    const size_t min_samples = std::max<size_t>(o.min_floor_samples, 1);
    if (samples_.size() - own.size() < min_samples) return std::nullopt;
    // An operation reading exact inputs (ids) has input distance 0; it is compared with those
    // whose inputs carry the least error there is (the first rounding), not only the exact ones.
    double least = 0;
    for (size_t r = first_positive_; r < samples_.size(); ++r)
      if (samples_[r].identity != self) {
        least = samples_[r].input_distance;
        break;
      }
    const double limit = o.reference_input_ratio * std::max(input_distance, least);
    size_t end = static_cast<size_t>(std::upper_bound(samples_.begin(), samples_.end(), limit,
                                                      [](double v, const Sample& x) { return v < x.input_distance; }) -
                                     samples_.begin());
    auto own_before = [&](size_t e) {
      return static_cast<size_t>(std::lower_bound(own.begin(), own.end(), e) - own.begin());
    };
    while (end - own_before(end) < min_samples) ++end;  // enough others exist (checked above)
    auto [cached, fresh] = bound_.try_emplace({end, self});
    if (fresh) {
      const size_t others = end - own_before(end);
      const size_t stride = (others + kMaxReference - 1) / kMaxReference;
      std::vector<double> v;
      v.reserve(std::min(others, kMaxReference) + 1);
      if (stride == 1) {
        for (size_t r = 0; r < end; ++r)
          if (samples_[r].identity != self) v.push_back(samples_[r].local_error);
      } else {  // every stride-th sample, the next one where it is the operation's own
        for (size_t r = 0; r < end; r += stride) {
          size_t q = r;
          while (q < end && samples_[q].identity == self) ++q;
          if (q < end) v.push_back(samples_[q].local_error);
        }
      }
      cached->second = UpperNormal(std::move(v), o.outlier_mads, o.outlier_median_ratio);
    }
    return cached->second;
  }

 private:
  static constexpr size_t kMaxReference = 512;
  struct Sample {
    double input_distance, local_error;
    size_t identity;
  };
  std::unordered_map<std::string, size_t> identities_;
  std::vector<Sample> samples_;                        // by input distance after Finish
  std::vector<std::vector<size_t>> ranks_;             // per identity: its samples' ranks
  size_t first_positive_ = 0;                          // the first sample with input distance > 0
  std::map<std::pair<size_t, size_t>, double> bound_;  // (samples considered, identity left out)
};

std::string Identity(const OpPair& op) { return op.my_name + '\n' + op.golden_name; }

// The type floor: for each operation where the zero floor does not apply (`zero_floor_too`:
// for every operation), the largest local error that is normal there
// (OpDivergence::expected_local_error), from the peer's same operation, else from the other
// operations of its type and all leaf operations; an operation with inner operations gets the
// quadrature sum of its inner leaves' (independent errors add in quadrature).
void SetExpectedLocalErrors(const std::vector<OpPair>& ops, const ZeroFloor& floor, const DivergenceOptions& o,
                            const PeerFloor* peer, std::vector<OpDivergence>& d, bool zero_floor_too) {
  std::unordered_map<std::string, ErrorSample> by_type;
  ErrorSample leaves;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!d[i].local_error) continue;
    const double in = *d[i].inputs.distance;
    if (!ops[i].my_type.empty()) by_type[ZeroFloor::TypeOf(ops[i])].Add(Identity(ops[i]), in, *d[i].local_error);
    if (ops[i].leaf) leaves.Add(Identity(ops[i]), in, *d[i].local_error);
  }
  for (auto& [type, sample] : by_type) sample.Finish();
  leaves.Finish();
  for (size_t i = 0; i < ops.size(); ++i) {
    if ((floor.Applies(ops[i]) && !zero_floor_too) || !d[i].local_error) continue;
    OpDivergence& op = d[i];
    const double least = std::max(kIdentical, o.rounding_units * op.outputs.unit_roundoff);
    if (peer && i < peer->local_error.size() && peer->local_error[i]) {
      op.expected_local_error = std::max(o.peer_ratio * std::max(*peer->local_error[i], peer->leaf_median), least);
      op.expected_from = "peer";
      continue;
    }
    if (!ops[i].leaf) {
      double sum = 0;
      size_t inner = 0;
      for (size_t j = i, start = InnerStart(ops, i); j-- > start;)  // backwards, the order the pinned sums have
        if (ops[j].leaf && d[j].expected_local_error) {
          sum += *d[j].expected_local_error * *d[j].expected_local_error;
          ++inner;
        }
      if (inner > 0) {
        op.expected_local_error = std::max(std::sqrt(sum), least);
        op.expected_from = fmt::format("its {} inner operation(s)", inner);
        continue;
      }
    }
    const std::string identity = Identity(ops[i]);
    const double in = *op.inputs.distance;
    // A leaf is also judged against all leaves; an operation with inner operations adds up
    // several of theirs, so only operations of its own type tell what is normal for it.
    std::optional<double> type_bound, pooled;
    if (ops[i].leaf) pooled = leaves.Bound(identity, in, o);
    size_t type_size = 0;
    if (auto it = ops[i].my_type.empty() ? by_type.end() : by_type.find(ZeroFloor::TypeOf(ops[i]));
        it != by_type.end()) {
      type_bound = it->second.Bound(identity, in, o);
      type_size = it->second.operations();
    }
    if (!type_bound && !pooled) continue;
    if (type_bound && *type_bound >= pooled.value_or(0)) {
      op.expected_local_error = std::max(*type_bound, least);
      op.expected_from = fmt::format("type {} ({} operations)", ops[i].my_type, type_size);
    } else {
      op.expected_local_error = std::max(*pooled, least);
      op.expected_from = fmt::format("all leaf operations ({})", leaves.operations());
    }
  }
}

// A name with every run of digits replaced by '#': the same position in every layer
// ("root.model.layers.#.self_attn.o_proj").
std::string LayerInvariant(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(name[i]))) {
      if (out.empty() || out.back() != '#') out += '#';
    } else {
      out += name[i];
    }
  }
  return out;
}

// Every scored input of the inner leaves of each operation holding others, in execution
// order, with the largest distance before it in its innermost graph (SpanInput).
std::vector<SpanInput> FindSpanInputs(const std::vector<OpPair>& ops, const std::vector<OpDivergence>& d,
                                      const std::vector<CompareRow>& rows,
                                      const std::unordered_map<std::string, size_t>& row_of) {
  std::vector<SpanInput> spans;
  std::vector<char> taken(ops.size(), 0);  // a leaf already judged by an inner graph
  auto distance = [&](const TensorPair& p) -> std::optional<double> {
    const std::optional<double> v = TensorDistance(p, rows, row_of);
    return v && std::isfinite(*v) ? v : std::nullopt;
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].leaf || !d[i].inputs.scored || d[i].inputs.nonfinite || !d[i].inputs.distance) continue;
    double before = *d[i].inputs.distance;
    for (size_t j = InnerStart(ops, i); j < i; ++j) {
      if (!ops[j].leaf || taken[j]) continue;
      taken[j] = 1;
      double seen = before;
      for (size_t k = 0; k < ops[j].inputs.size(); ++k) {
        const std::optional<double> v = distance(ops[j].inputs[k]);
        if (!v) continue;
        spans.push_back({i, j, k, before, *v});
        seen = std::max(seen, *v);
      }
      for (const TensorPair& p : ops[j].outputs)
        if (const auto v = distance(p)) seen = std::max(seen, *v);
      before = seen;
    }
  }
  return spans;
}

// The most span error that is normal for each span input past what came before it (parallel
// to `spans`; empty where none applies): 4 x the peer's span error of the same input (at least
// the median local error of its leaves) where the peer has it, else the bound over the same input (its golden name with the layer number
// replaced, and its index) in the other layers and tokens.
struct SpanExpectation {
  double error = 0;
  bool from_peer = false;
};

std::vector<std::optional<SpanExpectation>> ExpectedSpanErrors(const std::vector<OpPair>& ops,
                                                               const std::vector<SpanInput>& spans,
                                                               const PeerFloor* peer, const DivergenceOptions& o) {
  auto position = [&](const SpanInput& s) { return LayerInvariant(ops[s.op].golden_name) + ':' + std::to_string(s.input); };
  std::unordered_map<std::string, ErrorSample> by_position;
  for (const SpanInput& s : spans)
    by_position[position(s)].Add(Identity(ops[s.op]), s.before, std::max(0.0, s.distance - s.before));
  for (auto& [key, sample] : by_position) sample.Finish();
  std::vector<std::optional<SpanExpectation>> expected(spans.size());
  for (size_t n = 0; n < spans.size(); ++n) {
    const SpanInput& s = spans[n];
    if (s.distance <= s.before) continue;
    if (peer && s.op < peer->span_error.size() && s.input < peer->span_error[s.op].size() &&
        peer->span_error[s.op][s.input]) {
      expected[n] = SpanExpectation{o.peer_ratio * std::max(*peer->span_error[s.op][s.input], peer->leaf_median), true};
      continue;
    }
    if (auto bound = by_position[position(s)].Bound(Identity(ops[s.op]), s.before, o))
      expected[n] = SpanExpectation{*bound, false};
  }
  return expected;
}

// The floor as reports name it: the zero floor's extent, then "peer" and "per type" where
// operations were judged against them.
std::string DescribeFloor(const ZeroFloor& zero, const std::vector<OpDivergence>& d) {
  bool by_peer = false, by_type = false;
  for (const OpDivergence& op : d) {
    if (!op.expected_local_error) continue;
    (op.expected_from == "peer" ? by_peer : by_type) = true;
  }
  std::vector<std::string> parts;
  if (!zero.types.empty()) parts.push_back(zero.Describe());
  if (by_peer) parts.push_back("peer");
  if (by_type) parts.push_back("per type");
  if (parts.empty()) return "threshold";
  std::string out = parts[0];
  for (size_t k = 1; k < parts.size(); ++k) out += (k == 1 && !zero.types.empty() ? ", elsewhere " : ", ") + parts[k];
  return out;
}

// The ErrorGap of the root cause at ops[r], if it holds paired leaf operations (see ErrorGap).
std::optional<ErrorGap> FindGap(const OpPairing& pairing, size_t r, const DivergenceReport& report,
                                const std::vector<CompareRow>& rows,
                                const std::unordered_map<std::string, size_t>& row_of, const DivergenceOptions& o) {
  const auto& ops = pairing.ops;
  const size_t start = InnerStart(ops, r);
  if (std::none_of(ops.begin() + static_cast<std::ptrdiff_t>(start), ops.begin() + static_cast<std::ptrdiff_t>(r),
                   [](const OpPair& op) { return op.leaf; }))
    return std::nullopt;
  // Along execution order: ops[j] completes at time j, reading its inputs at j - 0.5; an
  // unpaired operation with `before` b completes at b - 0.75; the root cause reads its inputs
  // before anything inside it runs.
  struct Entry {
    double time;
    GapTensor tensor;
  };
  std::vector<Entry> along;
  auto add = [&](size_t op, bool output, double time) {
    const auto& pairs = output ? ops[op].outputs : ops[op].inputs;
    for (size_t k = 0; k < pairs.size(); ++k)
      if (const std::optional<double> distance = TensorDistance(pairs[k], rows, row_of))
        along.push_back({time, {op, output, k, *distance}});
  };
  add(r, false, static_cast<double>(start) - 0.9);
  for (size_t j = start; j < r; ++j) {
    if (!ops[j].leaf) continue;
    add(j, false, static_cast<double>(j) - 0.5);
    add(j, true, static_cast<double>(j));
  }
  add(r, true, static_cast<double>(r));
  const OpDivergence& d = report.ops[r];
  const double in = d.inputs.distance.value_or(0);
  double threshold = std::max(o.outlier_jump * in, kIdentical);
  if (d.outputs.nonfinite == 0 && d.outputs.distance && std::isfinite(*d.outputs.distance))
    threshold = std::max(threshold, std::sqrt(in * *d.outputs.distance));
  const Entry* clean = nullptr;
  for (const Entry& e : along) {
    if (e.tensor.distance <= threshold) {
      clean = &e;
      continue;
    }
    if (!clean) return std::nullopt;
    ErrorGap gap{clean->tensor, e.tensor, threshold, {}};
    for (size_t u = 0; u < pairing.my_unpaired.size(); ++u) {
      const UnpairedOp& op = pairing.my_unpaired[u];
      const double t = static_cast<double>(op.before) - 0.75;
      if (op.token_id == ops[r].token_id && t > clean->time && t < e.time && Holds(ops[r], op)) gap.between.push_back(u);
    }
    return gap;
  }
  return std::nullopt;
}

std::string Num(std::optional<double> v, const char* spec) {
  return v ? fmt::format(fmt::runtime(spec), *v) : std::string("-");
}

}  // namespace

double DistanceThreshold(double cosine_threshold) { return std::sqrt(std::max(0.0, 2.0 * (1.0 - cosine_threshold))); }

double RelativeL2(const PairMetrics& m) {
  const double v = std::sqrt(std::max(0.0, m.relative_euclidean_distance));
  return std::isfinite(v) ? v : std::numeric_limits<double>::max();
}

double PairDistance(const PairMetrics& m) { return std::max(DistanceThreshold(m.cosine_similarity), RelativeL2(m)); }

TensorScore ScoreTensor(const CompareRow& row) {
  TensorScore t;
  if (IsInt8(row.golden) != IsInt8(row.my)) {
    t.reason = "int8 compares only with int8";
    return t;
  }
  if (row.metrics) {
    const PairMetrics& m = *row.metrics;
    if (HoldsDtypeLimit(row.golden) && HoldsDtypeLimit(row.my) && !Identical(row)) {
      t.reason = "both sides hold dtype-limit values (masks), which swamp the metrics";
      return t;
    }
    t.state = TensorScore::State::kScored;
    t.cosine = m.cosine_similarity;
    t.max_relative_error = m.max_relative_error;
    t.relative_l2 = RelativeL2(m);
    t.distance = PairDistance(m);
    if (IsExact(row.golden) && IsExact(row.my) && (m.cosine_similarity != 1.0 || !Identical(row)))
      t.distance = std::numeric_limits<double>::infinity();
    return t;
  }
  // No metrics: NaN/inf on my side that golden lacks is a finding, anything else is not.
  if (row.golden && row.my && row.golden->has_stats && row.my->has_stats) {
    const SideStats& g = row.golden->stats;
    const SideStats& m = row.my->stats;
    if (m.nan_count > g.nan_count || m.inf_count > g.inf_count) {
      t.state = TensorScore::State::kNonFinite;
      t.my_nan = m.nan_count;
      t.my_inf = m.inf_count;
      return t;
    }
  }
  t.reason = row.fail_reason.empty() ? "not scored" : row.fail_reason;
  return t;
}

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kClean: return "clean";
    case Verdict::kPropagating: return "propagating";
    case Verdict::kIntroducing: return "introducing";
    case Verdict::kUnscored: return "unscored";
  }
  return "?";
}

namespace {

// The first token's first operation (in execution order) with an off tensor: if an integer
// input of it differs from the golden's, nothing before it went wrong, so the runs were fed
// different inputs (other prompt tokens, other positions).
std::optional<InputMismatch> FindInputMismatch(const std::vector<OpPair>& ops, const DivergenceReport& report,
                                               const std::vector<CompareRow>& rows,
                                               const std::unordered_map<std::string, size_t>& row_of) {
  const double T = report.distance_threshold;
  for (size_t i = 0; i < ops.size() && ops[i].token_id == ops.front().token_id; ++i) {
    const OpDivergence& d = report.ops[i];
    if (!d.inputs.off(T) && !d.outputs.off(T)) continue;
    for (const TensorPair& p : ops[i].inputs) {
      auto it = row_of.find(PathKey(p));
      if (it == row_of.end()) continue;
      const CompareRow& row = rows[it->second];
      const TensorScore t = ScoreTensor(row);
      if (IsExact(row.golden) && IsExact(row.my) && t.state == TensorScore::State::kScored && t.distance > T)
        return InputMismatch{i, ops[i].token_id, p.label, p.my_path, p.golden_path};
    }
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

DivergenceReport AnalyzeDivergence(const OpPairing& pairing, const std::vector<CompareRow>& rows,
                                   const DivergenceOptions& options, const PeerFloor* peer,
                                   const LocalChecks* local) {
  DivergenceReport report;
  report.cosine_threshold = options.cosine_threshold;
  report.distance_threshold = DistanceThreshold(options.cosine_threshold);
  report.amplification = options.amplification;
  const double T = report.distance_threshold, A = options.amplification;
  std::unordered_map<std::string, size_t> row_of;
  row_of.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) row_of.emplace(PathKey(rows[i].pair), i);

  const auto& ops = pairing.ops;
  report.ops.resize(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    report.ops[i].inputs = Summarize(ops[i].inputs, rows, row_of);
    report.ops[i].outputs = Summarize(ops[i].outputs, rows, row_of);
  }
  const ZeroFloor floor = FindZeroFloor(ops, report.ops);
  // Local error: what each operation adds beyond what its inputs carried in.
  for (OpDivergence& d : report.ops) {
    if (d.inputs.scored && !d.inputs.nonfinite && d.outputs.scored && !d.outputs.nonfinite &&
        std::isfinite(*d.outputs.distance) && std::isfinite(*d.inputs.distance))
      d.local_error = std::max(0.0, *d.outputs.distance - *d.inputs.distance);
  }
  SetExpectedLocalErrors(ops, floor, options, peer, report.ops, /*zero_floor_too=*/false);
  // Where the zero floor applies, an operation whose inputs already differ is judged by the type
  // floor too: the zero floor says nothing of how much it may add to them (a 3 % fault behind
  // inputs that fusion changed by 0.05 %). Kept aside: reports show no expected error there.
  std::vector<OpDivergence> judged_by_type = report.ops;
  SetExpectedLocalErrors(ops, floor, options, peer, judged_by_type, /*zero_floor_too=*/true);
  report.floor = DescribeFloor(floor, report.ops);
  report.spans = FindSpanInputs(ops, report.ops, rows, row_of);
  const std::vector<std::optional<SpanExpectation>> span_expected = ExpectedSpanErrors(ops, report.spans, peer, options);
  std::vector<size_t> first_span(ops.size() + 1, report.spans.size());  // spans of graph i: [first_span[i], ...)
  for (size_t n = report.spans.size(); n-- > 0;) first_span[report.spans[n].graph] = n;
  bool seen_off = false, seen_nonfinite = false;
  for (size_t i = 0; i < ops.size(); ++i) {
    OpDivergence& d = report.ops[i];
    const SideScore &in = d.inputs, &out = d.outputs;
    const bool out_nonfinite = out.nonfinite > 0, in_nonfinite = in.nonfinite > 0;
    const bool out_off = out.off(T), in_off = in.off(T);
    const bool in_evidence = in.scored > 0 || in_nonfinite;
    auto introduce = [&](const char* cause, std::string why) {
      d.verdict = Verdict::kIntroducing;
      d.cause = cause;
      d.why = std::move(why);
    };
    const bool floor_zero = floor.Applies(ops[i]);
    // The type floor: a local error beyond what is normal here, and a jump; for an operation
    // with inner operations, one that none of them accounts for: none introducing, and none
    // off without inputs to tell whether it carried the error in (the same fault in a later
    // token, where only the first off output introduces).
    auto inner_accounts = [&] {
      for (size_t j = InnerStart(ops, i); j < i; ++j) {
        const OpDivergence& inner = report.ops[j];
        const bool no_inputs = inner.inputs.scored == 0 && inner.inputs.nonfinite == 0;
        if (inner.verdict == Verdict::kIntroducing || (no_inputs && inner.outputs.off(T))) return true;
      }
      return false;
    };
    const OpDivergence& expected = floor_zero ? judged_by_type[i] : d;
    bool outlier = !in_off && d.local_error && expected.expected_local_error &&
                   *d.local_error > *expected.expected_local_error &&
                   *out.distance > options.outlier_jump * in.distance.value_or(0) &&
                   (ops[i].leaf || !inner_accounts());
    // Inside a graph, the input of an inner operation that jumps past what every paired tensor
    // before it carried, by more than the same input does in other layers: what the inner
    // operations without a golden counterpart added (the layer's output may dilute it).
    const SpanInput* jump = nullptr;
    SpanExpectation jump_expected;
    if (!outlier && !floor_zero && !in_off && !ops[i].leaf && out.nonfinite == 0) {
      const double least = std::max(kIdentical, options.rounding_units * out.unit_roundoff);
      for (size_t n = first_span[i]; n < report.spans.size() && report.spans[n].graph == i; ++n) {
        const SpanInput& span = report.spans[n];
        if (span_expected[n] && span.distance - span.before > std::max(span_expected[n]->error, least) &&
            span.distance > options.outlier_jump * span.before) {
          jump = &span;
          jump_expected = {std::max(span_expected[n]->error, least), span_expected[n]->from_peer};
          break;
        }
      }
      outlier = jump && !inner_accounts();
    }
    auto introduce_outlier = [&] {
      if (jump) {
        const TensorPair& p = ops[jump->op].inputs[jump->input];
        introduce("outlier", fmt::format("{} jumps to distance {:.3g} from at most {:.3g} before it in this graph: {:.1f} "
                                         "x the most that is normal there ({:.3g}, from {})",
                                         p.label, jump->distance, jump->before,
                                         (jump->distance - jump->before) / jump_expected.error, jump_expected.error,
                                         jump_expected.from_peer ? "the peer's same input"
                                                                 : "the same input in other layers and tokens"));
        return;
      }
      introduce("outlier", fmt::format("local error {:.3g} (input distance {:.3g} -> output {:.3g}) is {:.1f} x the "
                                       "most that is normal here ({:.3g}, from {})",
                                       *d.local_error, in.distance.value_or(0), *out.distance,
                                       *d.local_error / *expected.expected_local_error,
                                       *expected.expected_local_error, expected.expected_from));
    };
    if (out.scored == 0 && !out_nonfinite) {
      d.verdict = Verdict::kUnscored;
      d.why = out.unscored_reason.empty() ? "no output could be scored" : out.unscored_reason;
    } else if (!out_off) {
      if (floor_zero && IsIdentical(in) && *out.distance > kIdentical) {
        // Identical inputs give identical outputs in this compare: a difference is born here,
        // however far inside the threshold.
        introduce("exact", fmt::format("inputs identical to the golden's, output differs (distance {:.3g}); identical "
                                       "inputs give identical outputs in this compare",
                                       *out.distance));
      } else if (floor_zero && in_evidence && *out.distance > kIdentical && !outlier) {
        d.verdict = Verdict::kPropagating;
        d.why = fmt::format("output differs (distance {:.3g}, within threshold), carried in from inputs that differ",
                            *out.distance);
      } else if (outlier) {
        introduce_outlier();
      } else if (out.unscored > 0) {  // clean only when every output could be scored
        d.verdict = Verdict::kUnscored;
        d.why = fmt::format("{} of {} outputs could not be scored: {}", out.unscored, out.unscored + out.scored,
                            out.unscored_reason);
      } else {
        d.verdict = Verdict::kClean;
        d.why = "every output within threshold";
      }
    } else if (!in_evidence) {
      if (out_nonfinite ? !seen_nonfinite : !seen_off) {
        introduce("first-off", out_nonfinite ? "first NaN/inf output in execution order (no inputs to compare)"
                                             : "first output off in execution order (no inputs to compare)");
      } else {
        d.verdict = Verdict::kPropagating;
        d.why = "output off after an earlier operation went off (no inputs to compare)";
      }
    } else if (out_nonfinite && !in_nonfinite) {
      introduce("nonfinite", "output holds NaN/inf while every input is finite");
    } else if (in_nonfinite) {
      d.verdict = Verdict::kPropagating;
      d.why = "inputs already hold NaN/inf";
    } else if (std::isinf(*out.distance) && in.distance.value_or(0) > 0) {
      // Ids (argmax, sampling) flip on the slightest input difference at a near tie.
      d.verdict = Verdict::kPropagating;
      d.why = "integer outputs changed on inputs that differ (a near tie, e.g. argmax)";
    } else if (const double ratio = *out.distance / std::max(in.distance.value_or(0), 1e-300); ratio > A) {
      // A jump, not drift: the output is off by more than normal amplification of what came in.
      if (!in_off)
        introduce("diverged", fmt::format("inputs within threshold (distance {:.3g}), output off (distance {:.3g})",
                                          in.distance.value_or(0), *out.distance));
      else
        introduce("amplified", fmt::format("output distance {:.3g} exceeds {} x the inputs' {:.3g}", *out.distance, A,
                                           *in.distance));
    } else if (outlier) {
      introduce_outlier();
    } else {
      d.verdict = Verdict::kPropagating;
      d.why = in_off ? fmt::format("inputs already off (distance {:.3g} in, {:.3g} out)", *in.distance, *out.distance)
                     : fmt::format("output crossed the threshold by carrying its inputs' error (distance {:.3g} in, "
                                   "{:.3g} out), no jump",
                                   in.distance.value_or(0), *out.distance);
    }
    // Its own check (--opcheck) outranks the drift it inherits: a kernel wrong on its own inputs
    // introduces error even where upstream error hides it, or where it stays within threshold.
    if (local && i < local->size() && (*local)[i]) {
      d.local_check = *(*local)[i];
      if (d.local_check->failed && d.verdict != Verdict::kIntroducing)
        introduce("opcheck", "fails its own check on its dumped inputs: " + d.local_check->evidence);
    }
    seen_off |= out_off;
    seen_nonfinite |= out_nonfinite;
    if (report.by_token.empty() || report.by_token.back().token_id != ops[i].token_id)
      report.by_token.push_back({ops[i].token_id});
    DivergenceReport::TokenCounts& token = report.by_token.back();
    switch (d.verdict) {
      case Verdict::kClean: ++report.clean, ++token.clean; break;
      case Verdict::kPropagating: ++report.propagating, ++token.propagating; break;
      case Verdict::kIntroducing: ++report.introducing, ++token.introducing; break;
      case Verdict::kUnscored: ++report.unscored, ++token.unscored; break;
    }
  }

  report.input_mismatch = FindInputMismatch(ops, report, rows, row_of);

  // Candidates: introducing operations with nothing introducing inside them.
  std::vector<size_t> introducing;
  std::unordered_map<std::string, InnerIndex> inner;  // by token
  for (size_t i = 0; i < ops.size(); ++i) {
    if (report.ops[i].verdict != Verdict::kIntroducing) continue;
    introducing.push_back(i);
    InnerIndex& index = inner[ops[i].token_id];
    if (!ops[i].op_id.empty()) index.ids.insert(ops[i].op_id);
    index.names.insert(ops[i].my_name);
  }
  std::unordered_map<std::string, size_t> cause_of;  // operation identity -> index in `all`
  std::vector<RootCause> all;
  for (size_t i : introducing) {
    if (inner[ops[i].token_id].HasInside(ops[i])) {
      ++report.introducing_holding;
      continue;
    }
    std::string key = ops[i].my_name + '\n' + ops[i].op_id + '\n' + ops[i].golden_name;
    auto [it, added] = cause_of.try_emplace(key, all.size());
    if (added) all.push_back({i, {}, {}});
    RootCause& rc = all[it->second];
    rc.occurrences.push_back(i);
    if (std::find(rc.tokens.begin(), rc.tokens.end(), ops[i].token_id) == rc.tokens.end())
      rc.tokens.push_back(ops[i].token_id);
  }
  if (all.size() > options.max_root_causes) {
    report.root_causes_left_out = all.size() - options.max_root_causes;
    for (size_t k = options.max_root_causes; k < all.size(); ++k) report.introducing_left_out += all[k].occurrences.size();
    all.resize(options.max_root_causes);
  }
  for (const RootCause& rc : all) report.introducing_listed += rc.occurrences.size();
  for (RootCause& rc : all) {
    for (size_t i : rc.occurrences) report.ops[i].root_cause = true;
    if (!ops[rc.op].leaf) rc.gap = FindGap(pairing, rc.op, report, rows, row_of, options);
    rc.checked_by = CheckedBy(ops, report, rc.op);
  }
  report.root_causes = std::move(all);

  // The leaves that add the most error.
  for (size_t i = 0; i < ops.size(); ++i)
    if (ops[i].leaf && !report.ops[i].root_cause && report.ops[i].local_error.value_or(0) > 0)
      report.contributors.push_back(i);
  std::stable_sort(report.contributors.begin(), report.contributors.end(), [&](size_t a, size_t b) {
    return *report.ops[a].local_error > *report.ops[b].local_error;
  });
  if (report.contributors.size() > options.max_contributors) report.contributors.resize(options.max_contributors);
  return report;
}

PeerFloor PeerFloorFor(const OpPairing& mine, const OpPairing& peer, const DivergenceReport& peer_report) {
  PeerFloor out;
  std::unordered_map<std::string, size_t> by_golden;  // golden name + token -> index in peer
  std::vector<double> leaves;
  for (size_t i = 0; i < peer.ops.size() && i < peer_report.ops.size(); ++i) {
    if (!peer_report.ops[i].local_error) continue;
    by_golden.try_emplace(peer.ops[i].golden_name + '\n' + peer.ops[i].token_id, i);
    if (peer.ops[i].leaf) leaves.push_back(*peer_report.ops[i].local_error);
  }
  if (!leaves.empty()) out.leaf_median = Median(leaves);
  std::unordered_map<std::string, double> span_by_golden;  // golden name + token + input -> span error
  for (const SpanInput& s : peer_report.spans)
    span_by_golden.try_emplace(peer.ops[s.op].golden_name + '\n' + peer.ops[s.op].token_id + '\n' + std::to_string(s.input),
                               std::max(0.0, s.distance - s.before));
  out.span_error.resize(mine.ops.size());
  for (size_t i = 0; i < mine.ops.size(); ++i)
    for (size_t k = 0; k < mine.ops[i].inputs.size(); ++k) {
      auto it = span_by_golden.find(mine.ops[i].golden_name + '\n' + mine.ops[i].token_id + '\n' + std::to_string(k));
      if (it == span_by_golden.end()) continue;
      out.span_error[i].resize(mine.ops[i].inputs.size());
      out.span_error[i][k] = it->second;
    }
  out.local_error.resize(mine.ops.size());
  for (size_t i = 0; i < mine.ops.size(); ++i) {
    auto it = by_golden.find(mine.ops[i].golden_name + '\n' + mine.ops[i].token_id);
    if (it != by_golden.end()) out.local_error[i] = peer_report.ops[it->second].local_error;
  }
  return out;
}

bool AllWithinThreshold(const DivergenceReport& r) {
  const bool any_off = std::any_of(r.ops.begin(), r.ops.end(),
                                   [&](const OpDivergence& d) { return d.outputs.off(r.distance_threshold); });
  return !any_off && r.introducing == 0 && (r.clean > 0 || r.propagating > 0);
}

std::string DescribeInputMismatch(const InputMismatch& m) {
  std::string out = fmt::format("the runs were fed different inputs: {} (token {}) differs from the golden's "
                                "before any operation went wrong, so the errors that follow are carried in, not "
                                "born in the model; compare runs fed the same token ids",
                                m.label, m.token_id);
  if (m.token_id != "0") out += " (or an earlier token that was not dumped went wrong)";
  return out;
}

std::string NoRootCauseReason(const DivergenceReport& r) {
  if (r.ops.empty()) return "no root cause: the dumps hold no operation outputs to analyse";
  if (r.input_mismatch) return "no root cause in the model: " + DescribeInputMismatch(*r.input_mismatch);
  if (AllWithinThreshold(r)) return "no root cause: all operations within threshold";
  if (r.introducing == 0 && r.clean == 0 && r.propagating == 0) return "no root cause: no operation output could be scored";
  return "no root cause found: some outputs are off, but no operation turns inputs within threshold into an off "
         "output with a jump (the error grew gradually, or appeared where tensors could not be scored); see the "
         "verdicts in the JSON report";
}

const TensorPair& GapTensorPair(const OpPairing& ops, const GapTensor& t) {
  const OpPair& op = ops.ops[t.op];
  return (t.output ? op.outputs : op.inputs)[t.index];
}

std::string DescribeGap(const OpPairing& ops, const ErrorGap& gap) {
  auto distance = [](double v) { return std::isfinite(v) ? fmt::format("distance {:.3g}", v) : std::string("NaN/inf"); };
  std::string out = fmt::format("the error appears between {} ({}) and {} ({})", GapTensorPair(ops, gap.last_clean).label,
                                distance(gap.last_clean.distance), GapTensorPair(ops, gap.first_off).label,
                                distance(gap.first_off.distance));
  if (!gap.between.empty()) {
    out += "; my operations between them without a golden counterpart:";
    for (size_t k = 0; k < gap.between.size(); ++k) {
      const UnpairedOp& u = ops.my_unpaired[gap.between[k]];
      out += fmt::format("{} {}{}", k ? "," : "", u.name, u.name.starts_with(u.type) ? "" : " [" + u.type + "]");
    }
  }
  return out;
}

namespace {

// The top error contributors on one line each (at most 3 here; the JSON has them all).
std::string FormatContributors(const OpPairing& pairing, const DivergenceReport& r) {
  if (r.contributors.empty()) return "";
  std::string out = "Largest error contributors (local error = output distance beyond the inputs'):\n";
  for (size_t k = 0; k < r.contributors.size() && k < 3; ++k) {
    const OpPair& op = pairing.ops[r.contributors[k]];
    const OpDivergence& d = r.ops[r.contributors[k]];
    out += fmt::format("  {}. {}{} (token {}{}): local {:.3g} (input {:.3g} -> output {:.3g})\n", k + 1, op.my_name,
                       op.my_type.empty() ? "" : " [" + op.my_type + "]", op.token_id,
                       op.layer.empty() || op.layer == op.my_name ? "" : ", layer " + op.layer, *d.local_error,
                       *d.inputs.distance, *d.outputs.distance);
  }
  return out;
}

std::string FormatVerdictCounts(const DivergenceReport& r) {
  auto counts = [](size_t clean, size_t propagating, size_t introducing, size_t unscored) {
    return fmt::format("{} clean, {} propagating, {} introducing, {} unscored", clean, propagating, introducing, unscored);
  };
  std::string out = fmt::format(
      "Root cause analysis: {} operation{}{}: {} (off = cosine < {} or relative L2 error > {:.4g}, or NaN/inf; noise "
      "floor: {}).\n",
      r.ops.size(), r.ops.size() == 1 ? "" : "s",
      r.by_token.size() > 1 ? fmt::format(" over {} tokens", r.by_token.size()) : "",
      counts(r.clean, r.propagating, r.introducing, r.unscored), r.cosine_threshold, r.distance_threshold, r.floor);
  if (r.by_token.size() > 1)
    for (const auto& t : r.by_token)
      out += fmt::format("  token {}: {}\n", t.token_id, counts(t.clean, t.propagating, t.introducing, t.unscored));
  if (r.introducing > r.introducing_listed) {
    out += fmt::format("  the {} introducing: {} occurrence{} of the root cause{} below", r.introducing,
                       r.introducing_listed, r.introducing_listed == 1 ? "" : "s", r.root_causes.size() == 1 ? "" : "s");
    if (r.introducing_holding)
      out += fmt::format(", {} operation{} holding one (a layer around it)", r.introducing_holding,
                         r.introducing_holding == 1 ? "" : "s");
    if (r.introducing_left_out)
      out += fmt::format(", {} of the candidates left out", r.introducing_left_out);
    out += "\n";
  }
  return out;
}

}  // namespace

std::string FormatRootCauses(const OpPairing& pairing, const DivergenceReport& r) {
  std::string out = FormatVerdictCounts(r);
  if (r.input_mismatch && !r.root_causes.empty())
    out += "Warning: " + DescribeInputMismatch(*r.input_mismatch) + "\n";
  if (r.root_causes.empty()) {
    out += NoRootCauseReason(r) + "\n";
    out += FormatContributors(pairing, r);
    return out;
  }
  for (size_t k = 0; k < r.root_causes.size(); ++k) {
    const RootCause& rc = r.root_causes[k];
    const OpPair& op = pairing.ops[rc.op];
    const OpDivergence& d = r.ops[rc.op];
    std::string where = fmt::format("token {}", op.token_id);
    if (!op.op_id.empty()) where += ", op " + op.op_id;
    if (!op.layer.empty() && op.layer != op.my_name) where += ", layer " + op.layer;
    std::string what = op.my_name;
    if (!op.my_type.empty()) what += " [" + op.my_type + "]";
    if (!op.golden_name.empty() && op.golden_name != op.my_name) what += " vs golden " + op.golden_name;
    std::string evidence;
    if (d.outputs.nonfinite)
      evidence = fmt::format("output has {} NaN, {} inf", d.outputs.nan, d.outputs.inf);
    else
      evidence = fmt::format("output cos {} rel-L2 {} max-rel-err {}", Num(d.outputs.cosine, "{:.6f}"),
                             Num(d.outputs.relative_l2, "{:.4g}"), Num(d.outputs.max_relative_error, "{:.4g}"));
    if (d.inputs.scored || d.inputs.nonfinite)
      evidence += fmt::format("; inputs cos {} rel-L2 {}", Num(d.inputs.cosine, "{:.6f}"),
                              Num(d.inputs.relative_l2, "{:.4g}"));
    std::string tokens;
    if (rc.tokens.size() > 1) {
      tokens = "; also tokens";
      for (size_t t = 1; t < rc.tokens.size() && t < 8; ++t) tokens += " " + rc.tokens[t];
      if (rc.tokens.size() > 8) tokens += " ...";
    }
    out += fmt::format("root cause #{}: {} ({}): {} ({}); {}{}\n", k + 1, what, where, d.cause, d.why, evidence,
                       tokens);
    if (rc.checked_by && d.cause != "opcheck") {
      const LocalCheck& check = *r.ops[*rc.checked_by].local_check;
      const std::string of = *rc.checked_by == rc.op ? "" : " (its operation " + pairing.ops[*rc.checked_by].my_name + ")";
      out += check.failed ? "  opcheck FAILED on its own inputs" + of + ": a wrong kernel; " + check.evidence + "\n"
                          : "  opcheck PASS on its own inputs" + of +
                                ": precision-limited (it amplifies what it inherits, or rounds), not a wrong kernel; " +
                                check.evidence + "\n";
    }
    if (rc.gap) out += "  " + DescribeGap(pairing, *rc.gap) + "\n";
  }
  if (r.root_causes_left_out) out += fmt::format("  ... and {} more candidates (see the JSON report)\n", r.root_causes_left_out);
  out += FormatContributors(pairing, r);
  return out;
}

}  // namespace ait
