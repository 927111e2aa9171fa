#include "common/net/cert_identity.h"

#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <charconv>
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

bool ClientNameRange::Contains(std::string_view name) const {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix)) {
    return false;
  }
  const std::string_view digits = name.substr(prefix.size());
  // Canonical decimal only: "client-07" is not client-7.
  if (digits.size() > 15 || (digits.size() > 1 && digits[0] == '0')) {
    return false;
  }
  int64_t value = 0;
  auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return false;
  return value >= first && value <= last && (value - first) % step == 0;
}

std::string ClientNameRange::ToString() const {
  return prefix + "{" + std::to_string(first) + ".." + std::to_string(last) +
         ".." + std::to_string(step) + "}";
}

std::optional<ClientNameRange> ParseClientNameRange(std::string_view grant) {
  const size_t open = grant.find('{');
  if (open == std::string_view::npos || grant.empty() || grant.back() != '}') {
    return std::nullopt;
  }
  ClientNameRange r;
  r.prefix = std::string(grant.substr(0, open));
  if (r.prefix.size() > 63 ||
      !std::all_of(r.prefix.begin(), r.prefix.end(), IsClientNameByte)) {
    return std::nullopt;
  }
  std::string_view body = grant.substr(open + 1, grant.size() - open - 2);
  int64_t fields[3] = {0, 0, 1};
  int n = 0;
  while (true) {
    if (n == 3) return std::nullopt;
    const size_t dots = body.find("..");
    const std::string_view field = body.substr(0, dots);
    if (field.empty() || field.size() > 15 ||
        !std::all_of(field.begin(), field.end(),
                     [](unsigned char c) { return std::isdigit(c); })) {
      return std::nullopt;
    }
    std::from_chars(field.data(), field.data() + field.size(), fields[n++]);
    if (dots == std::string_view::npos) break;
    body = body.substr(dots + 2);
  }
  if (n < 2) return std::nullopt;
  r.first = fields[0];
  r.last = fields[1];
  r.step = fields[2];
  if (r.first > r.last || r.step < 1 ||
      r.prefix.size() + std::to_string(r.last).size() > 64) {
    return std::nullopt;
  }
  return r;
}

bool CertIdentity::Grants(std::string_view name) const {
  return name == common_name ||
         std::find(client_names.begin(), client_names.end(), name) !=
             client_names.end() ||
         std::any_of(
             client_ranges.begin(), client_ranges.end(),
             [&](const ClientNameRange& r) { return r.Contains(name); });
}

int64_t CertIdentity::GrantedCount() const {
  int64_t n = static_cast<int64_t>(client_names.size());
  for (const ClientNameRange& r : client_ranges) n += r.size();
  return n;
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
    std::string grant = uri->substr(prefix);
    if (grant.find('{') == std::string::npos) {
      id.client_names.push_back(std::move(grant));
    } else if (auto range = ParseClientNameRange(grant)) {
      id.client_ranges.push_back(std::move(*range));
    }  // a malformed range grants nothing
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
