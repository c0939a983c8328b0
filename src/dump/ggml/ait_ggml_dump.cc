// The C functions of libait_ggml_dump (include/ait/ggml_dump.h) over GgmlDumper. Nothing
// throws across them: errors become messages and return values.
#include "ait/ggml_dump.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "ait/error.h"
#include "dump/ggml/ggml_dumper.h"

namespace {

void CopyOut(const std::string& text, char* out, size_t size) {
  if (out == nullptr || size == 0) return;
  const size_t n = std::min(text.size(), size - 1);
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

std::string WorkingDir() {
  char buf[PATH_MAX];
  return getcwd(buf, sizeof buf) ? std::string(buf) : std::string("/");
}

}  // namespace

extern "C" {

void* ait_ggml_dump_open(const char* config_json, char* error, size_t error_size) {
  try {
    auto options = ait::ggml_dump::ParseOptions(config_json ? config_json : "", [](const char* n) { return std::getenv(n); },
                                                WorkingDir());
    return new ait::ggml_dump::GgmlDumper(std::move(options));
  } catch (const std::exception& e) {
    CopyOut(e.what(), error, error_size);
  }
  return nullptr;
}

bool ait_ggml_dump_eval(struct ggml_tensor* t, bool ask, void* user_data) {
  if (user_data == nullptr || t == nullptr) return !ask;
  try {
    return static_cast<ait::ggml_dump::GgmlDumper*>(user_data)->Eval(t, ask);
  } catch (const std::exception&) {
    return !ask;  // never stop the computation: ask -> not needed, computed -> go on
  }
}

int ait_ggml_dump_end_token(void* dumper) {
  if (dumper == nullptr) return 0;
  try {
    return static_cast<ait::ggml_dump::GgmlDumper*>(dumper)->EndToken();
  } catch (const std::exception&) {
    return 0;
  }
}

int ait_ggml_dump_close(void* dumper, char* stats, size_t stats_size) {
  if (dumper == nullptr) return 0;
  auto* d = static_cast<ait::ggml_dump::GgmlDumper*>(dumper);
  int lost = 0;
  try {
    CopyOut(d->Close(&lost).dump(), stats, stats_size);
  } catch (const std::exception& e) {
    CopyOut(nlohmann::json({{"error", e.what()}}).dump(), stats, stats_size);
  }
  delete d;
  return lost;
}

}  // extern "C"
