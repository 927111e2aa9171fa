// Admission: accepting connections, the TLS handshake, Hello and Welcome,
// just-in-time serving, and waiting until enough clients have joined.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include "common/base/log_quote.h"
#include "common/net/cert_identity.h"
#include "common/net/connection.h"
#include "coordinator/coordinator_impl.h"
#include "coordinator/identity.h"
#include "coordinator/validation.h"

namespace fedjets::coordinator {
namespace {

// How often a full accept loop looks for a free handshake slot.
constexpr auto kHandshakeSlotPoll = std::chrono::milliseconds(5);

// Whether the peer may use the name its valid Hello gives
// (docs/PROTOCOL.md, "Identity"): over TLS, its certificate must grant the
// name; with an allow-list, the list must admit the name and its anchor.
Status CheckIdentity(Connection& conn, const proto::Hello& h,
                     const AllowList* allow_list, int num_experts) {
  if (SSL* tls = conn.tls_session()) {
    auto cert = common::ReadPeerIdentity(tls);
    if (!cert.ok()) {
      return common::PermissionDenied(
          "cannot tell whose certificate this is: " + cert.status().message());
    }
    FEDJETS_RETURN_IF_ERROR(
        CheckNameMatchesCertificate(h.client_name(), *cert));
  }
  if (allow_list != nullptr) {
    FEDJETS_RETURN_IF_ERROR(allow_list->Admits(
        h.client_name(), h.has_anchor_expert() ? h.anchor_expert() : -1,
        num_experts));
  }
  return Status::Ok();
}

}  // namespace

awaitable<void> Coordinator::Impl::AcceptLoop() {
  // An accept error (EMFILE when descriptors run out) would fail again at
  // once: pause, longer each time, and log at most one line a second.
  AcceptBackoff backoff;
  LogThrottle error_log;
  boost::asio::steady_timer pause(io_);
  bool slots_full = false;
  while (!stopping_) {
    // Back-pressure: with every handshake slot taken, accept nothing until
    // one frees, so new connections wait in the listen backlog instead of
    // being closed and tried again.
    if (pending_handshakes_ >= opt_.max_pending_handshakes) {
      if (!slots_full) {
        ++summary_.handshake_slot_waits;
        if (auto held_back = cap_log_.Allow(LogThrottle::Clock::now())) {
          spdlog::warn(
              "--max-pending-handshakes {} reached: new connections wait in "
              "the listen backlog ({} more such waits since the last line)",
              opt_.max_pending_handshakes, *held_back);
        }
      }
      slots_full = true;
      pause.expires_after(kHandshakeSlotPoll);
      co_await pause.async_wait(kTuple);
      continue;
    }
    slots_full = false;
    auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
    if (ec) {
      if (stopping_ || ec == boost::asio::error::operation_aborted) co_return;
      const auto wait = backoff.OnFailure();
      if (auto held_back = error_log.Allow(LogThrottle::Clock::now())) {
        spdlog::warn(
            "accept failed: {}; retrying in {} ms ({} more failures "
            "not logged)",
            ec.message(), wait.count(), *held_back);
      }
      pause.expires_after(wait);
      co_await pause.async_wait(kTuple);
      continue;
    }
    backoff.OnSuccess();
    StartAdmission(std::move(socket));
    // Then every connection already queued, up to the cap, without a trip
    // through the handler queue each: with thousands of clients joined the
    // network thread has thousands of handlers queued (heartbeats), and the
    // listen backlog stayed full while the accept loop waited its turn for
    // each connection. An error (EMFILE) is left to the next async_accept
    // and its back-off.
    while (!stopping_ && pending_handshakes_ < opt_.max_pending_handshakes) {
      boost::system::error_code queued_ec;
      tcp::socket queued = acceptor_.accept(queued_ec);
      if (queued_ec) break;  // would_block: the backlog is empty
      StartAdmission(std::move(queued));
    }
  }
}

void Coordinator::Impl::StartAdmission(tcp::socket socket) {
  // A message is often several small writes (an envelope, then tensor
  // frames); with Nagle's algorithm each one after the first waits for
  // the client's delayed ACK, up to 40 ms on Linux. Clients set it too.
  boost::system::error_code no_delay_error;  // a socket without TCP: ignore
  socket.set_option(tcp::no_delay(true), no_delay_error);
  if (!UnderConnectionCap()) {
    boost::system::error_code ignored;
    socket.close(ignored);
    ++summary_.rejected_connections;
    return;
  }
  Slot connection_slot(open_connections_);
  Slot handshake_slot(pending_handshakes_);
  boost::asio::co_spawn(
      io_,
      Admit(std::move(socket), std::move(connection_slot),
            std::move(handshake_slot)),
      [](std::exception_ptr e) { LogException("client session", e); });
}

bool Coordinator::Impl::UnderConnectionCap() {
  if (open_connections_ < opt_.max_connections) return true;
  if (auto held_back = cap_log_.Allow(LogThrottle::Clock::now())) {
    spdlog::warn(
        "closing a new connection: --max-connections {} reached ({} more "
        "closed since the last such line)",
        opt_.max_connections, *held_back);
  }
  return false;
}

awaitable<void> Coordinator::Impl::Admit(tcp::socket socket,
                                         Slot connection_slot,
                                         Slot handshake_slot) {
  std::unique_ptr<Connection> conn;
  if (tls_) {
    conn = std::make_unique<Connection>(
        Connection::TlsStream(std::move(socket), *tls_), opt_.limits);
  } else {
    conn = std::make_unique<Connection>(std::move(socket), opt_.limits);
  }
  conn->set_traffic_observer(metrics_.get());
  const auto deadline = Clock::now() + opt_.handshake_timeout;
  if (Status st = co_await conn->Handshake(
          boost::asio::ssl::stream_base::server, deadline);
      !st.ok()) {
    Reject(*conn, st);
    conn->Close();
    co_return;
  }
  auto hello = co_await conn->Read(deadline);
  if (!hello.ok() || !hello->has_hello()) {
    Status why = hello.ok()
                     ? common::InvalidArgument("first message must be Hello")
                     : hello.status();
    Reject(*conn, why);
    co_await common::SendErrorAndClose(*conn, summary_.run_id, 0,
                                       proto::Error::CODE_INVALID_ARGUMENT,
                                       why.ToString());
    co_return;
  }
  const proto::Hello& h = hello->hello();
  if (h.protocol_version() != common::kProtocolVersion) {
    // The name is not validated yet: quoted, so it cannot forge a line.
    Status why = common::FailedPrecondition(fmt::format(
        "client {} speaks protocol version {}; this coordinator speaks {}",
        common::QuoteForLog(h.client_name()), h.protocol_version(),
        common::kProtocolVersion));
    Reject(*conn, why);
    co_await common::SendErrorAndClose(*conn, summary_.run_id, 0,
                                       proto::Error::CODE_VERSION_MISMATCH,
                                       why.message());
    co_return;
  }
  if (Status why = ValidateHello(h, strategy_->NumExperts()); !why.ok()) {
    Reject(*conn, why);
    co_await common::SendErrorAndClose(*conn, summary_.run_id, 0,
                                       proto::Error::CODE_INVALID_ARGUMENT,
                                       why.message());
    co_return;
  }
  if (Status why =
          CheckIdentity(*conn, h, allow_list_ ? &*allow_list_ : nullptr,
                        strategy_->NumExperts());
      !why.ok()) {
    Reject(*conn, why);
    co_await common::SendErrorAndClose(*conn, summary_.run_id, 0,
                                       proto::Error::CODE_PERMISSION_DENIED,
                                       why.message());
    co_return;
  }
  // One live session per name: the first keeps it, a second connection is
  // refused (a replacement would let two processes started with the same
  // shards take turns evicting each other mid-round).
  LiveSessions();  // releases the names of sessions that died
  auto claim = names_.TryClaim(h.client_name());
  if (!claim) {
    // The holder may be gone without our knowing yet (a client restarted
    // after a crash, or reconnecting after its network broke): ask it.
    co_await ProbeHolder(h.client_name(), deadline);
    LiveSessions();
    claim = names_.TryClaim(h.client_name());
  }
  if (!claim) {
    Status why = common::FailedPrecondition(fmt::format(
        "client '{}' already has a live session; a second connection "
        "with the same name is refused",
        h.client_name()));
    Reject(*conn, why);
    co_await common::SendErrorAndClose(*conn, summary_.run_id, 0,
                                       proto::Error::CODE_ALREADY_CONNECTED,
                                       why.message());
    co_return;
  }
  handshake_slot.Release();
  auto session = std::make_shared<Session>(io_.get_executor());
  session->connection_slot = std::move(connection_slot);
  session->name_claim = std::move(*claim);
  session->info.name = h.client_name();
  session->info.num_samples = h.num_samples();
  session->info.anchor_expert = h.has_anchor_expert() ? h.anchor_expert() : -1;
  session->info.cached_models.assign(h.cached_models().begin(),
                                     h.cached_models().end());
  session->answers_heartbeats = h.answers_heartbeats();
  const bool serve = h.serve();
  proto::Envelope reply = common::MakeEnvelope(summary_.run_id, 0);
  if (finished_ && !serve) {
    reply.mutable_goodbye()->set_reason("the run is over");
  } else {
    reply.mutable_welcome()->set_protocol_version(common::kProtocolVersion);
    reply.mutable_welcome()->set_total_rounds(opt_.rounds);
    reply.mutable_welcome()->set_heartbeat_seconds(
        HeartbeatSeconds(opt_.client_silence_timeout));
    reply.mutable_welcome()->set_silence_seconds(
        std::chrono::duration<double>(opt_.client_silence_timeout).count());
    strategy_->FillWelcome(session->info, *reply.mutable_welcome());
  }
  Status st = co_await conn->Write(reply, deadline);
  if (st.ok() && reply.has_welcome()) {
    st = co_await strategy_->AfterWelcome(*conn, summary_.run_id, session->info,
                                          Clock::now() + opt_.round_timeout);
  }
  if (!st.ok()) {
    Reject(*conn, st);
    conn->Close();
    co_return;
  }
  if (reply.has_goodbye()) co_return;
  if (serve) {
    st = co_await strategy_->Serve(*conn, summary_.run_id,
                                   Clock::now() + opt_.round_timeout);
    if (!st.ok()) {
      Reject(*conn, st);
      co_await common::SendErrorAndClose(*conn, summary_.run_id, 0,
                                         proto::Error::CODE_INVALID_ARGUMENT,
                                         st.ToString());
      co_return;
    }
    ++summary_.served_clients;
    spdlog::info("served just-in-time client '{}'", session->info.name);
    conn->Close();
    co_return;
  }
  spdlog::info(
      "client '{}' joined from {} with {} samples{}", session->info.name,
      conn->peer(), session->info.num_samples,
      session->info.anchor_expert >= 0
          ? fmt::format(" (anchor of expert {})", session->info.anchor_expert)
          : "");
  if (finished_) {  // the run ended while this client was welcomed
    proto::Envelope bye = common::MakeEnvelope(summary_.run_id, 0);
    bye.mutable_goodbye()->set_reason("the run is over");
    (void)co_await conn->Write(bye, Clock::now() + std::chrono::seconds(5));
    conn->Close();
    co_return;
  }
  session->conn = std::move(conn);
  sessions_.push_back(session);
  StartHeartbeats(session);
  NoteConnectedClients();
  clients_changed_.cancel();
}

void Coordinator::Impl::Reject(Connection& conn, const Status& why) {
  ++summary_.rejected_connections;
  spdlog::error("closing connection from {}: {}", conn.peer(), why.ToString());
}

std::vector<std::shared_ptr<Coordinator::Impl::Session>>
Coordinator::Impl::LiveSessions() {
  std::erase_if(sessions_, [](const std::shared_ptr<Session>& s) {
    if (s->alive) return false;
    s->name_claim.Release();  // a dropped client may join again
    return true;
  });
  return sessions_;
}

std::vector<std::shared_ptr<Coordinator::Impl::Session>>
Coordinator::Impl::FreeSessions() {
  auto live = LiveSessions();
  std::erase_if(live, [](const auto& s) { return s->busy; });
  return live;
}

awaitable<Status> Coordinator::Impl::WaitForClients(int needed) {
  const auto deadline = Clock::now() + opt_.wait_clients_timeout;
  int free = 0;
  while ((free = static_cast<int>(FreeSessions().size())) < needed) {
    if (stopping_) co_return common::Unavailable("coordinator stopped");
    if (Clock::now() >= deadline) {
      const int busy = static_cast<int>(sessions_.size()) - free;
      co_return common::DeadlineExceeded(fmt::format(
          "only {} of the {} clients needed joined within {} s "
          "(--wait-timeout){}",
          free, needed,
          std::chrono::duration_cast<std::chrono::seconds>(
              opt_.wait_clients_timeout)
              .count(),
          busy > 0
              ? fmt::format(" besides {} still busy with a late update", busy)
              : ""));
    }
    clients_changed_.expires_at(deadline);
    co_await clients_changed_.async_wait(kTuple);
  }
  co_return Status::Ok();
}

}  // namespace fedjets::coordinator
