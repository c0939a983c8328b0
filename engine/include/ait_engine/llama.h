// A Llama-family decoder built the way ATB model code (atb_speed) builds one: the model is not
// an operation; it owns top-level operations created in execution order — 0 word embedding
// (GatherOperation), 1..L one GraphOperation "LlamaLayer" per decoder layer, L+1 final
// RmsNorm, L+2 lm head (LinearOperation) — and keeps the KV cache across forward steps.
// Loads a Hugging Face-layout checkpoint folder (config.json + model.safetensors).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ait/tensor.h"
#include "ait_engine/atb_probe_hooks.h"
#include "ait_engine/graph.h"

namespace ait::engine {

struct LlamaConfig {
  int64_t hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0, num_attention_heads = 0,
          num_key_value_heads = 0, vocab_size = 0, max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6, rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  std::string torch_dtype = "float32";

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Parses HF LlamaConfig keys (HF defaults for absent optional ones); errors name `where`
  // and the key.
  static LlamaConfig FromJson(const Json& j, const std::string& where);
  // `dir`/config.json.
  static LlamaConfig Load(const std::string& dir);
  // HF config.json contents (model_type llama, LlamaForCausalLM).
  Json ToJson() const;
  // "tiny" (a forward well under a second) or "small" (~600 MB fp32, for benchmarks).
  static std::optional<LlamaConfig> Preset(std::string_view name);
};

enum class Quant { kNone, kW8A16, kW8A8 };
std::optional<Quant> ParseQuant(std::string_view name);  // none, w8a16, w8a8
std::string_view QuantName(Quant q);

struct LlamaOptions {
  DType dtype = DType::kFloat32;  // storage of weights and activations: fp32, fp16, bf16
  Quant quant = Quant::kNone;     // layers' Linear -> LinearQuantOperation (int8 per-channel)
  int threads = 0;                // ExecContext threads (0 = all cores)
  int device_id = 0;              // recorded only (the dump path's `{dev}_`)
  int64_t batch = 1;
  // Call the ATB probe hooks (atb::Probe, atb_speed::SpeedProbe) around every operation and
  // kernel, as ATB does. false runs with no hook at all: the benchmark's baseline.
  bool probe_hooks = true;
};

class LlamaModel {
 public:
  // Throws ait::Error naming the file (and tensor / key) for a bad checkpoint or option.
  LlamaModel(const std::string& dir, const LlamaOptions& options);

  const LlamaConfig& config() const { return config_; }
  const LlamaOptions& options() const { return options_; }
  // Top-level operations in creation (= execution) order; ids are their indices.
  const std::vector<TopLevelOperation>& operations() const { return ops_; }

  // Empties the KV cache and sizes it for `capacity` positions per sequence.
  void Reset(int64_t capacity);
  // One forward step. `observer` (may be null) sees every operation and kernel before the
  // model's ATB probe hooks do (a PerturbingObserver there plants faults the probe then
  // records). On the first step the model reports its topology to atb_speed::SpeedProbe
  // after its layers reported theirs. `ids` holds options().batch rows of equal length n: each sequence's new
  // tokens (prefill: the prompt; decode: one). Returns logits [batch * n, vocab] in the
  // storage dtype, sequence b's rows at b*n .. b*n+n-1. Every top-level op's execute count
  // advances by one.
  Tensor Forward(const std::vector<std::vector<int32_t>>& ids, ExecutionObserver* observer = nullptr);
  int64_t position() const { return position_; }  // tokens cached per sequence
  int64_t capacity() const { return capacity_; }

  // The model topology JSON atb_speed reports (FORMATS.md 5.2 input form), model name
  // "LlamaModel".
  Json TopologyInfo() const;

 private:
  std::vector<Tensor> LayerInputs(size_t layer, const Tensor& hidden, const std::vector<Tensor>& step) const;

  LlamaConfig config_;
  LlamaOptions options_;
  std::vector<TopLevelOperation> ops_;
  Tensor embed_, final_norm_, lm_head_;
  std::vector<std::vector<Tensor>> layer_weights_;  // per layer, in the layer's input order
  std::vector<Tensor> cache_k_, cache_v_;           // per layer [batch, capacity, kvHidden]
  std::vector<float> inv_freq_;
  int64_t capacity_ = 0, position_ = 0;
  std::unique_ptr<AtbProbeHooks> probe_;  // null when options.probe_hooks is false
  bool topology_reported_ = false;
};

// Greedy decoding: `max_new_tokens` forward steps (step 0 prefills the prompt, replicated
// options().batch times). tokens[b] = the generated ids of row b; logits = float32
// [steps, batch, vocab], the last position of every step.
struct GenerateResult {
  std::vector<std::vector<int32_t>> tokens;
  Tensor logits;
};
GenerateResult Generate(LlamaModel& model, const std::vector<int32_t>& prompt, int64_t max_new_tokens,
                        ExecutionObserver* observer = nullptr);

// Writes `dir`/config.json and `dir`/model.safetensors: float32 weights drawn from
// normal(0, 0.02) with a fixed-seed generator (norm weights 1 + normal(0, 0.02)).
void WriteRandomCheckpoint(const std::string& dir, const LlamaConfig& config, uint64_t seed);

}  // namespace ait::engine
