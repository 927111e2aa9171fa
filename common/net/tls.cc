#include "common/net/tls.h"

#include <fmt/format.h>
#include <openssl/ssl.h>

#include <filesystem>

namespace fedjets::common {
namespace {

namespace ssl = boost::asio::ssl;

Result<std::shared_ptr<ssl::context>> MakeContext(const TlsFiles& f,
                                                  ssl::context::method method,
                                                  ssl::verify_mode mode) {
  for (const auto& [what, path] :
       {std::pair{"CA certificate", f.ca}, std::pair{"certificate", f.cert},
        std::pair{"private key", f.key}}) {
    if (path.empty()) {
      return InvalidArgument(fmt::format(
          "no {} file given (use --ca/--cert/--key, or --insecure for plain "
          "TCP)",
          what));
    }
    if (!std::filesystem::is_regular_file(path)) {
      return NotFound(
          fmt::format("{} file '{}' does not exist (generate "
                      "one with fedjets-certs)",
                      what, path));
    }
  }
  auto ctx = std::make_shared<ssl::context>(method);
  if (SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_3_VERSION) !=
          1 ||
      SSL_CTX_set_max_proto_version(ctx->native_handle(), TLS1_3_VERSION) !=
          1) {
    return Internal("OpenSSL refused to restrict the context to TLS 1.3");
  }
  boost::system::error_code ec;
  auto fail = [&](const char* what, const std::string& path) {
    return InvalidArgument(
        fmt::format("cannot load {} '{}': {}", what, path, ec.message()));
  };
  if (ctx->load_verify_file(f.ca, ec); ec) return fail("CA certificate", f.ca);
  if (ctx->use_certificate_chain_file(f.cert, ec); ec) {
    return fail("certificate", f.cert);
  }
  if (ctx->use_private_key_file(f.key, ssl::context::pem, ec); ec) {
    return fail("private key", f.key);
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return InvalidArgument(fmt::format(
        "private key '{}' does not match certificate '{}'", f.key, f.cert));
  }
  ctx->set_verify_mode(mode);
  return ctx;
}

}  // namespace

Result<std::shared_ptr<ssl::context>> MakeServerTlsContext(const TlsFiles& f) {
  auto ctx = MakeContext(f, ssl::context::tls_server,
                         ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  if (!ctx.ok()) return ctx;
  // No TLS 1.3 session tickets: clients keep one connection and do not
  // resume, and a stateless ticket holds the client's certificate, so the
  // certificate of a process hosting some 2,500 virtual clients (70 KB of
  // granted names) overflowed the ticket's 64 KiB and failed every
  // handshake with "internal error" (construct_stateless_ticket).
  if (SSL_CTX_set_num_tickets((*ctx)->native_handle(), 0) != 1) {
    return Internal("OpenSSL refused to turn off session tickets");
  }
  return ctx;
}

Result<std::shared_ptr<ssl::context>> MakeClientTlsContext(const TlsFiles& f) {
  return MakeContext(f, ssl::context::tls_client, ssl::verify_peer);
}

}  // namespace fedjets::common
