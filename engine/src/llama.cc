// The Llama decoder on the reference engine: weights loaded and converted (or int8-quantized)
// at load, the LlamaLayer graph as atb_speed wires it, forward steps with a KV cache, greedy
// generation. Math follows HF transformers' LlamaForCausalLM in order of operations where it
// matters (rotary tables in float32, RMSNorm in float32, softmax in float32).
#include "ait_engine/llama.h"

#include <algorithm>
#include <cmath>

#include "ait/error.h"
#include "checkpoint.h"
#include "ops/kernels.h"

namespace ait::engine {

std::optional<Quant> ParseQuant(std::string_view name) {
  if (name == "none") return Quant::kNone;
  if (name == "w8a16") return Quant::kW8A16;
  if (name == "w8a8") return Quant::kW8A8;
  return std::nullopt;
}

std::string_view QuantName(Quant q) { return q == Quant::kNone ? "none" : q == Quant::kW8A16 ? "w8a16" : "w8a8"; }

namespace {

constexpr const char* kProjections[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
constexpr const char* kStepInputs[] = {"cos", "sin", "mask", "cache_k", "cache_v", "token_offset", "seq_len", "layer_id"};

Tensor ToStorage(const Tensor& src, DType dtype) {
  Tensor t = Tensor::Allocate(dtype, src.shape);
  std::vector<float> f = ops::LoadF32(src);
  ops::StoreF32(f.data(), f.size(), t);
  return t;
}

// Symmetric per-output-channel int8: scale[n] = max|w[n, :]| / 127, q = round(w / scale).
std::pair<Tensor, Tensor> QuantizeRows(const Tensor& w) {
  const int64_t n = w.shape[0], k = w.shape[1];
  std::vector<float> f = ops::LoadF32(w);
  Tensor q = Tensor::Allocate(DType::kInt8, w.shape), scale = Tensor::Allocate(DType::kFloat32, {n});
  for (int64_t r = 0; r < n; ++r) {
    const float* row = f.data() + r * k;
    float mx = 0;
    for (int64_t i = 0; i < k; ++i) mx = std::max(mx, std::fabs(row[i]));
    const float s = mx > 0 ? mx / 127.0f : 1.0f;
    ops::Mutable<float>(scale)[r] = s;
    for (int64_t i = 0; i < k; ++i)
      ops::Mutable<int8_t>(q)[r * k + i] = static_cast<int8_t>(std::clamp(std::nearbyint(row[i] / s), -127.0f, 127.0f));
  }
  return {q, scale};
}

Tensor Int32s(const std::vector<int32_t>& v) {
  Tensor t = Tensor::Allocate(DType::kInt32, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), ops::Mutable<int32_t>(t));
  return t;
}

// The decoder layer graph (atb_speed's LlamaLayer / flash-attention form).
std::unique_ptr<GraphOperation> BuildLayer(const LlamaConfig& c, Quant quant, int64_t layer) {
  std::vector<std::string> inputs = {"hidden", "input_norm"};
  for (const char* p : kProjections) {
    inputs.emplace_back(p);
    if (quant != Quant::kNone) inputs.push_back(std::string(p) + "_scale");
    if (std::string_view(p) == "o_proj") inputs.emplace_back("post_norm");
  }
  inputs.insert(inputs.end(), std::begin(kStepInputs), std::end(kStepInputs));
  const Json param = {{"layerId", layer},
                      {"headNum", c.num_attention_heads},
                      {"kvHeadNum", c.num_key_value_heads},
                      {"rmsNormEps", c.rms_norm_eps},
                      {"quantType", QuantName(quant)}};
  GraphBuilder b("LlamaLayer", param, inputs, {"layer_out"});
  const Json norm = {{"layerType", 1}, {"normParam", {{"epsilon", c.rms_norm_eps}}}};
  auto linear = [&](const std::string& w, const std::string& x, const std::string& out) {
    if (quant == Quant::kNone) {
      b.Add(CreateOperation("LinearOperation", {{"transposeA", false}, {"transposeB", true}, {"hasBias", false}}),
            {x, w}, {out});
    } else {
      const Json p = {{"quantMode", quant == Quant::kW8A16 ? 0 : 2}, {"transposeB", true}, {"hasBias", false}};
      b.Add(CreateOperation("LinearQuantOperation", p), {x, w, w + "_scale"}, {out});
    }
  };
  b.Add(CreateOperation("RmsNormOperation", norm), {"hidden", "input_norm"}, {"attn_in"});
  linear("q_proj", "attn_in", "q");
  linear("k_proj", "attn_in", "k");
  linear("v_proj", "attn_in", "v");
  b.Add(CreateOperation("RopeOperation", {{"rotaryCoeff", 2}}), {"q", "k", "cos", "sin", "seq_len"}, {"rope_q", "rope_k"});
  const Json attn = {{"headNum", c.num_attention_heads},
                     {"kvHeadNum", c.num_key_value_heads},
                     {"qScale", 1.0 / std::sqrt(static_cast<double>(c.head_dim()))},
                     {"qkScale", 1.0},
                     {"calcType", 0},
                     {"maskType", 0},
                     {"kernelType", 0}};
  b.Add(CreateOperation("SelfAttentionOperation", attn),
        {"rope_q", "rope_k", "v", "cache_k", "cache_v", "mask", "token_offset", "seq_len", "layer_id"}, {"attn"});
  linear("o_proj", "attn", "attn_out");
  b.Add(CreateOperation("ElewiseOperation", {{"elewiseType", 8}}), {"hidden", "attn_out"}, {"attn_res"});
  b.Add(CreateOperation("RmsNormOperation", norm), {"attn_res", "post_norm"}, {"mlp_in"});
  linear("gate_proj", "mlp_in", "gate");
  linear("up_proj", "mlp_in", "up");
  b.Add(CreateOperation("ActivationOperation", {{"activationType", 4}}), {"gate"}, {"act"});
  b.Add(CreateOperation("ElewiseOperation", {{"elewiseType", 9}}), {"act", "up"}, {"mlp_mid"});
  linear("down_proj", "mlp_mid", "mlp_out");
  b.Add(CreateOperation("ElewiseOperation", {{"elewiseType", 8}}), {"attn_res", "mlp_out"}, {"layer_out"});
  return b.Build();
}

}  // namespace

LlamaModel::LlamaModel(const std::string& dir, const LlamaOptions& options)
    : config_(LlamaConfig::Load(dir)), options_(options) {
  if (!ops::IsFloatStorage(options.dtype))
    Fail("LlamaModel", "storage dtype must be fp32, fp16 or bf16, found {}", ShortName(options.dtype));
  if (options.batch <= 0) Fail("LlamaModel", "batch must be > 0, found {}", options.batch);
  if (options.probe_hooks) probe_ = std::make_unique<AtbProbeHooks>(options.device_id);
  const LlamaConfig& c = config_;
  const CheckpointWeights w(dir);
  const DType dt = options.dtype;
  const int64_t h = c.hidden_size, kv = c.num_key_value_heads * c.head_dim(), inter = c.intermediate_size;

  embed_ = ToStorage(w.Get("model.embed_tokens.weight", {c.vocab_size, h}), dt);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    std::vector<Tensor> lw = {ToStorage(w.Get(p + "input_layernorm.weight", {h}), dt)};
    const std::vector<std::pair<std::string, std::vector<int64_t>>> projections = {
        {"self_attn.q_proj", {h, h}},       {"self_attn.k_proj", {kv, h}}, {"self_attn.v_proj", {kv, h}},
        {"self_attn.o_proj", {h, h}},       {"mlp.gate_proj", {inter, h}}, {"mlp.up_proj", {inter, h}},
        {"mlp.down_proj", {h, inter}}};
    for (const auto& [name, shape] : projections) {
      const Tensor& t = w.Get(p + name + ".weight", shape);
      if (options.quant == Quant::kNone) {
        lw.push_back(ToStorage(t, dt));
      } else {
        auto qs = QuantizeRows(t);
        lw.push_back(qs.first);
        lw.push_back(qs.second);
      }
      if (name == "self_attn.o_proj") lw.push_back(ToStorage(w.Get(p + "post_attention_layernorm.weight", {h}), dt));
    }
    layer_weights_.push_back(std::move(lw));
  }
  final_norm_ = ToStorage(w.Get("model.norm.weight", {h}), dt);
  if (c.tie_word_embeddings)
    lm_head_ = embed_;
  else
    lm_head_ = ToStorage(w.Get("lm_head.weight", {c.vocab_size, h}), dt);

  // Top-level operations in execution order; their index is their id.
  int64_t id = 0;
  ops_.emplace_back(id++, CreateOperation("GatherOperation", {{"axis", 0}}));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) ops_.emplace_back(id++, BuildLayer(c, options.quant, i));
  ops_.emplace_back(id++, CreateOperation("RmsNormOperation", {{"layerType", 1}, {"normParam", {{"epsilon", c.rms_norm_eps}}}}));
  ops_.emplace_back(id++, CreateOperation("LinearOperation", {{"transposeA", false}, {"transposeB", true}, {"hasBias", false}}));

  // HF: inv_freq = 1 / theta^(arange(0, d, 2) / d), all in float32.
  const int64_t hd = c.head_dim();
  for (int64_t i = 0; i < hd; i += 2)
    inv_freq_.push_back(1.0f / std::pow(static_cast<float>(c.rope_theta), static_cast<float>(i) / static_cast<float>(hd)));
}

void LlamaModel::Reset(int64_t capacity) {
  if (capacity <= 0 || capacity > config_.max_position_embeddings)
    Fail("LlamaModel", "cache capacity {} must be in [1, max_position_embeddings = {}]", capacity,
         config_.max_position_embeddings);
  const int64_t kv = config_.num_key_value_heads * config_.head_dim();
  cache_k_.clear();
  cache_v_.clear();
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    cache_k_.push_back(Tensor::Allocate(options_.dtype, {options_.batch, capacity, kv}));
    cache_v_.push_back(Tensor::Allocate(options_.dtype, {options_.batch, capacity, kv}));
  }
  capacity_ = capacity;
  position_ = 0;
}

std::vector<Tensor> LlamaModel::LayerInputs(size_t layer, const Tensor& hidden, const std::vector<Tensor>& step) const {
  std::vector<Tensor> in = {hidden};
  in.insert(in.end(), layer_weights_[layer].begin(), layer_weights_[layer].end());
  // step = cos, sin, mask, token_offset, seq_len, layer_id; the layer's caches go in between.
  in.insert(in.end(), {step[0], step[1], step[2], cache_k_[layer], cache_v_[layer], step[3], step[4], step[5]});
  return in;
}

Tensor LlamaModel::Forward(const std::vector<std::vector<int32_t>>& ids, ExecutionObserver* observer) {
  const int64_t batch = options_.batch;
  if (static_cast<int64_t>(ids.size()) != batch) Fail("LlamaModel", "expected {} sequences, found {}", batch, ids.size());
  const int64_t n = static_cast<int64_t>(ids[0].size());
  if (n == 0) Fail("LlamaModel", "a forward step needs at least one token");
  for (const auto& row : ids)
    if (static_cast<int64_t>(row.size()) != n) Fail("LlamaModel", "every sequence must bring {} tokens", n);
  if (capacity_ == 0) Reset(std::min<int64_t>(config_.max_position_embeddings, n));
  if (position_ + n > capacity_)
    Fail("LlamaModel", "{} cached + {} new tokens exceed the cache capacity {}", position_, n, capacity_);

  std::vector<int32_t> flat;
  for (const auto& row : ids)
    for (int32_t t : row) {
      if (t < 0 || t >= config_.vocab_size) Fail("LlamaModel", "token id {} is out of range [0, {})", t, config_.vocab_size);
      flat.push_back(t);
    }
  // Rotary tables gathered at each token's position, as the model's cos/sin inputs.
  const int64_t hd = config_.head_dim(), half = hd / 2;
  std::vector<float> cosv(batch * n * hd), sinv(batch * n * hd);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < n; ++i) {
      const float pos = static_cast<float>(position_ + i);
      float* c = cosv.data() + (b * n + i) * hd;
      float* s = sinv.data() + (b * n + i) * hd;
      for (int64_t j = 0; j < half; ++j) {
        const float f = pos * inv_freq_[j];  // emb = cat(freqs, freqs)
        c[j] = c[j + half] = std::cos(f);
        s[j] = s[j + half] = std::sin(f);
      }
    }
  Tensor cos_t = Tensor::Allocate(options_.dtype, {batch * n, hd}), sin_t = Tensor::Allocate(options_.dtype, {batch * n, hd});
  ops::StoreF32(cosv.data(), cosv.size(), cos_t);
  ops::StoreF32(sinv.data(), sinv.size(), sin_t);
  const std::vector<Tensor> step = {cos_t, sin_t, Tensor::Allocate(options_.dtype, {0}),
                                    Int32s(std::vector<int32_t>(batch, static_cast<int32_t>(position_ + n))),
                                    Int32s(std::vector<int32_t>(batch, static_cast<int32_t>(n))), Int32s({0})};

  const int threads = options_.threads;
  ObserverChain chain(observer, probe_.get());
  if (observer && probe_) observer = &chain;
  else if (!observer) observer = probe_.get();
  Tensor hidden = ops_[0].Run({embed_, Int32s(flat)}, threads, observer)[0];
  for (size_t l = 0; l < layer_weights_.size(); ++l)
    hidden = ops_[1 + l].Run(LayerInputs(l, hidden, step), threads, observer)[0];
  const size_t last = ops_.size() - 1;
  Tensor normed = ops_[last - 1].Run({hidden, final_norm_}, threads, observer)[0];
  Tensor logits = ops_[last].Run({normed, lm_head_}, threads, observer)[0];
  position_ += n;
  // atb_speed reports the model once its layers' graphs are known to the probe (the probe
  // merges them into the model JSON).
  if (probe_ && !topology_reported_) {
    topology_reported_ = true;
    AtbProbeHooks::ReportModelTopology("LlamaModel", TopologyInfo());
  }
  return logits;
}

Json LlamaModel::TopologyInfo() const {
  const std::string m = "LlamaModel";
  auto names = [&](const std::string& kind, size_t count) {
    std::vector<std::string> v;
    for (size_t i = 0; i < count; ++i) v.push_back(m + "_" + kind + "_" + std::to_string(i));
    return v;
  };
  // Inputs: 0 input_ids, 1 cos, 2 sin, 3 mask, 4 token_offset, 5 seq_len, 6 layer_id.
  const auto in = names("input", 7), out = names("output", 1);
  const size_t layers = layer_weights_.size();
  const auto internal = names("internal", layers + 2);  // hidden after embedding and each layer, normed
  const auto kcache = names("kCache", layers), vcache = names("vCache", layers);
  size_t weight_count = 3;
  for (const auto& lw : layer_weights_) weight_count += lw.size();
  const auto weights = names("weight", weight_count);
  Json nodes = Json::array();
  nodes.push_back({{"opName", ops_[0].op().type()}, {"inTensors", {weights[0], in[0]}}, {"outTensors", {internal[0]}}});
  size_t w = 1;
  for (size_t l = 0; l < layers; ++l) {
    Json ins = {internal[l]};
    for (size_t i = 0; i < layer_weights_[l].size(); ++i) ins.push_back(weights[w++]);
    for (const auto& t : {in[1], in[2], in[3], kcache[l], vcache[l], in[4], in[5], in[6]}) ins.push_back(t);
    nodes.push_back({{"opName", ops_[1 + l].op().type()}, {"inTensors", ins}, {"outTensors", {internal[l + 1]}}});
  }
  nodes.push_back({{"opName", ops_[layers + 1].op().type()},
                   {"inTensors", {internal[layers], weights[w++]}},
                   {"outTensors", {internal[layers + 1]}}});
  nodes.push_back({{"opName", ops_[layers + 2].op().type()},
                   {"inTensors", {internal[layers + 1], weights[w++]}},
                   {"outTensors", {out[0]}}});
  return {{"modelName", m}, {"inTensors", in},        {"outTensors", out},       {"internalTensors", internal},
          {"weightTensors", weights}, {"kCacheTensors", kcache}, {"vCacheTensors", vcache}, {"nodes", nodes}};
}

GenerateResult Generate(LlamaModel& model, const std::vector<int32_t>& prompt, int64_t max_new_tokens,
                        ExecutionObserver* observer) {
  if (prompt.empty()) Fail("Generate", "the prompt is empty");
  if (max_new_tokens <= 0) Fail("Generate", "max_new_tokens must be > 0, found {}", max_new_tokens);
  const int64_t batch = model.options().batch, vocab = model.config().vocab_size;
  // The last generated token needs no forward, so the cache holds prompt + new - 1 positions.
  model.Reset(static_cast<int64_t>(prompt.size()) + max_new_tokens - 1);
  GenerateResult r;
  r.tokens.resize(batch);
  r.logits = Tensor::Allocate(DType::kFloat32, {max_new_tokens, batch, vocab});
  float* saved = ops::Mutable<float>(r.logits);
  std::vector<std::vector<int32_t>> ids(batch, prompt);
  for (int64_t step = 0; step < max_new_tokens; ++step) {
    const Tensor logits = model.Forward(ids, observer);
    const int64_t n = static_cast<int64_t>(ids[0].size());
    for (int64_t b = 0; b < batch; ++b) {
      float* row = saved + (step * batch + b) * vocab;
      ops::LoadRow(logits, (b * n + n - 1) * vocab, vocab, row);
      const int32_t next = static_cast<int32_t>(std::max_element(row, row + vocab) - row);  // first max, as torch
      r.tokens[b].push_back(next);
      ids[b] = {next};
    }
  }
  return r;
}

}  // namespace ait::engine
