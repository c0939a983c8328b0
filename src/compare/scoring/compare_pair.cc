// ComparePair: one pair from files to a report row, following FORMATS.md 7.6.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <filesystem>

#include "ait/compare_pair.h"
#include "ait/convert.h"
#include "ait/tensor_io.h"
#include "ait/tensor_layout.h"

namespace ait {
namespace {

TensorInfo Describe(const Tensor& t) {
  TensorInfo info;
  info.dtype = std::string(TorchName(t.dtype));
  info.shape = t.ShapeString();
  bool has_zero_dim = false;
  for (int64_t d : t.shape) has_zero_dim |= d == 0;
  info.has_stats = t.has_data && !has_zero_dim && IsConvertible(t.dtype);
  return info;
}

ElementSpan Span(const Tensor& t) { return {t.dtype, t.data, t.numel()}; }

// Numpy broadcast of two shapes; nullopt when they do not broadcast.
std::optional<std::vector<int64_t>> BroadcastShape(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  size_t n = std::max(a.size(), b.size());
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[i] = std::max(da, db);
  }
  return out;
}

// Whether broadcasting `s` to `target` only repeats the whole tensor (leading dims of 1
// expand, trailing dims equal): then a cyclic read is the broadcast, no copy needed.
bool IsWholeRepeat(const std::vector<int64_t>& s, const std::vector<int64_t>& target) {
  size_t pad = target.size() - s.size();
  size_t i = 0;
  while (i < s.size() && s[i] == 1 && target[pad + i] != 1) ++i;
  for (size_t j = i; j < s.size(); ++j)
    if (s[j] != target[pad + j]) return false;
  return true;
}

// Materializes `t` broadcast to `target` as float32.
Tensor BroadcastToFloat32(const Tensor& t, const std::vector<int64_t>& target) {
  std::vector<float> src(static_cast<size_t>(t.numel()));
  ConvertToFloat32(t.dtype, t.data, src.size(), src.data());
  Tensor out = Tensor::Allocate(DType::kFloat32, target);
  auto* dst = reinterpret_cast<float*>(out.mutable_data());
  const size_t nd = target.size(), pad = nd - t.shape.size();
  std::vector<int64_t> src_stride(nd, 0);
  int64_t stride = 1;
  for (size_t k = nd; k-- > pad;) {
    int64_t dim = t.shape[k - pad];
    src_stride[k] = dim == 1 ? 0 : stride;
    stride *= dim;
  }
  std::vector<int64_t> idx(nd, 0);
  for (int64_t i = 0, n = out.numel(); i < n; ++i) {
    int64_t off = 0;
    for (size_t k = 0; k < nd; ++k) off += idx[k] * src_stride[k];
    dst[i] = src[static_cast<size_t>(off)];
    for (size_t k = nd; k-- > 0;) {
      if (++idx[k] < target[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

// Applies the batch rule; returns a reason when the shapes neither broadcast nor tile.
std::optional<std::string> ApplyBatchRule(Tensor& g, Tensor& m) {
  if (g.shape == m.shape) return std::nullopt;
  if (auto target = BroadcastShape(g.shape, m.shape)) {
    for (Tensor* t : {&g, &m})
      if (!IsWholeRepeat(t->shape, *target)) *t = BroadcastToFloat32(*t, *target);
    return std::nullopt;  // whole repeats are read cyclically by the metric kernel
  }
  if (!g.shape.empty() && !m.shape.empty()) {
    int64_t a = g.shape[0], b = m.shape[0];
    if (a > 0 && b > 0 && (a % b == 0 || b % a == 0)) return std::nullopt;  // tile along dim 0 = cyclic read
  }
  return fmt::format("shapes {} and {} neither broadcast nor tile along dim 0.", g.ShapeString(), m.ShapeString());
}

std::string NotComparable(const char* side, const Tensor& t) {
  if (!t.has_data) return fmt::format("{}: holds a description only (no data).", side);
  return fmt::format("{}: dtype {} cannot be compared.", side, TorchName(t.dtype));
}

SideStats StatsOf(const Tensor& t) { return ComputePairMetrics(Span(t), Span(t)).golden; }

// The original joins the reasons of one pair with single spaces.
std::string JoinReasons(const std::vector<std::string>& reasons) {
  std::string out;
  for (const std::string& r : reasons) out += (out.empty() ? "" : " ") + r;
  return out;
}

// The user's metrics on a scored pair; a metric that throws gives its message instead.
void RunCustomMetrics(const Tensor& golden, const Tensor& my, const CompareOptions& options, CompareRow& row) {
  row.custom.reserve(options.custom_metrics.size());
  for (const CustomMetric& metric : options.custom_metrics) {
    try {
      row.custom.push_back(metric.fn ? metric.fn(golden, my) : CustomMetricValue{});
    } catch (const std::exception& e) {
      row.custom.push_back({"", e.what()});
    } catch (...) {
      row.custom.push_back({"", "unknown error"});
    }
  }
}

}  // namespace

CompareRow ComparePair(const TensorPair& pair, const CompareOptions& options) {
  CompareRow row;
  row.pair = pair;
  namespace fs = std::filesystem;
  std::error_code ec;
  // A path may address one tensor of a container file (`FILE,outputs,0`): its file must exist.
  if (!fs::is_regular_file(SplitTensorAddress(pair.golden_path).file, ec)) {
    row.fail_reason = fmt::format("golden_data_path: {} is not a file.", pair.golden_path);
    return row;
  }
  if (!fs::is_regular_file(SplitTensorAddress(pair.my_path).file, ec)) {
    row.fail_reason = fmt::format("my_data_path: {} is not a file.", pair.my_path);
    return row;
  }
  auto read = [](const std::string& path, const std::string& layout) {
    return Capture([&] {
      Tensor t = ReadTensor(path);
      try {
        return ApplyLayout(t, layout);
      } catch (const Error& e) {
        throw Error(fmt::format("{}: {}", path, e.what()));
      }
    });
  };
  Result<Tensor> golden = read(pair.golden_path, pair.golden_layout);
  Result<Tensor> my = read(pair.my_path, pair.my_layout);
  if (golden.ok()) row.golden = Describe(golden.value());
  if (my.ok()) row.my = Describe(my.value());
  if (!golden.ok() || !my.ok()) {
    // No statistics of the readable side either: the row is about a file that is not there.
    for (auto* info : {&row.golden, &row.my})
      if (*info) (*info)->has_stats = false;
    std::vector<std::string> reasons;
    if (!golden.ok()) reasons.push_back(golden.error());
    if (!my.ok()) reasons.push_back(my.error());
    row.fail_reason = JoinReasons(reasons);
    return row;
  }
  CompareRow scored = CompareTensors(golden.value(), my.value(), options);
  scored.pair = std::move(row.pair);
  return scored;
}

CompareRow CompareTensors(const Tensor& golden, const Tensor& my, const CompareOptions& options) {
  CompareRow row;
  row.golden = Describe(golden);
  row.my = Describe(my);
  Tensor g = golden, m = my;
  const bool g_ok = row.golden->has_stats, m_ok = row.my->has_stats;
  if (!g_ok && !m_ok && g.has_data && m.has_data && IsConvertible(g.dtype) && IsConvertible(m.dtype) &&
      g.numel() == 0 && g.shape == m.shape) {
    // Two empty tensors of one shape (a KV cache before the first token) are equal: the
    // metrics of two all-zero tensors, no statistics.
    row.metrics = PairMetrics{};
    row.metrics->cosine_similarity = 1.0;
    RunCustomMetrics(golden, my, options, row);
    return row;
  }
  if (!g_ok || !m_ok) {
    std::vector<std::string> reasons;
    if (g_ok) row.golden->stats = StatsOf(g);
    if (m_ok) row.my->stats = StatsOf(m);
    if (!g.has_data || !IsConvertible(g.dtype)) reasons.push_back(NotComparable("golden_data", g));
    if (!m.has_data || !IsConvertible(m.dtype)) reasons.push_back(NotComparable("my_data", m));
    if (reasons.empty()) reasons.push_back("empty tensor (a dimension is 0).");
    row.fail_reason = JoinReasons(reasons);
    return row;
  }
  if (options.broadcast) {
    Tensor g0 = g, m0 = m;
    if (auto reason = ApplyBatchRule(g, m)) {
      row.golden->stats = StatsOf(g0);
      row.my->stats = StatsOf(m0);
      row.fail_reason = *reason;
      return row;
    }
  }
  const int64_t ng = g.numel(), nm = m.numel();
  const bool cyclic_ok = options.broadcast && (ng % nm == 0 || nm % ng == 0);
  if (ng != nm && !cyclic_ok) {
    row.golden->stats = StatsOf(g);
    row.my->stats = StatsOf(m);
    row.fail_reason = "data shape doesn't match.";
    return row;
  }
  PairMetrics pm = ComputePairMetrics(Span(g), Span(m));
  // Broadcasting repeats every element equally often, so min/max/mean are those of the
  // file's own tensor also after a broadcast copy.
  row.golden->stats = pm.golden;
  row.my->stats = pm.my;
  std::vector<std::string> reasons;
  if (pm.golden.nan_count || pm.golden.inf_count) reasons.push_back("golden_data includes NAN or inf.");
  if (pm.my.nan_count || pm.my.inf_count) reasons.push_back("my_data includes NAN or inf.");
  if (!reasons.empty()) {
    row.fail_reason = JoinReasons(reasons);
    return row;
  }
  row.metrics = pm;
  RunCustomMetrics(golden, my, options, row);
  return row;
}

std::vector<CompareRow> CompareAll(const std::vector<TensorPair>& pairs, const CompareOptions& options,
                                   const std::function<void(size_t, size_t)>& progress) {
  std::vector<CompareRow> rows(pairs.size());
  std::atomic<size_t> done{0};
  auto body = [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i != r.end(); ++i) {
      rows[i] = ComparePair(pairs[i], options);
      size_t d = ++done;
      if (progress) progress(d, pairs.size());
    }
  };
  if (options.threads > 0) {
    tbb::task_arena arena(options.threads);
    arena.execute([&] { tbb::parallel_for(tbb::blocked_range<size_t>(0, pairs.size(), 1), body); });
  } else {
    tbb::parallel_for(tbb::blocked_range<size_t>(0, pairs.size(), 1), body);
  }
  return rows;
}

}  // namespace ait
