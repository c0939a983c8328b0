// -rerun: runs one operation again from its dumped inputs through the reference engine's
// single-operation C API (ait_engine_run_op, engine/include/ait_engine/c_api.h), loaded with
// dlopen as the original loads libopchecker.so, so the core library does not link the engine.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ait/tensor.h"

namespace ait::opcheck {

// The engine library opcheck -rerun loads: this variable's path when set (the original's name),
// else libait_engine.so in the lib/ folder beside the program's (or the Python package's) build.
inline constexpr const char* kOpcheckLibEnv = "AIT_OPCHECK_LIB_PATH";

class EngineRerun {
 public:
  // Loads the engine; throws ait::Error naming the path tried and dlerror()'s reason.
  static std::unique_ptr<EngineRerun> Load();
  ~EngineRerun();
  EngineRerun(const EngineRerun&) = delete;
  EngineRerun& operator=(const EngineRerun&) = delete;

  // Runs `type` with `param_json` on the tensor files `inputs`; returns its outputs. Throws
  // ait::Error with the engine's message when the operation fails. Thread-safe.
  std::vector<Tensor> Run(const std::string& type, const std::string& param_json,
                          const std::vector<std::filesystem::path>& inputs) const;
  const std::string& path() const { return path_; }

 private:
  EngineRerun() = default;
  void* handle_ = nullptr;
  using RunOpFn = int (*)(const char*, const char*, const char* const*, int, const char*, char*, size_t);
  RunOpFn run_op_ = nullptr;
  std::string path_;
};

}  // namespace ait::opcheck
