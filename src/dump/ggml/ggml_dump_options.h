// The configuration of a ggml dump (include/ait/ggml_dump.h): a JSON object from the caller,
// over the ATB_* variables `ait llm dump` sets, over the dump's defaults. No ggml here, so the
// fuzz build reaches it (tests/fuzz/fuzz_ggml_dump_options.cc).
#pragma once

#include <string>
#include <vector>

#include "ait_engine/perturb.h"
#include "probe/config.h"

namespace ait::ggml_dump {

struct DumperOptions {
  probe::Config config;
  std::vector<std::string> node_filter;  // globs over node names; empty = every node
  std::vector<engine::Perturbation> perturb;
  std::string device = "0";
};

// The options of a JSON configuration (include/ait/ggml_dump.h), keys left out taken from
// `env`. Throws ait::Error naming the bad key or value.
DumperOptions ParseOptions(const std::string& json_text, const probe::EnvLookup& env, const std::string& cwd);

}  // namespace ait::ggml_dump
