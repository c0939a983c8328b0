// tensor_metrics GOLDEN MY: reads two tensor files in any format ait-llm reads and prints
// their metrics as JSON, through the installed C++ API alone (find_package(ait), ait::core).
#include <cstdio>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "ait/metrics.h"
#include "ait/tensor_io.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: tensor_metrics GOLDEN MY\n");
    return 2;
  }
  try {
    const ait::Tensor golden = ait::ReadTensor(argv[1]);
    const ait::Tensor my = ait::ReadTensor(argv[2]);
    const ait::PairMetrics m = ait::ComputePairMetrics({golden.dtype, golden.data, golden.numel()},
                                                       {my.dtype, my.data, my.numel()});
    nlohmann::json out = {
        {"dtype", std::string(ait::TorchName(golden.dtype))},
        {"numel", golden.numel()},
        {"cosine_similarity", m.cosine_similarity},
        {"max_absolute_error", m.max_absolute_error},
        {"mean_absolute_error", m.mean_absolute_error},
        {"max_relative_error", m.max_relative_error},
        {"golden_max", m.golden.max},
    };
    std::printf("%s\n", out.dump().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tensor_metrics: %s\n", e.what());
    return 1;
  }
  return 0;
}
