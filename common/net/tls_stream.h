// TlsStream: TLS over a TCP socket, with OpenSSL reading and writing the
// socket itself.
//
// Asio's ssl::stream runs OpenSSL on a memory BIO pair: every byte is
// copied twice more in user space (docs/PERFORMANCE.md, target 3). Here
// OpenSSL reads the non-blocking socket itself (read-ahead: up to 256 KiB
// a recv, then decrypts into the caller's memory) and sends each record
// it encrypts; when the socket is not ready, the coroutine waits for it
// on the executor (async_wait). The
// bytes on the wire are plain TLS 1.3: a peer using Asio's ssl::stream or
// any other TLS library talks to it unchanged.
//
// Errors read as Asio's ssl::stream reports them, so callers tell a
// refusal from a loss the same way: an alert or a failed verification is
// an error of asio::error::get_ssl_category(), the peer closing without
// close_notify is asio::ssl::error::stream_truncated, close_notify is
// asio::error::eof, a reset is the socket's system error.
//
// Cancelling the socket (next_layer().cancel()) ends a pending operation
// with operation_aborted; the stream is then unusable for further reads
// or writes, as with Asio's.
//
// Thread-safety: one coroutine at a time, on one executor.
#pragma once

#include <openssl/ssl.h>

#include <span>
#include <string>
#include <utility>

#include "common/net/asio_coro.h"
#include "common/net/openssl_util.h"

namespace fedjets::common {

class TlsStream {
 public:
  using Result = std::pair<boost::system::error_code, size_t>;

  // The SSL object is made from `context`, which must outlive this stream.
  TlsStream(tcp::socket socket, ssl::context& context);
  TlsStream(TlsStream&&) noexcept = default;
  TlsStream& operator=(TlsStream&&) noexcept = default;

  tcp::socket& next_layer() { return socket_; }
  const tcp::socket& next_layer() const { return socket_; }
  SSL* native_handle() { return ssl_.get(); }
  tcp::socket::executor_type get_executor() { return socket_.get_executor(); }

  // A client checks that the server's certificate names `host` (a DNS name
  // or an IP address) and sends it as SNI.
  void set_server_name(const std::string& host);

  awaitable<boost::system::error_code> Handshake(
      ssl::stream_base::handshake_type type);
  // Reads exactly `buffer.size()` bytes (fewer only with an error).
  awaitable<Result> Read(asio::mutable_buffer buffer);
  // Writes every byte of `buffers`, in order (fewer only with an error).
  awaitable<Result> Write(std::span<const asio::const_buffer> buffers);

 private:
  // Calls `call` (an OpenSSL operation on this stream, 1 on success)
  // until it succeeds, waiting for the socket whenever OpenSSL asks to;
  // otherwise the error, as Asio's ssl::stream reports it.
  template <typename Call>
  awaitable<boost::system::error_code> Complete(Call call);

  tcp::socket socket_;
  SslPtr ssl_;
};

}  // namespace fedjets::common
