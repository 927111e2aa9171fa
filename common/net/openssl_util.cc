#include "common/net/openssl_util.h"

#include <openssl/err.h>

namespace fedjets::common {

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

}  // namespace fedjets::common
