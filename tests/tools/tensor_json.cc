// Test tool: prints every tensor of a file as JSON ({"name": {"dtype", "shape",
// "has_data", "values"}}) using the toolkit's readers, so Python tests can check them
// against numpy/torch. NaN and infinities are printed as NaN/Infinity (Python's json reads
// them). Exit 1 with the reader's message on error.
#include <cmath>
#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "ait/convert.h"
#include "ait/tensor_io.h"

namespace {

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v < 0 ? "-Infinity" : "Infinity";
  return fmt::format("{}", v);
}

}  // namespace

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
      nlohmann::json desc = {{"dtype", ait::ShortName(t.dtype)}, {"shape", t.shape}, {"has_data", t.has_data}};
      std::string d = desc.dump();
      d.pop_back();  // reopen the object to append the values array
      out += fmt::format("{}{}: {}, \"values\": [", k ? ", " : "", nlohmann::json(name).dump(), d);
      if (t.has_data && ait::IsConvertible(t.dtype)) {
        std::vector<double> v(static_cast<size_t>(t.numel()));
        ait::ConvertToFloat64(t.dtype, t.data, v.size(), v.data());
        for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + Number(v[i]);
      }
      out += "]}";
    }
    out += "}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  } catch (const std::exception& e) {  // ait::Error, or a name JSON cannot encode
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
