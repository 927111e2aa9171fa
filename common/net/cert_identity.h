// Who a verified certificate says its holder is, so that the coordinator
// can tie the name a client gives in its Hello to the certificate it
// connected with (docs/PROTOCOL.md, "Identity"): the subject's common name,
// and the further client names the CA granted it as subjectAltName URIs
// "fedjets-client:<name>" (one fedjets-client process hosts many virtual
// clients under one certificate). Reading trusts the certificate: call it
// only on one the TLS handshake verified against the run's CA.
//
// Thread-safety: pure functions over the certificate; safe to call
// concurrently (OpenSSL 3 keeps its error queue per thread).
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"

namespace fedjets::common {

// subjectAltName URIs with this prefix grant the client name that follows.
inline constexpr char kClientNameUriPrefix[] = "fedjets-client:";

struct CertIdentity {
  std::string common_name;                // the subject's one CN
  std::vector<std::string> client_names;  // granted besides the CN

  // Whether `name` is the common name or one of client_names (exact,
  // byte for byte).
  bool Grants(std::string_view name) const;
};

// Reads the identity of `cert`. An error names what is missing or
// ambiguous: no CN, more than one CN, a CN that is empty or holds a NUL,
// or more than one subjectAltName extension.
Result<CertIdentity> ReadCertIdentity(X509* cert);

// The identity of the peer's certificate after a completed handshake on
// `ssl`; FailedPrecondition when the peer sent none.
Result<CertIdentity> ReadPeerIdentity(SSL* ssl);

}  // namespace fedjets::common
