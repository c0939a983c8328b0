// ComputePairMetrics: every metric and statistic of a tensor pair from one streaming pass.
// Both sides are converted to float32 in L1-sized chunks; each chunk is then scanned twice
// while hot — max/min first (the softmax shift must be known before exponentiating), then
// all sums — with Highway vectors (runtime-dispatched, see convert.cc). Per-element
// errors and exps are float32 like the original; sums end in float64.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "compare/scoring/metrics.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "ait/convert.h"
#include "ait/metrics.h"

#ifndef AIT_METRICS_RUNNING_SUMS_
#define AIT_METRICS_RUNNING_SUMS_
namespace ait::metrics_internal {

constexpr float kInf = std::numeric_limits<float>::infinity();

// State carried from chunk to chunk. The running maxima double as the softmax shifts;
// with e_g = exp(g - g_max), d = g - m and d' = d - kl_shift: s_g = sum e_g,
// s_m = sum exp(m - m_max), t = sum e_g d, x = sum e_g expm1(-d'), p = sum e_g (expm1(-d') + d').
struct RunningSums {
  float g_max = -kInf, g_min = kInf, m_max = -kInf, m_min = kInf;
  float max_r = 0, max_a = 0;
  double gm = 0, gg = 0, mm = 0, dd = 0, sum_g = 0, sum_m = 0, sum_r = 0, sum_a = 0;
  double s_g = 0, s_m = 0, t = 0, x = 0, p = 0;
  // KL is invariant to a constant offset between g and m, the accurate KL form is not:
  // its terms use d' = d - kl_shift, fixed at the first chunk's softmax-weighted mean of d.
  float kl_shift = 0;
  bool kl_shift_set = false;
  int64_t g_nan = 0, g_inf = 0, m_nan = 0, m_inf = 0;
};

}  // namespace ait::metrics_internal
#endif

HWY_BEFORE_NAMESPACE();
namespace ait::HWY_NAMESPACE {
namespace {
namespace hn = hwy::HWY_NAMESPACE;
using metrics_internal::kInf;
using metrics_internal::RunningSums;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
// float64 vectors of the same byte width, i.e. half the lanes (SCALAR: one lane each).
#if HWY_TARGET == HWY_SCALAR
using DD = hn::Rebind<double, DF>;
#else
using DD = hn::Repartition<double, DF>;
#endif
using VD = hn::Vec<DD>;

// The lower and upper halves of a float32 vector, widened to float64.
HWY_INLINE VD Lo(VF v) {
#if HWY_TARGET == HWY_SCALAR
  return hn::PromoteTo(DD(), v);
#else
  return hn::PromoteTo(DD(), hn::LowerHalf(hn::Half<DF>(), v));
#endif
}
HWY_INLINE VD Hi(VF v) {
#if HWY_TARGET == HWY_SCALAR
  (void)v;
  return hn::Zero(DD());
#else
  return hn::PromoteTo(DD(), hn::UpperHalf(hn::Half<DF>(), v));
#endif
}
HWY_INLINE VD Widen(VF v) { return hn::Add(Lo(v), Hi(v)); }

// Exp converts its argument to an integer exponent. Hardware targets define that for NaN;
// Highway's emulated targets use a C++ cast, undefined for NaN. A NaN only arises from
// non-finite inputs, whose pair gets no metrics, so zero is as good as any value there.
HWY_INLINE VF ExpArg(VF x) {
#if HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_EMU128
  return hn::IfThenZeroElse(hn::IsNaN(x), x);
#else
  return x;
#endif
}

void CountNonFinite(const float* v, size_t n, int64_t* nan, int64_t* inf) {
  for (size_t i = 0; i < n; ++i) {
    *nan += std::isnan(v[i]);
    *inf += std::isinf(v[i]);
  }
}

}  // namespace

// Folds elements [0, n) of g and m (float32, 4-byte aligned) into `st`.
void AccumulateChunk(const float* HWY_RESTRICT gp, const float* HWY_RESTRICT mp, size_t n, RunningSums* st) {
  const DF d;
  const DD dd;
  const size_t N = hn::Lanes(d);
  const size_t full = n - n % N, rem = n % N;

  // The tail is copied into one padded vector. Padding with element 0 is neutral for
  // max/min and the finiteness check; the sum pass zeroes the padded lanes instead.
  HWY_ALIGN float g_tail[HWY_MAX_BYTES / 4], m_tail[HWY_MAX_BYTES / 4];
  if (rem) {
    for (size_t j = 0; j < N; ++j) {
      g_tail[j] = j < rem ? gp[full + j] : gp[0];
      m_tail[j] = j < rem ? mp[full + j] : mp[0];
    }
  }

  // Pass 1: extrema, and x*0 summed, which is NaN iff some element is NaN or inf.
  {
    const VF zero = hn::Zero(d);
    VF g_max = hn::Set(d, -kInf), g_min = hn::Set(d, kInf), m_max = g_max, m_min = g_min, bad = zero;
    auto scan = [&](VF g, VF m) {
      g_max = hn::Max(g_max, g);
      g_min = hn::Min(g_min, g);
      m_max = hn::Max(m_max, m);
      m_min = hn::Min(m_min, m);
      bad = hn::MulAdd(g, zero, hn::MulAdd(m, zero, bad));
    };
    for (size_t i = 0; i < full; i += N) scan(hn::LoadU(d, gp + i), hn::LoadU(d, mp + i));
    if (rem) scan(hn::Load(d, g_tail), hn::Load(d, m_tail));

    if (std::isnan(hn::GetLane(hn::SumOfLanes(d, bad)))) {  // rare: only broken tensors
      CountNonFinite(gp, n, &st->g_nan, &st->g_inf);
      CountNonFinite(mp, n, &st->m_nan, &st->m_inf);
    }
    st->g_min = std::min(st->g_min, hn::GetLane(hn::MinOfLanes(d, g_min)));
    st->m_min = std::min(st->m_min, hn::GetLane(hn::MinOfLanes(d, m_min)));
    // A new maximum rescales the softmax sums (online log-sum-exp).
    const float g_new = std::max(st->g_max, hn::GetLane(hn::MaxOfLanes(d, g_max)));
    const float m_new = std::max(st->m_max, hn::GetLane(hn::MaxOfLanes(d, m_max)));
    if (g_new > st->g_max) {
      const double scale = std::exp(static_cast<double>(st->g_max) - g_new);
      st->s_g *= scale;
      st->t *= scale;
      st->p *= scale;
      st->x *= scale;
      st->g_max = g_new;
    }
    if (m_new > st->m_max) {
      st->s_m *= std::exp(static_cast<double>(st->m_max) - m_new);
      st->m_max = m_new;
    }
  }

  if (!st->kl_shift_set) {
    double w_sum = 0, wd_sum = 0;
    for (size_t i = 0; i < n; ++i) {
      const double w = std::exp(static_cast<double>(gp[i]) - st->g_max);
      if (std::isfinite(w) && std::isfinite(gp[i] - mp[i])) {
        w_sum += w;
        wd_sum += w * (static_cast<double>(gp[i]) - mp[i]);
      }
    }
    const double shift = w_sum > 0 ? wd_sum / w_sum : 0.0;
    st->kl_shift = std::isfinite(shift) ? static_cast<float>(shift) : 0.0f;
    st->kl_shift_set = true;
  }

  // Pass 2: everything else. Products and the sums of g and m go straight into float64;
  // the other sums collect kBlock vectors in float32 first (each lane adds kBlock terms of
  // one sign or small size, so the partial keeps ~1e-7) and are then widened.
  constexpr size_t kBlock = 8;
  const VF eps = hn::Set(d, 1.1920928955078125e-07f);  // 2^-23, float32 machine epsilon
  const VF one = hn::Set(d, 1.0f), zero = hn::Zero(d);
  const VF shift_g = hn::Set(d, st->g_max), shift_m = hn::Set(d, st->m_max);
  // e_g * exp(-d') = exp(m - m_max) * c as a float pair, so no systematic rounding in c.
  const double c = std::exp(static_cast<double>(st->m_max) - st->g_max + st->kl_shift);
  const VF kl_shift = hn::Set(d, st->kl_shift);
  const float c_hi = static_cast<float>(c);
  const VF vc_hi = hn::Set(d, c_hi), vc_lo = hn::Set(d, static_cast<float>(c - c_hi));
  VF max_r = zero, max_a = zero;
  VF r_b = zero, a_b = zero, eg_b = zero, em_b = zero, t_b = zero, p_b = zero, x_b = zero;
  VD gm = hn::Zero(dd), gg = gm, mm = gm, sq = gm, sum_g = gm, sum_m = gm;
  VD sum_r = gm, sum_a = gm, s_g = gm, s_m = gm, t = gm, p = gm, x = gm;

  auto step = [&](VF g, VF m, auto is_tail) {
    VF e_g = hn::Exp(d, ExpArg(hn::Sub(g, shift_g)));
    VF e_m = hn::Exp(d, ExpArg(hn::Sub(m, shift_m)));
    if constexpr (decltype(is_tail)::value) {  // padded lanes contribute nothing
      const auto valid = hn::FirstN(d, rem);
      g = hn::IfThenElseZero(valid, g);
      m = hn::IfThenElseZero(valid, m);
      e_g = hn::IfThenElseZero(valid, e_g);
      e_m = hn::IfThenElseZero(valid, e_m);
    }
    // r and a exactly as numpy computes them in float32; masked where |g| <= eps.
    const VF diff = hn::Sub(g, m);
    const auto counted = hn::Gt(hn::Abs(g), eps);
    const VF r = hn::IfThenElseZero(counted, hn::Abs(hn::Sub(hn::Div(m, g), one)));
    const VF a = hn::IfThenElseZero(counted, hn::Abs(diff));
    max_r = hn::Max(max_r, r);
    max_a = hn::Max(max_a, a);
    r_b = hn::Add(r_b, r);
    a_b = hn::Add(a_b, a);
    eg_b = hn::Add(eg_b, e_g);
    em_b = hn::Add(em_b, e_m);
    t_b = hn::MulAdd(e_g, diff, t_b);

    // KL terms without cancellation (see ComputePairMetrics): with d' = g - m - kl_shift,
    // x += e_g * expm1(-d') and p += e_g * phi(d'), phi(d') = exp(-d') - 1 + d' >= 0.
    // Small |d'|: phi by its Taylor series (error < 3e-9 relative for |d'| <= 0.5).
    // Large |d'|: from the exps at hand; e_g * exp(-d') = e_m * c.
    const VF dk = hn::Sub(diff, kl_shift);
    VF phi = hn::MulAdd(dk, hn::Set(d, -1.0f / 362880), hn::Set(d, 1.0f / 40320));
    phi = hn::MulAdd(phi, dk, hn::Set(d, -1.0f / 5040));
    phi = hn::MulAdd(phi, dk, hn::Set(d, 1.0f / 720));
    phi = hn::MulAdd(phi, dk, hn::Set(d, -1.0f / 120));
    phi = hn::MulAdd(phi, dk, hn::Set(d, 1.0f / 24));
    phi = hn::MulAdd(phi, dk, hn::Set(d, -1.0f / 6));
    phi = hn::MulAdd(phi, dk, hn::Set(d, 0.5f));
    phi = hn::Mul(phi, hn::Mul(dk, dk));
    const auto small = hn::Lt(hn::Abs(dk), hn::Set(d, 0.5f));
    const VF x_large = hn::MulAdd(e_m, vc_hi, hn::MulSub(e_m, vc_lo, e_g));
    x_b = hn::Add(x_b, hn::IfThenElse(small, hn::Mul(e_g, hn::Sub(phi, dk)), x_large));
    p_b = hn::Add(p_b, hn::IfThenElse(small, hn::Mul(e_g, phi), hn::MulAdd(e_g, dk, x_large)));

    const VD g_lo = Lo(g), g_hi = Hi(g), m_lo = Lo(m), m_hi = Hi(m);
    gm = hn::MulAdd(g_lo, m_lo, hn::MulAdd(g_hi, m_hi, gm));
    gg = hn::MulAdd(g_lo, g_lo, hn::MulAdd(g_hi, g_hi, gg));
    mm = hn::MulAdd(m_lo, m_lo, hn::MulAdd(m_hi, m_hi, mm));
    const VD d_lo = hn::Sub(g_lo, m_lo), d_hi = hn::Sub(g_hi, m_hi);
    sq = hn::MulAdd(d_lo, d_lo, hn::MulAdd(d_hi, d_hi, sq));
    sum_g = hn::Add(sum_g, hn::Add(g_lo, g_hi));
    sum_m = hn::Add(sum_m, hn::Add(m_lo, m_hi));
  };
  auto flush = [&] {
    sum_r = hn::Add(sum_r, Widen(r_b));
    sum_a = hn::Add(sum_a, Widen(a_b));
    s_g = hn::Add(s_g, Widen(eg_b));
    s_m = hn::Add(s_m, Widen(em_b));
    t = hn::Add(t, Widen(t_b));
    p = hn::Add(p, Widen(p_b));
    x = hn::Add(x, Widen(x_b));
    r_b = a_b = eg_b = em_b = t_b = p_b = x_b = zero;
  };
  for (size_t i = 0; i < full;) {
    for (const size_t end = std::min(full, i + kBlock * N); i < end; i += N)
      step(hn::LoadU(d, gp + i), hn::LoadU(d, mp + i), std::false_type());
    flush();
  }
  if (rem) {
    step(hn::Load(d, g_tail), hn::Load(d, m_tail), std::true_type());
    flush();
  }

  auto sum = [&](VD v) { return hn::GetLane(hn::SumOfLanes(dd, v)); };
  st->gm += sum(gm);
  st->gg += sum(gg);
  st->mm += sum(mm);
  st->dd += sum(sq);
  st->sum_g += sum(sum_g);
  st->sum_m += sum(sum_m);
  st->sum_r += sum(sum_r);
  st->sum_a += sum(sum_a);
  st->s_g += sum(s_g);
  st->s_m += sum(s_m);
  st->t += sum(t);
  st->p += sum(p);
  st->x += sum(x);
  st->max_r = std::max(st->max_r, hn::GetLane(hn::MaxOfLanes(d, max_r)));
  st->max_a = std::max(st->max_a, hn::GetLane(hn::MaxOfLanes(d, max_a)));
}

}  // namespace ait::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ait {
namespace {

using metrics_internal::RunningSums;

constexpr size_t kChunk = 2048;  // elements per side: 2 x 8 KiB of float32 stays in L1

// Delivers consecutive chunks of one side as float32, reading the side cyclically when it
// is shorter than the pair (`total` elements).
class ChunkReader {
 public:
  ChunkReader(const ElementSpan& span, int64_t total, float* buf)
      : span_(span), buf_(buf), item_(ItemSize(span.dtype)) {
    bytes_ = static_cast<const uint8_t*>(span.data);
    direct_ = span.dtype == DType::kFloat32 && reinterpret_cast<uintptr_t>(span.data) % alignof(float) == 0;
    if (span.numel < total && static_cast<size_t>(span.numel) <= kChunk) {
      // A short periodic side is converted once, repeated to fill the buffer; chunks then
      // always start at a multiple of its length and read the same buffer.
      const int64_t reps = std::min<int64_t>(kChunk / span.numel, total / span.numel);
      ConvertToFloat32(span.dtype, span.data, span.numel, buf_);
      for (int64_t r = 1; r < reps; ++r) std::memcpy(buf_ + r * span.numel, buf_, span.numel * sizeof(float));
      period_ = static_cast<size_t>(reps * span.numel);
    }
  }
  // Nonzero for a short periodic side: the chunk length both sides must then use.
  size_t period() const { return period_; }

  // Elements [pos, pos + len) of the cyclic stream; len <= kChunk.
  const float* Read(int64_t pos, size_t len) {
    if (period_ != 0) return buf_;
    const int64_t p = pos % span_.numel;
    const size_t first = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(len), span_.numel - p));
    if (direct_ && first == len) return reinterpret_cast<const float*>(bytes_ + p * item_);
    ConvertToFloat32(span_.dtype, bytes_ + p * item_, first, buf_);
    if (first < len) ConvertToFloat32(span_.dtype, bytes_, len - first, buf_ + first);  // wrapped
    return buf_;
  }

 private:
  ElementSpan span_;
  float* buf_;
  size_t item_;
  const uint8_t* bytes_;
  bool direct_ = false;
  size_t period_ = 0;
};

SideStats Stats(float max, float min, double sum, int64_t nan, int64_t inf, int64_t total, int64_t numel) {
  SideStats s;
  // A cyclic side was visited total/numel times: counts scale, extrema and mean do not.
  const int64_t visits = total / numel;
  s.nan_count = nan / visits;
  s.inf_count = inf / visits;
  // Vector max/min skip NaN; torch's propagate it (and so does the sum into mean).
  const double kNaN = std::numeric_limits<double>::quiet_NaN();
  s.max = s.nan_count ? kNaN : max;
  s.min = s.nan_count ? kNaN : min;
  s.mean = sum / static_cast<double>(total);
  return s;
}

}  // namespace

HWY_EXPORT(AccumulateChunk);

PairMetrics ComputePairMetrics(const ElementSpan& golden, const ElementSpan& my) {
  PairMetrics out;
  if (golden.numel <= 0 || my.numel <= 0) return out;
  const int64_t total = std::max(golden.numel, my.numel);

  HWY_ALIGN float g_buf[kChunk], m_buf[kChunk];
  ChunkReader g_reader(golden, total, g_buf), m_reader(my, total, m_buf);
  const size_t period = std::max(g_reader.period(), m_reader.period());  // one side at most
  const size_t chunk = period != 0 ? period : kChunk;
  RunningSums st;
  for (int64_t pos = 0; pos < total; pos += chunk) {
    const size_t len = static_cast<size_t>(std::min<int64_t>(chunk, total - pos));
    HWY_DYNAMIC_DISPATCH(AccumulateChunk)(g_reader.Read(pos, len), m_reader.Read(pos, len), len, &st);
  }

  out.golden = Stats(st.g_max, st.g_min, st.sum_g, st.g_nan, st.g_inf, total, golden.numel);
  out.my = Stats(st.m_max, st.m_min, st.sum_m, st.m_nan, st.m_inf, total, my.numel);

  const double n = static_cast<double>(total);
  constexpr double kEps = 1.1920928955078125e-07;  // 2^-23
  if (st.gg == 0 && st.mm == 0) {
    out.cosine_similarity = 1.0;
  } else {
    // torch >= 1.12 (which the original runs on) clamps each norm on its own; clamping their
    // product (torch 1.9) makes tensors of tiny norm look unrelated.
    constexpr double kNormEps = 1e-8;
    const double cos = st.gm / (std::max(std::sqrt(st.gg), kNormEps) * std::max(std::sqrt(st.mm), kNormEps));
    out.cosine_similarity = std::round(cos * 1e10) / 1e10;
  }
  out.max_relative_error = st.max_r;
  out.mean_relative_error = st.sum_r / n;
  out.max_absolute_error = st.max_a;
  out.mean_absolute_error = st.sum_a / n;
  // KL = sum P (log P - log Q), P = softmax(g), Q = softmax(m), d = g - m. Since
  // log P - log Q = d - lse(g) + lse(m) and sum P = 1:   KL = t/s_g - lse(g) + lse(m).
  // That form is robust but subtracts numbers of size log(n) to get KL, which for a
  // near-identical pair is ~1e-8: float32 exps leave ~1e-4 relative error. With
  // X = sum P expm1(-d) = x/s_g, lse(m) - lse(g) = log1p(X), so equally
  //   KL = p/s_g + (log1p(X) - X),
  // a sum of nonnegative terms plus a second-order one: accurate whenever |X| is small.
  // Both hold with d replaced by d' = d - kl_shift (KL ignores a constant offset), which
  // keeps |X| small when my is golden plus a bias.
  const double x = st.x / st.s_g;
  const double kl = std::fabs(x) < 0.5
                        ? st.p / st.s_g + (std::log1p(x) - x)
                        : st.t / st.s_g - (st.g_max + std::log(st.s_g)) + (st.m_max + std::log(st.s_m));
  out.kl_divergence = std::max(kl, 0.0);
  out.relative_euclidean_distance = std::sqrt(st.gg) <= kEps ? 0.0 : st.dd / st.gg;
  return out;
}

}  // namespace ait
#endif  // HWY_ONCE
