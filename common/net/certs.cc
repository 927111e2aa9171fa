#include "common/net/certs.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <utility>

#include "common/net/cert_files.h"
#include "common/net/cert_identity.h"
#include "common/net/openssl_util.h"

namespace fedjets::common {
namespace {

namespace fs = std::filesystem;
using cert_files::CaPaths;
using cert_files::KeyAndCert;
using cert_files::KeyCertPaths;
using cert_files::NodePaths;
using cert_files::RefuseExisting;

// Backdating notBefore keeps a peer whose clock lags a little from rejecting
// a certificate minted seconds ago as "not yet valid".
constexpr long kClockSkewSeconds = 5 * 60;
constexpr int kMaxValidDays = 36500;

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

// Signs `node.cert` with `signer` and writes the pair to `paths`, key first.
Status SignAndWrite(const KeyAndCert& node, EVP_PKEY* signer,
                    const KeyCertPaths& paths, bool overwrite) {
  if (X509_sign(node.cert.get(), signer, EVP_sha256()) <= 0) {
    return OpenSslError("cannot sign " + paths.cert.string());
  }
  return cert_files::WriteKeyAndCert(node, paths, overwrite);
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
    X509ExtensionPtr ext(
        X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
      return OpenSslError(std::string("cannot add extension ") +
                          OBJ_nid2sn(nid) + "=" + value);
    }
  }
  return Status::Ok();
}

// Turns hosts and granted client names into a subjectAltName value
// ("DNS:a,IP:10.0.0.1,URI:fedjets-client:c-1,URI:fedjets-client:c-{2..9..1}").
// Every host must be an address inet_pton accepts or a name from
// [A-Za-z0-9.*_-], every client name 1-64 bytes of [A-Za-z0-9._-] or a
// range ParseClientNameRange accepts (written back in its canonical form);
// the checks also keep ',' and ':' out of grants, so no entry can inject
// another.
Result<std::string> SubjectAltNames(
    const std::vector<std::string>& hosts,
    const std::vector<std::string>& client_names) {
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
  for (const std::string& name : client_names) {
    std::string grant = name;
    if (name.find('{') != std::string::npos) {
      std::optional<ClientNameRange> range = ParseClientNameRange(name);
      if (!range) {
        return InvalidArgument(
            "client name range '" + name +
            "' to grant is not PREFIX{FIRST..LAST} or "
            "PREFIX{FIRST..LAST..STEP} (PREFIX from [A-Za-z0-9._-], 0 <= "
            "FIRST <= LAST < 10^15, STEP >= 1, names at most 64 "
            "characters)");
      }
      grant = range->ToString();
    } else {
      const bool ok = !name.empty() && name.size() <= 64 &&
                      std::all_of(name.begin(), name.end(), IsClientNameByte);
      if (!ok) {
        return InvalidArgument("client name '" + name +
                               "' to grant is not 1-64 characters from "
                               "[A-Za-z0-9._-]");
      }
    }
    if (!out.empty()) out += ',';
    out += "URI:";
    out += kClientNameUriPrefix;
    out += grant;
  }
  return out;
}

// GenerateNodeCert, plus subjectAltName URIs granting `client_names`.
Status GenerateNode(const fs::path& ca_dir, const fs::path& out_dir,
                    const std::string& name, CertRole role,
                    const std::vector<std::string>& hosts,
                    const std::vector<std::string>& client_names,
                    int valid_days, bool overwrite) {
  ERR_clear_error();
  FEDJETS_RETURN_IF_ERROR(CheckValidDays(valid_days));
  FEDJETS_RETURN_IF_ERROR(CheckNodeName(name));
  if (role == CertRole::kServer && hosts.empty()) {
    return InvalidArgument("server certificate '" + name +
                           "' needs at least one host name or IP address, or "
                           "clients cannot verify it");
  }
  Result<std::string> san = SubjectAltNames(hosts, client_names);
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
  Result<KeyAndCert> ca = cert_files::LoadCa(ca_dir);
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
  return GenerateNode(ca_dir, out_dir, name, role, hosts, {}, valid_days,
                      overwrite);
}

Status GenerateClientCert(const fs::path& ca_dir, const fs::path& out_dir,
                          const std::string& name,
                          const std::vector<std::string>& client_names,
                          int valid_days, bool overwrite) {
  return GenerateNode(ca_dir, out_dir, name, CertRole::kClient, {},
                      client_names, valid_days, overwrite);
}

std::vector<std::string> DefaultCoordinatorHosts() {
  return {"localhost", "127.0.0.1", "::1"};
}

std::string ClientCertName(int index) {
  return "client-" + std::to_string(index);
}

Status GenerateRunCertificates(
    const fs::path& dir, const std::vector<ClientCertSpec>& clients,
    const std::vector<std::string>& coordinator_hosts, bool overwrite) {
  for (const ClientCertSpec& c : clients) {  // before anything is written
    FEDJETS_RETURN_IF_ERROR(CheckNodeName(c.name));
    FEDJETS_RETURN_IF_ERROR(SubjectAltNames({}, c.client_names).status());
  }
  if (!overwrite) {
    FEDJETS_RETURN_IF_ERROR(RefuseExisting(CaPaths(dir)));
    FEDJETS_RETURN_IF_ERROR(
        RefuseExisting(NodePaths(dir, kCoordinatorCertName)));
    for (const ClientCertSpec& c : clients) {
      FEDJETS_RETURN_IF_ERROR(RefuseExisting(NodePaths(dir, c.name)));
    }
  }
  FEDJETS_RETURN_IF_ERROR(
      GenerateCa(dir, "fedjets run CA", /*valid_days=*/825, overwrite));
  FEDJETS_RETURN_IF_ERROR(GenerateNodeCert(dir, dir, kCoordinatorCertName,
                                           CertRole::kServer, coordinator_hosts,
                                           /*valid_days=*/825, overwrite));
  for (const ClientCertSpec& c : clients) {
    FEDJETS_RETURN_IF_ERROR(GenerateClientCert(dir, dir, c.name, c.client_names,
                                               /*valid_days=*/825, overwrite));
  }
  return Status::Ok();
}

Status GenerateRunCertificates(
    const fs::path& dir, int num_clients,
    const std::vector<std::string>& coordinator_hosts, bool overwrite) {
  if (num_clients < 0) {
    return InvalidArgument("number of clients must be >= 0, got " +
                           std::to_string(num_clients));
  }
  std::vector<ClientCertSpec> clients;
  for (int i = 0; i < num_clients; ++i)
    clients.push_back({ClientCertName(i), {}});
  return GenerateRunCertificates(dir, clients, coordinator_hosts, overwrite);
}

}  // namespace fedjets::common
