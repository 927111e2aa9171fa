// MetricsServer: answers `GET /metrics` over plain HTTP/1.1 with the text a
// callback renders (the Prometheus exposition of PrometheusMetrics), on a
// thread of its own, so scrapes work from Start() until destruction
// whatever the coordinator's network thread is doing.
//
// Why not prometheus-cpp's own Exposer: Debian's civetweb, which it runs
// on, starts its threads with 100 KiB stacks, and in a process that holds
// LibTorch and OpenBLAS (about 105 KiB of static thread-local storage)
// pthread_create refuses them (EINVAL), so the Exposer cannot start inside
// fedjets-coordinator. This server uses the Boost.Asio the rest of the
// networking uses.
//
// Each connection gets one response, then is closed: a request must arrive
// within 5 s and fit in 8 KiB; at most 16 connections are served at once,
// more are closed at accept. Anything but GET gets 405, any path but
// /metrics 404.
//
// Thread-safety: Start() and the destructor from one thread; `render` is
// called on the server's thread and must be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/base/status.h"

namespace fedjets::coordinator {

class MetricsServer {
 public:
  using Render = std::function<std::string()>;

  // Listens on address:port (port 0: a free one, see port()) and serves
  // `render`'s text at /metrics. InvalidArgument when `address` is not an
  // IPv4 or IPv6 address, Unavailable when it cannot listen there.
  static common::Result<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, uint16_t port, Render render);
  // Stops serving and joins the server's thread.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  uint16_t port() const;
  // "address:port" ("[address]:port" for IPv6), as in a URL.
  const std::string& endpoint() const;

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedjets::coordinator
