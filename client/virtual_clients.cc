// RunClients: many clients ("virtual clients") in one process, each in its
// own session on one network thread, sharing one training thread and one
// ModelCache; with handle_signals, SIGINT/SIGTERM make them leave.
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <utility>

#include "client/client.h"
#include "client/session.h"
#include "common/net/connection.h"
#include "common/net/tls.h"

namespace fedjets::client {

std::vector<ClientResult> RunClients(const ClientOptions& options,
                                     const std::vector<LocalClient>& clients) {
  std::vector<ClientResult> results(clients.size());
  for (size_t i = 0; i < clients.size(); ++i) results[i].name = clients[i].name;
  std::shared_ptr<ssl::context> tls;
  if (common::Status st = common::ValidateLimits(options.limits); !st.ok()) {
    for (auto& r : results) r.status = st;
    return results;
  }
  if (options.max_joining < 1) {
    for (auto& r : results) {
      r.status = common::InvalidArgument(fmt::format(
          "--max-joining must be >= 1, got {}", options.max_joining));
    }
    return results;
  }
  if (!options.insecure) {
    auto ctx = common::MakeClientTlsContext(options.tls);
    if (!ctx.ok()) {
      for (auto& r : results) r.status = ctx.status();
      return results;
    }
    tls = *ctx;
  }
  asio::io_context io(1);
  asio::thread_pool trainer(1);
  // LibTorch's thread count (OpenMP) is per thread: give the training
  // thread the caller's (--threads), not the machine-wide default.
  asio::post(trainer, [n = at::get_num_threads()] { at::set_num_threads(n); });
  ModelCache cache;
  LeaveRequest leave;
  JoinGate joins(options.max_joining);
  asio::signal_set signals(io);
  if (options.handle_signals) {
    signals.add(SIGINT);
    signals.add(SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int signo) {
      if (ec) return;
      spdlog::warn(
          "signal {} received: leaving the run (a client in a round first "
          "sends its update; a second signal exits at once)",
          signo);
      leave.Request(fmt::format("client stopped (signal {})", signo));
      signals.async_wait([](boost::system::error_code ec, int signo) {
        if (ec) return;
        spdlog::error("second signal {}: exiting now", signo);
        spdlog::shutdown();
        std::_Exit(128 + signo);
      });
    });
  }
  size_t running = clients.size();
  if (running == 0) signals.cancel();
  for (size_t i = 0; i < clients.size(); ++i) {
    asio::co_spawn(
        io, RunSession(options, clients[i], tls, trainer, cache, leave, joins),
        [&, i](std::exception_ptr e, ClientResult r) {
          // The signals no longer keep io running once every
          // session is over.
          if (--running == 0) signals.cancel();
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              results[i].status = common::Internal(ex.what());
            }
            return;
          }
          results[i] = std::move(r);
        });
  }
  io.run();
  trainer.join();
  return results;
}

}  // namespace fedjets::client
