// SelfAttentionOperation (ATB SelfAttentionParam, the flash-attention-with-KV-cache form that
// atb_speed's Llama/Bloom layers use): appends this step's k/v to the cache in place, then
// causal attention of the step's queries over every cached position.
//
// param: headNum (> 0), kvHeadNum (0 = headNum; must divide headNum: grouped-query heads),
//        qScale=1 and qkScale=1 (scores = q.k * qScale * qkScale), kernelType (0 DEFAULT: the
//        score and probability tensors are stored in q's dtype as the accelerator's fp16 bmm
//        does; 1 HIGH_PRECISION: stored in float32), calcType 0/1/2 (UNDEFINED/ENCODER/DECODER,
//        all handled alike: seqLen says how many tokens each sequence brings), maskType 0/1/9
//        (UNDEFINED/NORM/CAUSAL_MASK: causality always holds), headDim (legacy; checked if set).
// in (9, ATB's order):
//   0 q [nTokens, headNum*headDim] (or [nTokens, headNum, headDim])
//   1 k, 2 v [nTokens, kvHeadNum*headDim] (or [nTokens, kvHeadNum, headDim])
//   3 cacheK, 4 cacheV [layers, batch, maxSeqLen, kvHeadNum*headDim] (or without the layers
//     dim), k's dtype; UPDATED IN PLACE: rows [tokenOffset-seqLen, tokenOffset) of sequence b
//     receive its new k/v
//   5 attentionMask [maxSeqLen, maxSeqLen] or [batch, maxSeqLen, maxSeqLen], added to the
//     scores at (position, kv position); an empty tensor (0 elements) means none
//   6 tokenOffset int32 [batch]: each sequence's length after this step (cached + new)
//   7 seqLen int32 [batch]: new tokens per sequence this step (prefill: the prompt; decode: 1);
//     the tokens of q/k/v are the sequences' new tokens one after another
//   8 layerId int32 [1]: which cache layer
// out: attention output shaped like q, q's dtype.
// kernels: "KVCache" (k, v, tokenOffset, seqLen, layerId -> cacheK, cacheV);
//          "QKMatmul" (q, cacheK -> scores [headNum, nTokens, maxKv], the dtype's lowest finite
//          value where masked);
//          "Softmax" (scores -> probs); "PVMatmul" (probs, cacheV -> out).
//          maxKv = max(tokenOffset).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ops/kernels.h"
#include "ops/ops.h"

namespace ait::engine::ops {
namespace {

class SelfAttentionOp : public FixedArityOp {
 public:
  explicit SelfAttentionOp(const Json& param) : FixedArityOp("SelfAttentionOperation", param, 9, 1) {
    Params p(type(), param);
    heads_ = p.Int("headNum", 0);
    if (heads_ <= 0) p.Bad("headNum", fmt::format("must be > 0, found {}", heads_));
    kv_heads_ = p.Int("kvHeadNum", 0);
    if (kv_heads_ == 0) kv_heads_ = heads_;
    if (kv_heads_ < 0 || heads_ % kv_heads_ != 0)
      p.Bad("kvHeadNum", fmt::format("must divide headNum {}, found {}", heads_, kv_heads_));
    head_dim_ = p.Int("headDim", 0);
    scale_ = static_cast<float>(p.Float("qScale", 1.0) * p.Float("qkScale", 1.0));
    high_precision_ = p.Enum("kernelType", 0, {{"KERNELTYPE_DEFAULT", 0}, {"KERNELTYPE_HIGH_PRECISION", 1}}) == 1;
    p.Enum("calcType", 0, {{"UNDEFINED", 0}, {"ENCODER", 1}, {"DECODER", 2}});
    p.Enum("maskType", 0, {{"MASK_TYPE_UNDEFINED", 0}, {"MASK_TYPE_NORM", 1}, {"MASK_TYPE_CAUSAL_MASK", 9}});
    p.Enum("clampType", 0, {{"CLAMP_TYPE_UNDEFINED", 0}});
    p.Enum("kvcacheCfg", 0, {{"K_CACHE_V_CACHE", 0}});
    p.Enum("scaleType", 0, {{"SCALE_TYPE_TOR", 0}});
    p.Enum("inputLayout", 0, {{"TYPE_BSND", 0}});
    p.Enum("quantType", 0, {{"TYPE_QUANT_UNQUANT", 0}});
    if (p.Bool("batchRunStatusEnable", false)) p.Bad("batchRunStatusEnable", "only false is supported");
  }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, 9);
    const char* names[] = {"q", "k", "v", "cacheK", "cacheV"};
    for (int i = 0; i < 5; ++i)
      Check(IsFloatStorage(in[i].dtype), type(), "{} (input {}) must be a float tensor, found {}", names[i], i,
            ShortName(in[i].dtype));
    Check(in[1].dtype == in[0].dtype && in[2].dtype == in[0].dtype, type(), "q, k and v must share a dtype");
    Check(in[3].dtype == in[1].dtype && in[4].dtype == in[1].dtype, type(), "cacheK and cacheV must have k's dtype {}",
          ShortName(in[1].dtype));
    const auto& q = in[0].shape;
    Check(q.size() == 2 || q.size() == 3, type(), "q (input 0) must be [nTokens, hidden] or [nTokens, heads, headDim], found {}",
          ShapeStr(q));
    const int64_t tokens = q[0], q_hidden = Numel(q) / std::max<int64_t>(tokens, 1);
    Check(q_hidden % heads_ == 0, type(), "q hidden size {} is not a multiple of param headNum {}", q_hidden, heads_);
    const int64_t hd = q_hidden / heads_;
    Check(head_dim_ <= 0 || head_dim_ == hd, type(), "param headDim {} disagrees with q {} and headNum {}", head_dim_,
          ShapeStr(q), heads_);
    const int64_t kv_hidden = kv_heads_ * hd;
    for (int i = 1; i <= 2; ++i)
      Check(!in[i].shape.empty() && in[i].shape[0] == tokens && Numel(in[i].shape) == tokens * kv_hidden, type(),
            "{} (input {}) has shape {}, expected [{}, {}] (kvHeadNum {} x headDim {})", names[i], i,
            ShapeStr(in[i].shape), tokens, kv_hidden, kv_heads_, hd);
    const auto& c = in[3].shape;
    Check((c.size() == 3 || c.size() == 4) && c.back() == kv_hidden, type(),
          "cacheK (input 3) has shape {}, expected [layers, batch, maxSeqLen, {}]", ShapeStr(c), kv_hidden);
    Check(in[4].shape == c, type(), "cacheV {} differs from cacheK {}", ShapeStr(in[4].shape), ShapeStr(c));
    const int64_t batch = c[c.size() - 3], max_seq = c[c.size() - 2];
    const auto& m = in[5].shape;
    if (Numel(m) > 0) {
      Check(IsFloatStorage(in[5].dtype), type(), "attentionMask (input 5) must be a float tensor, found {}",
            ShortName(in[5].dtype));
      const bool ok = (m.size() == 2 || (m.size() == 3 && m[0] == batch)) && m[m.size() - 1] == max_seq &&
                      m[m.size() - 2] == max_seq;
      Check(ok, type(), "attentionMask (input 5) has shape {}, expected [{}, {}] or [{}, {}, {}]", ShapeStr(m), max_seq,
            max_seq, batch, max_seq, max_seq);
    }
    const char* ints[] = {"tokenOffset", "seqLen", "layerId"};
    for (int i = 6; i <= 8; ++i)
      Check(in[i].dtype == DType::kInt32 || in[i].dtype == DType::kInt64, type(), "{} (input {}) must be int32, found {}",
            ints[i - 6], i, ShortName(in[i].dtype));
    Check(Numel(in[6].shape) == batch && Numel(in[7].shape) == batch, type(),
          "tokenOffset {} and seqLen {} must hold one value per cache batch entry ({})", ShapeStr(in[6].shape),
          ShapeStr(in[7].shape), batch);
    Check(Numel(in[8].shape) == 1, type(), "layerId (input 8) must hold one value, found shape {}", ShapeStr(in[8].shape));
    return {in[0]};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    const Tensor &q = in[0], &k = in[1], &v = in[2], &ck = in[3], &cv = in[4], &mask = in[5];
    const int64_t tokens = q.shape[0], hd = q.numel() / std::max<int64_t>(tokens, 1) / heads_, kvh = kv_heads_ * hd;
    const auto& c = ck.shape;
    const int64_t layers = c.size() == 4 ? c[0] : 1, batch = c[c.size() - 3], max_seq = c[c.size() - 2];
    const int64_t layer = IntAt(in[8], 0);
    Check(layer >= 0 && layer < layers, type(), "layerId {} is out of range [0, {})", layer, layers);
    // Per token: its sequence and position; validated before the cache is touched.
    std::vector<int64_t> seq_of(tokens), pos_of(tokens);
    int64_t t = 0, max_kv = 0;
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t off = IntAt(in[6], b), len = IntAt(in[7], b);
      Check(len >= 0 && len <= off && off <= max_seq, type(),
            "sequence {}: need 0 <= seqLen ({}) <= tokenOffset ({}) <= maxSeqLen ({})", b, len, off, max_seq);
      Check(t + len <= tokens, type(), "seqLen sums to more than the {} tokens of q", tokens);
      for (int64_t i = 0; i < len; ++i, ++t) {
        seq_of[t] = b;
        pos_of[t] = off - len + i;
      }
      max_kv = std::max(max_kv, off);
    }
    Check(t == tokens, type(), "seqLen sums to {}, but q holds {} tokens", t, tokens);

    const size_t item = ItemSize(k.dtype);
    const int64_t cache_base = layer * batch * max_seq * kvh;  // elements
    auto cache_row = [&](int64_t b, int64_t pos) { return cache_base + (b * max_seq + pos) * kvh; };
    ctx.RunKernel("KVCache", {&k, &v, &in[6], &in[7], &in[8]}, {&ck, &cv}, [&] {
      for (int64_t i = 0; i < tokens; ++i) {
        std::memcpy(ck.mutable_data() + cache_row(seq_of[i], pos_of[i]) * item, k.data + i * kvh * item, kvh * item);
        std::memcpy(cv.mutable_data() + cache_row(seq_of[i], pos_of[i]) * item, v.data + i * kvh * item, kvh * item);
      }
    });

    const DType mid = high_precision_ ? DType::kFloat32 : q.dtype;
    Tensor scores = Tensor::Allocate(mid, {heads_, tokens, max_kv});
    Tensor probs = Tensor::Allocate(mid, {heads_, tokens, max_kv});
    const int64_t group = heads_ / kv_heads_, rows = heads_ * tokens;
    // Masked scores hold the most negative finite value of their storage dtype, as an
    // accelerator's mask does (an inf there would read as an overflow to errcheck); softmax
    // gives them exactly 0 (exp underflows).
    const float masked = mid == DType::kFloat16    ? -65504.0f
                         : mid == DType::kBFloat16 ? -3.3895313892515355e38f
                                                   : std::numeric_limits<float>::lowest();
    const float neg_inf = -std::numeric_limits<float>::infinity();
    ctx.RunKernel("QKMatmul", {&q, &ck}, {&scores}, [&] {
      std::vector<float> qs, ms;
      const float* qf = F32View(q, qs);
      const float* mf = mask.numel() > 0 ? F32View(mask, ms) : nullptr;
      ParallelFor(ctx, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(max_kv * hd, 1)), [&](int64_t b, int64_t e) {
        std::vector<float> krow(hd), s(max_kv);
        for (int64_t r = b; r < e; ++r) {
          const int64_t h = r / tokens, i = r % tokens, seq = seq_of[i], pos = pos_of[i];
          const float* qv = qf + i * heads_ * hd + h * hd;
          const float* mrow = mf ? mf + ((mask.shape.size() == 3 ? seq * max_seq : 0) + pos) * max_seq : nullptr;
          for (int64_t j = 0; j < max_kv; ++j) {
            if (j > pos) {
              s[j] = masked;
              continue;
            }
            LoadRow(ck, cache_row(seq, j) + (h / group) * hd, hd, krow.data());
            float dot = 0;
            for (int64_t d = 0; d < hd; ++d) dot += qv[d] * krow[d];
            s[j] = dot * scale_ + (mrow ? mrow[j] : 0.0f);
          }
          StoreF32(s.data(), max_kv, scores, r * max_kv);
        }
      });
    });
    ctx.RunKernel("Softmax", {&scores}, {&probs}, [&] {
      ParallelFor(ctx, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(max_kv, 1)), [&](int64_t b, int64_t e) {
        std::vector<float> s(max_kv);
        for (int64_t r = b; r < e; ++r) {
          LoadRow(scores, r * max_kv, max_kv, s.data());
          float mx = neg_inf, sum = 0;
          for (float x : s) mx = std::max(mx, x);
          for (float& x : s) sum += (x = x <= masked ? 0.0f : std::exp(x - mx));
          for (float& x : s) x /= sum;
          StoreF32(s.data(), max_kv, probs, r * max_kv);
        }
      });
    });
    ctx.RunKernel("PVMatmul", {&probs, &cv}, {&out[0]}, [&] {
      ParallelFor(ctx, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(max_kv * hd, 1)), [&](int64_t b, int64_t e) {
        std::vector<float> p(max_kv), vrow(hd), o(hd);
        for (int64_t r = b; r < e; ++r) {
          const int64_t h = r / tokens, i = r % tokens;
          LoadRow(probs, r * max_kv, max_kv, p.data());
          std::fill(o.begin(), o.end(), 0.0f);
          for (int64_t j = 0; j <= pos_of[i]; ++j) {
            LoadRow(cv, cache_row(seq_of[i], j) + (h / group) * hd, hd, vrow.data());
            for (int64_t d = 0; d < hd; ++d) o[d] += p[j] * vrow[d];
          }
          StoreF32(o.data(), hd, out[0], i * heads_ * hd + h * hd);
        }
      });
    });
  }

 private:
  int64_t heads_ = 0, kv_heads_ = 0, head_dim_ = 0;
  float scale_ = 1.0f;
  bool high_precision_ = false;
};

}  // namespace

std::unique_ptr<Operation> CreateSelfAttention(const Json& param) { return std::make_unique<SelfAttentionOp>(param); }

}  // namespace ait::engine::ops
