// TLS 1.3 contexts for mutual TLS. The coordinator requires a client
// certificate signed by the run's CA; a client verifies the coordinator's
// certificate against the same CA and checks its host name.
// Contexts are immutable after creation and may be shared across threads.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "common/base/status.h"

namespace fedjets::common {

struct TlsFiles {
  std::string ca;    // PEM CA certificate that signs every node of the run
  std::string cert;  // this node's PEM certificate
  std::string key;   // this node's PEM private key
};

Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(
    const TlsFiles& files);
Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientTlsContext(
    const TlsFiles& files);

}  // namespace fedjets::common
