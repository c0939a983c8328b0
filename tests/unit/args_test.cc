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

TEST(ParseArgs, CompleteRequestListsTheOptionsInsteadOfRunning) {
  CLI::App app("test");
  std::string golden;
  int threads = 0;
  app.add_option("--golden-path", golden)->required();
  app.add_option("-t,--threads", threads);
  const std::vector<OptionAlias> aliases = {{"-gp", "--golden-path"}};
  EXPECT_EQ(CompletionWords(app, aliases),
            (std::vector<std::string>{"--help", "-h", "-gp", "--golden-path", "--threads", "-t"}));
  // The required option is not enforced: nothing is parsed, the command does not run.
  testing::internal::CaptureStdout();
  EXPECT_EQ(ParseArgs(app, {kCompleteRequest}, aliases), kExitOk);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "--help\n-h\n-gp\n--golden-path\n--threads\n-t\n");
  // Anywhere else the word is an ordinary argument.
  EXPECT_EQ(ParseArgs(app, {"--golden-path", kCompleteRequest}, aliases), -1);
  EXPECT_EQ(golden, kCompleteRequest);
}

}  // namespace
}  // namespace ait::cli
