#include "probe/io_csv.h"

namespace ait::probe {

namespace {

std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

template <typename Field>
std::string Join(const std::vector<atb::Probe::Tensor>& tensors, Field field) {
  std::string s;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (i) s += ';';
    s += OneLine(field(tensors[i]));
  }
  return s;
}

// Num|DType|Format|Shape for one side.
std::string Describe(const std::vector<atb::Probe::Tensor>& t) {
  return std::to_string(t.size()) + "|" + Join(t, [](const auto& x) { return x.dtype; }) + "|" +
         Join(t, [](const auto& x) { return x.format; }) + "|" + Join(t, [](const auto& x) { return x.shape; });
}

}  // namespace

const std::string& IoCsvHeader() {
  static const std::string header =
      "CaseNum|CaseName|OpName|OpParam|InNum|InDType|InFormat|InShape|OutNum|OutDType|OutFormat|OutShape|"
      "DataGenType|DataGenRange|InTensorFile|OutTensorFile|TestType|TestLevel|FromModel|SocVersion|ExpectedError\n";
  return header;
}

uint64_t NextCaseNum(uint64_t lines) { return lines == 0 ? 1 : lines < 10000 ? lines : 10000; }

std::string IoCsvRow(uint64_t case_num, const std::string& op_name, const std::string& op_param,
                     const std::vector<atb::Probe::Tensor>& in, const std::vector<atb::Probe::Tensor>& out,
                     const std::string& tensor_root) {
  const std::string name = OneLine(op_name);
  auto paths = [&](const std::vector<atb::Probe::Tensor>& t) {
    return Join(t, [&](const auto& x) { return tensor_root + x.path; });
  };
  return std::to_string(case_num) + "|" + name + std::to_string(case_num) + "|" + name + "|" + OneLine(op_param) +
         "|" + Describe(in) + "|" + Describe(out) + "|customize| |" + paths(in) + "|" + paths(out) +
         "| | | | |NO_ERROR\n";
}

}  // namespace ait::probe
