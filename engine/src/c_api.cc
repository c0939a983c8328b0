// The C API: one operation from tensor files to tensor files (the `ait-engine op` path too).
#include "ait_engine/c_api.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "ait/error.h"
#include "ait/tensor_io.h"
#include "ait_engine/operation.h"

namespace {

void RunOpFiles(const char* type, const char* param_json, const char* const* in_paths, int n_in, const char* out_dir) {
  using ait::engine::Json;
  if (!type || !*type) throw ait::Error("ait_engine_run_op: no operation type given");
  if (!out_dir || !*out_dir) throw ait::Error("ait_engine_run_op: no output folder given");
  if (n_in < 0 || (n_in > 0 && !in_paths)) throw ait::Error("ait_engine_run_op: bad input list");
  Json param = Json::object();
  if (param_json && *param_json) {
    param = Json::parse(param_json, nullptr, /*allow_exceptions=*/false);
    if (param.is_discarded() || !param.is_object())
      throw ait::Error(fmt::format("{}: param is not a JSON object: {}", type, param_json));
  }
  auto op = ait::engine::CreateOperation(type, param);
  std::vector<ait::Tensor> in;
  for (int i = 0; i < n_in; ++i) in.push_back(ait::ReadTensor(in_paths[i]));
  ait::engine::ExecContext ctx;
  std::vector<ait::Tensor> out = ait::engine::RunOperation(*op, in, ctx);
  std::filesystem::create_directories(out_dir);
  for (size_t i = 0; i < out.size(); ++i)
    ait::WriteTensor((std::filesystem::path(out_dir) / ("outtensor" + std::to_string(i) + ".bin")).string(), out[i]);
}

}  // namespace

extern "C" int ait_engine_run_op(const char* type, const char* param_json, const char* const* in_paths, int n_in,
                                 const char* out_dir, char* err, size_t err_len) {
  std::string message;
  try {
    RunOpFiles(type, param_json, in_paths, n_in, out_dir);
    return 0;
  } catch (const std::exception& e) {  // ait::Error, filesystem errors, bad_alloc: all become a message
    message = e.what();
  }
  if (err && err_len > 0) {
    const size_t n = std::min(message.size(), err_len - 1);
    std::memcpy(err, message.data(), n);
    err[n] = '\0';
  }
  return 1;
}
