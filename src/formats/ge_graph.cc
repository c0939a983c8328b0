// GE graph text (FORMATS.md 9.3) through protobuf's TextFormat parser: unlike the original's
// line splitter, quoting, escapes, nesting and field order are protobuf's own rules.
#include "formats/ge_graph.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include "ait/error.h"
#include "ait/mapped_file.h"
#include "formats/proto/ge_ir.pb.h"

namespace ait {
namespace {

namespace fs = std::filesystem;
constexpr size_t kMaxGraphBytes = size_t{2} << 30;  // protobuf's parser takes an int-sized text
constexpr const char kFxTensorName[] = "_fx_tensor_name";

class CollectErrors final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    if (first.empty()) first = fmt::format("line {}, column {}: {}", line + 1, column + 1, message);
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  std::string first;
};

bool Parse(const std::string& text, google::protobuf::Message* message, std::string* error) {
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors;
  parser.RecordErrorsTo(&errors);
  parser.AllowUnknownField(true);  // a newer GE prints fields ge_ir.proto lacks
  parser.AllowUnknownExtension(true);
  const bool ok = parser.ParseFromString(text, message);
  if (!ok) *error = errors.first.empty() ? "not protobuf text format" : errors.first;
  return ok;
}

void AddGraph(const ge::proto::GraphDef& g, GeGraph& graph) {
  for (const ge::proto::OpDef& op : g.op()) {
    GeGraphOp out{op.name(), op.type(), {}, {}};
    for (const std::string& input : op.input()) {
      const size_t colon = input.rfind(':');
      if (colon != std::string::npos && input.compare(colon + 1, std::string::npos, "-1") == 0) continue;
      out.inputs.push_back(colon == std::string::npos ? input : input.substr(0, colon));
    }
    for (const ge::proto::TensorDescriptor& desc : op.output_desc()) {
      auto it = desc.attr().find(kFxTensorName);
      out.fx_tensor_names.push_back(it != desc.attr().end() && it->second.value_case() == ge::proto::AttrDef::kS
                                        ? it->second.s()
                                        : "");
    }
    if (graph.index.emplace(out.name, graph.ops.size()).second) graph.ops.push_back(std::move(out));
    else ++graph.repeated_names;
  }
}

}  // namespace

bool IsGeGraphFileName(const std::string& filename) {
  return filename.starts_with("dynamo_original_graph_") && filename.ends_with(".txt");
}

void ReadGeGraph(const fs::path& file, GeGraph& graph) {
  const std::string path = file.string();
  auto mapped = MappedFile::Open(path);
  if (mapped->size() > kMaxGraphBytes) Fail(path, "{} bytes: larger than a GE graph text can be read", mapped->size());
  const std::string text(reinterpret_cast<const char*>(mapped->data()), mapped->size());
  ge::proto::GraphDef g;
  std::string error;
  const bool parsed = Parse(text, &g, &error);
  if (parsed && g.op_size() > 0) {
    AddGraph(g, graph);
  } else {
    // Some GE versions print the model around the graphs (`graph { ... }`), which a GraphDef
    // reading skips as an unknown field.
    ge::proto::ModelDef model;
    std::string model_error;
    if (!Parse(text, &model, &model_error) || model.graph_size() == 0) {
      if (parsed) Fail(path, "a GE graph text without operators (no op block, at the top or in a graph block)");
      Fail(path, "not a GE graph text (protobuf text format of ge.proto.GraphDef): {}", error);
    }
    for (const ge::proto::GraphDef& each : model.graph()) AddGraph(each, graph);
  }
  graph.files.push_back(file);
}

}  // namespace ait
