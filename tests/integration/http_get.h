// A plain HTTP/1.1 GET over a real loopback socket, for tests that read an
// HTTP endpoint (/metrics, Prometheus' API): Boost.Asio, bounded by a
// deadline, no HTTP library.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "common/base/status.h"

namespace fedjets::testutil {

struct HttpResponse {
  int status = 0;    // e.g. 200
  std::string body;  // after the headers
};

// GETs (or sends another bodiless `method` to) http://127.0.0.1:port`target`
// (target starts with '/') with "Connection: close" and reads the response
// to its end. Unavailable when nothing listens, the response is not HTTP,
// or it takes over `timeout`.
inline common::Result<HttpResponse> HttpGet(
    uint16_t port, const std::string& target,
    std::chrono::milliseconds timeout = std::chrono::seconds(10),
    const std::string& method = "GET") {
  namespace asio = boost::asio;
  using asio::ip::tcp;
  asio::io_context io;
  tcp::socket socket(io);
  std::string raw;
  boost::system::error_code error;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto tok = asio::redirect_error(asio::use_awaitable, error);
        co_await socket.async_connect(
            {asio::ip::make_address("127.0.0.1"), port}, tok);
        if (error) co_return;
        const std::string request = method + " " + target +
                                    " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Connection: close\r\n\r\n";
        co_await asio::async_write(socket, asio::buffer(request), tok);
        if (error) co_return;
        co_await asio::async_read(socket, asio::dynamic_buffer(raw), tok);
        if (error == asio::error::eof) error = {};
        finished = true;
      },
      asio::detached);
  io.run_for(timeout);
  const std::string where = "http://127.0.0.1:" + std::to_string(port) + target;
  if (!finished || error) {
    return common::Unavailable(
        "GET " + where + " failed: " + (error ? error.message() : "timed out"));
  }
  HttpResponse response;
  const size_t end_of_headers = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12 ||
      end_of_headers == std::string::npos) {
    return common::Unavailable("GET " + where + ": not an HTTP response");
  }
  response.status = std::stoi(raw.substr(9, 3));
  response.body = raw.substr(end_of_headers + 4);
  return response;
}

}  // namespace fedjets::testutil
