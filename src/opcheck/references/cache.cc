// References of ATB's KV-cache operations: PagedAttention reads the paged cache, ReshapeAndCache
// and KvCache write it (in place: their outputs are the updated cache inputs).
//
// Sources: ATB's public headers (hicann/ascend-transformer-boost include/atb/infer_op_params.h:
// PagedAttentionParam, ReshapeAndCacheParam, KvCacheParam), the shape checks of its operations
// (src/ops/ops_infer/{paged_attention,reshape_and_cache,kv_cache}) and the golden functions of
// its tests (tests/apitest/{opstest,kernelstest}); the facts carry over, the code is ours.
//
// PagedAttentionOperation
//   params   headNum (> 0), qkScale (default 1), kvHeadNum (0 = headNum; divides headNum),
//            maskType UNDEFINED(0) | MASK_TYPE_NORM(1) | MASK_TYPE_ALIBI(2). Checked only at their
//            defaults (other values are refused): batchRunStatusEnable false, quantType 0,
//            compressType 0, calcType 0, scaleType 0 (TOR), inputLayout 0 (BSND),
//            mlaVHeadSize 0, qScale 0 or 1.
//   inputs   query [T, headNum, D], keyCache [numBlocks, blockSize, kvHeadNum, D],
//            valueCache [numBlocks, blockSize, kvHeadNum, Dv], blockTables int [T, maxBlocks],
//            contextLens int [T], mask (maskType != 0) [T|1, 1, L] or [T|1, headNum|1, 1, L]
//            with L >= every context length.
//   output   [T, headNum, Dv] in query's dtype.
//   computes for token i (its sequence: blockTables[i], contextLens[i] = n), head h and kv head
//            g = h / (headNum / kvHeadNum): the cached position j < n lives in block
//            blockTables[i][j / blockSize] at row j % blockSize; s_j = qkScale * q·k_j + mask
//            bias (the 3-D mask's row i, the 4-D mask's row [i, h]); out = softmax(s)·V.
//            A sequence of length 0 outputs zeros. Blocks are read only for j < n, so table
//            entries past a sequence's end (e.g. -1) are never checked.
//
// ReshapeAndCacheOperation (in place on inputs 2, 3)
//   params   compressType 0 and kvCacheCfg K_CACHE_V_CACHE(0) only (the others change the
//            input list or use the NZ cache layout).
//   inputs   key [T, kh, Dk], value [T, vh, Dv], keyCache [numBlocks, blockSize, kh, Dk],
//            valueCache [numBlocks, blockSize, vh, Dv], slotMapping int [T].
//   outputs  keyCache and valueCache with token t's key/value written at slot s =
//            slotMapping[t] (block s / blockSize, row s % blockSize); negative slots are skipped
//            (ATB's golden); a slot >= numBlocks * blockSize is an error. When two tokens name
//            one slot, the later token's values are kept.
//
// KvCacheOperation (in place on input 2)
//   params   none.
//   inputs   newKv [ntokens, hidden], layerId int [1], cache [layers, batch, maxSeq, hidden],
//            tokenOffset int [batch], seqLen int [batch].
//   output   cache with the seqLen[b] rows of batch b (rows after those of batches < b in
//            newKv) written at cache[layerId][b][tokenOffset[b] - seqLen[b] + j]. Requires
//            0 <= seqLen[b] <= tokenOffset[b] <= maxSeq and sum(seqLen) <= ntokens. The 310P
//            layouts (4-D newKv, 5-D NZ cache) are refused.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ait/error.h"
#include "opcheck/references/families.h"

namespace ait::opcheck {
namespace {

void RequireRank(const RefCall& call, size_t i, size_t rank, std::string_view name) {
  const RefTensor& t = call.inputs.at(i);
  if (t.shape.size() != rank)
    Fail(call.type, "{} (input {}) must have rank {}, found shape {}", name, i, rank, ShapeText(t.shape));
}

// ---- PagedAttention ----

std::vector<RefTensor> PagedAttention(RefCall& call) {
  const AtbParams p = call.params();
  const int64_t head_num = p.Int("headNum", 0);
  if (head_num <= 0) p.Bad("headNum", "must be > 0, found " + std::to_string(head_num));
  int64_t kv_head_num = p.Int("kvHeadNum", 0);
  if (kv_head_num < 0) p.Bad("kvHeadNum", "must be >= 0, found " + std::to_string(kv_head_num));
  if (kv_head_num == 0) kv_head_num = head_num;
  if (head_num % kv_head_num != 0)
    p.Bad("kvHeadNum", fmt::format("{} does not divide headNum {}", kv_head_num, head_num));
  const double qk_scale = p.Float("qkScale", 1.0);
  const int mask_type = p.Enum("maskType", 0, {{"UNDEFINED", 0}, {"MASK_TYPE_NORM", 1}, {"MASK_TYPE_ALIBI", 2}});
  if (p.Bool("batchRunStatusEnable", false)) p.Bad("batchRunStatusEnable", "only false is checkable");
  p.Enum("quantType", 0, {{"TYPE_QUANT_UNQUANT", 0}});
  p.Enum("compressType", 0, {{"COMPRESS_TYPE_UNDEFINED", 0}});
  p.Enum("calcType", 0, {{"CALC_TYPE_UNDEFINED", 0}});
  p.Enum("scaleType", 0, {{"SCALE_TYPE_TOR", 0}});
  p.Enum("inputLayout", 0, {{"TYPE_BSND", 0}});
  if (p.Int("mlaVHeadSize", 0) != 0) p.Bad("mlaVHeadSize", "only 0 is checkable");
  const double q_scale = p.Float("qScale", 0.0);
  if (q_scale != 0.0 && q_scale != 1.0) p.Bad("qScale", "only 0 or 1 (no query scaling) is checkable");

  RequireInputs(call, mask_type == 0 ? 5 : 6);
  RequireRank(call, 0, 3, "query");
  RequireRank(call, 1, 4, "keyCache");
  RequireRank(call, 2, 4, "valueCache");
  RequireRank(call, 3, 2, "blockTables");
  RequireRank(call, 4, 1, "contextLens");
  for (size_t i = 0; i < 3; ++i) RequireFloat(call, i, i == 0 ? "query" : i == 1 ? "keyCache" : "valueCache");
  const RefTensor& q = call.inputs[0];
  const RefTensor& kc = call.inputs[1];
  const RefTensor& vc = call.inputs[2];
  const int64_t tokens = q.shape[0], dim = q.shape[2];
  const int64_t num_blocks = kc.shape[0], block_size = kc.shape[1], dim_v = vc.shape[3];
  const std::string& op = call.type;
  Require(q.shape[1] == head_num, op,
          fmt::format("query {} must have headNum {} heads in dim 1", ShapeText(q.shape), head_num));
  Require(kc.shape[2] == kv_head_num && kc.shape[3] == dim, op,
          fmt::format("keyCache {} must be [numBlocks, blockSize, kvHeadNum {}, headDim {}] (ND layout)",
                      ShapeText(kc.shape), kv_head_num, dim));
  Require(vc.shape[0] == num_blocks && vc.shape[1] == block_size && vc.shape[2] == kv_head_num, op,
          fmt::format("valueCache {} must match keyCache {} in its first three dims", ShapeText(vc.shape),
                      ShapeText(kc.shape)));
  const RefTensor& tables_t = call.inputs[3];
  Require(tables_t.shape[0] == tokens && call.inputs[4].shape[0] == tokens, op,
          fmt::format("blockTables {} and contextLens {} must have one row per query token ({})",
                      ShapeText(tables_t.shape), ShapeText(call.inputs[4].shape), tokens));
  const int64_t max_blocks = tables_t.shape[1];
  const std::vector<int64_t> tables = IntValues(call, 3, "blockTables");
  const std::vector<int64_t> lens = IntValues(call, 4, "contextLens");

  // The mask's bias for (token, head, position): its strides, 0 where a dim broadcasts.
  int64_t m_tok = 0, m_head = 0, m_len = 0;
  const double* mask = nullptr;
  if (mask_type != 0) {
    RequireFloat(call, 5, "mask");
    const RefTensor& m = call.inputs[5];
    const auto& s = m.shape;
    const bool tok_ok = !s.empty() && (s[0] == tokens || s[0] == 1);
    if (s.size() == 3 && tok_ok && s[1] == 1) {
      m_len = s[2];
      m_tok = s[0] == 1 ? 0 : s[2];
    } else if (s.size() == 4 && tok_ok && (s[1] == head_num || s[1] == 1) && s[2] == 1) {
      m_len = s[3];
      m_head = s[1] == 1 ? 0 : s[3];
      m_tok = s[0] == 1 ? 0 : s[1] * s[3];
    } else {
      Fail(op, "mask (input 5) {} must be [tokens|1, 1, maxContextLen] or [tokens|1, headNum|1, 1, maxContextLen]",
           ShapeText(s));
    }
    mask = m.data.data();
  }

  const int64_t group = head_num / kv_head_num;
  RefTensor out = RefTensor::Zeros(q.dtype, {tokens, head_num, dim_v}, op);
  std::vector<int64_t> rows;  // cache row (block * blockSize + offset) of each position
  std::vector<double> score;
  for (int64_t i = 0; i < tokens; ++i) {
    const int64_t n = lens[i];
    if (n < 0 || n > max_blocks * block_size)
      Fail(op, "contextLens[{}] = {} is outside [0, {}] (maxBlocks {} x blockSize {})", i, n,
           max_blocks * block_size, max_blocks, block_size);
    if (n == 0) continue;
    if (mask && m_len < n) Fail(op, "mask's last dim {} is shorter than contextLens[{}] = {}", m_len, i, n);
    rows.resize(n);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t b = tables[i * max_blocks + j / block_size];
      if (b < 0 || b >= num_blocks)
        Fail(op, "blockTables[{}][{}] = {} is outside [0, {}) (position {} of context {})", i, j / block_size, b,
             num_blocks, j, n);
      rows[j] = b * block_size + j % block_size;
    }
    score.resize(n);
    for (int64_t h = 0; h < head_num; ++h) {
      const int64_t g = h / group;
      const double* qv = &q.data[(i * head_num + h) * dim];
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < n; ++j) {
        const double* kv = &kc.data[(rows[j] * kv_head_num + g) * dim];
        double dot = 0.0;
        for (int64_t d = 0; d < dim; ++d) dot += qv[d] * kv[d];
        double s = dot * qk_scale;
        if (mask) s += mask[i * m_tok + h * m_head + j];
        score[j] = s;
        mx = std::max(mx, s);
      }
      double sum = 0.0;
      for (int64_t j = 0; j < n; ++j) sum += score[j] = std::exp(score[j] - mx);
      double* o = &out.data[(i * head_num + h) * dim_v];
      for (int64_t j = 0; j < n; ++j) {
        const double w = score[j] / sum;
        const double* vv = &vc.data[(rows[j] * kv_head_num + g) * dim_v];
        for (int64_t d = 0; d < dim_v; ++d) o[d] += w * vv[d];
      }
    }
  }
  RoundAll(out.dtype, out.data);
  return {std::move(out)};
}

// ---- ReshapeAndCache ----

std::vector<RefTensor> ReshapeAndCache(RefCall& call) {
  const AtbParams p = call.params();
  p.Enum("compressType", 0, {{"COMPRESS_TYPE_UNDEFINED", 0}});
  p.Enum("kvCacheCfg", 0, {{"K_CACHE_V_CACHE", 0}});
  RequireInputs(call, 5);
  RequireRank(call, 0, 3, "key");
  RequireRank(call, 1, 3, "value");
  RequireRank(call, 2, 4, "keyCache");
  RequireRank(call, 3, 4, "valueCache");
  RequireRank(call, 4, 1, "slotMapping");
  const std::string& op = call.type;
  const RefTensor& key = call.inputs[0];
  const RefTensor& value = call.inputs[1];
  const int64_t tokens = key.shape[0];
  const int64_t num_blocks = call.inputs[2].shape[0], block_size = call.inputs[2].shape[1];
  for (int c = 0; c < 2; ++c) {
    const RefTensor& src = call.inputs[c];
    const RefTensor& cache = call.inputs[2 + c];
    Require(src.shape[0] == tokens, op,
            fmt::format("key {} and value {} must have the same token count", ShapeText(key.shape),
                        ShapeText(value.shape)));
    Require(cache.shape[0] == num_blocks && cache.shape[1] == block_size && cache.shape[2] == src.shape[1] &&
                cache.shape[3] == src.shape[2],
            op,
            fmt::format("{} {} must be [numBlocks, blockSize, {}, {}] like keyCache {} (ND layout)",
                        c ? "valueCache" : "keyCache", ShapeText(cache.shape), src.shape[1], src.shape[2],
                        ShapeText(call.inputs[2].shape)));
  }
  Require(call.inputs[4].shape[0] == tokens, op,
          fmt::format("slotMapping {} must hold one slot per token ({})", ShapeText(call.inputs[4].shape), tokens));
  const std::vector<int64_t> slots = IntValues(call, 4, "slotMapping");
  const int64_t num_slots = num_blocks * block_size;
  for (int64_t t = 0; t < tokens; ++t)
    if (slots[t] >= num_slots)
      Fail(op, "slotMapping[{}] = {} is outside the cache's {} slots (numBlocks {} x blockSize {})", t, slots[t],
           num_slots, num_blocks, block_size);

  std::vector<RefTensor> out;
  for (int c = 0; c < 2; ++c) {
    const RefTensor& src = call.inputs[c];
    RefTensor cache = std::move(call.inputs[2 + c]);
    const int64_t row = src.shape[1] * src.shape[2];
    for (int64_t t = 0; t < tokens; ++t) {
      if (slots[t] < 0) continue;
      for (int64_t e = 0; e < row; ++e) cache.data[slots[t] * row + e] = RoundTo(cache.dtype, src.data[t * row + e]);
    }
    out.push_back(std::move(cache));
  }
  return out;
}

// ---- KvCache ----

std::vector<RefTensor> KvCache(RefCall& call) {
  RequireInputs(call, 5);
  const std::string& op = call.type;
  Require(call.inputs[0].shape.size() == 2, op,
          fmt::format("newKv (input 0) {} must be [ntokens, hidden] (the 4-D and 310P layouts are not checkable)",
                      ShapeText(call.inputs[0].shape)));
  RequireRank(call, 1, 1, "layerId");
  Require(call.inputs[2].shape.size() == 4, op,
          fmt::format("cache (input 2) {} must be [layers, batch, maxSeq, hidden] (the 310P NZ layout is not "
                      "checkable)",
                      ShapeText(call.inputs[2].shape)));
  RequireRank(call, 3, 1, "tokenOffset");
  RequireRank(call, 4, 1, "seqLen");
  const RefTensor& kv = call.inputs[0];
  const auto cs = call.inputs[2].shape;
  const int64_t layers = cs[0], batch = cs[1], max_seq = cs[2], hidden = cs[3];
  Require(kv.shape[1] == hidden, op,
          fmt::format("newKv {} and cache {} must have the same hidden size", ShapeText(kv.shape), ShapeText(cs)));
  Require(call.inputs[1].shape[0] == 1, op, "layerId (input 1) must hold one value, found shape " +
                                                ShapeText(call.inputs[1].shape));
  Require(call.inputs[3].shape[0] == batch && call.inputs[4].shape[0] == batch, op,
          fmt::format("tokenOffset {} and seqLen {} must have the cache's batch {}", ShapeText(call.inputs[3].shape),
                      ShapeText(call.inputs[4].shape), batch));
  const int64_t layer = IntValues(call, 1, "layerId")[0];
  if (layer < 0 || layer >= layers) Fail(op, "layerId {} is outside the cache's {} layers", layer, layers);
  const std::vector<int64_t> offsets = IntValues(call, 3, "tokenOffset");
  const std::vector<int64_t> lens = IntValues(call, 4, "seqLen");
  int64_t total = 0;
  for (int64_t b = 0; b < batch; ++b) {
    if (lens[b] < 0 || lens[b] > offsets[b] || offsets[b] > max_seq)
      Fail(op, "batch {}: needs 0 <= seqLen ({}) <= tokenOffset ({}) <= maxSeq ({})", b, lens[b], offsets[b], max_seq);
    total += lens[b];
  }
  if (total > kv.shape[0]) Fail(op, "seqLen sums to {} tokens, newKv holds {}", total, kv.shape[0]);

  RefTensor cache = std::move(call.inputs[2]);
  int64_t src_row = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t start = offsets[b] - lens[b];
    for (int64_t j = 0; j < lens[b]; ++j, ++src_row) {
      double* dst = &cache.data[((layer * batch + b) * max_seq + start + j) * hidden];
      const double* src = &kv.data[src_row * hidden];
      for (int64_t e = 0; e < hidden; ++e) dst[e] = RoundTo(cache.dtype, src[e]);
    }
  }
  return {std::move(cache)};
}

}  // namespace

std::vector<Reference> CacheReferences() {
  return {
      {"KvCacheOperation", KvCache, {2}},
      {"PagedAttentionOperation", PagedAttention},
      {"ReshapeAndCacheOperation", ReshapeAndCache, {2, 3}},
  };
}

}  // namespace ait::opcheck
