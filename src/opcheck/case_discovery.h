// Which operations opcheck checks (FORMATS §8.1): the operation folders of an ATB dump that hold
// an after/ folder and an op_param.json, or the rows of an operation_tensors_{n}.csv with their
// tensors found in the dump; filtered by -ids and -opname.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ait::opcheck {

// One operation to check.
struct CaseSpec {
  std::string token;                  // token folder name
  std::string op_id;                  // "1_3"
  std::string op_type;                // "LinearOperation" (the folder name after its id)
  std::filesystem::path case_dir;     // .../1_LlamaLayer/3_LinearOperation
  std::filesystem::path tensor_dir;   // case_dir/after
  nlohmann::json param;               // the parsed param (an object), when param_error is empty
  std::string param_text;             // the param as found (op_param.json's text, the CSV cell)
  std::string param_error;            // why the param could not be read ("" when it was)
};

struct Discovery {
  std::filesystem::path base;     // the token folder, or the {dev}_{pid} folder for every token
  std::vector<CaseSpec> cases;    // token order, then execution order (numeric ids)
  size_t graphs = 0;              // graph operations (their nodes are the cases)
  size_t without_after = 0;       // operation folders with op_param.json but no after/
  size_t without_param = 0;       // operation folders with after/ but no op_param.json
};

// -ids and -opname (FORMATS §8.1 item 5): ids match themselves and their descendants, names are
// case-insensitive substrings of the type; both given: both must match.
struct CaseFilter {
  std::vector<std::string> ids, names;
  bool Matches(std::string_view op_id, std::string_view op_type) const;
};
// "24_1, 2_3_5" -> {"24_1", "2_3_5"}; throws ait::Error naming -ids for an id that is not
// digits joined by '_'.
std::vector<std::string> ParseIdList(const std::vector<std::string>& raw);

// The operations under `input` (any folder of an ATB dump from ait_dump/ down to one operation).
// Throws ait::Error when `input` is not a folder of an ATB tensor dump.
Discovery DiscoverCases(const std::filesystem::path& input, const CaseFilter& filter);

// The operations of an operation_tensors_{n}.csv, their tensors under `input` (a token folder,
// or a folder above it: token n of the file name is used). Throws ait::Error naming the file for
// an unreadable or malformed CSV; a row whose operation folder is missing is a case whose
// tensor_dir does not exist (reported as FAILED with the reason).
Discovery CasesFromOperationCsv(const std::filesystem::path& csv, const std::filesystem::path& input,
                                const CaseFilter& filter);

// The case of one operation folder: when `dir` holds after/ and op_param.json and is not a graph
// (its op id from the token folder above it, "" when there is none); nullopt otherwise.
std::optional<CaseSpec> CaseAt(const std::filesystem::path& dir);

// Parses an operation CSV's text: (OpName, OpParam) per row. Throws ait::Error naming `where`.
struct CsvOperation {
  std::string name, param;
};
std::vector<CsvOperation> ParseOperationCsv(std::string_view text, std::string_view where);

// Parses op_param.json's text into `spec` (param, param_text, param_error).
void ReadParamText(CaseSpec& spec, std::string text);

}  // namespace ait::opcheck
