#include "coordinator/coordinator.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "common/aggregate.h"
#include "common/dataset.h"
#include "common/model.h"
#include "common/training.h"
#include "common/version.h"

namespace fedjets::coordinator {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using common::Clock;
using common::Connection;
using common::ParameterList;
using common::Status;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::string NewRunId() {
  std::random_device rd;
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  return fmt::format("run-{}-{:06x}", stamp, rd() & 0xffffff);
}

struct ClientUpdate {
  ParameterList params;
  int64_t num_samples = 0;
  double train_loss = 0.0;
};

}  // namespace

class Coordinator::Impl {
 public:
  explicit Impl(CoordinatorOptions o)
      : opt_(std::move(o)), acceptor_(io_), clients_changed_(io_) {}

  ~Impl() {
    io_.stop();
    workers_.join();
  }

  Status Prepare();
  Status Run();
  void Stop() {
    asio::post(io_, [this] {
      stop_requested_ = true;
      stopping_ = true;
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      clients_changed_.cancel();
      for (auto& s : sessions_) s->conn->Close();
    });
  }
  uint16_t port() const { return port_; }
  const std::string& run_id() const { return summary_.run_id; }
  const RunSummary& summary() const { return summary_; }

 private:
  struct Session {
    std::unique_ptr<Connection> conn;
    std::string name;
    int64_t num_samples = 0;
    bool alive = true;
  };

  awaitable<void> AcceptLoop();
  awaitable<void> Admit(tcp::socket socket);
  awaitable<Status> Drive();
  awaitable<Status> WaitForClients(int needed);
  awaitable<std::optional<ClientUpdate>> TrainOn(Session& s, int round,
                                                 const ParameterList& global);
  void Reject(Connection& conn, const Status& why);
  std::vector<std::shared_ptr<Session>> LiveSessions();
  common::EvalStats EvaluateGlobal();
  void Record(const nlohmann::json& event);
  void PrintRow(const RoundMetrics& m);
  void Progress(int round, int reported, int sampled);

  template <typename F>
  auto OnWorkers(F f) -> awaitable<decltype(f())> {
    using R = decltype(f());
    return asio::co_spawn(
        workers_, [f = std::move(f)]() -> awaitable<R> { co_return f(); },
        asio::use_awaitable);
  }

  CoordinatorOptions opt_;
  asio::io_context io_{1};
  asio::thread_pool workers_{1};
  tcp::acceptor acceptor_;
  std::shared_ptr<ssl::context> tls_;
  uint16_t port_ = 0;
  bool stopping_ = false;
  bool stop_requested_ = false;
  bool finished_ = false;
  std::vector<std::shared_ptr<Session>> sessions_;
  asio::steady_timer clients_changed_;  // cancelled whenever a client joins
  common::Classifier model_;
  proto::ModelConfig model_config_;
  common::TensorData test_;
  std::ofstream metrics_;
  RunSummary summary_;
  Status result_;
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
  summary_.run_id = opt_.run_id.empty() ? NewRunId() : opt_.run_id;

  auto data = common::LoadDataset(opt_.data);
  if (!data.ok()) return data.status().Annotate("loading evaluation data");
  common::Dataset test = std::move(data->test);
  if (opt_.eval_examples > 0 && opt_.eval_examples < test.size()) {
    std::vector<int64_t> first(opt_.eval_examples);
    std::iota(first.begin(), first.end(), 0);
    test = common::Subset(test, first);
  }
  test_ = common::ToTensors(test);
  common::ModelSpec spec{opt_.model_family, test.example_shape,
                         test.num_classes, opt_.model_hidden};
  auto model = common::MakeClassifier(spec, opt_.seed);
  if (!model.ok()) return model.status();
  model_ = *model;
  model_config_.set_family(common::ResolveFamily(spec));
  model_config_.set_hidden(spec.hidden);
  for (int64_t d : spec.input_shape) model_config_.add_input_shape(d);
  model_config_.set_num_classes(spec.num_classes);

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
                                           opt_.host, opt_.port,
                                           ec.message()));
  }
  port_ = acceptor_.local_endpoint().port();

  if (!opt_.run_dir.empty()) {
    std::filesystem::create_directories(opt_.run_dir, ec);
    metrics_.open(std::filesystem::path(opt_.run_dir) / "metrics.jsonl",
                  std::ios::app);
    if (ec || !metrics_) {
      return common::Unavailable(fmt::format(
          "cannot write the run directory '{}': {}", opt_.run_dir,
          ec ? ec.message() : "open failed"));
    }
  }
  spdlog::info("run {} listening on {}:{} ({})", summary_.run_id, opt_.host,
               port_, opt_.insecure ? "plain TCP, INSECURE" : "mutual TLS 1.3");
  if (opt_.insecure) {
    spdlog::warn("--insecure: traffic is neither encrypted nor authenticated");
  }
  return Status::Ok();
}

void Coordinator::Impl::Reject(Connection& conn, const Status& why) {
  ++summary_.rejected_connections;
  spdlog::error("closing connection from {}: {}", conn.peer(), why.ToString());
}

awaitable<void> Coordinator::Impl::AcceptLoop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    asio::co_spawn(io_, Admit(std::move(socket)),
                   [](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       spdlog::error("client session failed: {}", ex.what());
                     }
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
    Status why = hello.ok() ? common::InvalidArgument(
                                  "first message must be Hello")
                            : hello.status();
    Reject(*conn, why);
    co_await common::SendErrorAndClose(*conn, summary_.run_id, 0,
                                       proto::Error::CODE_INVALID_ARGUMENT,
                                       why.ToString());
    co_return;
  }
  if (hello->hello().protocol_version() != common::kProtocolVersion) {
    Status why = common::FailedPrecondition(fmt::format(
        "client '{}' speaks protocol version {}; this coordinator speaks {}",
        hello->hello().client_name(), hello->hello().protocol_version(),
        common::kProtocolVersion));
    Reject(*conn, why);
    co_await common::SendErrorAndClose(*conn, summary_.run_id, 0,
                                       proto::Error::CODE_VERSION_MISMATCH,
                                       why.message());
    co_return;
  }
  auto session = std::make_shared<Session>();
  session->name = hello->hello().client_name();
  session->num_samples = hello->hello().num_samples();
  proto::Envelope reply = common::MakeEnvelope(summary_.run_id, 0);
  if (finished_) {
    reply.mutable_goodbye()->set_reason("the run is over");
  } else {
    reply.mutable_welcome()->set_protocol_version(common::kProtocolVersion);
    reply.mutable_welcome()->set_total_rounds(opt_.rounds);
    *reply.mutable_welcome()->mutable_model() = model_config_;
  }
  if (Status st = co_await conn->Write(reply, deadline); !st.ok()) {
    Reject(*conn, st);
    conn->Close();
    co_return;
  }
  if (finished_) co_return;
  spdlog::info("client '{}' joined from {} with {} samples", session->name,
               conn->peer(), session->num_samples);
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

awaitable<std::optional<ClientUpdate>> Coordinator::Impl::TrainOn(
    Session& s, int round, const ParameterList& global) {
  const auto deadline = Clock::now() + opt_.round_timeout;
  const std::string& run = summary_.run_id;
  auto fail = [&](const Status& st) -> std::optional<ClientUpdate> {
    spdlog::warn("client '{}' dropped in round {}: {}", s.name, round,
                 st.ToString());
    s.alive = false;
    s.conn->Close();
    return std::nullopt;
  };
  proto::Envelope task = common::MakeEnvelope(run, round);
  auto* t = task.mutable_round_task();
  t->set_num_tensors(static_cast<int32_t>(global.size()));
  t->set_local_epochs(opt_.local_epochs);
  t->set_batch_size(opt_.batch_size);
  t->set_learning_rate(opt_.learning_rate);
  t->set_momentum(opt_.momentum);
  t->set_prox_mu(opt_.prox_mu);
  t->set_seed(opt_.seed * 1000003 + static_cast<uint64_t>(round));
  if (Status st = co_await s.conn->Write(task, deadline); !st.ok()) {
    co_return fail(st);
  }
  if (Status st = co_await common::SendParameters(*s.conn, run, round, global,
                                                  deadline);
      !st.ok()) {
    co_return fail(st);
  }
  auto reply = co_await s.conn->Read(deadline);
  if (!reply.ok()) co_return fail(reply.status());
  if (Status st = common::CheckEnvelope(*reply, run, round); !st.ok()) {
    co_return fail(st);
  }
  if (!reply->has_update()) {
    co_return fail(common::InvalidArgument("expected an Update message"));
  }
  const proto::Update update = reply->update();
  auto params = co_await common::ReceiveParameters(
      *s.conn, run, round, update.num_tensors(), deadline);
  if (!params.ok()) co_return fail(params.status());
  if (Status st = common::CheckParameterList(global, *params); !st.ok()) {
    co_return fail(st.Annotate("update rejected"));
  }
  if (update.num_samples() <= 0) {
    co_return fail(common::InvalidArgument(fmt::format(
        "update reports {} samples; must be positive", update.num_samples())));
  }
  co_return ClientUpdate{std::move(*params), update.num_samples(),
                         update.train_loss()};
}

common::EvalStats Coordinator::Impl::EvaluateGlobal() {
  return common::Evaluate(*model_, test_);
}

void Coordinator::Impl::Record(const nlohmann::json& event) {
  if (!metrics_.is_open()) return;
  metrics_ << event.dump() << '\n';
  metrics_.flush();
}

void Coordinator::Impl::Progress(int round, int reported, int sampled) {
  if (!opt_.print_table || !isatty(STDERR_FILENO)) return;
  fmt::print(stderr, "\r  round {}/{}: {}/{} clients reported ", round,
             opt_.rounds, reported, sampled);
  std::fflush(stderr);
}

void Coordinator::Impl::PrintRow(const RoundMetrics& m) {
  if (!opt_.print_table) return;
  if (isatty(STDERR_FILENO)) fmt::print(stderr, "\r\033[K");
  if (m.round == 1) {
    fmt::print("{:>5} {:>9} {:>10} {:>9} {:>11} {:>11} {:>8}\n", "round",
               "clients", "train_loss", "test_acc", "bytes_sent",
               "bytes_recv", "seconds");
  }
  std::string acc = m.test_accuracy < 0
                        ? std::string("-")
                        : fmt::format("{:.2f}%", 100 * m.test_accuracy);
  fmt::print("{:>5} {:>9} {:>10.4f} {:>9} {:>11} {:>11} {:>8.1f}\n", m.round,
             fmt::format("{}/{}", m.clients_reported, m.clients_sampled),
             m.train_loss, acc, m.bytes_sent, m.bytes_received, m.seconds);
  std::fflush(stdout);
}

awaitable<Status> Coordinator::Impl::Drive() {
  summary_.initial_params = common::ToWire(*model_);
  auto initial = co_await OnWorkers([this] { return EvaluateGlobal(); });
  summary_.initial_accuracy = initial.accuracy;
  spdlog::info("initial model: test accuracy {:.2f}% on {} examples",
               100 * initial.accuracy, initial.examples);
  Record({{"event", "start"},
          {"run_id", summary_.run_id},
          {"test_accuracy", initial.accuracy},
          {"test_loss", initial.loss}});
  FEDJETS_CO_RETURN_IF_ERROR(co_await WaitForClients(opt_.min_clients));
  std::mt19937_64 rng(opt_.seed);
  for (int round = 1; round <= opt_.rounds && !stopping_; ++round) {
    const auto start = Clock::now();
    FEDJETS_CO_RETURN_IF_ERROR(co_await WaitForClients(opt_.min_updates));
    auto live = LiveSessions();
    std::shuffle(live.begin(), live.end(), rng);
    if (opt_.clients_per_round > 0 &&
        static_cast<int>(live.size()) > opt_.clients_per_round) {
      live.resize(opt_.clients_per_round);
    }
    RoundMetrics m;
    m.round = round;
    m.clients_sampled = static_cast<int>(live.size());
    uint64_t sent_before = 0, recv_before = 0;
    for (auto& s : live) {
      sent_before += s->conn->bytes_sent();
      recv_before += s->conn->bytes_received();
    }
    const ParameterList global = common::ToWire(*model_);
    std::vector<std::pair<std::shared_ptr<Session>, ClientUpdate>> updates;
    size_t pending = live.size();
    asio::steady_timer all_done(io_, Clock::time_point::max());
    for (auto& s : live) {
      asio::co_spawn(
          io_, TrainOn(*s, round, global),
          [&, s](std::exception_ptr e, std::optional<ClientUpdate> u) {
            if (e) {
              s->alive = false;
              spdlog::error("client '{}' session raised an exception",
                            s->name);
            } else if (u) {
              updates.emplace_back(s, std::move(*u));
            }
            Progress(round, static_cast<int>(updates.size()),
                     m.clients_sampled);
            if (--pending == 0) all_done.cancel();
          });
    }
    Progress(round, 0, m.clients_sampled);
    while (pending > 0) co_await all_done.async_wait(kTuple);
    if (stopping_) break;

    for (auto& s : live) {
      m.bytes_sent += s->conn->bytes_sent();
      m.bytes_received += s->conn->bytes_received();
    }
    m.bytes_sent -= sent_before;
    m.bytes_received -= recv_before;
    m.clients_reported = static_cast<int>(updates.size());
    double loss_weighted = 0, samples = 0;
    for (auto& [s, u] : updates) {
      loss_weighted += u.train_loss * static_cast<double>(u.num_samples);
      samples += static_cast<double>(u.num_samples);
      Record({{"event", "update"},
              {"round", round},
              {"client", s->name},
              {"samples", u.num_samples},
              {"train_loss", u.train_loss}});
    }
    if (m.clients_reported >= opt_.min_updates) {
      m.train_loss = loss_weighted / samples;
      auto averaged = co_await OnWorkers([&updates] {
        std::vector<common::WeightedParameters> in;
        for (auto& [s, u] : updates) {
          in.push_back({&u.params, static_cast<double>(u.num_samples)});
        }
        return common::WeightedAverage(in);
      });
      if (!averaged.ok()) co_return averaged.status().Annotate("aggregation");
      FEDJETS_CO_RETURN_IF_ERROR(common::FromWire(*model_, *averaged));
    } else {
      spdlog::warn("round {} void: {} updates, quorum is {}", round,
                   m.clients_reported, opt_.min_updates);
    }
    if (round % opt_.eval_every == 0 || round == opt_.rounds) {
      auto eval = co_await OnWorkers([this] { return EvaluateGlobal(); });
      m.test_accuracy = eval.accuracy;
      m.test_loss = eval.loss;
      summary_.final_accuracy = eval.accuracy;
    }
    m.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    summary_.rounds.push_back(m);
    nlohmann::json row = {{"event", "round"},
                          {"round", m.round},
                          {"clients_sampled", m.clients_sampled},
                          {"clients_reported", m.clients_reported},
                          {"train_loss", m.train_loss},
                          {"bytes_sent", m.bytes_sent},
                          {"bytes_received", m.bytes_received},
                          {"seconds", m.seconds}};
    if (m.test_accuracy >= 0) {
      row["test_accuracy"] = m.test_accuracy;
      row["test_loss"] = m.test_loss;
    }
    Record(row);
    PrintRow(m);
  }
  summary_.final_params = common::ToWire(*model_);
  co_return Status::Ok();
}

Status Coordinator::Impl::Run() {
  asio::signal_set signals(io_);
  if (opt_.handle_signals) {
    signals.add(SIGINT);
    signals.add(SIGTERM);
    signals.async_wait([this](boost::system::error_code ec, int signo) {
      if (ec) return;
      spdlog::warn("signal {} received: stopping the run", signo);
      Stop();
    });
  }
  asio::co_spawn(io_, AcceptLoop(), asio::detached);
  asio::co_spawn(io_, Drive(), [this, &signals](std::exception_ptr e,
                                                Status st) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        st = common::Internal(fmt::format("round driver failed: {}", ex.what()));
      }
    }
    result_ = st;
    finished_ = true;
    // Say goodbye to every client, then stop accepting.
    asio::co_spawn(
        io_,
        [this, &signals]() -> awaitable<void> {
          for (auto& s : sessions_) {
            if (!s->alive) continue;
            proto::Envelope bye = common::MakeEnvelope(summary_.run_id, 0);
            bye.mutable_goodbye()->set_reason(
                result_.ok() ? "run complete" : result_.ToString());
            (void)co_await s->conn->Write(
                bye, Clock::now() + std::chrono::seconds(5));
            s->conn->Close();
          }
          stopping_ = true;
          boost::system::error_code ignored;
          acceptor_.close(ignored);
          signals.cancel(ignored);
        },
        asio::detached);
  });
  io_.run();
  if (stop_requested_ &&
      static_cast<int>(summary_.rounds.size()) < opt_.rounds) {
    return common::Unavailable(fmt::format(
        "stopped after {} of {} rounds", summary_.rounds.size(), opt_.rounds));
  }
  if (!result_.ok()) return result_;
  if (!opt_.run_dir.empty()) {
    const auto dir = std::filesystem::path(opt_.run_dir);
    try {
      torch::save(model_, (dir / "model.pt.tmp").string());
      std::filesystem::rename(dir / "model.pt.tmp", dir / "model.pt");
    } catch (const std::exception& e) {
      return common::Unavailable(
          fmt::format("cannot save the final model in '{}': {}",
                      dir.string(), e.what()));
    }
    Record({{"event", "end"},
            {"final_test_accuracy", summary_.final_accuracy},
            {"rounds", summary_.rounds.size()}});
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
