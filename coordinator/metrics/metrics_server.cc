#include "coordinator/metrics/metrics_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <exception>
#include <string_view>
#include <thread>
#include <utility>

#include "common/net/asio_coro.h"

namespace fedjets::coordinator {
namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(5);
constexpr size_t kMaxRequestBytes = 8192;
constexpr int kMaxConnections = 16;
// After a failed accept (descriptors exhausted): pause, so it cannot spin.
constexpr auto kAcceptErrorPause = std::chrono::seconds(1);

std::string Response(std::string_view status, std::string_view content_type,
                     std::string_view body) {
  return fmt::format(
      "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      status, content_type, body.size(), body);
}

// The response to one request (its bytes up to the blank line).
std::string Answer(std::string_view request,
                   const MetricsServer::Render& render) {
  const std::string_view line = request.substr(0, request.find("\r\n"));
  const size_t method_end = line.find(' ');
  const std::string_view method = line.substr(0, method_end);
  std::string_view target;
  if (method_end != std::string_view::npos) {
    target = line.substr(method_end + 1);
    target = target.substr(0, target.find(' '));
  }
  const std::string_view path = target.substr(0, target.find('?'));
  constexpr std::string_view kText = "text/plain; charset=utf-8";
  if (method != "GET") {
    return Response("405 Method Not Allowed", kText, "only GET /metrics\n");
  }
  if (path != "/metrics") {
    return Response("404 Not Found", kText, "the metrics are at /metrics\n");
  }
  return Response("200 OK", "text/plain; version=0.0.4; charset=utf-8",
                  render());
}

void LogFailure(const char* what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("metrics endpoint: {} failed: {}", what, ex.what());
  }
}

}  // namespace

struct MetricsServer::Impl {
  explicit Impl(Render r) : render(std::move(r)) {}

  awaitable<void> Accept();
  awaitable<void> Serve(tcp::socket socket);

  Render render;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  int connections = 0;  // being served; touched on the server thread only
  uint16_t port = 0;
  std::string endpoint;
  std::thread thread;
};

awaitable<void> MetricsServer::Impl::Accept() {
  asio::steady_timer pause(io);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      spdlog::warn("metrics endpoint: accept failed: {}; retrying in 1 s",
                   ec.message());
      pause.expires_after(kAcceptErrorPause);
      co_await pause.async_wait(kTuple);
      continue;
    }
    if (connections >= kMaxConnections) continue;  // socket closes here
    asio::co_spawn(io, Serve(std::move(socket)),
                   [](std::exception_ptr e) { LogFailure("a scrape", e); });
  }
}

awaitable<void> MetricsServer::Impl::Serve(tcp::socket socket) {
  ++connections;
  struct Release {
    int& count;
    ~Release() { --count; }
  } release{connections};
  // A client that sends nothing, or too slowly, is cut off.
  asio::steady_timer deadline(io);
  deadline.expires_after(kRequestTimeout);
  deadline.async_wait([&socket](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the exchange finished in time
    boost::system::error_code ignored;
    socket.close(ignored);
  });
  std::string request;
  auto [ec, n] = co_await asio::async_read_until(
      socket, asio::dynamic_buffer(request, kMaxRequestBytes), "\r\n\r\n",
      kTuple);
  if (ec) co_return;
  const std::string response =
      Answer(std::string_view(request).substr(0, n), render);
  co_await asio::async_write(socket, asio::buffer(response), kTuple);
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
}

common::Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, uint16_t port, Render render) {
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) {
    return common::InvalidArgument(fmt::format(
        "--metrics-address '{}' is not an IPv4 or IPv6 address", address));
  }
  const std::string host = ip.is_v6() ? "[" + address + "]" : address;
  auto impl = std::make_unique<Impl>(std::move(render));
  const tcp::endpoint where(ip, port);
  impl->acceptor.open(where.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(where, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return common::Unavailable(fmt::format("cannot serve metrics on {}:{}: {}",
                                           host, port, ec.message()));
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->endpoint = fmt::format("{}:{}", host, impl->port);
  asio::co_spawn(impl->io, impl->Accept(), [](std::exception_ptr e) {
    LogFailure("the accept loop", e);
  });
  impl->thread = std::thread([io = &impl->io] { io->run(); });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  impl_->io.stop();
  impl_->thread.join();
}

uint16_t MetricsServer::port() const { return impl_->port; }

const std::string& MetricsServer::endpoint() const { return impl_->endpoint; }

}  // namespace fedjets::coordinator
