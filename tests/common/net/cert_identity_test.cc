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
  for (const std::string& bad :
       std::vector<std::string>{"", "a,URI:fedjets-client:b", "a:b",
                                "with space", std::string(65, 'a')}) {
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
