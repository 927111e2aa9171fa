// Over 400 lines on purpose: every behaviour of certificate issuing and of
// the mutual-TLS handshake those certificates must pass, on one fixture (a
// fresh CA per test) and one set of OpenSSL inspection helpers.
#include "common/net/certs.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>

#include "common/net/openssl_util.h"

namespace fedjets::common {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

X509Ptr LoadCert(const fs::path& p) {
  BioPtr bio(BIO_new_file(p.c_str(), "r"));
  return X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)
                     : nullptr);
}

PkeyPtr LoadKey(const fs::path& p) {
  BioPtr bio(BIO_new_file(p.c_str(), "r"));
  return PkeyPtr(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
          : nullptr);
}

// Verifies `leaf` against the single trusted `ca` for `purpose`; returns the
// X509_V_* result.
int VerifyAgainst(const fs::path& ca, const fs::path& leaf, int purpose) {
  X509Ptr ca_cert = LoadCert(ca), leaf_cert = LoadCert(leaf);
  X509StorePtr store(X509_STORE_new());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ca_cert || !leaf_cert || !store || !ctx ||
      X509_STORE_add_cert(store.get(), ca_cert.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), leaf_cert.get(), nullptr) !=
          1 ||
      X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1) {
    return -1;
  }
  X509_verify_cert(ctx.get());
  return X509_STORE_CTX_get_error(ctx.get());
}

std::set<std::string> ListDir(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    names.insert(e.path().filename());
  }
  return names;
}

// True when the error message names `path`, as every file error must.
bool MessageNames(const Status& st, const fs::path& path) {
  return st.message().find(path.string()) != std::string::npos;
}

mode_t FileMode(const fs::path& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

// TLS 1.3 endpoints configured as the coordinator (server, requires a client
// certificate) and a client would be, talking through an in-memory BIO pair.
struct TlsEnd {
  fs::path ca, cert, key;  // cert/key empty: present no certificate
};

SslCtxPtr MakeCtx(bool server, const TlsEnd& end) {
  SslCtxPtr ctx(
      SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  bool ok =
      ctx && SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) == 1 &&
      SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) == 1 &&
      SSL_CTX_load_verify_locations(ctx.get(), end.ca.c_str(), nullptr) == 1;
  if (ok && !end.cert.empty()) {
    ok = SSL_CTX_use_certificate_chain_file(ctx.get(), end.cert.c_str()) == 1 &&
         SSL_CTX_use_PrivateKey_file(ctx.get(), end.key.c_str(),
                                     SSL_FILETYPE_PEM) == 1;
  }
  EXPECT_TRUE(ok) << "cannot set up TLS context from " << end.ca;
  SSL_CTX_set_verify(ctx.get(),
                     server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                            : SSL_VERIFY_PEER,
                     nullptr);
  return ctx;
}

struct TlsOutcome {
  bool server_ok = false, client_ok = false;
  long server_verify = -1, client_verify = -1;
  int server_reason = 0;  // ERR_GET_REASON of the server's failure, if any
  std::string client_cn_seen_by_server, echoed;
};

// Runs the handshake to completion or first failure, then sends one message
// client -> server. `host` empty: the client skips host-name verification.
TlsOutcome Handshake(const TlsEnd& server_end, const TlsEnd& client_end,
                     const std::string& host) {
  SslCtxPtr sctx = MakeCtx(true, server_end), cctx = MakeCtx(false, client_end);
  SslPtr s(SSL_new(sctx.get())), c(SSL_new(cctx.get()));
  BIO *sbio = nullptr, *cbio = nullptr;
  EXPECT_EQ(BIO_new_bio_pair(&sbio, 0, &cbio, 0), 1);
  SSL_set_bio(s.get(), sbio, sbio);
  SSL_set_bio(c.get(), cbio, cbio);
  SSL_set_accept_state(s.get());
  SSL_set_connect_state(c.get());
  if (!host.empty()) {
    SSL_set_tlsext_host_name(c.get(), host.c_str());
    SSL_set1_host(c.get(), host.c_str());
  }
  TlsOutcome out;
  bool s_failed = false, c_failed = false;
  auto step = [](SSL* ssl, bool& done, bool& failed) {
    if (done || failed) return;
    int r = SSL_do_handshake(ssl);
    int e = SSL_get_error(ssl, r);
    done = r == 1;
    failed = !done && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
  };
  for (int i = 0;
       i < 50 && !s_failed && !c_failed && !(out.server_ok && out.client_ok);
       ++i) {
    step(c.get(), out.client_ok, c_failed);
    step(s.get(), out.server_ok, s_failed);
  }
  // The server steps last, so a server failure is the newest queued error.
  if (s_failed) out.server_reason = ERR_GET_REASON(ERR_peek_last_error());
  out.server_verify = SSL_get_verify_result(s.get());
  out.client_verify = SSL_get_verify_result(c.get());
  if (out.server_ok && out.client_ok) {
    if (X509* peer = SSL_get0_peer_certificate(s.get())) {
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn,
                                sizeof(cn));
      out.client_cn_seen_by_server = cn;
    }
    EXPECT_EQ(SSL_version(s.get()), TLS1_3_VERSION);
    EXPECT_EQ(SSL_write(c.get(), "ping", 4), 4);
    char buf[16] = {};
    int n = SSL_read(s.get(), buf, sizeof(buf));
    if (n > 0) out.echoed.assign(buf, n);
  }
  ERR_clear_error();  // expected failures must not leak into later tests
  return out;
}

class CertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (fs::temp_directory_path() / "certs_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  TlsEnd Server(const fs::path& d) {
    return {d / "ca.pem", d / "coordinator.pem", d / "coordinator.key"};
  }
  TlsEnd Client(const fs::path& trust, const fs::path& d,
                const std::string& n) {
    return {trust / "ca.pem", d / (n + ".pem"), d / (n + ".key")};
  }

  fs::path dir_;
};

TEST_F(CertsTest, GenerateCaWritesSelfSignedCaWithMatchingPkcs8Key) {
  ASSERT_TRUE(GenerateCa(dir_, "Test CA", /*valid_days=*/10).ok());
  X509Ptr ca = LoadCert(dir_ / "ca.pem");
  PkeyPtr key = LoadKey(dir_ / "ca.key");
  ASSERT_TRUE(ca && key);
  EXPECT_EQ(X509_check_private_key(ca.get(), key.get()), 1);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_verify(ca.get(), key.get()), 1);  // self-signed
  EXPECT_EQ(X509_get_version(ca.get()), X509_VERSION_3);
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN);
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_CRL_SIGN);
  char cn[64] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(ca.get()), NID_commonName, cn,
                            sizeof(cn));
  EXPECT_STREQ(cn, "Test CA");
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 256);
  EXPECT_TRUE(EVP_PKEY_is_a(key.get(), "EC"));
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(ca.get()),
                           X509_get0_notAfter(ca.get())),
            1);
  EXPECT_EQ(days, 10);
  EXPECT_EQ(ReadFile(dir_ / "ca.key").rfind("-----BEGIN PRIVATE KEY-----", 0),
            0u);
}

TEST_F(CertsTest, PrivateKeysAreReadableOnlyByOwner) {
  ASSERT_TRUE(GenerateRunCertificates(dir_, 1).ok());
  EXPECT_EQ(FileMode(dir_ / "ca.key"), 0600u);
  EXPECT_EQ(FileMode(dir_ / "coordinator.key"), 0600u);
  EXPECT_EQ(FileMode(dir_ / "client-0.key"), 0600u);
}

TEST_F(CertsTest, GenerateCaRefusesToOverwriteAndLeavesFilesUnchanged) {
  ASSERT_TRUE(GenerateCa(dir_, "CA").ok());
  std::string pem = ReadFile(dir_ / "ca.pem"), key = ReadFile(dir_ / "ca.key");
  Status st = GenerateCa(dir_, "CA");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(MessageNames(st, dir_ / "ca.pem"));
  EXPECT_EQ(ReadFile(dir_ / "ca.pem"), pem);
  EXPECT_EQ(ReadFile(dir_ / "ca.key"), key);
}

TEST_F(CertsTest, GenerateCaReplacesFilesWhenOverwriteIsSet) {
  ASSERT_TRUE(GenerateCa(dir_, "CA").ok());
  std::string key = ReadFile(dir_ / "ca.key");
  ASSERT_TRUE(GenerateCa(dir_, "CA", 825, /*overwrite=*/true).ok());
  EXPECT_NE(ReadFile(dir_ / "ca.key"), key);
  EXPECT_EQ(FileMode(dir_ / "ca.key"), 0600u);
}

TEST_F(CertsTest, NodeCertificateVerifiesAgainstItsCaOnly) {
  ASSERT_TRUE(GenerateCa(dir_ / "ca", "CA").ok());
  ASSERT_TRUE(GenerateCa(dir_ / "other", "Other CA").ok());
  ASSERT_TRUE(GenerateNodeCert(dir_ / "ca", dir_, "srv", CertRole::kServer,
                               {"localhost"})
                  .ok());
  EXPECT_EQ(VerifyAgainst(dir_ / "ca/ca.pem", dir_ / "srv.pem",
                          X509_PURPOSE_SSL_SERVER),
            X509_V_OK);
  EXPECT_NE(VerifyAgainst(dir_ / "other/ca.pem", dir_ / "srv.pem",
                          X509_PURPOSE_SSL_SERVER),
            X509_V_OK);
}

TEST_F(CertsTest, NodeKeyMatchesNodeCertificateAndAkidNamesTheCa) {
  ASSERT_TRUE(GenerateCa(dir_, "CA").ok());
  ASSERT_TRUE(GenerateNodeCert(dir_, dir_, "c", CertRole::kClient, {}).ok());
  X509Ptr cert = LoadCert(dir_ / "c.pem"), ca = LoadCert(dir_ / "ca.pem");
  PkeyPtr key = LoadKey(dir_ / "c.key");
  ASSERT_TRUE(cert && ca && key);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  ASSERT_NE(X509_get0_authority_key_id(cert.get()), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert.get()),
                                  X509_get0_subject_key_id(ca.get())),
            0);
}

TEST_F(CertsTest, SubjectAltNameHoldsDnsNamesAndIpAddresses) {
  ASSERT_TRUE(GenerateCa(dir_, "CA").ok());
  ASSERT_TRUE(GenerateNodeCert(dir_, dir_, "coord", CertRole::kServer,
                               {"coord.example", "10.1.2.3", "::1"})
                  .ok());
  X509Ptr cert = LoadCert(dir_ / "coord.pem");
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_host(cert.get(), "coord.example", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.1.2.3", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_NE(X509_check_host(cert.get(), "other.example", 0, 0, nullptr), 1);
}

TEST_F(CertsTest, ServerGetsServerAuthAndClientGetsClientAuth) {
  ASSERT_TRUE(GenerateRunCertificates(dir_, 1).ok());
  X509Ptr server = LoadCert(dir_ / "coordinator.pem");
  X509Ptr client = LoadCert(dir_ / "client-0.pem");
  ASSERT_TRUE(server && client);
  EXPECT_EQ(X509_get_extended_key_usage(server.get()),
            uint32_t{XKU_SSL_SERVER});
  EXPECT_EQ(X509_get_extended_key_usage(client.get()),
            uint32_t{XKU_SSL_CLIENT});
  EXPECT_EQ(VerifyAgainst(dir_ / "ca.pem", dir_ / "client-0.pem",
                          X509_PURPOSE_SSL_CLIENT),
            X509_V_OK);
  EXPECT_EQ(VerifyAgainst(dir_ / "ca.pem", dir_ / "client-0.pem",
                          X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(VerifyAgainst(dir_ / "ca.pem", dir_ / "coordinator.pem",
                          X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_INVALID_PURPOSE);
}

TEST_F(CertsTest, SerialsAreRandom128BitNumbers) {
  ASSERT_TRUE(GenerateRunCertificates(dir_, 2).ok());
  X509Ptr a = LoadCert(dir_ / "client-0.pem"),
          b = LoadCert(dir_ / "client-1.pem");
  ASSERT_TRUE(a && b);
  BnPtr sa(ASN1_INTEGER_to_BN(X509_get0_serialNumber(a.get()), nullptr));
  BnPtr sb(ASN1_INTEGER_to_BN(X509_get0_serialNumber(b.get()), nullptr));
  EXPECT_EQ(BN_num_bits(sa.get()), 128);
  EXPECT_NE(BN_cmp(sa.get(), sb.get()), 0);
}

TEST_F(CertsTest, MissingCaDirectoryGivesErrorNamingThePath) {
  Status st = GenerateNodeCert(dir_ / "nope", dir_, "c", CertRole::kClient, {});
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_TRUE(MessageNames(st, dir_ / "nope"));
  EXPECT_FALSE(fs::exists(dir_ / "c.key"));
}

TEST_F(CertsTest, MissingCaKeyGivesErrorNamingTheFile) {
  ASSERT_TRUE(GenerateCa(dir_, "CA").ok());
  fs::remove(dir_ / "ca.key");
  Status st = GenerateNodeCert(dir_, dir_, "c", CertRole::kClient, {});
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_TRUE(MessageNames(st, dir_ / "ca.key"));
}

TEST_F(CertsTest, CorruptCaCertificateGivesErrorNamingTheFile) {
  ASSERT_TRUE(GenerateCa(dir_, "CA").ok());
  std::ofstream(dir_ / "ca.pem") << "not a certificate\n";
  Status st = GenerateNodeCert(dir_, dir_, "c", CertRole::kClient, {});
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_TRUE(MessageNames(st, dir_ / "ca.pem"));
}

TEST_F(CertsTest, CaKeyFromAnotherCaIsRejected) {
  ASSERT_TRUE(GenerateCa(dir_ / "a", "A").ok());
  ASSERT_TRUE(GenerateCa(dir_ / "b", "B").ok());
  fs::copy_file(dir_ / "b/ca.key", dir_ / "a/ca.key",
                fs::copy_options::overwrite_existing);
  Status st = GenerateNodeCert(dir_ / "a", dir_, "c", CertRole::kClient, {});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageNames(st, dir_ / "a/ca.key"));
}

TEST_F(CertsTest, InvalidInputsAreRejectedBeforeWritingAnything) {
  ASSERT_TRUE(GenerateCa(dir_, "CA").ok());
  for (const char* name : {"", "../evil", "a/b", ".hidden"}) {
    EXPECT_EQ(GenerateNodeCert(dir_, dir_, name, CertRole::kClient, {}).code(),
              StatusCode::kInvalidArgument)
        << name;
  }
  EXPECT_EQ(GenerateNodeCert(dir_, dir_, "s", CertRole::kServer, {}).code(),
            StatusCode::kInvalidArgument);  // a server needs a host
  EXPECT_EQ(GenerateNodeCert(dir_, dir_, "s", CertRole::kServer,
                             {"bad host,DNS:evil"})
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(GenerateNodeCert(dir_, dir_, "c", CertRole::kClient, {}, 0).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(GenerateNodeCert(dir_, dir_, "ca", CertRole::kClient, {}, 825,
                             /*overwrite=*/true)
                .code(),
            StatusCode::kInvalidArgument);  // would clobber the CA
  EXPECT_EQ(GenerateRunCertificates(dir_ / "r", -1).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ListDir(dir_), (std::set<std::string>{"ca.key", "ca.pem"}));
}

TEST_F(CertsTest, GenerateRunCertificatesWritesExactlyTheExpectedFiles) {
  ASSERT_TRUE(GenerateRunCertificates(dir_ / "run", 3).ok());
  EXPECT_EQ(ListDir(dir_ / "run"),
            (std::set<std::string>{
                "ca.pem", "ca.key", "coordinator.pem", "coordinator.key",
                "client-0.pem", "client-0.key", "client-1.pem", "client-1.key",
                "client-2.pem", "client-2.key"}));
  X509Ptr coord = LoadCert(dir_ / "run/coordinator.pem");
  ASSERT_TRUE(coord);
  EXPECT_EQ(X509_check_host(coord.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(coord.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(coord.get(), "::1", 0), 1);
}

TEST_F(CertsTest, GenerateRunCertificatesWritesNothingIfAnyTargetExists) {
  std::ofstream(dir_ / "client-1.key") << "keep me";
  Status st = GenerateRunCertificates(dir_, 2);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(MessageNames(st, dir_ / "client-1.key"));
  EXPECT_FALSE(fs::exists(dir_ / "ca.pem"));
  EXPECT_EQ(ReadFile(dir_ / "client-1.key"), "keep me");
}

TEST_F(CertsTest, MutualTls13HandshakeSucceedsWithRunCertificates) {
  ASSERT_TRUE(GenerateRunCertificates(dir_, 1).ok());
  TlsOutcome r =
      Handshake(Server(dir_), Client(dir_, dir_, "client-0"), "localhost");
  EXPECT_TRUE(r.server_ok);
  EXPECT_TRUE(r.client_ok);
  EXPECT_EQ(r.server_verify, X509_V_OK);
  EXPECT_EQ(r.client_verify, X509_V_OK);
  EXPECT_EQ(r.client_cn_seen_by_server, "client-0");
  EXPECT_EQ(r.echoed, "ping");
}

TEST_F(CertsTest, ServerRejectsClientCertificateFromAnotherCa) {
  ASSERT_TRUE(GenerateRunCertificates(dir_ / "run", 1).ok());
  ASSERT_TRUE(GenerateRunCertificates(dir_ / "rogue", 1).ok());
  TlsOutcome r =
      Handshake(Server(dir_ / "run"),
                Client(dir_ / "run", dir_ / "rogue", "client-0"), "localhost");
  EXPECT_TRUE(r.client_ok);  // TLS 1.3: the client finishes first
  EXPECT_FALSE(r.server_ok);
  EXPECT_EQ(r.server_reason, SSL_R_CERTIFICATE_VERIFY_FAILED);
  EXPECT_EQ(r.server_verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(CertsTest, ServerRejectsClientWithoutCertificate) {
  ASSERT_TRUE(GenerateRunCertificates(dir_, 0).ok());
  TlsOutcome r =
      Handshake(Server(dir_), TlsEnd{dir_ / "ca.pem", {}, {}}, "localhost");
  EXPECT_TRUE(r.client_ok);
  EXPECT_FALSE(r.server_ok);
  EXPECT_EQ(r.server_reason, SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE);
}

TEST_F(CertsTest, ClientRejectsServerWhoseNamesDoNotCoverTheHost) {
  ASSERT_TRUE(GenerateRunCertificates(dir_, 1).ok());
  TlsOutcome r = Handshake(Server(dir_), Client(dir_, dir_, "client-0"),
                           "coordinator.example");
  EXPECT_FALSE(r.client_ok);
  EXPECT_EQ(r.client_verify, X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_F(CertsTest, ClientRejectsClientCertificatePresentedAsServer) {
  ASSERT_TRUE(GenerateRunCertificates(dir_, 2).ok());
  TlsEnd impostor{dir_ / "ca.pem", dir_ / "client-1.pem",
                  dir_ / "client-1.key"};
  TlsOutcome r = Handshake(impostor, Client(dir_, dir_, "client-0"), "");
  EXPECT_FALSE(r.client_ok);
  EXPECT_EQ(r.client_verify, X509_V_ERR_INVALID_PURPOSE);
}

}  // namespace
}  // namespace fedjets::common
