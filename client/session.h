// One client's session with the coordinator, and what the sessions of one
// process share: the training thread and the models already held. Internal
// to fedjets_client; the public API is client/client.h.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <memory>
#include <string>

#include "client/client.h"
#include "common/net/asio_coro.h"
#include "common/net/tensor_codec.h"

namespace fedjets::client {

// Models a process already holds, by content hash (the common expert), so
// a client that reconnects or serves is not sent it again. Used from the
// network thread only.
using ModelCache = std::map<std::string, common::ParameterList>;

// Runs `f` on the training thread and resumes the calling coroutine with its
// result, so the network thread never blocks on LibTorch.
template <typename F>
auto OnTrainer(asio::thread_pool& trainer, F f) -> awaitable<decltype(f())> {
  using R = decltype(f());
  return asio::co_spawn(
      trainer, [f = std::move(f)]() mutable -> awaitable<R> { co_return f(); },
      asio::use_awaitable);
}

// Connects to the coordinator (plain TCP when `tls` is null), joins its run,
// then trains on `local`'s data for every round task, or with options.serve
// is served once, until the coordinator says goodbye or an error ends the
// session. An error after joining is sent to the coordinator before the
// connection closes. Runs on the network thread; `options`, `local`,
// `trainer` and `cache` must outlive the returned coroutine.
awaitable<ClientResult> RunSession(const ClientOptions& options,
                                   const LocalClient& local,
                                   std::shared_ptr<ssl::context> tls,
                                   asio::thread_pool& trainer,
                                   ModelCache& cache);

}  // namespace fedjets::client
