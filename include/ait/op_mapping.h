// Op-type mapping tables that pair ATB operations with torch modules (FORMATS.md 7.5):
// the built-ins, extended or overridden by a user's op_mapping_file.json.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ait {

struct OpMapping {
  // Exact type matches between leaf operations: ATB type -> torch module type.
  std::vector<std::pair<std::string, std::string>> exact;
  // Substring matches over all nodes: ATB key (may carry `_<atb tensor file>`) -> torch
  // values (may carry `_<torch file>`). User entries land here, as in the original.
  std::vector<std::pair<std::string, std::vector<std::string>>> custom;
};

OpMapping BuiltinOpMapping();

// Built-ins overlaid with the user's file. `path` is the JSON file itself or a folder that
// holds `op_mapping_file.json`. Values may be a string or a list of strings; every key and
// value must match [A-Za-z0-9_]*. Throws ait::Error naming the file and the bad entry.
OpMapping LoadOpMapping(const std::string& path);

}  // namespace ait
