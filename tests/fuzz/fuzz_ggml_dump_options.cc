// libFuzzer target: the configuration libait_ggml_dump reads (src/dump/ggml/ggml_dump_options.cc,
// include/ait/ggml_dump.h): a JSON object of output_dir, token_range, tensor_part, node_filter,
// perturb and device, over the ATB_* variables (here: none) and the dump's defaults. Input: the
// configuration text. ait::Error is the expected answer to a bad one; a parsed configuration
// must be usable: its token selection answers for any token, every perturbation it holds
// applies to a small float tensor and leaves it the same size, and every node filter matches or
// not without failing.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ait/error.h"
#include "dump/ggml/ggml_dump_options.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const ait::ggml_dump::DumperOptions o =
        ait::ggml_dump::ParseOptions(text, [](const char*) -> const char* { return nullptr; }, "/tmp");
    for (uint64_t token : {uint64_t{0}, uint64_t{1}, uint64_t{7}, ~uint64_t{0}}) (void)o.config.IsExecuteCountInRange(token);
    (void)o.config.IsTensorNeedSave({3}, "mul_mat");
    for (const std::string& glob : o.node_filter) (void)ait::engine::GlobMatch(glob, "attn_norm-0 (view)");
    ait::Tensor t = ait::Tensor::Allocate(ait::DType::kFloat32, {4, 3});
    for (const auto& p : o.perturb) {
      (void)p.Matches("ffn_up-1");
      p.Apply(t, 42);
      if (t.numel() != 12 || t.nbytes != 48) ait::fuzz::Die("a perturbation changed the tensor's size");
    }
    if (o.config.root.empty() || o.config.root.back() != '/') ait::fuzz::Die("a dump root that is not a folder path");
  } catch (const ait::Error&) {
  }
  return 0;
}
