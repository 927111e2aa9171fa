// Who a verified certificate says its holder is, so that the coordinator
// can tie the name a client gives in its Hello to the certificate it
// connected with (docs/PROTOCOL.md, "Identity"): the subject's common name,
// and the further client names the CA granted it as subjectAltName URIs
// "fedjets-client:<grant>" (one fedjets-client process hosts many virtual
// clients under one certificate). A grant is one name, or a range of names
// "<prefix>{<first>..<last>}" / "<prefix>{<first>..<last>..<step>}", so a
// certificate granting thousands of names stays small (a server keeps every
// connected peer's parsed certificate). Reading trusts the certificate:
// call it only on one the TLS handshake verified against the run's CA.
//
// Thread-safety: pure functions over the certificate; safe to call
// concurrently (OpenSSL 3 keeps its error queue per thread).
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"

namespace fedjets::common {

// subjectAltName URIs with this prefix grant the client name that follows.
inline constexpr char kClientNameUriPrefix[] = "fedjets-client:";

// Whether `c` may appear in a client name: [A-Za-z0-9._-], ASCII whatever
// the locale.
constexpr bool IsClientNameByte(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

// The client names one range grant covers: `prefix` followed by the
// decimal, without leading zeros, of first, first + step, ... up to last
// ("client-{1..9..4}" is client-1, client-5 and client-9).
struct ClientNameRange {
  std::string prefix;
  int64_t first = 0;
  int64_t last = 0;
  int64_t step = 1;

  bool Contains(std::string_view name) const;
  int64_t size() const { return (last - first) / step + 1; }
  // The grant text, "<prefix>{<first>..<last>..<step>}".
  std::string ToString() const;
};

// The range `grant` writes, or nothing when it is no well-formed range: the
// prefix 0-63 bytes of [A-Za-z0-9._-], 0 <= first <= last < 10^15, step
// >= 1, and every covered name at most 64 bytes.
std::optional<ClientNameRange> ParseClientNameRange(std::string_view grant);

struct CertIdentity {
  std::string common_name;                // the subject's one CN
  std::vector<std::string> client_names;  // granted one by one besides the CN
  std::vector<ClientNameRange> client_ranges;  // granted as ranges

  // Whether `name` is the common name, one of client_names or in one of
  // client_ranges (exact, byte for byte).
  bool Grants(std::string_view name) const;
  // How many names are granted besides the CN (ranges may overlap; each
  // counts in full).
  int64_t GrantedCount() const;
};

// Reads the identity of `cert`. An error names what is missing or
// ambiguous: no CN, more than one CN, a CN that is empty or holds a NUL,
// or more than one subjectAltName extension.
Result<CertIdentity> ReadCertIdentity(X509* cert);

// The identity of the peer's certificate after a completed handshake on
// `ssl`; FailedPrecondition when the peer sent none.
Result<CertIdentity> ReadPeerIdentity(SSL* ssl);

}  // namespace fedjets::common
