#include "common/base/log_quote.h"

#include <gtest/gtest.h>

#include <string>

namespace fedjets::common {
namespace {

TEST(QuoteForLogTest, PlainTextIsOnlyQuoted) {
  EXPECT_EQ(QuoteForLog("client-0"), R"("client-0")");
  EXPECT_EQ(QuoteForLog(""), R"("")");
}

TEST(QuoteForLogTest, EscapesControlBytesQuotesAndNonAscii) {
  EXPECT_EQ(QuoteForLog("a\nb\"c\\\x01\xff"), R"("a\nb\"c\\\x01\xff")");
  // A forged log line stays on the line it was quoted in.
  EXPECT_EQ(QuoteForLog("x\n[info] run complete").find('\n'),
            std::string::npos);
}

TEST(QuoteForLogTest, CutsLongTextAndSaysSo) {
  EXPECT_EQ(QuoteForLog("abcdef", 3), R"("abc"...)");
  EXPECT_EQ(QuoteForLog(std::string(1 << 20, 'a')).size(), 64u + 2 + 3);
}

}  // namespace
}  // namespace fedjets::common
