// Loading the reference engine for -rerun and running one operation through it.
#include "opcheck/engine_rerun.h"

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include <fmt/format.h>

#include "ait/error.h"
#include "ait/tensor_io.h"

namespace ait::opcheck {
namespace fs = std::filesystem;
namespace {

constexpr const char* kEngineLibrary = "libait_engine.so";

// Candidates beside the binary that holds this code: bin/ait -> lib/, python/ait_llm/_ait_core.so
// -> ../../lib/.
std::vector<fs::path> DefaultPaths() {
  std::vector<fs::path> out;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&DefaultPaths), &info) && info.dli_fname) {
    std::error_code ec;
    const fs::path self = fs::weakly_canonical(fs::path(info.dli_fname), ec);
    const fs::path dir = self.parent_path();
    for (const fs::path& p : {dir / ".." / "lib", dir, dir / ".." / ".." / "lib"})
      out.push_back((p / kEngineLibrary).lexically_normal());
  }
  return out;
}

// Removes a folder when it goes out of scope.
struct TempFolder {
  fs::path path;
  ~TempFolder() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

}  // namespace

std::unique_ptr<EngineRerun> EngineRerun::Load() {
  std::vector<fs::path> tries;
  if (const char* env = std::getenv(kOpcheckLibEnv); env && *env) {
    tries.push_back(env);
  } else {
    tries = DefaultPaths();
  }
  std::string reasons;
  for (const fs::path& p : tries) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      reasons += fmt::format("; {}: no such file", p.string());
      continue;
    }
    void* h = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* why = dlerror();
      reasons += fmt::format("; {}: {}", p.string(), why ? why : "cannot be loaded");
      continue;
    }
    void* sym = dlsym(h, "ait_engine_run_op");
    if (!sym) {
      dlclose(h);
      reasons += fmt::format("; {}: has no ait_engine_run_op (not the reference engine)", p.string());
      continue;
    }
    std::unique_ptr<EngineRerun> e(new EngineRerun());
    e->handle_ = h;
    e->run_op_ = reinterpret_cast<RunOpFn>(sym);
    e->path_ = p.string();
    return e;
  }
  Fail("-rerun", "cannot load the reference engine ({} names its library){}", kOpcheckLibEnv,
       reasons.empty() ? std::string(": no candidate path") : reasons);
}

EngineRerun::~EngineRerun() {
  if (handle_) dlclose(handle_);
}

std::vector<Tensor> EngineRerun::Run(const std::string& type, const std::string& param_json,
                                     const std::vector<fs::path>& inputs) const {
  static std::atomic<unsigned> counter{0};
  TempFolder out{fs::temp_directory_path() / fmt::format("ait_opcheck_rerun_{}_{}", ::getpid(), counter++)};
  std::vector<std::string> paths;
  for (const fs::path& p : inputs) paths.push_back(p.string());
  std::vector<const char*> argv;
  for (const std::string& p : paths) argv.push_back(p.c_str());
  char err[2048] = {0};
  const int rc = run_op_(type.c_str(), param_json.c_str(), argv.data(), static_cast<int>(argv.size()),
                         out.path.c_str(), err, sizeof err);
  if (rc != 0) Fail("-rerun", "the engine could not run {}: {}", type, err[0] ? err : "no message");
  std::vector<Tensor> outs;
  for (int i = 0;; ++i) {
    const fs::path f = out.path / fmt::format("outtensor{}.bin", i);
    std::error_code ec;
    if (!fs::exists(f, ec)) break;
    Tensor t = ReadTensor(f.string());
    // The file goes with the folder: keep the bytes in memory.
    Tensor copy = Tensor::Allocate(t.dtype, t.shape);
    if (t.nbytes) std::copy(t.data, t.data + t.nbytes, copy.mutable_data());
    copy.atb_format = t.atb_format;
    outs.push_back(std::move(copy));
  }
  return outs;
}

}  // namespace ait::opcheck
