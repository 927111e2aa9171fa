// OpenSSL glue shared by the certificate code and its tests: owning
// pointers that free each OpenSSL object with its own free function, and the
// text of this thread's OpenSSL error queue.
//
// Thread-safety: OpenSSL 3 keeps its error queue per thread, so
// WithOpenSslErrors only ever reports errors raised on the calling thread.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>

#include "common/base/status.h"

namespace fedjets::common {

// Calls `Fn` (an OpenSSL *_free function) on the pointer it owns.
template <auto Fn>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};

using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using X509ExtensionPtr =
    std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;
using X509StorePtr =
    std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE_free>>;
using X509StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpenSslDeleter<SSL_free>>;

// Drains this thread's OpenSSL error queue into `what: err1; err2`, so a
// message carries the library's reason rather than a bare "failed".
std::string WithOpenSslErrors(const std::string& what);

// Internal(WithOpenSslErrors(what)).
Status OpenSslError(const std::string& what);

}  // namespace fedjets::common
