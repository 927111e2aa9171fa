#include "coordinator/coordinator.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <optional>
#include <random>

#include "common/data/federation_split.h"
#include "coordinator/client_sampling.h"
#include "coordinator/run_log.h"
#include "common/net/version.h"

namespace fedjets::coordinator {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using common::Clock;
using common::Connection;
using common::Status;
using nlohmann::json;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::string NewRunId() {
  std::random_device rd;
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  return fmt::format("run-{}-{:06x}", stamp, rd() & 0xffffff);
}

void LogException(const char* what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("{} failed: {}", what, ex.what());
  }
}

}  // namespace

class Coordinator::Impl {
 public:
  explicit Impl(CoordinatorOptions o)
      : opt_(std::move(o)),
        acceptor_(io_),
        clients_changed_(io_),
        log_(opt_.print_table, opt_.rounds) {
    // LibTorch's thread count (OpenMP) is per thread: evaluation and
    // aggregation run on the worker with the caller's setting (--threads).
    asio::post(workers_, [n = at::get_num_threads()] { at::set_num_threads(n); });
  }

  ~Impl() {
    io_.stop();
    workers_.join();
  }

  Status Prepare();
  Status Run();
  void Stop() {
    asio::post(io_, [this] {
      stop_requested_ = true;
      Shutdown();
    });
  }
  uint16_t port() const { return port_; }
  const std::string& run_id() const { return summary_.run_id; }
  const RunSummary& summary() const { return summary_; }

 private:
  struct Session {
    std::unique_ptr<Connection> conn;
    SessionInfo info;
    bool alive = true;
  };
  struct Sampled {
    std::shared_ptr<Session> session;
    Role role;
  };

  awaitable<void> AcceptLoop();
  awaitable<void> Admit(tcp::socket socket);
  awaitable<Status> Drive();
  awaitable<void> ExchangeWith(std::shared_ptr<Session> s, Role role,
                               int round, RoundMetrics& m);
  awaitable<Status> WaitForClients(int needed);
  std::vector<Sampled> Sample(std::mt19937_64& rng);
  void Reject(Connection& conn, const Status& why);
  std::vector<std::shared_ptr<Session>> LiveSessions();
  void Record(const Event& event) { log_.Record(event); }
  void Shutdown();
  awaitable<void> SayGoodbye();

  template <typename F>
  auto OnWorkers(F f) -> awaitable<decltype(f())> {
    using R = decltype(f());
    return asio::co_spawn(
        workers_, [f = std::move(f)]() mutable -> awaitable<R> { co_return f(); },
        asio::use_awaitable);
  }

  CoordinatorOptions opt_;
  asio::io_context io_{1};
  asio::thread_pool workers_{1};
  tcp::acceptor acceptor_;
  std::shared_ptr<ssl::context> tls_;
  std::unique_ptr<Strategy> strategy_;
  uint16_t port_ = 0;
  bool stopping_ = false;
  bool stop_requested_ = false;
  bool finished_ = false;
  std::vector<std::shared_ptr<Session>> sessions_;
  asio::steady_timer clients_changed_;  // cancelled whenever a client joins
  RunLog log_;
  RunSummary summary_;
  Status result_;
  uint64_t client_bytes_total_ = 0;
  int64_t client_exchanges_ = 0;
  std::vector<ClientUpdate> pending_updates_;  // this round's, as they come
};

Status Coordinator::Impl::Prepare() {
  FEDJETS_RETURN_IF_ERROR(common::ValidateLimits(opt_.limits));
  if (opt_.rounds < 1) return common::InvalidArgument("--rounds must be >= 1");
  if (opt_.min_clients < 1) {
    return common::InvalidArgument("--min-clients must be >= 1");
  }
  if (opt_.min_updates < 1) {
    return common::InvalidArgument("--min-updates must be >= 1");
  }
  if (opt_.clients_per_round < 0) {
    return common::InvalidArgument("--clients-per-round must be >= 0");
  }
  if (opt_.eval_every < 1) {
    return common::InvalidArgument("--eval-every must be >= 1");
  }
  if (opt_.anchor_share < 0 || opt_.anchor_share > 1) {
    return common::InvalidArgument("--anchor-share must be in [0, 1]");
  }
  summary_.run_id = opt_.run_id.empty() ? NewRunId() : opt_.run_id;

  auto data = common::LoadDataset(opt_.data);
  if (!data.ok()) return data.status().Annotate("loading evaluation data");
  std::optional<common::FederationSplit> split;
  if (opt_.num_clients > 0) {
    common::SplitOptions so;
    so.partition = opt_.partition;
    so.num_clients = opt_.num_clients;
    so.num_experts = opt_.strategy.num_experts;  // anchors in the layout
    so.seed = opt_.strategy.seed;
    auto s = common::MakeFederationSplit(data->train.labels,
                                         data->train.num_classes, so);
    if (!s.ok()) return s.status().Annotate("building the evaluation clients");
    split = std::move(*s);
  }
  auto strategy = MakeStrategy(opt_.strategy, *data, split ? &*split : nullptr);
  if (!strategy.ok()) return strategy.status();
  strategy_ = std::move(*strategy);

  if (!opt_.insecure) {
    auto ctx = common::MakeServerTlsContext(opt_.tls);
    if (!ctx.ok()) return ctx.status();
    tls_ = *ctx;
  }
  boost::system::error_code ec;
  auto address = asio::ip::make_address(opt_.host, ec);
  if (ec) {
    return common::InvalidArgument(
        fmt::format("--host '{}' is not an IP address", opt_.host));
  }
  tcp::endpoint endpoint(address, opt_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return common::Unavailable(fmt::format("cannot listen on {}:{}: {}",
                                           opt_.host, opt_.port, ec.message()));
  }
  port_ = acceptor_.local_endpoint().port();

  if (!opt_.run_dir.empty()) FEDJETS_RETURN_IF_ERROR(log_.Open(opt_.run_dir));
  spdlog::info("run {} ({}) listening on {}:{} ({})", summary_.run_id,
               opt_.strategy.algorithm, opt_.host, port_,
               opt_.insecure ? "plain TCP, INSECURE" : "mutual TLS 1.3");
  if (opt_.insecure) {
    spdlog::warn("--insecure: traffic is neither encrypted nor authenticated");
  }
  return Status::Ok();
}

void Coordinator::Impl::Reject(Connection& conn, const Status& why) {
  ++summary_.rejected_connections;
  spdlog::error("closing connection from {}: {}", conn.peer(), why.ToString());
}

void Coordinator::Impl::Shutdown() {
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  clients_changed_.cancel();
  for (auto& s : sessions_) s->conn->Close();
}

awaitable<void> Coordinator::Impl::AcceptLoop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    asio::co_spawn(io_, Admit(std::move(socket)), [](std::exception_ptr e) {
      LogException("client session", e);
    });
  }
}

awaitable<void> Coordinator::Impl::Admit(tcp::socket socket) {
  std::unique_ptr<Connection> conn;
  if (tls_) {
    conn = std::make_unique<Connection>(
        Connection::TlsStream(std::move(socket), *tls_), opt_.limits);
  } else {
    conn = std::make_unique<Connection>(std::move(socket), opt_.limits);
  }
  const auto deadline = Clock::now() + opt_.handshake_timeout;
  if (Status st = co_await conn->Handshake(ssl::stream_base::server, deadline);
      !st.ok()) {
    Reject(*conn, st);
    conn->Close();
    co_return;
  }
  auto hello = co_await conn->Read(deadline);
  if (!hello.ok() || !hello->has_hello()) {
    Status why = hello.ok() ? common::InvalidArgument("first message must be Hello")
                            : hello.status();
    Reject(*conn, why);
    co_await common::SendErrorAndClose(*conn, summary_.run_id, 0,
                                       proto::Error::CODE_INVALID_ARGUMENT,
                                       why.ToString());
    co_return;
  }
  const proto::Hello& h = hello->hello();
  if (h.protocol_version() != common::kProtocolVersion) {
    Status why = common::FailedPrecondition(fmt::format(
        "client '{}' speaks protocol version {}; this coordinator speaks {}",
        h.client_name(), h.protocol_version(), common::kProtocolVersion));
    Reject(*conn, why);
    co_await common::SendErrorAndClose(*conn, summary_.run_id, 0,
                                       proto::Error::CODE_VERSION_MISMATCH,
                                       why.message());
    co_return;
  }
  auto session = std::make_shared<Session>();
  session->info.name = h.client_name();
  session->info.num_samples = h.num_samples();
  session->info.anchor_expert = h.has_anchor_expert() ? h.anchor_expert() : -1;
  session->info.cached_models.assign(h.cached_models().begin(),
                                     h.cached_models().end());
  const bool serve = h.serve();
  proto::Envelope reply = common::MakeEnvelope(summary_.run_id, 0);
  if (finished_ && !serve) {
    reply.mutable_goodbye()->set_reason("the run is over");
  } else {
    reply.mutable_welcome()->set_protocol_version(common::kProtocolVersion);
    reply.mutable_welcome()->set_total_rounds(opt_.rounds);
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
  spdlog::info("client '{}' joined from {} with {} samples{}",
               session->info.name, conn->peer(), session->info.num_samples,
               session->info.anchor_expert >= 0
                   ? fmt::format(" (anchor of expert {})",
                                 session->info.anchor_expert)
                   : "");
  session->conn = std::move(conn);
  sessions_.push_back(std::move(session));
  clients_changed_.cancel();
}

std::vector<std::shared_ptr<Coordinator::Impl::Session>>
Coordinator::Impl::LiveSessions() {
  std::erase_if(sessions_, [](const auto& s) { return !s->alive; });
  return sessions_;
}

awaitable<Status> Coordinator::Impl::WaitForClients(int needed) {
  const auto deadline = Clock::now() + opt_.wait_clients_timeout;
  while (static_cast<int>(LiveSessions().size()) < needed) {
    if (stopping_) co_return common::Unavailable("coordinator stopped");
    if (Clock::now() >= deadline) {
      co_return common::DeadlineExceeded(fmt::format(
          "only {} of the {} clients needed joined within {} s",
          sessions_.size(), needed,
          std::chrono::duration_cast<std::chrono::seconds>(
              opt_.wait_clients_timeout)
              .count()));
    }
    clients_changed_.expires_at(deadline);
    co_await clients_changed_.async_wait(kTuple);
  }
  co_return Status::Ok();
}

std::vector<Coordinator::Impl::Sampled> Coordinator::Impl::Sample(
    std::mt19937_64& rng) {
  auto live = LiveSessions();
  std::vector<Candidate> candidates;
  for (const auto& s : live) {
    candidates.push_back(
        {s->info.name, strategy_->UsesAnchors() && s->info.anchor_expert >= 0});
  }
  RoundDraw draw =
      DrawRound(candidates, opt_.clients_per_round, opt_.anchor_share, rng);
  std::vector<Sampled> out;
  for (size_t i : draw.anchors) out.push_back({live[i], Role::kAnchor});
  for (size_t i : draw.normal) out.push_back({live[i], Role::kNormal});
  return out;
}

// One sampled client's round. A member coroutine, not a lambda: a
// coroutine lambda's captures die with the lambda object.
awaitable<void> Coordinator::Impl::ExchangeWith(std::shared_ptr<Session> s,
                                                Role role, int round,
                                                RoundMetrics& m) {
  const uint64_t sent = s->conn->bytes_sent();
  const uint64_t recv = s->conn->bytes_received();
  auto u = co_await strategy_->Exchange(*s->conn, summary_.run_id, round,
                                        s->info, role,
                                        Clock::now() + opt_.round_timeout);
  const uint64_t ds = s->conn->bytes_sent() - sent;
  const uint64_t dr = s->conn->bytes_received() - recv;
  m.bytes_sent += ds;
  m.bytes_received += dr;
  if (!u.ok()) {
    spdlog::warn("client '{}' dropped in round {}: {}", s->info.name,
                 round, u.status().ToString());
    s->alive = false;
    s->conn->Close();
    co_return;
  }
  client_bytes_total_ += ds + dr;
  ++client_exchanges_;
  summary_.exchanges.push_back({round, s->info.name, role, u->experts, ds, dr});
  UpdateEvent event;
  event.round = round;
  event.client = s->info.name;
  event.samples = u->num_samples;
  event.train_loss = u->train_loss;
  event.bytes_sent = ds;
  event.bytes_received = dr;
  if (role != Role::kModel && !u->experts.empty()) {
    event.role = role == Role::kAnchor ? "anchor" : "normal";
    event.experts = u->experts;
  }
  Record(event);
  pending_updates_.push_back(std::move(*u));

}

awaitable<Status> Coordinator::Impl::Drive() {
  summary_.initial_params = strategy_->Snapshot();
  StartEvent start =
      co_await OnWorkers([this] { return strategy_->StartInfo(); });
  summary_.initial_accuracy = start.test_accuracy;
  start.run_id = summary_.run_id;
  start.seed = opt_.strategy.seed;
  Record(start);
  FEDJETS_CO_RETURN_IF_ERROR(co_await WaitForClients(opt_.min_clients));
  std::mt19937_64 rng(opt_.strategy.seed);
  for (int round = 1; round <= opt_.rounds && !stopping_; ++round) {
    const auto start_time = Clock::now();
    FEDJETS_CO_RETURN_IF_ERROR(co_await WaitForClients(opt_.min_updates));
    std::vector<Sampled> sampled = Sample(rng);
    RoundMetrics m;
    m.round = round;
    m.clients_sampled = static_cast<int>(sampled.size());
    std::vector<ClientUpdate> updates;
    size_t pending = sampled.size();
    asio::steady_timer all_done(io_, Clock::time_point::max());
    for (auto& [s, role] : sampled) {
      asio::co_spawn(io_, ExchangeWith(s, role, round, m),
                     [&, s](std::exception_ptr e) {
        LogException("client exchange", e);
        log_.Progress(round, static_cast<int>(pending_updates_.size()),
                 m.clients_sampled);
        if (--pending == 0) all_done.cancel();
      });
    }
    log_.Progress(round, 0, m.clients_sampled);
    while (pending > 0) co_await all_done.async_wait(kTuple);
    updates = std::move(pending_updates_);
    pending_updates_.clear();
    // Updates arrive in network order; aggregate in a fixed one so that a
    // seed reproduces a run bit for bit.
    std::sort(updates.begin(), updates.end(),
              [](const auto& a, const auto& b) { return a.client < b.client; });
    if (stopping_) break;

    m.clients_reported = static_cast<int>(updates.size());
    RoundEvent round_event;
    round_event.round = round;
    if (m.clients_reported >= opt_.min_updates && m.clients_reported > 0) {
      double loss = 0, samples = 0;
      for (auto& u : updates) {
        loss += u.train_loss * static_cast<double>(u.num_samples);
        samples += static_cast<double>(u.num_samples);
      }
      m.train_loss = loss / samples;
      Status st = co_await OnWorkers([&] {
        return strategy_->Aggregate(round, updates, round_event);
      });
      FEDJETS_CO_RETURN_IF_ERROR(st);
    } else {
      spdlog::warn("round {} void: {} updates, quorum is {}", round,
                   m.clients_reported, opt_.min_updates);
    }
    if (round % opt_.eval_every == 0 || round == opt_.rounds) {
      EvalEvent eval =
          co_await OnWorkers([&] { return strategy_->Evaluate(round); });
      m.test_accuracy = eval.test_accuracy;
      m.unseen_accuracy = eval.accuracy.unseen.value_or(-1.0);
      summary_.final_accuracy = m.test_accuracy;
      summary_.final_seen_accuracy = eval.accuracy.seen.value_or(-1.0);
      summary_.final_unseen_accuracy = m.unseen_accuracy;
      Record(eval);
    }
    m.seconds = std::chrono::duration<double>(Clock::now() - start_time).count();
    summary_.rounds.push_back(m);
    round_event.clients_sampled = m.clients_sampled;
    round_event.clients_reported = m.clients_reported;
    round_event.train_loss = m.train_loss;
    round_event.bytes_sent = m.bytes_sent;
    round_event.bytes_received = m.bytes_received;
    round_event.seconds = m.seconds;
    if (m.test_accuracy >= 0) round_event.test_accuracy = m.test_accuracy;
    Record(round_event);
    log_.PrintRow(m);
  }
  if (stopping_) co_return Status::Ok();
  auto finals = co_await OnWorkers([this] { return strategy_->FinalEvents(); });
  for (auto& e : finals) Record(e);
  summary_.final_params = strategy_->Snapshot();
  summary_.full_model_bytes = strategy_->FullModelBytes();
  co_return Status::Ok();
}

awaitable<void> Coordinator::Impl::SayGoodbye() {
  for (auto& s : sessions_) {
    if (!s->alive) continue;
    proto::Envelope bye = common::MakeEnvelope(summary_.run_id, 0);
    bye.mutable_goodbye()->set_reason(result_.ok() ? "run complete"
                                                   : result_.ToString());
    (void)co_await s->conn->Write(bye, Clock::now() + std::chrono::seconds(5));
    s->conn->Close();
  }
  sessions_.clear();
}

Status Coordinator::Impl::Run() {
  asio::signal_set signals(io_);
  if (opt_.handle_signals) {
    signals.add(SIGINT);
    signals.add(SIGTERM);
    signals.async_wait([this](boost::system::error_code ec, int signo) {
      if (ec) return;
      spdlog::warn("signal {} received: stopping", signo);
      stop_requested_ = true;
      Shutdown();
    });
  }
  asio::co_spawn(io_, AcceptLoop(), [](std::exception_ptr e) {
    LogException("accept loop", e);
  });
  asio::co_spawn(io_, Drive(), [this, &signals](std::exception_ptr e, Status st) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        st = common::Internal(fmt::format("round driver failed: {}", ex.what()));
      }
    }
    result_ = st;
    finished_ = true;
    asio::co_spawn(
        io_,
        [this, &signals]() -> awaitable<void> {
          co_await SayGoodbye();
          if (opt_.linger && result_.ok() && !stop_requested_) {
            spdlog::info("run over; serving just-in-time clients until "
                         "stopped (--linger)");
            co_return;  // the acceptor stays open
          }
          Shutdown();
          boost::system::error_code ignored;
          signals.cancel(ignored);
        },
        [](std::exception_ptr e) { LogException("shutdown", e); });
  });
  io_.run();
  if (stop_requested_ && static_cast<int>(summary_.rounds.size()) < opt_.rounds) {
    return common::Unavailable(fmt::format(
        "stopped after {} of {} rounds", summary_.rounds.size(), opt_.rounds));
  }
  if (!result_.ok()) return result_;
  if (!opt_.run_dir.empty()) {
    FEDJETS_RETURN_IF_ERROR(strategy_->Save(opt_.run_dir));
    EndEvent end;
    end.rounds = summary_.rounds.size();
    end.final_test_accuracy = summary_.final_accuracy;
    end.full_model_bytes = strategy_->FullModelBytes();
    end.bytes_per_client_round =
        client_exchanges_
            ? static_cast<double>(client_bytes_total_) / client_exchanges_
            : 0.0;
    if (summary_.final_seen_accuracy >= 0) {
      end.accuracy.seen = summary_.final_seen_accuracy;
    }
    if (summary_.final_unseen_accuracy >= 0) {
      end.accuracy.unseen = summary_.final_unseen_accuracy;
    }
    Record(end);
  }
  return Status::Ok();
}

Coordinator::Coordinator(CoordinatorOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
Coordinator::~Coordinator() = default;
Status Coordinator::Prepare() { return impl_->Prepare(); }
uint16_t Coordinator::port() const { return impl_->port(); }
const std::string& Coordinator::run_id() const { return impl_->run_id(); }
Status Coordinator::Run() { return impl_->Run(); }
void Coordinator::Stop() { impl_->Stop(); }
const RunSummary& Coordinator::summary() const { return impl_->summary(); }

}  // namespace fedjets::coordinator
