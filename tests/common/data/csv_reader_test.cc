#include "common/data/csv_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/common/data/csv_test_util.h"

namespace fedjets::common {
namespace {

using Fields = std::vector<std::string>;

std::vector<CsvRecord> ReadAll(const std::string& text) {
  CsvReader r = CsvReader::FromString(text, "t.csv");
  std::vector<CsvRecord> out;
  CsvRecord rec;
  for (;;) {
    auto more = r.Next(&rec);
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) break;
    out.push_back(rec);
  }
  return out;
}

TEST(CsvReaderTest, SplitsFieldsAndTrimsUnquotedSpaces) {
  auto recs = ReadAll("a, b ,c\n1,2,3\n");
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].fields, (Fields{"a", "b", "c"}));
  EXPECT_EQ(recs[1].fields, (Fields{"1", "2", "3"}));
  EXPECT_EQ(recs[1].line, 2);
}

TEST(CsvReaderTest, QuotedFieldsHoldCommasDoubledQuotesAndNewlines) {
  auto recs = ReadAll("\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\nnext,1,2\n");
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].fields, (Fields{"x,y", "say \"hi\"", "two\nlines"}));
  EXPECT_EQ(recs[1].line, 3);  // the quoted newline counts as a line
}

TEST(CsvReaderTest, CrLfAndMissingFinalNewlineAreHandled) {
  auto recs = ReadAll("a,b\r\n1,2\r\n3,4");
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[1].fields, (Fields{"1", "2"}));
  EXPECT_EQ(recs[2].fields, (Fields{"3", "4"}));
  EXPECT_EQ(recs[2].line, 3);
}

TEST(CsvReaderTest, BlankLinesAreSkippedButKeepLineNumbers) {
  auto recs = ReadAll("a\n\n\nb\n");
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1].line, 4);
}

TEST(CsvReaderTest, ByteOrderMarkIsIgnored) {
  auto recs = ReadAll("\xEF\xBB\xBFname,label\n");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].fields[0], "name");
}

TEST(CsvReaderTest, EmptyTrailingFieldIsAField) {
  auto recs = ReadAll("a,b,\n");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].fields, (Fields{"a", "b", ""}));
}

TEST(CsvReaderTest, UnterminatedQuoteNamesFileAndLine) {
  CsvReader r = CsvReader::FromString("a,b\n1,\"oops\n2,3\n", "bad.csv");
  CsvRecord rec;
  ASSERT_TRUE(r.Next(&rec).ok());
  auto st = r.Next(&rec);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("bad.csv, line 2"), std::string::npos)
      << st.status().message();
  EXPECT_NE(st.status().message().find("never closes"), std::string::npos);
}

TEST(CsvReaderTest, TextAfterClosingQuoteIsAnError) {
  CsvReader r = CsvReader::FromString("\"a\"b,c\n", "bad.csv");
  CsvRecord rec;
  auto st = r.Next(&rec);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("bad.csv, line 1, column 1"),
            std::string::npos)
      << st.status().message();
}

TEST(ParseCsvNumberTest, AcceptsDecimalsExponentsAndPlusRejectsTheRest) {
  EXPECT_EQ(ParseCsvNumber("3.5"), 3.5);
  EXPECT_EQ(ParseCsvNumber("+2"), 2.0);
  EXPECT_EQ(ParseCsvNumber("-1e3"), -1000.0);
  for (const char* bad :
       {"", "+", "NA", "nan", "inf", "-inf", "1,5", "1.5x", " 1", "0x10"}) {
    EXPECT_FALSE(ParseCsvNumber(bad).has_value()) << bad;
  }
}

class CsvReaderFileTest : public TempDirTest {};

TEST_F(CsvReaderFileTest, MissingFileIsNotFound) {
  auto r = CsvReader::Open(Path("nope.csv"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("nope.csv"), std::string::npos);
}

TEST_F(CsvReaderFileTest, DirectoryIsRejected) {
  auto r = CsvReader::Open(dir_.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedjets::common
