// The identity rules of admission: a name must be granted by the
// certificate, the allow-list file is parsed strictly and admits names and
// anchors, and one claim holds each name.
#include "coordinator/identity.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/common/base/temp_dir.h"

namespace fedjets::coordinator {
namespace {

using common::StatusCode;

TEST(CheckNameMatchesCertificateTest, AcceptsTheCnAndGrantedNamesOnly) {
  common::CertIdentity cert{"client-1", {"client-1", "client-3"}, {}};
  EXPECT_TRUE(CheckNameMatchesCertificate("client-1", cert).ok());
  EXPECT_TRUE(CheckNameMatchesCertificate("client-3", cert).ok());
  common::Status st = CheckNameMatchesCertificate("client-0", cert);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("Hello names client 'client-0', but the "
                              "certificate it connected with (CN "
                              "\"client-1\") grants its CN and 2 other"),
            std::string::npos)
      << st.message();
}

TEST(CheckNameMatchesCertificateTest, ARangeGrantCountsEveryNameItCovers) {
  common::CertIdentity cert{"client-0", {}, {{"client-", 0, 9998, 2}}};
  EXPECT_TRUE(CheckNameMatchesCertificate("client-9998", cert).ok());
  common::Status st = CheckNameMatchesCertificate("client-9999", cert);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("grants its CN and 5000 other client names"),
            std::string::npos)
      << st.message();
}

TEST(CheckNameMatchesCertificateTest, APrefixOfTheCnIsSomeoneElse) {
  common::CertIdentity cert{"client-1", {}, {}};
  for (const char* name : {"client-10", "client-1.x", "client-", "client"}) {
    EXPECT_EQ(CheckNameMatchesCertificate(name, cert).code(),
              StatusCode::kPermissionDenied)
        << name;
  }
}

TEST(AllowListTest, ParsesNamesAnchorsCommentsAndBlankLines) {
  auto list = AllowList::Parse(
      "# site list\n"
      "\n"
      "client-0 0   # anchor of expert 0\n"
      "\tclient-1\t1\r\n"
      "client-7\n",
      "sites.txt");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->size(), 3u);
  EXPECT_TRUE(list->Admits("client-0", 0, /*num_experts=*/2).ok());
  EXPECT_TRUE(list->Admits("client-1", 1, 2).ok());
  EXPECT_TRUE(list->Admits("client-7", -1, 2).ok());
  EXPECT_TRUE(list->CheckAnchors(2).ok());
}

TEST(AllowListTest, RefusesUnlistedNamesAndOtherAnchors) {
  auto list = AllowList::Parse("client-0 0\nclient-7\n", "sites.txt");
  ASSERT_TRUE(list.ok());
  common::Status st = list->Admits("client-9", -1, 2);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(st.message(),
            "client 'client-9' is not on the allow-list sites.txt");
  st = list->Admits("client-0", 1, 2);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(st.message(),
            "client 'client-0' declares anchor expert 1, but the allow-list "
            "sites.txt:1 gives it anchor expert 0");
  EXPECT_EQ(list->Admits("client-0", -1, 2).code(),
            StatusCode::kPermissionDenied);
  st = list->Admits("client-7", 0, 2);
  EXPECT_EQ(st.message(),
            "client 'client-7' declares anchor expert 0, but the allow-list "
            "sites.txt:2 gives it no anchor");
  // Without experts (FedAvg) anchors mean nothing and are not compared.
  EXPECT_TRUE(list->Admits("client-7", 0, /*num_experts=*/0).ok());
}

TEST(AllowListTest, EveryMalformedLineIsAnErrorNamingFileAndLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"ok\nbad name here\n", "f:2: 3 fields"},
      {"ok\nna\xffme\n", "f:2: \"na\\xffme\" is not a client name"},
      {"a -1\n", "f:1: anchor \"-1\" of client 'a' is not an expert index"},
      {"a 1x\n", "f:1: anchor \"1x\" of client 'a'"},
      {"a 99999999999\n", "f:1: anchor \"99999999999\""},
      {"a\n\nb\na 1\n", "f:4: client 'a' is listed again (first on line 1)"},
      {"# nobody\n\n", "allow-list f lists no client"},
      {"", "allow-list f lists no client"},
  };
  for (const auto& [text, want] : cases) {
    auto list = AllowList::Parse(text, "f");
    ASSERT_FALSE(list.ok()) << text;
    EXPECT_EQ(list.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(list.status().message().find(want), std::string::npos)
        << list.status().message();
  }
}

TEST(AllowListTest, AnchorsMustBeExpertsOfTheRun) {
  auto list = AllowList::Parse("a 0\nb 4\n", "f");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->CheckAnchors(5).ok());
  common::Status st = list->CheckAnchors(4);
  EXPECT_EQ(st.message(),
            "allow-list f:2: client 'b' is the anchor of expert 4, but this "
            "run has 4 experts (0..3)");
  EXPECT_NE(list->CheckAnchors(0).message().find("this run has no experts"),
            std::string::npos);
  EXPECT_TRUE(AllowList::Parse("a\n", "f")->CheckAnchors(0).ok());
}

class AllowListFileTest : public testutil::TempDirTest {};

TEST_F(AllowListFileTest, LoadNamesTheFileInErrors) {
  const auto path = (dir_ / "allow.txt").string();
  std::ofstream(path) << "client-0\nclient-0\n";
  auto list = AllowList::Load(path);
  ASSERT_FALSE(list.ok());
  EXPECT_NE(list.status().message().find(path + ":2:"), std::string::npos)
      << list.status().message();
  auto missing = AllowList::Load((dir_ / "none.txt").string());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("none.txt"), std::string::npos);
}

TEST(NameClaimsTest, OneClaimPerNameUntilReleased) {
  NameClaims names;
  auto first = names.TryClaim("client-0");
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(names.TryClaim("client-0").has_value());
  EXPECT_TRUE(names.TryClaim("client-1").has_value());  // released at once
  EXPECT_FALSE(names.Held("client-1"));
  NameClaims::Claim moved = std::move(*first);
  first.reset();
  EXPECT_TRUE(names.Held("client-0"));
  moved.Release();
  EXPECT_FALSE(names.Held("client-0"));
  EXPECT_TRUE(names.TryClaim("client-0").has_value());
}

}  // namespace
}  // namespace fedjets::coordinator
