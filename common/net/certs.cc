#include "common/net/certs.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>

#include "common/base/atomic_file.h"
#include "common/base/posix_error.h"

namespace fedjets::common {
namespace {

namespace fs = std::filesystem;

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

// Backdating notBefore keeps a peer whose clock lags a little from rejecting
// a certificate minted seconds ago as "not yet valid".
constexpr long kClockSkewSeconds = 5 * 60;
constexpr int kMaxValidDays = 36500;

// Drains this thread's OpenSSL error queue into `what: err1; err2`, so the
// message carries the library's reason rather than a bare "failed".
std::string WithOpenSslErrors(const std::string& what) {
  std::string out = what;
  const char* sep = ": ";
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out += sep;
    out += buf;
    sep = "; ";
  }
  return out;
}

Status OpenSslError(const std::string& what) {
  return Internal(WithOpenSslErrors(what));
}

Status CheckValidDays(int valid_days) {
  if (valid_days < 1 || valid_days > kMaxValidDays) {
    return InvalidArgument("validity of " + std::to_string(valid_days) +
                           " days is out of range; use 1.." +
                           std::to_string(kMaxValidDays));
  }
  return Status::Ok();
}

// Node names become file names, so anything that could escape out_dir or
// hide the file (path separators, "..", leading dot) is refused.
Status CheckNodeName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name.front() != '.' &&
            std::all_of(name.begin(), name.end(), [](unsigned char c) {
              return std::isalnum(c) || c == '-' || c == '_' || c == '.';
            });
  if (!ok) {
    return InvalidArgument("node name '" + name +
                           "' is not a plain file name; use 1-64 characters "
                           "from [A-Za-z0-9._-], not starting with '.'");
  }
  return Status::Ok();
}

// Where one node's (or the CA's) key and certificate live.
struct KeyCertPaths {
  fs::path key, cert;
};

KeyCertPaths NodePaths(const fs::path& dir, const std::string& name) {
  return {dir / (name + ".key"), dir / (name + ".pem")};
}

KeyCertPaths CaPaths(const fs::path& dir) {
  return {dir / kCaKeyFile, dir / kCaCertFile};
}

// Checked up front so that nothing is generated, let alone written, when the
// call would have to stop half-way.
Status RefuseExisting(const KeyCertPaths& paths) {
  for (const fs::path& path : {paths.cert, paths.key}) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(path, ec))) {
      return FailedPrecondition("refusing to overwrite existing " +
                                path.string() +
                                "; remove it or pass overwrite (--force)");
    }
  }
  return Status::Ok();
}

// Serializes `key` (PKCS#8) or `cert` into a memory BIO. Keys use a secure-
// memory BIO so the cleartext PEM is wiped when the BIO is freed.
Result<BioPtr> ToPem(EVP_PKEY* key, X509* cert) {
  BioPtr bio(BIO_new(key ? BIO_s_secmem() : BIO_s_mem()));
  if (!bio) return OpenSslError("cannot allocate PEM buffer");
  int ok = key ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0,
                                          nullptr, nullptr)
               : PEM_write_bio_X509(bio.get(), cert);
  if (ok != 1) return OpenSslError("cannot encode PEM");
  return bio;
}

std::string_view BioView(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return {data, static_cast<size_t>(len)};
}

struct KeyAndCert {
  PkeyPtr key;
  X509Ptr cert;
};

// Signs `node.cert` with `signer` and writes the pair to `paths`, key first.
// If the certificate cannot be written, a key created by this call is removed
// so that a retry is not blocked by a lone key file.
Status SignAndWrite(const KeyAndCert& node, EVP_PKEY* signer,
                    const KeyCertPaths& paths, bool overwrite) {
  if (X509_sign(node.cert.get(), signer, EVP_sha256()) <= 0) {
    return OpenSslError("cannot sign " + paths.cert.string());
  }
  Result<BioPtr> key_pem = ToPem(node.key.get(), nullptr);
  if (!key_pem.ok()) return key_pem.status().Annotate(paths.key.string());
  Result<BioPtr> cert_pem = ToPem(nullptr, node.cert.get());
  if (!cert_pem.ok()) return cert_pem.status().Annotate(paths.cert.string());
  const fs::path dir = paths.key.parent_path();
  std::error_code ec;
  if (!dir.empty()) fs::create_directories(dir, ec);
  if (ec) {
    return PosixError("cannot create directory " + dir.string(), ec.value());
  }
  FEDJETS_RETURN_IF_ERROR(
      WriteFileAtomically(paths.key, BioView(key_pem->get()),
                          {.mode = 0600, .overwrite = overwrite}));
  Status st = WriteFileAtomically(paths.cert, BioView(cert_pem->get()),
                                  {.mode = 0644, .overwrite = overwrite});
  if (!st.ok() && !overwrite) unlink(paths.key.c_str());
  return st;
}

// A fresh EC P-256 key and an unsigned X509v3 certificate for it: subject
// CN=`cn`, issuer `issuer`'s subject (or its own when null, i.e. self-signed),
// a random 128-bit serial, validity [now - skew, now + valid_days].
Result<KeyAndCert> NewKeyAndCert(const std::string& cn, int valid_days,
                                 X509* issuer) {
  KeyAndCert n{PkeyPtr(EVP_EC_gen("P-256")), X509Ptr(X509_new())};
  BnPtr serial(BN_new());
  if (!n.key || !n.cert || !serial) {
    return OpenSslError("cannot generate EC P-256 key and certificate");
  }
  X509* x = n.cert.get();
  X509_NAME* subject = X509_get_subject_name(x);
  if (X509_NAME_add_entry_by_txt(
          subject, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(cn.data()),
          static_cast<int>(cn.size()), -1, 0) != 1) {
    return InvalidArgument(WithOpenSslErrors(
        "common name '" + cn + "' is not valid (1-64 UTF-8 characters)"));
  }
  // TOP_ONE pins the high bit: exactly 128 bits and never zero.
  if (X509_set_version(x, X509_VERSION_3) != 1 ||
      BN_rand(serial.get(), 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x)) ||
      !X509_gmtime_adj(X509_getm_notBefore(x), -kClockSkewSeconds) ||
      !X509_time_adj_ex(X509_getm_notAfter(x), valid_days, 0, nullptr) ||
      X509_set_pubkey(x, n.key.get()) != 1 ||
      X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)) !=
          1) {
    return OpenSslError("cannot fill certificate fields for " + cn);
  }
  return n;
}

// Adds extensions given in openssl.cnf syntax ("critical,CA:TRUE"). `issuer`
// supplies the key identifier for authorityKeyIdentifier.
Status AddExtensions(X509* cert, X509* issuer,
                     const std::vector<std::pair<int, std::string>>& exts) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : exts) {
    ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
      return OpenSslError(std::string("cannot add extension ") +
                          OBJ_nid2sn(nid) + "=" + value);
    }
  }
  return Status::Ok();
}

// Turns hosts into a subjectAltName value ("DNS:a,IP:10.0.0.1"). Every host
// must be an address inet_pton accepts or a name from [A-Za-z0-9.*_-]; the
// check also keeps ',' and ':' out of names, so no host can inject entries.
Result<std::string> SubjectAltNames(const std::vector<std::string>& hosts) {
  std::string out;
  for (const std::string& host : hosts) {
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host.c_str(), ip) == 1 ||
                 inet_pton(AF_INET6, host.c_str(), ip) == 1;
    bool is_dns = !host.empty() &&
                  std::all_of(host.begin(), host.end(), [](unsigned char c) {
                    return std::isalnum(c) || c == '-' || c == '.' ||
                           c == '_' || c == '*';
                  });
    if (!is_ip && !is_dns) {
      return InvalidArgument("host '" + host +
                             "' is neither an IPv4/IPv6 address nor a DNS "
                             "name ([A-Za-z0-9.*_-])");
    }
    if (!out.empty()) out += ',';
    out += is_ip ? "IP:" : "DNS:";
    out += host;
  }
  return out;
}

// Reads one PEM object with `read`; a file that does not parse is DataLoss
// naming the file. Encrypted keys fail rather than prompt on the terminal.
template <typename Ptr, typename Reader>
Result<Ptr> ReadPem(const fs::path& path, Reader read, const char* what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return NotFound("CA file " + path.string() +
                    " not found; a CA directory "
                    "must hold both " +
                    kCaCertFile + " and " + kCaKeyFile);
  }
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    return PermissionDenied(WithOpenSslErrors("cannot open " + path.string()));
  }
  pem_password_cb* no_passphrase = [](char*, int, int, void*) { return -1; };
  Ptr value(read(bio.get(), nullptr, no_passphrase, nullptr));
  if (!value) {
    return DataLoss(WithOpenSslErrors(path.string() + " is not " + what));
  }
  return value;
}

Result<KeyAndCert> LoadCa(const fs::path& ca_dir) {
  std::error_code ec;
  if (!fs::is_directory(ca_dir, ec)) {
    return NotFound("CA directory " + ca_dir.string() +
                    " does not exist; create it with `fedjets-certs ca --dir " +
                    ca_dir.string() + "`");
  }
  const KeyCertPaths paths = CaPaths(ca_dir);
  Result<X509Ptr> cert =
      ReadPem<X509Ptr>(paths.cert, PEM_read_bio_X509, "a PEM certificate");
  if (!cert.ok()) return cert.status();
  Result<PkeyPtr> key = ReadPem<PkeyPtr>(paths.key, PEM_read_bio_PrivateKey,
                                         "an unencrypted PEM private key");
  if (!key.ok()) return key.status();
  KeyAndCert ca{std::move(*key), std::move(*cert)};
  if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
    return InvalidArgument(WithOpenSslErrors(
        paths.key.string() + " does not belong to " + paths.cert.string()));
  }
  if (X509_check_ca(ca.cert.get()) == 0) {
    return FailedPrecondition(paths.cert.string() + " is not a CA certificate");
  }
  if (X509_cmp_current_time(X509_get0_notAfter(ca.cert.get())) < 0) {
    return FailedPrecondition(paths.cert.string() +
                              " has expired; generate a new CA");
  }
  return ca;
}

}  // namespace

Status GenerateCa(const fs::path& dir, const std::string& common_name,
                  int valid_days, bool overwrite) {
  ERR_clear_error();  // so stale errors are not blamed on this call
  FEDJETS_RETURN_IF_ERROR(CheckValidDays(valid_days));
  if (common_name.empty() || common_name.size() > 64) {
    return InvalidArgument("CA common name must be 1-64 characters");
  }
  if (!overwrite) FEDJETS_RETURN_IF_ERROR(RefuseExisting(CaPaths(dir)));
  Result<KeyAndCert> ca = NewKeyAndCert(common_name, valid_days, nullptr);
  if (!ca.ok()) return ca.status();
  X509* x = ca->cert.get();
  // pathlen:0 because this CA signs leaf certificates only.
  FEDJETS_RETURN_IF_ERROR(
      AddExtensions(x, x,
                    {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                     {NID_key_usage, "critical,keyCertSign,cRLSign"},
                     {NID_subject_key_identifier, "hash"}}));
  return SignAndWrite(*ca, ca->key.get(), CaPaths(dir), overwrite);
}

Status GenerateNodeCert(const fs::path& ca_dir, const fs::path& out_dir,
                        const std::string& name, CertRole role,
                        const std::vector<std::string>& hosts, int valid_days,
                        bool overwrite) {
  ERR_clear_error();
  FEDJETS_RETURN_IF_ERROR(CheckValidDays(valid_days));
  FEDJETS_RETURN_IF_ERROR(CheckNodeName(name));
  if (role == CertRole::kServer && hosts.empty()) {
    return InvalidArgument("server certificate '" + name +
                           "' needs at least one host name or IP address, or "
                           "clients cannot verify it");
  }
  Result<std::string> san = SubjectAltNames(hosts);
  if (!san.ok()) return san.status();
  const KeyCertPaths paths = NodePaths(out_dir, name);
  std::error_code ec;
  if (fs::equivalent(paths.cert, CaPaths(ca_dir).cert, ec) ||
      fs::equivalent(paths.key, CaPaths(ca_dir).key, ec)) {
    return InvalidArgument("node name '" + name +
                           "' would replace the CA files in " +
                           ca_dir.string());
  }
  if (!overwrite) FEDJETS_RETURN_IF_ERROR(RefuseExisting(paths));
  Result<KeyAndCert> ca = LoadCa(ca_dir);
  if (!ca.ok()) return ca.status();
  Result<KeyAndCert> node = NewKeyAndCert(name, valid_days, ca->cert.get());
  if (!node.ok()) return node.status();
  // keyUsage is digitalSignature only: TLS 1.3 uses the leaf key just to sign.
  std::vector<std::pair<int, std::string>> exts = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage,
       role == CertRole::kServer ? "serverAuth" : "clientAuth"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"}};
  if (!san->empty()) exts.emplace_back(NID_subject_alt_name, *san);
  FEDJETS_RETURN_IF_ERROR(
      AddExtensions(node->cert.get(), ca->cert.get(), exts));
  return SignAndWrite(*node, ca->key.get(), paths, overwrite);
}

std::vector<std::string> DefaultCoordinatorHosts() {
  return {"localhost", "127.0.0.1", "::1"};
}

std::string ClientCertName(int index) {
  return "client-" + std::to_string(index);
}

Status GenerateRunCertificates(
    const fs::path& dir, int num_clients,
    const std::vector<std::string>& coordinator_hosts, bool overwrite) {
  if (num_clients < 0) {
    return InvalidArgument("number of clients must be >= 0, got " +
                           std::to_string(num_clients));
  }
  std::vector<std::string> nodes = {kCoordinatorCertName};
  for (int i = 0; i < num_clients; ++i) nodes.push_back(ClientCertName(i));
  if (!overwrite) {
    FEDJETS_RETURN_IF_ERROR(RefuseExisting(CaPaths(dir)));
    for (const std::string& node : nodes) {
      FEDJETS_RETURN_IF_ERROR(RefuseExisting(NodePaths(dir, node)));
    }
  }
  FEDJETS_RETURN_IF_ERROR(
      GenerateCa(dir, "fedjets run CA", /*valid_days=*/825, overwrite));
  for (const std::string& node : nodes) {
    bool server = node == kCoordinatorCertName;
    FEDJETS_RETURN_IF_ERROR(GenerateNodeCert(
        dir, dir, node, server ? CertRole::kServer : CertRole::kClient,
        server ? coordinator_hosts : std::vector<std::string>{},
        /*valid_days=*/825, overwrite));
  }
  return Status::Ok();
}

}  // namespace fedjets::common
