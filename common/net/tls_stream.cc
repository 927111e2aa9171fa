#include "common/net/tls_stream.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdint>

namespace fedjets::common {
namespace {

using boost::system::error_code;

// OpenSSL's read-ahead buffer: up to this many bytes a recv.
constexpr size_t kReadAheadBytes = size_t{256} << 10;

// A BIO on a non-blocking socket: recv, and send with MSG_NOSIGNAL (a peer
// that closed gives EPIPE, not a SIGPIPE that would kill the process).
// The descriptor is the BIO's data; nothing is buffered, so a flush has
// nothing to do. (Collecting a write's records into 256 KiB sends saved
// system calls but cost a copy: no faster by CPU time, docs/PERFORMANCE.md.)
int FdOf(BIO* b) {
  return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
}

int BioWrite(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  for (;;) {
    const ssize_t n =
        ::send(FdOf(b), data, static_cast<size_t>(len), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(b);
    return -1;
  }
}

int BioRead(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  for (;;) {
    const ssize_t n = ::recv(FdOf(b), data, static_cast<size_t>(len), 0);
    if (n > 0) return static_cast<int>(n);
    if (n == 0) {
      // OpenSSL asks BIO_eof to tell a closed connection from an error.
      BIO_set_flags(b, BIO_FLAGS_IN_EOF);
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(b);
    return -1;
  }
}

long BioCtrl(BIO* b, int cmd, long /*num*/, void* /*ptr*/) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_EOF:
      return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0;
    case BIO_CTRL_DUP:
      return 1;
    default:
      return 0;
  }
}

int BioCreate(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* SocketBioMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(
        BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
        "fedjets socket");
    if (m == nullptr) return m;
    BIO_meth_set_write(m, BioWrite);
    BIO_meth_set_read(m, BioRead);
    BIO_meth_set_ctrl(m, BioCtrl);
    BIO_meth_set_create(m, BioCreate);
    return m;
  }();
  return method;
}

// What a failed OpenSSL call means, as Asio's ssl::stream reports it; an
// empty code for "wait for the socket" (SSL_ERROR_WANT_READ/WRITE).
// `saved_errno` is errno right after the call.
error_code ErrorOf(int ssl_error, int saved_errno) {
  switch (ssl_error) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return {};
    case SSL_ERROR_ZERO_RETURN:
      return asio::error::eof;
    case SSL_ERROR_SYSCALL: {
      if (const unsigned long e = ERR_get_error(); e != 0) {
        return {static_cast<int>(e), asio::error::get_ssl_category()};
      }
      if (saved_errno != 0)
        return {saved_errno, boost::system::system_category()};
      return ssl::error::stream_truncated;
    }
    default: {
      const unsigned long e = ERR_get_error();
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        return ssl::error::stream_truncated;
      }
      if (e == 0) return {ssl_error, asio::error::get_ssl_category()};
      return {static_cast<int>(e), asio::error::get_ssl_category()};
    }
  }
}

}  // namespace

TlsStream::TlsStream(tcp::socket socket, ssl::context& context)
    : socket_(std::move(socket)), ssl_(SSL_new(context.native_handle())) {
  error_code ignored;  // a closed socket fails the first operation instead
  socket_.non_blocking(true, ignored);
  const BIO_METHOD* method = SocketBioMethod();
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (ssl_ == nullptr || bio == nullptr) {
    BIO_free(bio);
    ssl_.reset();  // Handshake reports it
    return;
  }
  BIO_set_data(bio, reinterpret_cast<void*>(
                        static_cast<intptr_t>(socket_.native_handle())));
  SSL_set_bio(ssl_.get(), bio, bio);
  SSL_set_read_ahead(ssl_.get(), 1);
  SSL_set_default_read_buffer_len(ssl_.get(), kReadAheadBytes);
  // An idle connection keeps no record buffers (thousands of clients).
  SSL_set_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
}

void TlsStream::set_server_name(const std::string& host) {
  if (ssl_ == nullptr) return;
  error_code not_ip;
  (void)asio::ip::make_address(host, not_ip);
  if (!not_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), host.c_str());
    return;
  }
  SSL_set_tlsext_host_name(ssl_.get(), host.c_str());
  SSL_set1_host(ssl_.get(), host.c_str());
}

template <typename Call>
awaitable<error_code> TlsStream::Complete(Call call) {
  for (;;) {
    // Yield to the executor before each call, as an Asio operation
    // completes through it: other connections on this thread get their
    // turn between records, and a deadline timer that has expired runs
    // (cancelling the socket) before the call, even when the bytes are
    // already there and OpenSSL would never ask to wait.
    co_await asio::post(socket_.get_executor(), asio::use_awaitable);
    if (!socket_.is_open()) co_return asio::error::bad_descriptor;
    ERR_clear_error();
    const int r = call();
    const int saved_errno = errno;
    if (r == 1) co_return error_code{};
    const int e = SSL_get_error(ssl_.get(), r);
    if (auto ec = ErrorOf(e, saved_errno)) co_return ec;
    auto [ec] = co_await socket_.async_wait(e == SSL_ERROR_WANT_WRITE
                                                ? tcp::socket::wait_write
                                                : tcp::socket::wait_read,
                                            kTuple);
    if (ec) co_return ec;
  }
}

awaitable<error_code> TlsStream::Handshake(
    ssl::stream_base::handshake_type type) {
  if (ssl_ == nullptr) co_return asio::error::no_memory;
  if (type == ssl::stream_base::client) {
    SSL_set_connect_state(ssl_.get());
  } else {
    SSL_set_accept_state(ssl_.get());
  }
  co_return co_await Complete([&] { return SSL_do_handshake(ssl_.get()); });
}

awaitable<TlsStream::Result> TlsStream::Read(asio::mutable_buffer buffer) {
  auto* data = static_cast<char*>(buffer.data());
  size_t done = 0;
  while (done < buffer.size()) {
    if (ssl_ == nullptr) co_return Result{asio::error::bad_descriptor, done};
    size_t n = 0;
    if (auto ec = co_await Complete([&] {
          return SSL_read_ex(ssl_.get(), data + done, buffer.size() - done, &n);
        })) {
      co_return Result{ec, done};
    }
    done += n;
  }
  co_return Result{error_code{}, done};
}

awaitable<TlsStream::Result> TlsStream::Write(
    std::span<const asio::const_buffer> buffers) {
  if (ssl_ == nullptr || !socket_.is_open()) {
    co_return Result{asio::error::bad_descriptor, 0};
  }
  size_t done = 0;
  for (const auto& b : buffers) {
    const auto* data = static_cast<const char*>(b.data());
    size_t sent = 0;
    while (sent < b.size()) {
      size_t n = 0;
      if (auto ec = co_await Complete([&] {
            return SSL_write_ex(ssl_.get(), data + sent, b.size() - sent, &n);
          })) {
        co_return Result{ec, done};
      }
      sent += n;
      done += n;
    }
  }
  co_return Result{error_code{}, done};
}

}  // namespace fedjets::common
