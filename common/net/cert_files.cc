#include "common/net/cert_files.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <string_view>
#include <system_error>
#include <utility>

#include "common/base/atomic_file.h"
#include "common/base/posix_error.h"
#include "common/net/certs.h"

namespace fedjets::common::cert_files {
namespace {

namespace fs = std::filesystem;

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

}  // namespace

KeyCertPaths NodePaths(const fs::path& dir, const std::string& name) {
  return {dir / (name + ".key"), dir / (name + ".pem")};
}

KeyCertPaths CaPaths(const fs::path& dir) {
  return {dir / kCaKeyFile, dir / kCaCertFile};
}

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

Status WriteKeyAndCert(const KeyAndCert& pair, const KeyCertPaths& paths,
                       bool overwrite) {
  Result<BioPtr> key_pem = ToPem(pair.key.get(), nullptr);
  if (!key_pem.ok()) return key_pem.status().Annotate(paths.key.string());
  Result<BioPtr> cert_pem = ToPem(nullptr, pair.cert.get());
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

}  // namespace fedjets::common::cert_files
