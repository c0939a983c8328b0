// HF checkpoint folders: LlamaConfig from/to config.json, the weight file with errors that
// name the file and tensor, presets, and the deterministic random checkpoint of `init`.
#include "checkpoint.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/ranges.h>

#include "ait/error.h"
#include "ait/tensor_io.h"
#include "ops/kernels.h"

namespace ait::engine {

namespace fs = std::filesystem;

// --- LlamaConfig ----------------------------------------------------------------------------

namespace {

int64_t PositiveInt(const Json& j, const std::string& where, const char* key, std::optional<int64_t> def) {
  if (!j.contains(key) || j[key].is_null()) {
    if (!def) Fail(where, "key '{}' is missing", key);
    return *def;
  }
  const Json& v = j[key];
  if (!v.is_number_integer() || v.get<int64_t>() <= 0) Fail(where, "key '{}' must be a positive integer, found {}", key, v.dump());
  return v.get<int64_t>();
}

double PositiveFloat(const Json& j, const std::string& where, const char* key, double def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  const Json& v = j[key];
  if (!v.is_number() || !(v.get<double>() > 0)) Fail(where, "key '{}' must be a positive number, found {}", key, v.dump());
  return v.get<double>();
}

}  // namespace

LlamaConfig LlamaConfig::FromJson(const Json& j, const std::string& where) {
  if (!j.is_object()) Fail(where, "must hold a JSON object");
  if (j.contains("model_type") && j["model_type"] != "llama")
    Fail(where, "model_type {} is not supported (only \"llama\")", j["model_type"].dump());
  if (j.contains("hidden_act") && j["hidden_act"] != "silu")
    Fail(where, "hidden_act {} is not supported (only \"silu\")", j["hidden_act"].dump());
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    Fail(where, "rope_scaling {} is not supported (only null)", j["rope_scaling"].dump());
  for (const char* key : {"attention_bias", "mlp_bias"})
    if (j.contains(key) && j[key] == true) Fail(where, "key '{}' = true is not supported", key);
  LlamaConfig c;
  c.hidden_size = PositiveInt(j, where, "hidden_size", std::nullopt);
  c.intermediate_size = PositiveInt(j, where, "intermediate_size", std::nullopt);
  c.num_hidden_layers = PositiveInt(j, where, "num_hidden_layers", std::nullopt);
  c.num_attention_heads = PositiveInt(j, where, "num_attention_heads", std::nullopt);
  c.num_key_value_heads = PositiveInt(j, where, "num_key_value_heads", c.num_attention_heads);
  c.vocab_size = PositiveInt(j, where, "vocab_size", std::nullopt);
  c.max_position_embeddings = PositiveInt(j, where, "max_position_embeddings", 2048);
  c.rms_norm_eps = PositiveFloat(j, where, "rms_norm_eps", 1e-6);
  c.rope_theta = PositiveFloat(j, where, "rope_theta", 10000.0);
  if (j.contains("tie_word_embeddings")) {
    if (!j["tie_word_embeddings"].is_boolean()) Fail(where, "key 'tie_word_embeddings' must be true or false");
    c.tie_word_embeddings = j["tie_word_embeddings"].get<bool>();
  }
  if (j.contains("torch_dtype") && j["torch_dtype"].is_string()) c.torch_dtype = j["torch_dtype"].get<std::string>();
  if (c.hidden_size % c.num_attention_heads != 0)
    Fail(where, "hidden_size {} is not a multiple of num_attention_heads {}", c.hidden_size, c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    Fail(where, "num_attention_heads {} is not a multiple of num_key_value_heads {}", c.num_attention_heads,
         c.num_key_value_heads);
  if (c.head_dim() % 2 != 0) Fail(where, "head dim {} must be even for rotary embedding", c.head_dim());
  if (j.contains("head_dim") && !j["head_dim"].is_null() && j["head_dim"] != c.head_dim())
    Fail(where, "head_dim {} differs from hidden_size / num_attention_heads = {} (not supported)", j["head_dim"].dump(),
         c.head_dim());
  return c;
}

LlamaConfig LlamaConfig::Load(const std::string& dir) {
  const std::string path = (fs::path(dir) / "config.json").string();
  std::ifstream f(path);
  if (!f) Fail(path, "cannot open (is '{}' a Hugging Face checkpoint folder?)", dir);
  std::stringstream ss;
  ss << f.rdbuf();
  Json j = Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) Fail(path, "is not valid JSON");
  return FromJson(j, path);
}

Json LlamaConfig::ToJson() const {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_act", "silu"},
          {"hidden_size", hidden_size},
          {"intermediate_size", intermediate_size},
          {"num_hidden_layers", num_hidden_layers},
          {"num_attention_heads", num_attention_heads},
          {"num_key_value_heads", num_key_value_heads},
          {"vocab_size", vocab_size},
          {"max_position_embeddings", max_position_embeddings},
          {"rms_norm_eps", rms_norm_eps},
          {"rope_theta", rope_theta},
          {"rope_scaling", nullptr},
          {"attention_bias", false},
          {"mlp_bias", false},
          {"tie_word_embeddings", tie_word_embeddings},
          {"torch_dtype", torch_dtype},
          {"initializer_range", 0.02},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"use_cache", true}};
}

std::optional<LlamaConfig> LlamaConfig::Preset(std::string_view name) {
  LlamaConfig c;
  if (name == "tiny") {
    c.hidden_size = 64, c.intermediate_size = 172, c.num_hidden_layers = 2, c.num_attention_heads = 4;
    c.num_key_value_heads = 2, c.vocab_size = 256, c.max_position_embeddings = 128;
  } else if (name == "small") {
    c.hidden_size = 1024, c.intermediate_size = 2816, c.num_hidden_layers = 8, c.num_attention_heads = 16;
    c.num_key_value_heads = 4, c.vocab_size = 32000, c.max_position_embeddings = 2048;
  } else {
    return std::nullopt;
  }
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000.0;
  return c;
}

// --- Weights --------------------------------------------------------------------------------

CheckpointWeights::CheckpointWeights(const std::string& dir) : path_((fs::path(dir) / "model.safetensors").string()) {
  if (!fs::exists(path_)) Fail(path_, "missing (sharded checkpoints are not supported; expected one model.safetensors)");
  for (auto& [name, t] : SafetensorsFormat().ReadAll(path_)) tensors_.emplace(name, std::move(t));
}

const Tensor& CheckpointWeights::Get(const std::string& name, const std::vector<int64_t>& shape) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) Fail(path_, "tensor '{}' is missing", name);
  const Tensor& t = it->second;
  if (!ops::IsFloatStorage(t.dtype) && t.dtype != DType::kFloat64)
    Fail(path_, "tensor '{}' has dtype {}, expected a float type", name, ShortName(t.dtype));
  if (t.shape != shape)
    Fail(path_, "tensor '{}' has shape {}, expected {}", name, t.ShapeString(), fmt::format("[{}]", fmt::join(shape, ", ")));
  return t;
}

// --- Random checkpoints ---------------------------------------------------------------------

void WriteRandomCheckpoint(const std::string& dir, const LlamaConfig& c, uint64_t seed) {
  fs::create_directories(dir);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  NamedTensors tensors;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float base) {
    Tensor t = Tensor::Allocate(DType::kFloat32, std::move(shape));
    float* p = ops::Mutable<float>(t);
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = base + normal(rng);
    tensors.emplace_back(name, std::move(t));
  };
  const int64_t h = c.hidden_size, kv = c.num_key_value_heads * c.head_dim(), inter = c.intermediate_size;
  add("model.embed_tokens.weight", {c.vocab_size, h}, 0.0f);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {h}, 1.0f);
    add(p + "self_attn.q_proj.weight", {h, h}, 0.0f);
    add(p + "self_attn.k_proj.weight", {kv, h}, 0.0f);
    add(p + "self_attn.v_proj.weight", {kv, h}, 0.0f);
    add(p + "self_attn.o_proj.weight", {h, h}, 0.0f);
    add(p + "post_attention_layernorm.weight", {h}, 1.0f);
    add(p + "mlp.gate_proj.weight", {inter, h}, 0.0f);
    add(p + "mlp.up_proj.weight", {inter, h}, 0.0f);
    add(p + "mlp.down_proj.weight", {h, inter}, 0.0f);
  }
  add("model.norm.weight", {h}, 1.0f);
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, h}, 0.0f);
  SafetensorsFormat().WriteAll((fs::path(dir) / "model.safetensors").string(), tensors);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  std::ofstream f(config_path);
  f << c.ToJson().dump(2) << "\n";
  if (!f.flush()) Fail(config_path, "cannot write");
}

}  // namespace ait::engine
