// Offline generation of the PKI a fedjets run needs for mutual TLS: a
// self-signed CA, a "coordinator" server certificate and per-client
// certificates, all EC P-256 / SHA-256, written as standard PEM (certificates
// as "BEGIN CERTIFICATE", keys as unencrypted PKCS#8 "BEGIN PRIVATE KEY") so
// boost::asio::ssl::context and the openssl CLI load them directly.
//
// Files are written through a temporary file in the same directory and then
// renamed (or hard-linked when overwriting is not allowed), so a failure never
// leaves a half-written file and a concurrent writer can never be silently
// clobbered. Private keys are created with mode 0600.
//
// Thread-safety: every function is safe to call concurrently (OpenSSL 3 keeps
// its error queue per thread). Calls writing the same paths race benignly:
// without `overwrite` exactly one wins and the others fail.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/base/status.h"

namespace fedjets::common {

// File names inside a CA directory.
inline constexpr char kCaCertFile[] = "ca.pem";
inline constexpr char kCaKeyFile[] = "ca.key";
// Node name of the coordinator's server certificate in a run directory.
inline constexpr char kCoordinatorCertName[] = "coordinator";

enum class CertRole { kServer, kClient };

// Generates a self-signed CA (X509v3, basicConstraints critical CA:TRUE with
// pathlen:0, keyUsage critical keyCertSign|cRLSign, subjectKeyIdentifier) and
// writes <dir>/ca.pem and <dir>/ca.key. Creates `dir` if missing. Refuses to
// replace existing files unless `overwrite`; the error names the file.
// `valid_days` must be in [1, 36500].
Status GenerateCa(const std::filesystem::path& dir,
                  const std::string& common_name, int valid_days = 825,
                  bool overwrite = false);

// Generates a node key and a certificate for it signed by the CA in `ca_dir`
// (ca.pem + ca.key), written to <out_dir>/<name>.pem and <out_dir>/<name>.key.
// CN = `name`, which must be a plain file name ([A-Za-z0-9._-], no leading
// dot). kServer gets extendedKeyUsage serverAuth and needs at least one host;
// kClient gets clientAuth. Each entry of `hosts` becomes an IP subjectAltName
// when it parses as an IPv4/IPv6 address, else a DNS one. The serial is a
// random 128-bit number; authorityKeyIdentifier links to the CA.
// Missing, corrupt or mismatched CA files give an error naming the file.
Status GenerateNodeCert(const std::filesystem::path& ca_dir,
                        const std::filesystem::path& out_dir,
                        const std::string& name, CertRole role,
                        const std::vector<std::string>& hosts,
                        int valid_days = 825, bool overwrite = false);

// A kClient certificate (see GenerateNodeCert) that also grants the client
// names in `client_names`, each as a subjectAltName URI
// "fedjets-client:<name>" (common/net/cert_identity.h): a fedjets-client
// process hosting several virtual clients needs every one of their names
// granted by its certificate. Each entry is a name, 1-64 bytes of
// [A-Za-z0-9._-], or a range of names "PREFIX{FIRST..LAST}" or
// "PREFIX{FIRST..LAST..STEP}" (ClientNameRange): thousands of names then
// cost one entry, and the certificate stays small.
Status GenerateClientCert(const std::filesystem::path& ca_dir,
                          const std::filesystem::path& out_dir,
                          const std::string& name,
                          const std::vector<std::string>& client_names,
                          int valid_days = 825, bool overwrite = false);

// Hosts the coordinator certificate covers when the caller names none:
// localhost, 127.0.0.1 and ::1.
std::vector<std::string> DefaultCoordinatorHosts();

// "client-<index>": the node name GenerateRunCertificates gives client `index`.
std::string ClientCertName(int index);

// One client certificate of a run: its node name (CN and file name) and the
// further client names it grants (GenerateClientCert).
struct ClientCertSpec {
  std::string name;
  std::vector<std::string> client_names;
};

// Everything one run needs, in `dir`: the CA, a "coordinator" server
// certificate for `coordinator_hosts`, and one client certificate per entry
// of `clients`. Without `overwrite`, all target files are checked first, so
// an existing file makes the call fail before anything is written.
Status GenerateRunCertificates(
    const std::filesystem::path& dir,
    const std::vector<ClientCertSpec>& clients,
    const std::vector<std::string>& coordinator_hosts =
        DefaultCoordinatorHosts(),
    bool overwrite = false);

// As above with client certificates "client-0" .. "client-(num_clients-1)",
// each granting only its own name.
Status GenerateRunCertificates(
    const std::filesystem::path& dir, int num_clients,
    const std::vector<std::string>& coordinator_hosts =
        DefaultCoordinatorHosts(),
    bool overwrite = false);

}  // namespace fedjets::common
