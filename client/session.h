// One client's session with the coordinator, and what the sessions of one
// process share: the training thread and the models already held. Internal
// to fedjets_client; the public API is client/client.h.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "client/client.h"
#include "common/net/asio_coro.h"
#include "common/net/tensor_codec.h"

namespace fedjets::client {

// Models a process already holds, by content hash (the common expert), so
// a client that reconnects or serves is not sent it again. Used from the
// network thread only.
using ModelCache = std::map<std::string, common::ParameterList>;

// Tells the sessions of one process to leave (a signal): each session
// registers what wakes it from a wait, and checks requested() wherever it
// may stop. Used from the network thread only.
class LeaveRequest {
 public:
  bool requested() const { return requested_; }
  // The Goodbye's reason.
  const std::string& reason() const { return reason_; }
  // Marks the request and calls every registered callback (once).
  void Request(std::string reason);
  // `wake` is called on Request until Remove(id).
  int Add(std::function<void()> wake);
  void Remove(int id) { wakers_.erase(id); }

 private:
  bool requested_ = false;
  std::string reason_;
  std::map<int, std::function<void()>> wakers_;
  int next_id_ = 0;
};

// Bounds how many sessions of one process join at once (connect, TLS
// handshake, Hello, Welcome). A process hosting thousands of clients would
// otherwise open thousands of connections in one burst: beyond the
// coordinator's listen backlog the kernel drops their SYNs, and TCP tries
// again only after 1, 3, 7, ... 63 s, long after the queue has drained
// (measured at 19,500 clients: 3,080 connections stuck in SYN-SENT while
// the coordinator sat idle). Used from the network thread only.
class JoinGate {
 public:
  // slots >= 1.
  explicit JoinGate(int slots) : free_(slots) {}

  // Holds one slot until destroyed or Release()d.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& o) noexcept : gate_(std::exchange(o.gate_, nullptr)) {}
    Slot& operator=(Slot&& o) noexcept;
    ~Slot() { Release(); }
    void Release();
    explicit operator bool() const { return gate_ != nullptr; }

   private:
    friend class JoinGate;
    explicit Slot(JoinGate* gate) : gate_(gate) {}
    JoinGate* gate_ = nullptr;
  };

  // A slot, first come first served; waits on `timer` while none is free.
  // An empty Slot when the wait is cancelled (timer.cancel(): the client
  // leaves).
  awaitable<Slot> Enter(asio::steady_timer& timer);
  int waiting() const { return static_cast<int>(waiting_.size()); }

 private:
  struct Waiter {
    asio::steady_timer* timer;
    bool granted = false;
  };
  void OnSlotFreed();  // hands the slot to the first waiter, if any
  int free_;
  std::deque<Waiter*> waiting_;
};

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
// connection closes. When `leave` is requested the session says Goodbye
// once it waits for a round (after the round under way) and ends OK.
// Each join waits for a slot of `joins`. Runs on the network thread;
// `options`, `local`, `trainer`, `cache`, `leave` and `joins` must outlive
// the returned coroutine.
awaitable<ClientResult> RunSession(const ClientOptions& options,
                                   const LocalClient& local,
                                   std::shared_ptr<ssl::context> tls,
                                   asio::thread_pool& trainer,
                                   ModelCache& cache, LeaveRequest& leave,
                                   JoinGate& joins);

}  // namespace fedjets::client
