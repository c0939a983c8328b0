// Fault injection (perturb.h): spec parsing, glob matching, the per-kind tensor edits and the
// observer that applies them after each matching operation.
#include "ait_engine/perturb.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numbers>
#include <optional>

#include "ait/error.h"
#include "ops/kernels.h"

namespace ait::engine {

namespace {

// The set `[...]` starting at pattern[p] == '['. Returns the index just past `]` and whether
// `c` is in the set, or nullopt when the set is not closed.
std::optional<size_t> MatchSet(std::string_view pattern, size_t p, char c, bool& hit) {
  size_t i = p + 1;
  bool negate = false;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    negate = true;
    ++i;
  }
  bool found = false, first = true;
  while (i < pattern.size() && (first || pattern[i] != ']')) {
    first = false;
    char lo = pattern[i];
    if (lo == '\\' && i + 1 < pattern.size()) lo = pattern[++i];
    char hi = lo;
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      hi = pattern[i + 2];
      i += 2;
    }
    if (lo <= c && c <= hi) found = true;
    ++i;
  }
  if (i >= pattern.size()) return std::nullopt;
  hit = found != negate;
  return i + 1;
}

bool BadSet(std::string_view pattern) {
  for (size_t p = 0; p < pattern.size(); ++p) {
    if (pattern[p] == '\\') {
      ++p;
    } else if (pattern[p] == '[') {
      bool hit = false;
      auto end = MatchSet(pattern, p, 'a', hit);
      if (!end) return true;
      p = *end - 1;
    }
  }
  return false;
}

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in (0, 1].
double Uniform(uint64_t& state) { return (static_cast<double>(SplitMix(state) >> 11) + 1.0) * 0x1.0p-53; }

struct KindInfo {
  PerturbKind kind;
  std::string_view name;
  bool takes_mag;
  double def;
};
constexpr KindInfo kKinds[] = {
    {PerturbKind::kNoise, "noise", true, 0.1}, {PerturbKind::kScale, "scale", true, 2.0},
    {PerturbKind::kBias, "bias", true, 1.0},   {PerturbKind::kZero, "zero", false, 0.0},
    {PerturbKind::kNan, "nan", true, 0.01},    {PerturbKind::kInf, "inf", true, 0.01},
    {PerturbKind::kFp16Saturate, "fp16-saturate", false, 0.0},
};

}  // namespace

std::string_view PerturbKindName(PerturbKind kind) {
  for (const auto& k : kKinds)
    if (k.kind == kind) return k.name;
  return "?";
}

bool GlobMatch(std::string_view pattern, std::string_view name) {
  size_t p = 0, n = 0;
  size_t star_p = std::string_view::npos, star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size()) {
      const char c = pattern[p];
      if (c == '*') {
        star_p = p++;
        star_n = n;
        continue;
      }
      if (c == '?') {
        ++p;
        ++n;
        continue;
      }
      if (c == '[') {
        bool hit = false;
        if (auto end = MatchSet(pattern, p, name[n], hit)) {
          if (hit) {
            p = *end;
            ++n;
            continue;
          }
        } else if (name[n] == '[') {  // unclosed: a literal '['
          ++p;
          ++n;
          continue;
        }
      } else {
        const bool escaped = c == '\\' && p + 1 < pattern.size();
        const char lit = escaped ? pattern[p + 1] : c;
        if (lit == name[n]) {
          p += escaped ? 2 : 1;
          ++n;
          continue;
        }
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p + 1;
    n = ++star_n;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Perturbation Perturbation::Parse(std::string_view spec) {
  auto fail = [&](const std::string& why) -> Error {
    return Error(fmt::format("'{}': {} (expected PATTERN=KIND[:MAG], KIND one of noise, scale, bias, zero, nan, "
                             "inf, fp16-saturate)",
                             spec, why));
  };
  const size_t eq = spec.rfind('=');
  if (eq == std::string_view::npos) throw fail("no '='");
  Perturbation p;
  p.spec = std::string(spec);
  p.pattern = std::string(spec.substr(0, eq));
  if (p.pattern.empty()) throw fail("empty PATTERN");
  if (BadSet(p.pattern)) throw fail(fmt::format("PATTERN '{}' has a '[' without its ']'", p.pattern));
  std::string_view rest = spec.substr(eq + 1);
  const size_t colon = rest.find(':');
  const std::string_view kind = rest.substr(0, colon);
  const KindInfo* info = nullptr;
  for (const auto& k : kKinds)
    if (k.name == kind) info = &k;
  if (!info) throw fail(fmt::format("unknown KIND '{}'", kind));
  p.kind = info->kind;
  p.magnitude = info->def;
  if (colon == std::string_view::npos) return p;
  const std::string mag(rest.substr(colon + 1));
  if (!info->takes_mag) throw fail(fmt::format("KIND {} takes no MAG, found '{}'", kind, mag));
  char* end = nullptr;
  const double v = mag.empty() || std::isspace(static_cast<unsigned char>(mag[0])) ? NAN : std::strtod(mag.c_str(), &end);
  if (mag.empty() || end != mag.c_str() + mag.size() || !std::isfinite(v))
    throw fail(fmt::format("MAG '{}' is not a finite number", mag));
  if (p.kind == PerturbKind::kNoise && v < 0) throw fail(fmt::format("noise MAG must be >= 0, found {}", mag));
  if ((p.kind == PerturbKind::kNan || p.kind == PerturbKind::kInf) && !(v > 0 && v <= 1))
    throw fail(fmt::format("{} MAG is the fraction of elements, in (0, 1], found {}", kind, mag));
  p.magnitude = v;
  return p;
}

void Perturbation::Apply(const Tensor& t, uint64_t seed) const {
  if (!t.has_data || !ops::IsFloatStorage(t.dtype) || t.numel() == 0) return;
  std::vector<float> v = ops::LoadF32(t);
  const size_t n = v.size();
  switch (kind) {
    case PerturbKind::kNoise: {
      double sum = 0;
      size_t finite = 0;
      for (float x : v)
        if (std::isfinite(x)) {
          sum += static_cast<double>(x) * x;
          ++finite;
        }
      const double sigma = finite ? magnitude * std::sqrt(sum / static_cast<double>(finite)) : 0.0;
      if (sigma == 0) return;
      uint64_t state = seed;
      for (size_t i = 0; i < n; ++i) {
        const double u1 = Uniform(state), u2 = Uniform(state);  // in this order (Box-Muller)
        const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
        v[i] = static_cast<float>(v[i] + sigma * z);
      }
      break;
    }
    case PerturbKind::kScale:
      for (float& x : v) x = static_cast<float>(x * magnitude);
      break;
    case PerturbKind::kBias:
      for (float& x : v) x = static_cast<float>(x + magnitude);
      break;
    case PerturbKind::kZero:
      for (float& x : v) x = 0.0f;
      break;
    case PerturbKind::kNan:
    case PerturbKind::kInf: {
      const size_t stride = std::max<long long>(1, std::llround(1.0 / magnitude));
      const float value = kind == PerturbKind::kNan ? std::numeric_limits<float>::quiet_NaN()
                                                    : std::numeric_limits<float>::infinity();
      for (size_t i = 0; i < n; i += stride) v[i] = value;
      break;
    }
    case PerturbKind::kFp16Saturate:
      for (float& x : v) {
        const float a = std::fabs(x);
        if (a >= 65520.0f) x = std::copysign(std::numeric_limits<float>::infinity(), x);
        else if (a > 65504.0f) x = std::copysign(65504.0f, x);
      }
      break;
  }
  ops::StoreF32(v.data(), n, t);
}

uint64_t PerturbSeed(std::string_view op_name, uint64_t execute_count, size_t out_index) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a of the name
  for (char c : op_name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ull;
  uint64_t state = h ^ (execute_count * 0xD6E8FEB86659FD93ull) ^ (out_index + 1) * 0xA0761D6478BD642Full;
  return SplitMix(state);
}

namespace {
void CollectNames(const Operation& op, std::vector<int64_t>& ids, std::vector<std::string>& out) {
  out.push_back(OperationName(op, ids));
  if (auto* graph = dynamic_cast<const GraphOperation*>(&op)) {
    ids.push_back(0);
    for (size_t i = 0; i < graph->nodes().size(); ++i) {
      ids.back() = static_cast<int64_t>(i);
      CollectNames(*graph->nodes()[i].op, ids, out);
    }
    ids.pop_back();
  }
}
}  // namespace

std::vector<std::string> OperationNames(const std::vector<TopLevelOperation>& ops) {
  std::vector<std::string> names;
  for (const auto& top : ops) {
    std::vector<int64_t> ids = {top.id()};
    CollectNames(top.op(), ids, names);
  }
  return names;
}

PerturbingObserver::PerturbingObserver(std::vector<Perturbation> specs, ExecutionObserver* next)
    : specs_(std::move(specs)), next_(next), applied_(specs_.size(), 0) {}

void PerturbingObserver::BeforeOperation(const OpEvent& op) {
  if (!specs_.empty()) {
    Pending& p = pending_.emplace_back();
    p.name = OperationName(op.op, op.ids);
    for (size_t s = 0; s < specs_.size(); ++s)
      if (specs_[s].Matches(p.name)) p.specs.push_back(s);
    p.done.assign(op.out.size(), false);
  }
  if (next_) next_->BeforeOperation(op);
}

void PerturbingObserver::Perturb(const OpEvent& op, Pending& p, size_t o) {
  for (size_t s : p.specs) specs_[s].Apply(op.out[o], PerturbSeed(p.name, op.execute_count, o));
  p.done[o] = true;
}

void PerturbingObserver::AfterOperation(const OpEvent& op) {
  if (!specs_.empty()) {
    Pending& p = pending_.back();
    if (!p.specs.empty()) {
      for (size_t o = 0; o < op.out.size(); ++o)
        if (!p.done[o]) Perturb(op, p, o);
      for (size_t s : p.specs) ++applied_[s];
    }
    pending_.pop_back();
  }
  if (next_) next_->AfterOperation(op);
}

void PerturbingObserver::BeforeKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                                      const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) {
  if (next_) next_->BeforeKernel(op, kernel_index, kernel_name, in, out);
}

void PerturbingObserver::AfterKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                                     const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) {
  if (!pending_.empty() && !pending_.back().specs.empty()) {
    Pending& p = pending_.back();
    for (size_t o = 0; o < op.out.size(); ++o)
      for (const Tensor* k : out)
        if (!p.done[o] && k->data == op.out[o].data && k->nbytes == op.out[o].nbytes) Perturb(op, p, o);
  }
  if (next_) next_->AfterKernel(op, kernel_index, kernel_name, in, out);
}

}  // namespace ait::engine
