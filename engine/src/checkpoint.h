// Hugging Face-layout Llama checkpoints: config.json parsing, the weight file with clear
// errors for missing or mis-shaped tensors, and the deterministic random checkpoints that
// `ait-engine init` writes.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "ait/tensor.h"
#include "ait_engine/llama.h"

namespace ait::engine {

// The weights of a checkpoint folder by HF name, as stored (any float dtype).
class CheckpointWeights {
 public:
  // Reads `dir`/model.safetensors (memory-mapped by the reader).
  explicit CheckpointWeights(const std::string& dir);
  bool Has(const std::string& name) const { return tensors_.count(name) != 0; }
  // The tensor `name`; throws ait::Error("<file>: tensor '<name>' ...") when it is missing,
  // not a float tensor, or not shaped `shape`.
  const Tensor& Get(const std::string& name, const std::vector<int64_t>& shape) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, Tensor> tensors_;
};

}  // namespace ait::engine
