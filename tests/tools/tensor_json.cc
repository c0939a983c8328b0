// Test tool: prints every tensor of a file as JSON ({"name": {"dtype", "shape",
// "values"}}) using the toolkit's readers, so Python tests can check them against
// numpy/torch. Exit 1 with the reader's message on error.
#include <cmath>
#include <cstdio>
#include <vector>

#include "ait/convert.h"
#include "ait/tensor_io.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: ait_tensor_json FILE\n");
    return 2;
  }
  try {
    ait::NamedTensors all = ait::ReadTensors(argv[1]);
    std::string out = "{";
    for (size_t k = 0; k < all.size(); ++k) {
      const auto& [name, t] = all[k];
      out += fmt::format("{}\"{}\": {{\"dtype\": \"{}\", \"shape\": [", k ? ", " : "", name, ait::ShortName(t.dtype));
      for (size_t i = 0; i < t.shape.size(); ++i) out += fmt::format("{}{}", i ? ", " : "", t.shape[i]);
      out += "], \"has_data\": ";
      out += t.has_data ? "true" : "false";
      out += ", \"values\": [";
      if (t.has_data && ait::IsConvertible(t.dtype)) {
        std::vector<double> v(static_cast<size_t>(t.numel()));
        ait::ConvertToFloat64(t.dtype, t.data, v.size(), v.data());
        for (size_t i = 0; i < v.size(); ++i) {
          if (std::isnan(v[i])) out += i ? ", NaN" : "NaN";
          else if (std::isinf(v[i])) out += fmt::format("{}{}Infinity", i ? ", " : "", v[i] < 0 ? "-" : "");
          else out += fmt::format("{}{}", i ? ", " : "", v[i]);
        }
      }
      out += "]}";
    }
    out += "}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  } catch (const ait::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
