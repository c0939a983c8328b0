// The GE graph text torchair writes (`dynamo_original_graph_*.txt`, FORMATS.md 9.3): protobuf
// text format of ge.proto.GraphDef, read with protobuf's own TextFormat parser over
// src/formats/proto/ge_ir.proto. Only what the GE pairing strategies use is kept.
#pragma once

#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

namespace ait {

struct GeGraphOp {
  std::string name, type;
  // Producer operator of each data input, in input order (`input: "Add_2:0"` gives "Add_2");
  // control edges (output index -1) carry no tensor and are left out.
  std::vector<std::string> inputs;
  // Per output_desc, in order: its `_fx_tensor_name` attribute
  // (`add_1-aten.add.Tensor.OUTPUT.0`), "" where it has none.
  std::vector<std::string> fx_tensor_names;
};

struct GeGraph {
  std::vector<GeGraphOp> ops;  // in file order
  std::unordered_map<std::string, size_t> index;  // name -> ops[]
  std::vector<std::filesystem::path> files;        // the graph texts read
  size_t repeated_names = 0;  // operators named again in a later file (the first kept)

  const GeGraphOp* Find(const std::string& name) const {
    auto it = index.find(name);
    return it == index.end() ? nullptr : &ops[it->second];
  }
};

// Whether `filename` is a GE graph text: `dynamo_original_graph_*.txt`.
bool IsGeGraphFileName(const std::string& filename);

// Reads one graph text (a GraphDef, or a ModelDef holding graphs) into `graph`, adding its
// operators. Fields that this project's ge_ir.proto lacks are skipped. Throws ait::Error
// naming the file, line and column of a syntax error.
void ReadGeGraph(const std::filesystem::path& file, GeGraph& graph);

}  // namespace ait
