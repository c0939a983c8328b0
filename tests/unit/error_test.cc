// Messages quote bytes from files: PrintableText escapes what a terminal would act on (and
// what Python cannot decode), Error and LogLine apply it, Excerpt bounds what is quoted.
#include <gtest/gtest.h>

#include "ait/error.h"
#include "ait/log.h"

namespace ait {
namespace {

using namespace std::string_literals;

TEST(PrintableText, KeepsPrintableAsciiAndValidUtf8) {
  EXPECT_EQ(PrintableText("layers.0.mlp: 'x' = \"y\" \\ ~"), "layers.0.mlp: 'x' = \"y\" \\ ~");
  EXPECT_EQ(PrintableText("\xe5\xb1\x82 caf\xc3\xa9 \xf0\x9f\x99\x82"), "\xe5\xb1\x82 caf\xc3\xa9 \xf0\x9f\x99\x82");
  EXPECT_EQ(PrintableText(""), "");
}

TEST(PrintableText, EscapesControlBytesAndNeverStopsAtNul) {
  EXPECT_EQ(PrintableText("\x1b[2Jred\x00tail\x07\n\t\r\x7f"s), "\\x1b[2Jred\\x00tail\\x07\\x0a\\x09\\x0d\\x7f");
  EXPECT_EQ(PrintableText("\x00\x00"s), "\\x00\\x00");
  // C1 controls are valid UTF-8 but act like ESC sequences on some terminals (U+009B is CSI).
  EXPECT_EQ(PrintableText("a\xc2\x9b" "31mb\xc2\x85"), "a\\xc2\\x9b31mb\\xc2\\x85");
  EXPECT_EQ(PrintableText("\xc2\xa0"), "\xc2\xa0");  // U+00A0, the first character after them, is kept
}

TEST(PrintableText, EscapesEveryByteThatIsNotValidUtf8) {
  EXPECT_EQ(PrintableText("a\xff\xfe" "b"), "a\\xff\\xfeb");
  EXPECT_EQ(PrintableText("\x80x"), "\\x80x");                    // a lone continuation byte
  EXPECT_EQ(PrintableText("\xc0\x80"), "\\xc0\\x80");              // overlong NUL
  EXPECT_EQ(PrintableText("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");     // overlong '/'
  EXPECT_EQ(PrintableText("\xed\xa0\x80"), "\\xed\\xa0\\x80");     // a surrogate
  EXPECT_EQ(PrintableText("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(PrintableText("x\xe5\xb1"), "x\\xe5\\xb1");            // cut short at the end
  EXPECT_EQ(PrintableText("\xe5\xb1(\xe5\xb1\x82"), "\\xe5\\xb1(\xe5\xb1\x82");  // cut short, then whole
}

TEST(PrintableText, IsAFixedPoint) {
  const std::string once = PrintableText("\x1b\x00\xff\xe5\xb1\x82\xc2\x9b"s);
  EXPECT_EQ(PrintableText(once), once);
}

TEST(Excerpt, CutsLongTextAtACharacterBoundary) {
  EXPECT_EQ(Excerpt("short", 5), "short");
  EXPECT_EQ(Excerpt("abcdef", 4), "abcd...");
  EXPECT_EQ(Excerpt("ab\xe5\xb1\x82" "cd", 3), "ab...");  // not inside the 3-byte character
  EXPECT_EQ(Excerpt("ab\xe5\xb1\x82" "cd", 5), "ab\xe5\xb1\x82...");
}

TEST(Error, MessageIsPrintableAndWhole) {
  const Error e("f.bin: header line '\x1b[31m\x00\xff' has no '='"s);
  EXPECT_EQ(std::string(e.what()), "f.bin: header line '\\x1b[31m\\x00\\xff' has no '='");
  try {
    Fail("f.bin", "found '{}'", "a\x00z"s);
    FAIL() << "Fail returned";
  } catch (const Error& thrown) {
    EXPECT_EQ(std::string(thrown.what()), "f.bin: found 'a\\x00z'");
  }
}

TEST(LogLine, EscapesEachLineAndKeepsTheLineBreaks) {
  ::testing::internal::CaptureStderr();
  LogLine(LogLevel::kError, "bad \x1b]0;title\x07 name\nsecond \x00line"s);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "[error] bad \\x1b]0;title\\x07 name\nsecond \\x00line\n");
}

}  // namespace
}  // namespace ait
