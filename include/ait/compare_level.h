// -cl/--cmp-level of `ait llm compare`: which level of the dumps a folder compare reports.
// `layer` and `token` are the original's (FORMATS.md 4.4): our pairing finds any level of a
// dump by itself, so both compare everything the pairing pairs. `module`, `api` and `logits`
// are msit's: they keep a subset of the pairs (src/compare/pairing/compare_level.cc,
// docs/COMPATIBILITY.md).
#pragma once

#include <optional>
#include <string_view>

namespace ait {

enum class CompareLevel {
  kLayer,   // everything paired (the default)
  kToken,   // everything paired (the original's token-level scenario is found by the pairing)
  kModule,  // only the torch dump's module folders (no API-mode folders)
  kApi,     // only the torch dump's API-mode folders (`{module}.{function}[.N]`)
  kLogits,  // per token, only the model's final output
};

// "layer, token, module, api, logits": the accepted names, for messages and --help.
inline constexpr std::string_view kCompareLevelNames = "layer, token, module, api, logits";

// The level of a name in kCompareLevelNames; nullopt for anything else.
std::optional<CompareLevel> ParseCompareLevel(std::string_view name);
// The name of a level ("layer", ...).
std::string_view CompareLevelName(CompareLevel level);

}  // namespace ait
