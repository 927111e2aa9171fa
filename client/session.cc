#include "client/session.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <random>
#include <utility>

#include "client/fedjets_state.h"
#include "client/heartbeat.h"
#include "common/learn/model.h"
#include "common/learn/training.h"
#include "common/net/connection.h"

namespace fedjets::client {
namespace {

using common::Clock;
using common::Connection;
using common::Status;

class ClientSession {
 public:
  ClientSession(const ClientOptions& o, const LocalClient& local,
                std::shared_ptr<ssl::context> tls, asio::thread_pool& trainer,
                ModelCache& cache)
      : opt_(o),
        local_(local),
        tls_(std::move(tls)),
        trainer_(trainer),
        cache_(cache) {}

  awaitable<ClientResult> Run() {
    result_.name = local_.name;
    // Once joined, a lost connection is joined again, also when a rejoin
    // attempt itself breaks (a coordinator restarting may accept and then
    // reset the handshake), until --connect-timeout after the loss.
    bool was_joined = false;
    auto rejoin_until = Clock::time_point::max();
    for (;;) {
      joined_ = false;
      result_.status = co_await Session();
      // Only a connection that broke comes back: a refusal, a protocol
      // error or a goodbye ends the client, and so does a first join.
      if (joined_) {
        was_joined = true;
        rejoin_until = Clock::now() + opt_.connect_timeout;
      }
      if (!opt_.reconnect || opt_.serve || !was_joined ||
          !IsConnectionLoss(result_.status) || Clock::now() >= rejoin_until) {
        break;
      }
      if (joined_) {
        spdlog::warn(
            "[{}] lost the coordinator in round {} ({}); joining again",
            local_.name, round_, result_.status.ToString());
        ++result_.reconnects;
      } else {
        spdlog::warn("[{}] joining again failed ({}); trying again",
                     local_.name, result_.status.ToString());
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer pause(ex, std::chrono::milliseconds(200));
        co_await pause.async_wait(kTuple);
      }
      if (conn_) conn_->Close();
      conn_.reset();
    }
    if (conn_ && joined_ && !result_.status.ok()) {
      // Tell the coordinator why we leave, so its log names the cause.
      co_await common::SendErrorAndClose(
          *conn_, run_id_, round_, proto::Error::CODE_INVALID_ARGUMENT,
          fmt::format("client '{}': {}", local_.name,
                      result_.status.ToString()));
    }
    if (conn_) conn_->Close();
    co_return std::move(result_);
  }

 private:
  awaitable<Status> Connect() {
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver(ex);
    const auto give_up = Clock::now() + opt_.connect_timeout;
    auto delay = std::chrono::milliseconds(100);
    for (;;) {
      auto [rec, endpoints] = co_await resolver.async_resolve(
          opt_.host, std::to_string(opt_.port), kTuple);
      boost::system::error_code ec = rec;
      tcp::socket socket(ex);
      if (!ec) {
        auto [cec, ep] =
            co_await asio::async_connect(socket, endpoints, kTuple);
        ec = cec;
      }
      if (!ec) {
        socket.set_option(tcp::no_delay(true));
        if (tls_) {
          Connection::TlsStream stream(std::move(socket), *tls_);
          const std::string& name =
              opt_.server_name.empty() ? opt_.host : opt_.server_name;
          SSL_set_tlsext_host_name(stream.native_handle(), name.c_str());
          stream.set_verify_callback(ssl::host_name_verification(name));
          conn_ = std::make_unique<Connection>(std::move(stream), opt_.limits);
        } else {
          conn_ = std::make_unique<Connection>(std::move(socket), opt_.limits);
        }
        co_return Status::Ok();
      }
      if (Clock::now() + delay >= give_up) {
        co_return common::Unavailable(fmt::format(
            "cannot connect to coordinator {}:{}: {} (gave up after {} s)",
            opt_.host, opt_.port, ec.message(),
            std::chrono::duration_cast<std::chrono::seconds>(
                opt_.connect_timeout)
                .count()));
      }
      // Back off: the coordinator may not be listening yet (or restarting).
      // Jitter spreads the clients of a restarted coordinator apart.
      std::uniform_real_distribution<double> jitter(0.5, 1.5);
      asio::steady_timer timer(
          ex, std::chrono::duration_cast<std::chrono::milliseconds>(
                  delay * jitter(jitter_rng_)));
      co_await timer.async_wait(kTuple);
      delay = std::min(delay * 2, std::chrono::milliseconds(2000));
    }
  }

  // Connects, joins the run and sets up the model; then serves or trains.
  awaitable<Status> Session() {
    FEDJETS_CO_RETURN_IF_ERROR(co_await Connect());
    const auto hs_deadline = Clock::now() + opt_.handshake_timeout;
    FEDJETS_CO_RETURN_IF_ERROR(
        co_await conn_->Handshake(ssl::stream_base::client, hs_deadline));
    proto::Envelope hello = common::MakeEnvelope("", 0);
    auto* h = hello.mutable_hello();
    h->set_protocol_version(common::kProtocolVersion);
    h->set_client_name(local_.name);
    h->set_num_samples(opt_.declared_samples > 0 ? opt_.declared_samples
                                                 : local_.data->size());
    h->set_serve(opt_.serve);
    if (local_.anchor_expert >= 0) h->set_anchor_expert(local_.anchor_expert);
    for (const auto& [hash, params] : cache_) h->add_cached_models(hash);
    FEDJETS_CO_RETURN_IF_ERROR(co_await conn_->Write(hello, hs_deadline));
    auto welcome = co_await conn_->Read(hs_deadline);
    if (!welcome.ok()) co_return welcome.status();
    if (welcome->has_error()) {
      co_return common::FailedPrecondition(
          fmt::format("coordinator refused client '{}': {}", local_.name,
                      welcome->error().message()));
    }
    if (welcome->has_goodbye()) {
      spdlog::info("[{}] coordinator says goodbye: {}", local_.name,
                   welcome->goodbye().reason());
      co_return Status::Ok();
    }
    if (!welcome->has_welcome()) {
      co_return common::InvalidArgument("expected Welcome from coordinator");
    }
    run_id_ = welcome->run_id();
    joined_ = true;
    const proto::Welcome& w = welcome->welcome();
    spdlog::info("[{}] joined run {} ({}, {} rounds)", local_.name, run_id_,
                 w.algorithm(), w.total_rounds());
    FEDJETS_CO_RETURN_IF_ERROR(CheckModel(w.model()));
    auto heartbeat = HeartbeatInterval(w);
    if (!heartbeat.ok()) co_return heartbeat.status();
    heartbeat_ = *heartbeat;
    if (w.algorithm() == "fedjets") {
      fedjets_ = std::make_unique<FedJetsState>(*conn_, run_id_, local_, spec_,
                                                w.moe(), heartbeat_, trainer_);
      FEDJETS_CO_RETURN_IF_ERROR(co_await fedjets_->SetUp(
          w, cache_, Clock::now() + opt_.idle_timeout));
    } else if (opt_.serve) {
      co_return common::FailedPrecondition(
          fmt::format("--serve needs a fedjets coordinator; this run is {}",
                      w.algorithm()));
    } else {
      auto model = common::MakeClassifier(spec_, /*seed=*/0);
      if (!model.ok()) co_return model.status();
      model_ = *model;
    }
    if (opt_.serve) {
      co_return co_await fedjets_->Serve(Clock::now() + opt_.idle_timeout,
                                         result_);
    }
    co_return co_await RoundLoop();
  }

  // Trains for every round task until the coordinator says goodbye.
  awaitable<Status> RoundLoop() {
    for (;;) {
      auto e = co_await conn_->Read(Clock::now() + opt_.idle_timeout);
      if (!e.ok()) co_return e.status();
      if (e->has_goodbye()) {
        spdlog::info("[{}] coordinator says goodbye: {}", local_.name,
                     e->goodbye().reason());
        co_return Status::Ok();
      }
      if (e->has_error()) {
        co_return common::FailedPrecondition(
            fmt::format("coordinator error: {}", e->error().message()));
      }
      if (e->run_id() != run_id_) {
        co_return common::FailedPrecondition(
            fmt::format("message for run '{}' rejected: joined run '{}'",
                        e->run_id(), run_id_));
      }
      if (!e->has_round_task()) {
        co_return common::InvalidArgument(
            fmt::format("unexpected message kind {} from coordinator",
                        static_cast<int>(e->body_case())));
      }
      FEDJETS_CO_RETURN_IF_ERROR(co_await TrainRound(*e));
      ++result_.rounds_trained;
    }
  }

  // Checks that local data fits the federation's model and keeps its spec.
  Status CheckModel(const proto::ModelConfig& m) {
    spec_.family = m.family();
    spec_.hidden = m.hidden();
    spec_.input_shape.assign(m.input_shape().begin(), m.input_shape().end());
    spec_.num_classes = m.num_classes();
    const auto& x = local_.data->x;
    std::vector<int64_t> example_shape(x.sizes().begin() + 1, x.sizes().end());
    if (example_shape != spec_.input_shape) {
      return common::InvalidArgument(fmt::format(
          "local examples have shape {} but the federation's model takes {}",
          common::ShapeString(example_shape),
          common::ShapeString(spec_.input_shape)));
    }
    const int64_t max_label = local_.data->y.max().item<int64_t>();
    if (max_label >= spec_.num_classes) {
      return common::InvalidArgument(
          fmt::format("local label {} is outside the federation's {} classes",
                      max_label, spec_.num_classes));
    }
    return Status::Ok();
  }

  // Trains for one round task and answers with an Update and the trained
  // parameters.
  awaitable<Status> TrainRound(const proto::Envelope& e) {
    const int64_t round = e.round();
    round_ = round;
    const proto::RoundTask& task = e.round_task();
    const auto deadline = Clock::now() + opt_.idle_timeout;
    auto params = co_await common::ReceiveParameters(
        *conn_, run_id_, round, task.num_tensors(), deadline);
    if (!params.ok()) co_return params.status();
    common::TrainOptions o;
    o.local_epochs = task.local_epochs();
    o.batch_size = task.batch_size();
    o.learning_rate = task.learning_rate();
    o.momentum = task.momentum();
    o.prox_mu = task.prox_mu();
    o.seed = task.seed();
    common::Result<TrainedRound> trained;
    switch (task.role()) {
      case proto::RoundTask::ROLE_MODEL:
        trained = co_await TrainModel(round, *params, o);
        break;
      case proto::RoundTask::ROLE_ANCHOR:
      case proto::RoundTask::ROLE_NORMAL:
        if (!fedjets_)
          co_return common::FailedPrecondition("not a fedjets run");
        trained =
            co_await fedjets_->TrainRound(task, round, *params, o, deadline);
        break;
      default:
        co_return common::InvalidArgument(fmt::format(
            "unexpected task role {}", static_cast<int>(task.role())));
    }
    if (!trained.ok()) co_return trained.status();
    const common::TrainStats& stats = trained->stats;
    const std::vector<int>& ids = trained->experts;
    spdlog::info(
        "[{}] round {}: trained on {} examples{}, loss {:.4f}, {:.1f} s",
        local_.name, round, stats.examples_seen,
        ids.empty() ? std::string()
                    : fmt::format(" (experts {})", fmt::join(ids, ",")),
        stats.mean_loss, stats.seconds);
    common::ParameterList& out = trained->update;
    proto::Envelope reply = common::MakeEnvelope(run_id_, round);
    auto* u = reply.mutable_update();
    u->set_num_tensors(static_cast<int32_t>(out.size()));
    u->set_num_samples(local_.data->size());
    u->set_train_loss(stats.mean_loss);
    u->set_train_seconds(stats.seconds);
    for (int q : ids) u->add_experts(q);
    if (opt_.rewrite_update) opt_.rewrite_update(*params, *u, out);
    FEDJETS_CO_RETURN_IF_ERROR(co_await conn_->Write(reply, deadline));
    co_return co_await common::SendParameters(*conn_, run_id_, round, out,
                                              deadline);
  }

  // FedAvg/FedProx: trains the whole model, starting from `params`.
  awaitable<common::Result<TrainedRound>> TrainModel(
      int64_t round, const common::ParameterList& params,
      const common::TrainOptions& o) {
    if (!model_) co_return common::FailedPrecondition("no model to train");
    FEDJETS_CO_RETURN_IF_ERROR(common::FromWire(*model_, params));
    common::Result<common::TrainStats> stats = co_await OnTrainerWithHeartbeats(
        trainer_, *conn_, run_id_, round, heartbeat_,
        [this, o] { return common::TrainLocal(*model_, *local_.data, o); });
    if (!stats.ok()) co_return stats.status();
    co_return TrainedRound{*stats, {}, common::ToWire(*model_)};
  }

  // A broken or timed-out connection, as opposed to a refusal or an error.
  static bool IsConnectionLoss(const Status& st) {
    return st.code() == common::StatusCode::kUnavailable ||
           st.code() == common::StatusCode::kDeadlineExceeded ||
           st.code() == common::StatusCode::kDataLoss;
  }

  const ClientOptions& opt_;
  const LocalClient& local_;
  std::mt19937 jitter_rng_{std::random_device{}()};
  std::shared_ptr<ssl::context> tls_;
  asio::thread_pool& trainer_;
  ModelCache& cache_;
  std::unique_ptr<Connection> conn_;
  std::string run_id_;
  bool joined_ = false;
  int64_t round_ = 0;
  Clock::duration heartbeat_{};  // Welcome.heartbeat_seconds
  ClientResult result_;
  common::ModelSpec spec_;
  common::Classifier model_;               // fedavg/fedprox
  std::unique_ptr<FedJetsState> fedjets_;  // fedjets
};

}  // namespace

awaitable<ClientResult> RunSession(const ClientOptions& options,
                                   const LocalClient& local,
                                   std::shared_ptr<ssl::context> tls,
                                   asio::thread_pool& trainer,
                                   ModelCache& cache) {
  ClientSession session(options, local, std::move(tls), trainer, cache);
  co_return co_await session.Run();
}

}  // namespace fedjets::client
