// Where the PKI's keys and certificates live on disk, and how certs.cc
// reads and writes them as PEM. Internal to fedjets_net: the public API, and
// the promises about atomic writes and key file modes, are in
// common/net/certs.h.
//
// Thread-safety: every function is safe to call concurrently.
#pragma once

#include <filesystem>
#include <string>

#include "common/base/status.h"
#include "common/net/openssl_util.h"

namespace fedjets::common::cert_files {

// A private key and its certificate, as certs.cc issues and loads them.
struct KeyAndCert {
  PkeyPtr key;
  X509Ptr cert;
};

// Where one node's (or the CA's) key and certificate live.
struct KeyCertPaths {
  std::filesystem::path key, cert;
};

// <dir>/<name>.key and <dir>/<name>.pem.
KeyCertPaths NodePaths(const std::filesystem::path& dir,
                       const std::string& name);
// <dir>/ca.key and <dir>/ca.pem.
KeyCertPaths CaPaths(const std::filesystem::path& dir);

// FailedPrecondition naming the first of `paths` that exists (even as a
// dangling link). Checked up front so that nothing is generated, let alone
// written, when a call would have to stop half-way.
Status RefuseExisting(const KeyCertPaths& paths);

// Writes `pair` (already signed) to `paths`, key (PKCS#8, 0600) first, then
// certificate (0644), creating the directory if missing. If the certificate
// cannot be written, a key created by this call is removed so that a retry
// is not blocked by a lone key file. Without `overwrite` an existing file is
// never replaced and the error names it.
Status WriteKeyAndCert(const KeyAndCert& pair, const KeyCertPaths& paths,
                       bool overwrite);

// Loads the CA in `ca_dir` (ca.pem + ca.key) and checks that the key belongs
// to the certificate, that it is a CA and that it has not expired. Missing,
// corrupt or mismatched files give an error naming the file.
Result<KeyAndCert> LoadCa(const std::filesystem::path& ca_dir);

}  // namespace fedjets::common::cert_files
