#include <gtest/gtest.h>

#include "cli/args.h"

namespace ait::cli {
namespace {

TEST(NormalizeArgs, ExpandsShortFormsAndUniqueLongPrefixes) {
  std::vector<OptionAlias> aliases = {{"-gp", "--golden-path"}, {"-mp", "--my-path"}, {"-o", "--output"}};
  std::vector<std::string> longs = {"--golden-path", "--my-path", "--output", "--op-mapping-file"};
  EXPECT_EQ(NormalizeArgs({"-gp", "a", "-mp=b", "--outp", "c", "--golden=d"}, aliases, longs),
            (std::vector<std::string>{"--golden-path", "a", "--my-path=b", "--output", "c", "--golden-path=d"}));
  // "--o" is ambiguous (output, op-mapping-file): left for the parser to reject.
  EXPECT_EQ(NormalizeArgs({"--o", "x"}, aliases, longs), (std::vector<std::string>{"--o", "x"}));
  // Values that look like options after "--" stay as they are.
  EXPECT_EQ(NormalizeArgs({"--", "-gp"}, aliases, longs), (std::vector<std::string>{"--", "-gp"}));
}

}  // namespace
}  // namespace ait::cli
