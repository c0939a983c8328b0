// References of ATB's data-movement operations: selection (Where, Fill), the pad/unpad pair
// around unpadded attention (Pad, Unpad, GenAttentionMask), tiling and views (Repeat,
// AsStrided, SetValue) and the ND <-> FRACTAL_NZ layout change (Transdata). Values are copied,
// never computed, so the outputs are exact copies rounded to the output dtype.
//
// Sources: ATB's public headers (hicann/ascend-transformer-boost include/atb/infer_op_params.h:
// WhereParam, FillParam, PadParam, UnpadParam, RepeatParam, TransdataParam, AsStridedParam,
// SetValueParam; include/atb/train_op_params.h: GenAttentionMaskParam), its operations' shape
// checks (src/ops/ops_infer, src/ops/ops_train), its Pad/Unpad kernels
// (src/kernels/mixkernels/{pad,unpad}) and the golden functions of its tests
// (tests/apitest/{opstest,kernelstest}); the code is ours.
//
// WhereOperation      (cond, x, y) -> x's dtype, shape broadcast(x, y): cond != 0 ? x : y;
//                     cond broadcasts to that shape (numpy rules).
// FillOperation       withMask true (default): (x, mask) -> x's dtype and shape: value where
//                     mask != 0, else x; mask broadcasts to x. withMask false: () -> [outDim]
//                     of value, fp16 (ATB's InferShape). value: a list of exactly one number.
// PadOperation        (tmpOut [ntokens, hidden], paddingOffset [1, ntokens], seqLen int
//                     [batch, 1], inputIds [batch, maxLen]) -> [batch, hidden] in tmpOut's
//                     dtype: row b = tmpOut[seqLen[0] + .. + seqLen[b] - 1], the last token of
//                     sequence b. Every seqLen must be >= 1 (the kernel skips empty sequences
//                     and shifts later rows; that output is not defined here).
// UnpadOperation      (inputIds int64 [batch, L], cumOffsetsNow int [batch, 1], tokenNum int64
//                     [1, 1], seqLen int [batch, 1]) -> (xRemovePadding int64 [1, batch*L]: the
//                     first seqLen[b] ids of every row, concatenated, then zeros;
//                     cumOffsetsOut [batch, 1] = [0, cumOffsetsNow[0..batch-2]];
//                     paddingOffset [1, batch*L]: cumOffsetsNow[b-1] (0 for b = 0) for each
//                     token of sequence b, then zeros), the last two in cumOffsetsNow's dtype.
//                     The kernel places rows by cumOffsetsNow and the golden by seqLen, so
//                     the inputs must agree: cumOffsetsNow[b] = sum over k <= b of
//                     (L - seqLen[k]), tokenNum = sum(seqLen).
// GenAttentionMaskOperation  params headNum, seqLen (one per batch, 1..maxSeq).
//                     x [batch, 1, maxSeq, maxSeq] -> 1-D of sum(headNum * seqLen^2) in x's
//                     dtype: for each batch b and each head, x[b, 0, :seqLen[b], :seqLen[b]]
//                     flattened.
// RepeatOperation     params multiples (rank >= x's rank, each > 0). x right-aligned into
//                     multiples' rank (missing leading dims are 1), tiled: out[i] =
//                     x[i mod x.shape] (numpy.tile).
// AsStridedOperation  params size (each > 0), stride (same length, each >= 0), offset (one
//                     value >= 0). out[i] = x.flat[offset + sum(i_d * stride_d)]; every such
//                     position must lie inside x.
// SetValueOperation   (in place on input 0) params starts, ends, strides (one per dim; strides
//                     all 1, as ATB requires). (dst, src) -> dst with
//                     dst[starts[d]:ends[d], ...] = src; ends - starts must equal src's shape.
// TransdataOperation  params transdataType FRACTAL_NZ_TO_ND(1) | ND_TO_FRACTAL_NZ(2),
//                     outCrops. The NZ layout of an ND [b, m, n] (b = 1 for 2-D input) is
//                     [b, ceil(n / n0), roundup(m, 16), n0] with n0 = 16 for fp16/bf16 and 32
//                     for int8: NZ[b, i, r, c] = ND[b, r, i * n0 + c], zero in the padding.
//                     NZ -> ND reads [b, n1, M, n0] back into [b, outCrops[0], outCrops[1]]
//                     (both 0: the whole [b, M, n1 * n0]).
//
// Not registered: MultinomialOperation and TopkToppSamplingOperation draw random numbers
// (their output is not a function of the inputs), BroadcastOperation is a collective
// (collective.cc).
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>

#include "ait/error.h"
#include "opcheck/references/families.h"

namespace ait::opcheck {
namespace {

// Outputs whose size comes from params alone are bounded (RefCall::max_output_elements), so a
// hostile param cannot make opcheck allocate without limit.
int64_t CheckedParamNumel(const RefCall& call, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > call.max_output_elements)
      Fail(call.type, "an output of shape {} is larger than the {} elements opcheck expects here", ShapeText(shape),
           call.max_output_elements);
  return n;
}

void RequireRank(const RefCall& call, size_t i, size_t rank, std::string_view name) {
  const RefTensor& t = call.inputs.at(i);
  if (t.shape.size() != rank)
    Fail(call.type, "{} (input {}) must have rank {}, found shape {}", name, i, rank, ShapeText(t.shape));
}

// A list param of numbers (FillParam::value is a list of floats).
std::vector<double> FloatList(const RefCall& call, const AtbParams& p, std::string_view field) {
  std::vector<double> v;
  if (!call.param.is_object()) return v;
  auto it = call.param.find(std::string(field));
  if (it == call.param.end() || it->is_null()) return v;
  if (!it->is_array()) p.Bad(field, "expected a list of numbers, found " + Excerpt(it->dump(), 80));
  for (const auto& e : *it) {
    if (!e.is_number()) p.Bad(field, "expected a list of numbers, found " + Excerpt(it->dump(), 80));
    v.push_back(e.get<double>());
  }
  return v;
}

// ---- broadcasting (numpy rules: shapes right-aligned, a dim of 1 stretches) ----

std::vector<int64_t> BroadcastShape(const std::string& op, const std::vector<int64_t>& a,
                                    const std::vector<int64_t>& b) {
  std::vector<int64_t> out(std::max(a.size(), b.size()), 1);
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    const int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (da != db && da != 1 && db != 1) Fail(op, "shapes {} and {} do not broadcast", ShapeText(a), ShapeText(b));
    out[out.size() - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

// Strides of `in` read as `out` (0 along broadcast dims); `in` must broadcast to `out`.
std::vector<int64_t> StridesInto(const std::string& op, const std::vector<int64_t>& in,
                                 const std::vector<int64_t>& out, std::string_view name) {
  if (in.size() > out.size()) Fail(op, "{} {} does not broadcast to {}", name, ShapeText(in), ShapeText(out));
  std::vector<int64_t> strides(out.size(), 0);
  int64_t s = 1;
  for (size_t i = 0; i < in.size(); ++i) {
    const size_t di = in.size() - 1 - i, dout = out.size() - 1 - i;
    if (in[di] != out[dout] && in[di] != 1)
      Fail(op, "{} {} does not broadcast to {}", name, ShapeText(in), ShapeText(out));
    strides[dout] = in[di] == 1 ? 0 : s;
    s *= in[di];
  }
  return strides;
}

// Calls f(out_index, offsets...) over every element of `shape`, the offsets following `strides`.
template <size_t N, typename F>
void ForEachBroadcast(const std::vector<int64_t>& shape, const std::array<std::vector<int64_t>, N>& strides, F f) {
  int64_t total = 1;
  for (int64_t d : shape) total *= d;
  std::vector<int64_t> idx(shape.size(), 0);
  std::array<int64_t, N> off{};
  for (int64_t e = 0; e < total; ++e) {
    f(e, off);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) {
        for (size_t k = 0; k < N; ++k) off[k] += strides[k][d];
        break;
      }
      for (size_t k = 0; k < N; ++k) off[k] -= strides[k][d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

// ---- Where ----

std::vector<RefTensor> Where(RefCall& call) {
  RequireInputs(call, 3);
  const std::string& op = call.type;
  const RefTensor& cond = call.inputs[0];
  const RefTensor& x = call.inputs[1];
  const RefTensor& y = call.inputs[2];
  const std::vector<int64_t> shape = BroadcastShape(op, x.shape, y.shape);
  const std::array<std::vector<int64_t>, 3> strides{StridesInto(op, cond.shape, shape, "cond (input 0)"),
                                                    StridesInto(op, x.shape, shape, "x (input 1)"),
                                                    StridesInto(op, y.shape, shape, "y (input 2)")};
  RefTensor out = RefTensor::Zeros(x.dtype, shape, op);
  ForEachBroadcast<3>(shape, strides, [&](int64_t e, const std::array<int64_t, 3>& o) {
    out.data[e] = cond.data[o[0]] != 0.0 ? x.data[o[1]] : y.data[o[2]];
  });
  RoundAll(out.dtype, out.data);
  return {std::move(out)};
}

// ---- Fill ----

std::vector<RefTensor> Fill(RefCall& call) {
  const AtbParams p = call.params();
  const bool with_mask = p.Bool("withMask", true);
  const std::vector<double> value = FloatList(call, p, "value");
  if (value.size() != 1) p.Bad("value", fmt::format("must hold exactly one number, found {}", value.size()));
  const std::string& op = call.type;
  if (!with_mask) {
    RequireInputs(call, 0);
    const std::vector<int64_t> dims = p.IntList("outDim");
    if (dims.empty()) p.Bad("outDim", "must give the output shape when withMask is false");
    for (int64_t d : dims)
      if (d <= 0) p.Bad("outDim", fmt::format("{} is not a dimension (> 0)", d));
    CheckedParamNumel(call, dims);
    RefTensor out = RefTensor::Zeros(DType::kFloat16, dims, op);
    std::fill(out.data.begin(), out.data.end(), RoundTo(DType::kFloat16, value[0]));
    return {std::move(out)};
  }
  RequireInputs(call, 2);
  RefTensor x = std::move(call.inputs[0]);
  const RefTensor& mask = call.inputs[1];
  const std::array<std::vector<int64_t>, 1> strides{StridesInto(op, mask.shape, x.shape, "mask (input 1)")};
  const double v = RoundTo(x.dtype, value[0]);
  ForEachBroadcast<1>(x.shape, strides, [&](int64_t e, const std::array<int64_t, 1>& o) {
    if (mask.data[o[0]] != 0.0) x.data[e] = v;
  });
  return {std::move(x)};
}

// ---- Pad ----

std::vector<RefTensor> Pad(RefCall& call) {
  RequireInputs(call, 4);
  const std::string& op = call.type;
  for (size_t i = 0; i < 4; ++i)
    RequireRank(call, i, 2, i == 0 ? "tmpOut" : i == 1 ? "paddingOffset" : i == 2 ? "seqLen" : "inputIds");
  const RefTensor& tmp = call.inputs[0];
  const int64_t tokens = tmp.shape[0], hidden = tmp.shape[1];
  const auto& po = call.inputs[1].shape;
  const auto& sl = call.inputs[2].shape;
  Require(po[0] == 1 && po[1] == tokens, op,
          fmt::format("paddingOffset {} must be [1, ntokens = {}]", ShapeText(po), tokens));
  Require(sl[1] == 1 && sl[0] == call.inputs[3].shape[0], op,
          fmt::format("seqLen {} must be [batch, 1] with inputIds' batch {}", ShapeText(sl), call.inputs[3].shape[0]));
  const std::vector<int64_t> lens = IntValues(call, 2, "seqLen");
  const int64_t batch = sl[0];
  RefTensor out = RefTensor::Zeros(tmp.dtype, {batch, hidden}, op);
  int64_t end = 0;
  for (int64_t b = 0; b < batch; ++b) {
    if (lens[b] < 1) Fail(op, "seqLen[{}] = {}: every sequence must hold at least one token", b, lens[b]);
    end += lens[b];
    if (end > tokens) Fail(op, "seqLen sums past the {} tokens of tmpOut (at batch {})", tokens, b);
    std::copy_n(&tmp.data[(end - 1) * hidden], hidden, &out.data[b * hidden]);
  }
  return {std::move(out)};
}

// ---- Unpad ----

std::vector<RefTensor> Unpad(RefCall& call) {
  RequireInputs(call, 4);
  const std::string& op = call.type;
  for (size_t i = 0; i < 4; ++i)
    RequireRank(call, i, 2, i == 0 ? "inputIds" : i == 1 ? "cumOffsetsNow" : i == 2 ? "tokenNum" : "seqLen");
  const int64_t batch = call.inputs[0].shape[0], len = call.inputs[0].shape[1];
  const auto& co = call.inputs[1].shape;
  Require(co[0] == batch && co[1] == 1 && call.inputs[3].shape == std::vector<int64_t>{batch, 1}, op,
          fmt::format("cumOffsetsNow {} and seqLen {} must be [batch = {}, 1]", ShapeText(co),
                      ShapeText(call.inputs[3].shape), batch));
  Require(call.inputs[2].shape == std::vector<int64_t>{1, 1}, op,
          "tokenNum (input 2) must be [1, 1], found " + ShapeText(call.inputs[2].shape));
  const std::vector<int64_t> cum = IntValues(call, 1, "cumOffsetsNow");
  const int64_t token_num = IntValues(call, 2, "tokenNum")[0];
  const std::vector<int64_t> lens = IntValues(call, 3, "seqLen");
  int64_t tokens = 0, pad = 0;
  for (int64_t b = 0; b < batch; ++b) {
    if (lens[b] < 0 || lens[b] > len) Fail(op, "seqLen[{}] = {} is outside [0, {}]", b, lens[b], len);
    tokens += lens[b];
    pad += len - lens[b];
    if (cum[b] != pad)
      Fail(op, "cumOffsetsNow[{}] = {} disagrees with seqLen (the padding of sequences 0..{} is {})", b, cum[b], b,
           pad);
  }
  if (token_num != tokens) Fail(op, "tokenNum {} disagrees with seqLen, which sums to {}", token_num, tokens);
  const DType offset_dtype = call.inputs[1].dtype;
  RefTensor ids = RefTensor::Zeros(DType::kInt64, {1, batch * len}, op);
  RefTensor cum_out = RefTensor::Zeros(offset_dtype, {batch, 1}, op);
  RefTensor offsets = RefTensor::Zeros(offset_dtype, {1, batch * len}, op);
  const RefTensor& in = call.inputs[0];
  int64_t t = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const double before = b == 0 ? 0.0 : static_cast<double>(cum[b - 1]);
    cum_out.data[b] = before;
    for (int64_t j = 0; j < lens[b]; ++j, ++t) {
      ids.data[t] = in.data[b * len + j];
      offsets.data[t] = before;
    }
  }
  RoundAll(ids.dtype, ids.data);
  return {std::move(ids), std::move(cum_out), std::move(offsets)};
}

// ---- GenAttentionMask ----

std::vector<RefTensor> GenAttentionMask(RefCall& call) {
  const AtbParams p = call.params();
  RequireInputs(call, 1);
  const std::string& op = call.type;
  const int64_t heads = p.Int("headNum", 1);
  if (heads <= 0) p.Bad("headNum", "must be > 0, found " + std::to_string(heads));
  const std::vector<int64_t> lens = p.IntList("seqLen");
  const RefTensor& x = call.inputs[0];
  const auto& s = x.shape;
  Require(s.size() == 4 && s[0] == static_cast<int64_t>(lens.size()) && s[1] == 1 && s[2] == s[3], op,
          fmt::format("input {} must be [batch = {} (seqLen's length), 1, maxSeq, maxSeq]", ShapeText(s), lens.size()));
  int64_t total = 0;
  for (int64_t l : lens) {
    if (l <= 0 || l > s[2]) p.Bad("seqLen", fmt::format("{} is outside [1, maxSeq = {}]", l, s[2]));
    total += l * l;
  }
  CheckedParamNumel(call, {heads, total});
  RefTensor out = RefTensor::Zeros(x.dtype, {heads * total}, op);
  const int64_t max_seq = s[2];
  int64_t o = 0;
  for (size_t b = 0; b < lens.size(); ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t r = 0; r < lens[b]; ++r, o += lens[b])
        std::copy_n(&x.data[(static_cast<int64_t>(b) * max_seq + r) * max_seq], lens[b], &out.data[o]);
  return {std::move(out)};
}

// ---- Repeat ----

std::vector<RefTensor> Repeat(RefCall& call) {
  const AtbParams p = call.params();
  RequireInputs(call, 1);
  const std::string& op = call.type;
  const std::vector<int64_t> mult = p.IntList("multiples");
  const RefTensor& x = call.inputs[0];
  if (mult.size() < x.shape.size())
    p.Bad("multiples", fmt::format("has {} values, fewer than the input's rank {}", mult.size(), x.shape.size()));
  const size_t rank = mult.size(), lead = rank - x.shape.size();
  std::vector<int64_t> in_shape(rank, 1), out_shape(rank);
  std::copy(x.shape.begin(), x.shape.end(), in_shape.begin() + static_cast<std::ptrdiff_t>(lead));
  for (size_t d = 0; d < rank; ++d) {
    if (mult[d] <= 0) p.Bad("multiples", fmt::format("{} is not a positive multiple", mult[d]));
    if (__builtin_mul_overflow(in_shape[d], mult[d], &out_shape[d]))
      Fail(op, "an output of {} x {} overflows", ShapeText(x.shape), ShapeText(mult));
  }
  CheckedParamNumel(call, out_shape);
  RefTensor out = RefTensor::Zeros(x.dtype, out_shape, op);
  std::vector<int64_t> in_stride(rank, 0);
  for (size_t d = rank, s = 1; d-- > 0;) {
    in_stride[d] = static_cast<int64_t>(s);
    s *= static_cast<size_t>(in_shape[d]);
  }
  std::vector<int64_t> idx(rank, 0);
  for (size_t e = 0; e < out.data.size(); ++e) {
    int64_t src = 0;
    for (size_t d = 0; d < rank; ++d) src += (idx[d] % in_shape[d]) * in_stride[d];
    out.data[e] = x.data[static_cast<size_t>(src)];
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return {std::move(out)};
}

// ---- AsStrided ----

std::vector<RefTensor> AsStrided(RefCall& call) {
  const AtbParams p = call.params();
  RequireInputs(call, 1);
  const std::string& op = call.type;
  const std::vector<int64_t> size = p.IntList("size");
  const std::vector<int64_t> stride = p.IntList("stride");
  const std::vector<int64_t> offset = p.IntList("offset");
  if (size.size() > 8) p.Bad("size", fmt::format("has {} dims, at most 8 are allowed", size.size()));
  if (stride.size() != size.size())
    p.Bad("stride", fmt::format("has {} values, size has {}", stride.size(), size.size()));
  if (offset.size() != 1 || offset[0] < 0) p.Bad("offset", "must hold exactly one value >= 0");
  const RefTensor& x = call.inputs[0];
  const int64_t numel = x.numel();
  int64_t last = offset[0];  // the largest position read
  for (size_t d = 0; d < size.size(); ++d) {
    if (size[d] <= 0) p.Bad("size", fmt::format("{} is not a dimension (> 0)", size[d]));
    if (stride[d] < 0) p.Bad("stride", fmt::format("{} is negative", stride[d]));
    int64_t reach;
    if (__builtin_mul_overflow(size[d] - 1, stride[d], &reach) || __builtin_add_overflow(last, reach, &last))
      Fail(op, "size {}, stride {} and offset {} reach past int64", ShapeText(size), ShapeText(stride), offset[0]);
  }
  if (last >= numel)
    Fail(op, "size {}, stride {} and offset {} read position {}, the input holds {} elements", ShapeText(size),
         ShapeText(stride), offset[0], last, numel);
  CheckedParamNumel(call, size);
  RefTensor out = RefTensor::Zeros(x.dtype, size, op);
  std::vector<int64_t> idx(size.size(), 0);
  int64_t src = offset[0];
  for (size_t e = 0; e < out.data.size(); ++e) {
    out.data[e] = x.data[static_cast<size_t>(src)];
    for (size_t d = size.size(); d-- > 0;) {
      if (++idx[d] < size[d]) {
        src += stride[d];
        break;
      }
      src -= stride[d] * (size[d] - 1);
      idx[d] = 0;
    }
  }
  return {std::move(out)};
}

// ---- SetValue ----

std::vector<RefTensor> SetValue(RefCall& call) {
  const AtbParams p = call.params();
  RequireInputs(call, 2);
  const std::string& op = call.type;
  const RefTensor& src = call.inputs[1];
  const auto dst_shape = call.inputs[0].shape;
  const size_t rank = dst_shape.size();
  Require(src.shape.size() == rank, op,
          fmt::format("src {} and dst {} must have the same rank", ShapeText(src.shape), ShapeText(dst_shape)));
  const std::vector<int64_t> starts = p.IntList("starts"), ends = p.IntList("ends"), strides = p.IntList("strides");
  for (auto [field, list] : {std::pair{"starts", &starts}, std::pair{"ends", &ends}, std::pair{"strides", &strides}})
    if (list->size() != rank) p.Bad(field, fmt::format("has {} values, the tensors have rank {}", list->size(), rank));
  for (size_t d = 0; d < rank; ++d) {
    if (strides[d] != 1) p.Bad("strides", "only strides of 1 are supported (ATB's contract)");
    if (starts[d] < 0 || starts[d] >= ends[d] || ends[d] > dst_shape[d] || ends[d] - starts[d] != src.shape[d])
      Fail(op, "dim {}: [starts {}, ends {}) must lie in dst's {} and span src's {}", d, starts[d], ends[d],
           dst_shape[d], src.shape[d]);
  }
  RefTensor dst = std::move(call.inputs[0]);
  std::vector<int64_t> dst_stride(rank, 1);
  for (size_t d = rank; d-- > 1;) dst_stride[d - 1] = dst_stride[d] * dst_shape[d];
  std::vector<int64_t> idx(rank, 0);
  for (size_t e = 0; e < src.data.size(); ++e) {
    int64_t o = 0;
    for (size_t d = 0; d < rank; ++d) o += (starts[d] + idx[d]) * dst_stride[d];
    dst.data[static_cast<size_t>(o)] = RoundTo(dst.dtype, src.data[e]);
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < src.shape[d]) break;
      idx[d] = 0;
    }
  }
  return {std::move(dst)};
}

// ---- Transdata ----

int64_t RoundUp(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

std::vector<RefTensor> Transdata(RefCall& call) {
  const AtbParams p = call.params();
  RequireInputs(call, 1);
  const std::string& op = call.type;
  const int type = p.Enum("transdataType", 0, {{"FRACTAL_NZ_TO_ND", 1}, {"ND_TO_FRACTAL_NZ", 2}});
  if (type == 0) p.Bad("transdataType", "is UNDEFINED; expected FRACTAL_NZ_TO_ND or ND_TO_FRACTAL_NZ");
  const RefTensor& x = call.inputs[0];
  int64_t n0 = 0;
  if (x.dtype == DType::kFloat16 || x.dtype == DType::kBFloat16) n0 = 16;
  if (x.dtype == DType::kInt8) n0 = 32;
  if (n0 == 0) Fail(op, "input dtype {} has no NZ layout (fp16, bf16 or int8)", ShortName(x.dtype));
  constexpr int64_t kM0 = 16;
  if (type == 2) {
    Require(x.shape.size() == 2 || x.shape.size() == 3, op,
            "ND_TO_FRACTAL_NZ needs a 2-D or 3-D input, found " + ShapeText(x.shape));
    const bool three = x.shape.size() == 3;
    const int64_t b = three ? x.shape[0] : 1, m = x.shape[three ? 1 : 0], n = x.shape[three ? 2 : 1];
    const int64_t n1 = RoundUp(n, n0) / n0, mm = RoundUp(m, kM0);
    RefTensor out = RefTensor::Zeros(x.dtype, {b, n1, mm, n0}, op);
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t r = 0; r < m; ++r)
        for (int64_t c = 0; c < n; ++c)
          out.data[((bi * n1 + c / n0) * mm + r) * n0 + c % n0] = x.data[(bi * m + r) * n + c];
    return {std::move(out)};
  }
  Require(x.shape.size() == 4, op, "FRACTAL_NZ_TO_ND needs a 4-D [b, n1, m, n0] input, found " + ShapeText(x.shape));
  const int64_t b = x.shape[0], n1 = x.shape[1], mm = x.shape[2], in_n0 = x.shape[3];
  std::vector<int64_t> crops = p.IntList("outCrops");
  if (crops.empty()) crops = {0, 0};
  if (crops.size() != 2) p.Bad("outCrops", fmt::format("must hold 2 values, found {}", crops.size()));
  int64_t rows = mm, cols = n1 * in_n0;
  if (crops[0] != 0 || crops[1] != 0) {
    if (crops[0] <= 0 || crops[1] <= 0 || crops[0] > rows || crops[1] > cols)
      p.Bad("outCrops", fmt::format("[{}, {}] must lie in [1, {}] x [1, {}] (the NZ input {})", crops[0], crops[1],
                                    rows, cols, ShapeText(x.shape)));
    rows = crops[0];
    cols = crops[1];
  }
  RefTensor out = RefTensor::Zeros(x.dtype, {b, rows, cols}, op);
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        out.data[(bi * rows + r) * cols + c] = x.data[((bi * n1 + c / in_n0) * mm + r) * in_n0 + c % in_n0];
  return {std::move(out)};
}

}  // namespace

std::vector<Reference> LayoutReferences() {
  return {
      {"AsStridedOperation", AsStrided},
      {"FillOperation", Fill},
      {"GenAttentionMaskOperation", GenAttentionMask},
      {"PadOperation", Pad},
      {"RepeatOperation", Repeat},
      {"SetValueOperation", SetValue, {0}},
      {"TransdataOperation", Transdata},
      {"UnpadOperation", Unpad},
      {"WhereOperation", Where},
  };
}

}  // namespace ait::opcheck
