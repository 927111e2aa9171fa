#include "common/net/cert_identity.h"

#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "common/net/openssl_util.h"

namespace fedjets::common {
namespace {

using GeneralNamesPtr =
    std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;

// The bytes of an ASN.1 string, or nothing when it holds a NUL (a CN or URI
// with one could compare equal to a shorter name in C code).
std::optional<std::string> Bytes(const ASN1_STRING* s) {
  std::string out(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                  static_cast<size_t>(ASN1_STRING_length(s)));
  if (out.find('\0') != std::string::npos) return std::nullopt;
  return out;
}

Result<std::string> CommonName(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at < 0) return InvalidArgument("the certificate's subject has no CN");
  if (X509_NAME_get_index_by_NID(subject, NID_commonName, at) >= 0) {
    return InvalidArgument("the certificate's subject has more than one CN");
  }
  ASN1_STRING* data =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return OpenSslError("cannot read the certificate's CN");
  std::string cn(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  if (cn.empty() || cn.find('\0') != std::string::npos) {
    return InvalidArgument("the certificate's CN is empty or holds a NUL");
  }
  return cn;
}

}  // namespace

bool CertIdentity::Grants(std::string_view name) const {
  return name == common_name ||
         std::find(client_names.begin(), client_names.end(), name) !=
             client_names.end();
}

Result<CertIdentity> ReadCertIdentity(X509* cert) {
  CertIdentity id;
  Result<std::string> cn = CommonName(cert);
  if (!cn.ok()) return cn.status();
  id.common_name = std::move(*cn);
  int critical = -1;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  if (!names) {
    if (critical == -2) {
      return InvalidArgument(
          "the certificate has more than one subjectAltName extension");
    }
    return id;  // none: the CN is the only name
  }
  const size_t prefix = std::strlen(kClientNameUriPrefix);
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_URI) continue;
    std::optional<std::string> uri = Bytes(gn->d.uniformResourceIdentifier);
    if (!uri || uri->size() <= prefix ||
        uri->compare(0, prefix, kClientNameUriPrefix) != 0) {
      continue;
    }
    id.client_names.push_back(uri->substr(prefix));
  }
  return id;
}

Result<CertIdentity> ReadPeerIdentity(SSL* ssl) {
  X509Ptr peer(SSL_get1_peer_certificate(ssl));
  if (!peer) {
    return FailedPrecondition("the peer presented no certificate");
  }
  return ReadCertIdentity(peer.get());
}

}  // namespace fedjets::common
