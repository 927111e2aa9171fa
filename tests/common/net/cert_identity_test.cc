// The identity a certificate carries (CN and granted client names), read
// back from certificates that certs.cc issues.
#include "common/net/cert_identity.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <string>
#include <vector>

#include "common/net/certs.h"
#include "common/net/openssl_util.h"
#include "tests/common/base/temp_dir.h"

namespace fedjets::common {
namespace {

class CertIdentityTest : public testutil::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    ASSERT_TRUE(GenerateCa(dir_, "test CA").ok());
  }

  Result<CertIdentity> IdentityOf(const std::string& node) {
    BioPtr bio(BIO_new_file((dir_ / (node + ".pem")).c_str(), "r"));
    X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)
                     : nullptr);
    if (!cert) return NotFound(node + ".pem");
    return ReadCertIdentity(cert.get());
  }
};

TEST_F(CertIdentityTest, ClientCertificateGrantsItsCnOnly) {
  ASSERT_TRUE(
      GenerateNodeCert(dir_, dir_, "site-a", CertRole::kClient, {}).ok());
  auto id = IdentityOf("site-a");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->common_name, "site-a");
  EXPECT_TRUE(id->client_names.empty());
  EXPECT_TRUE(id->Grants("site-a"));
  EXPECT_FALSE(id->Grants("site-b"));
  EXPECT_FALSE(id->Grants("site-a.0"));
  EXPECT_FALSE(id->Grants(""));
}

TEST_F(CertIdentityTest, GrantedClientNamesAreReadBackInOrder) {
  ASSERT_TRUE(GenerateClientCert(dir_, dir_, "client-1",
                                 {"client-1", "client-3", "client-5"})
                  .ok());
  auto id = IdentityOf("client-1");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->common_name, "client-1");
  EXPECT_EQ(id->client_names,
            (std::vector<std::string>{"client-1", "client-3", "client-5"}));
  EXPECT_TRUE(id->Grants("client-5"));
  EXPECT_FALSE(id->Grants("client-2"));
  EXPECT_FALSE(id->Grants("client-"));
}

TEST_F(CertIdentityTest, ARangeGrantsEveryStepAndNothingElse) {
  ASSERT_TRUE(GenerateClientCert(dir_, dir_, "client-1",
                                 {"client-{1..9999..4}", "solo"})
                  .ok());
  auto id = IdentityOf("client-1");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->client_names, std::vector<std::string>{"solo"});
  ASSERT_EQ(id->client_ranges.size(), 1u);
  EXPECT_EQ(id->client_ranges[0].ToString(), "client-{1..9999..4}");
  EXPECT_EQ(id->GrantedCount(), 1 + 2500);
  for (const char* yes : {"client-1", "client-5", "client-9997", "solo"}) {
    EXPECT_TRUE(id->Grants(yes)) << yes;
  }
  for (const char* no :
       {"client-2", "client-10001", "client-01", "client-05", "client-",
        "client-5x", "client--3", "client-+5", "Client-5", "xclient-5",
        "client-1000000000000000000000"}) {
    EXPECT_FALSE(id->Grants(no)) << no;
  }
}

TEST_F(CertIdentityTest, ARangeOfTenThousandNamesKeepsTheCertificateSmall) {
  ASSERT_TRUE(
      GenerateClientCert(dir_, dir_, "host", {"client-{0..9999}"}).ok());
  EXPECT_LT(std::filesystem::file_size(dir_ / "host.pem"), 2000u);
  auto id = IdentityOf("host");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->GrantedCount(), 10000);
  EXPECT_TRUE(id->Grants("client-0"));
  EXPECT_TRUE(id->Grants("client-9999"));
  EXPECT_FALSE(id->Grants("client-10000"));
}

TEST(ClientNameRangeTest, MalformedRangesAreNotRanges) {
  for (const std::string& bad : std::vector<std::string>{
           "c-{}", "c-{5}", "c-{5..1}", "c-{0..x}", "c-{0..9..0}",
           "c-{1..2..3..4}", "c-{0..9", "c-{-1..9}", "c{0..9}x", "a b{0..9}",
           "c-{0...9}", "c-{0..1000000000000000}",
           std::string(60, 'a') + "{0..99999}"}) {
    EXPECT_FALSE(ParseClientNameRange(bad).has_value()) << bad;
  }
  auto r = ParseClientNameRange("{3..7}");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->size(), 5);
  EXPECT_TRUE(r->Contains("3"));
  EXPECT_FALSE(r->Contains("8"));
}

TEST_F(CertIdentityTest, DnsAndIpNamesAreNotClientNames) {
  ASSERT_TRUE(GenerateNodeCert(dir_, dir_, "coordinator", CertRole::kServer,
                               {"localhost", "127.0.0.1"})
                  .ok());
  auto id = IdentityOf("coordinator");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_TRUE(id->client_names.empty());
  EXPECT_FALSE(id->Grants("localhost"));
}

TEST_F(CertIdentityTest, ANameThatCouldInjectAnEntryIsNotGranted) {
  for (const std::string& bad : std::vector<std::string>{
           "", "a,URI:fedjets-client:b", "a:b", "with space",
           std::string(65, 'a'), "c-{9..0}", "c-{0..9},URI:x", "c-{0..9..0}"}) {
    Status st = GenerateClientCert(dir_, dir_, "c", {bad});
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "c.pem")) << bad;
  }
}

TEST_F(CertIdentityTest, RunCertificatesGrantWhatEachSpecLists) {
  ASSERT_TRUE(GenerateRunCertificates(
                  dir_ / "run",
                  {{"client-0", {"client-0", "client-2"}}, {"client-1", {}}},
                  {"localhost"})
                  .ok());
  BioPtr bio(BIO_new_file((dir_ / "run" / "client-0.pem").c_str(), "r"));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(cert);
  auto id = ReadCertIdentity(cert.get());
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(id->Grants("client-2"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "run" / "client-1.pem"));
}

TEST_F(CertIdentityTest, RunCertificatesCheckEverySpecBeforeWriting) {
  Status st = GenerateRunCertificates(
      dir_ / "run", {{"client-0", {"ok"}}, {"client-1", {"not ok"}}});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("not ok"), std::string::npos) << st.message();
  EXPECT_FALSE(std::filesystem::exists(dir_ / "run"));
}

TEST_F(CertIdentityTest, CertificateWithoutCnHasNoIdentity) {
  X509Ptr cert(X509_new());
  ASSERT_TRUE(cert);
  auto id = ReadCertIdentity(cert.get());
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("no CN"), std::string::npos);
}

}  // namespace
}  // namespace fedjets::common
