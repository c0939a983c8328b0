// Subcommands of `ait llm`. Each takes the arguments after its name and returns an exit code.
#pragma once

#include <string>
#include <vector>

namespace ait::cli {

int RunCompare(const std::vector<std::string>& args);
int RunDump(const std::vector<std::string>& args);
int RunErrcheck(const std::vector<std::string>& args);
int RunOnnx(const std::vector<std::string>& args);
int RunOpcheck(const std::vector<std::string>& args);

}  // namespace ait::cli
