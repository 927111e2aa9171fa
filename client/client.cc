#include "client/client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/model.h"
#include "common/training.h"
#include "common/version.h"

namespace fedjets::client {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using common::Clock;
using common::Connection;
using common::Status;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

class ClientSession {
 public:
  ClientSession(const ClientOptions& o, const LocalClient& local,
                std::shared_ptr<ssl::context> tls, asio::thread_pool& trainer)
      : opt_(o), local_(local), tls_(std::move(tls)), trainer_(trainer) {}

  awaitable<ClientResult> Run() {
    ClientResult r{local_.name, Status::Ok(), 0};
    r.status = co_await Session(r.rounds_trained);
    if (conn_ && joined_ && !r.status.ok()) {
      // Tell the coordinator why we leave, so its log names the cause.
      co_await common::SendErrorAndClose(*conn_, run_id_, round_,
                                         proto::Error::CODE_INVALID_ARGUMENT,
                                         fmt::format("client '{}': {}",
                                                     local_.name,
                                                     r.status.ToString()));
    }
    if (conn_) conn_->Close();
    co_return r;
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
        auto [cec, ep] = co_await asio::async_connect(socket, endpoints, kTuple);
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
      // Back off: the coordinator may not be listening yet.
      asio::steady_timer timer(ex, delay);
      co_await timer.async_wait(kTuple);
      delay = std::min(delay * 2, std::chrono::milliseconds(2000));
    }
  }

  awaitable<Status> Session(int& rounds_trained) {
    FEDJETS_CO_RETURN_IF_ERROR(co_await Connect());
    const auto hs_deadline = Clock::now() + opt_.handshake_timeout;
    FEDJETS_CO_RETURN_IF_ERROR(
        co_await conn_->Handshake(ssl::stream_base::client, hs_deadline));
    proto::Envelope hello = common::MakeEnvelope("", 0);
    hello.mutable_hello()->set_protocol_version(common::kProtocolVersion);
    hello.mutable_hello()->set_client_name(local_.name);
    hello.mutable_hello()->set_num_samples(local_.data->size());
    FEDJETS_CO_RETURN_IF_ERROR(co_await conn_->Write(hello, hs_deadline));
    auto welcome = co_await conn_->Read(hs_deadline);
    if (!welcome.ok()) co_return welcome.status();
    if (welcome->has_error()) {
      co_return common::FailedPrecondition(fmt::format(
          "coordinator refused client '{}': {}", local_.name,
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
    spdlog::info("[{}] joined run {} ({} rounds)", local_.name, run_id_,
                 welcome->welcome().total_rounds());
    FEDJETS_CO_RETURN_IF_ERROR(BuildModel(welcome->welcome().model()));

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
        co_return common::FailedPrecondition(fmt::format(
            "message for run '{}' rejected: joined run '{}'", e->run_id(),
            run_id_));
      }
      if (!e->has_round_task()) {
        co_return common::InvalidArgument(fmt::format(
            "unexpected message kind {} from coordinator",
            static_cast<int>(e->body_case())));
      }
      FEDJETS_CO_RETURN_IF_ERROR(co_await TrainRound(*e));
      ++rounds_trained;
    }
  }

  // Builds the federation's model and checks that local data fits it.
  Status BuildModel(const proto::ModelConfig& m) {
    common::ModelSpec spec;
    spec.family = m.family();
    spec.hidden = m.hidden();
    spec.input_shape.assign(m.input_shape().begin(), m.input_shape().end());
    spec.num_classes = m.num_classes();
    const auto& x = local_.data->x;
    std::vector<int64_t> example_shape(x.sizes().begin() + 1, x.sizes().end());
    if (example_shape != spec.input_shape) {
      return common::InvalidArgument(fmt::format(
          "local examples have shape {} but the federation's model takes {}",
          common::ShapeString(example_shape),
          common::ShapeString(spec.input_shape)));
    }
    const int64_t max_label = local_.data->y.max().item<int64_t>();
    if (max_label >= spec.num_classes) {
      return common::InvalidArgument(fmt::format(
          "local label {} is outside the federation's {} classes", max_label,
          spec.num_classes));
    }
    auto model = common::MakeClassifier(spec, /*seed=*/0);
    if (!model.ok()) return model.status();
    model_ = *model;
    return Status::Ok();
  }

  awaitable<Status> TrainRound(const proto::Envelope& e) {
    const int64_t round = e.round();
    round_ = round;
    const proto::RoundTask& task = e.round_task();
    const auto deadline = Clock::now() + opt_.idle_timeout;
    auto params = co_await common::ReceiveParameters(
        *conn_, run_id_, round, task.num_tensors(), deadline);
    if (!params.ok()) co_return params.status();
    FEDJETS_CO_RETURN_IF_ERROR(common::FromWire(*model_, *params));
    common::TrainOptions o;
    o.local_epochs = task.local_epochs();
    o.batch_size = task.batch_size();
    o.learning_rate = task.learning_rate();
    o.momentum = task.momentum();
    o.prox_mu = task.prox_mu();
    o.seed = task.seed();
    // Train off the network thread; resume here when done.
    auto stats = co_await asio::co_spawn(
        trainer_,
        [this, o]() -> awaitable<common::Result<common::TrainStats>> {
          co_return common::TrainLocal(*model_, *local_.data, o);
        },
        asio::use_awaitable);
    if (!stats.ok()) co_return stats.status();
    spdlog::info("[{}] round {}: trained on {} examples, loss {:.4f}, {:.1f} s",
                 local_.name, round, stats->examples_seen, stats->mean_loss,
                 stats->seconds);
    proto::Envelope reply = common::MakeEnvelope(run_id_, round);
    common::ParameterList out = common::ToWire(*model_);
    auto* u = reply.mutable_update();
    u->set_num_tensors(static_cast<int32_t>(out.size()));
    u->set_num_samples(local_.data->size());
    u->set_train_loss(stats->mean_loss);
    u->set_train_seconds(stats->seconds);
    FEDJETS_CO_RETURN_IF_ERROR(co_await conn_->Write(reply, deadline));
    co_return co_await common::SendParameters(*conn_, run_id_, round, out,
                                              deadline);
  }

  const ClientOptions& opt_;
  const LocalClient& local_;
  std::shared_ptr<ssl::context> tls_;
  asio::thread_pool& trainer_;
  std::unique_ptr<Connection> conn_;
  std::string run_id_;
  bool joined_ = false;
  int64_t round_ = 0;
  common::Classifier model_;
};

}  // namespace

std::vector<ClientResult> RunClients(const ClientOptions& options,
                                     const std::vector<LocalClient>& clients) {
  std::vector<ClientResult> results(clients.size());
  for (size_t i = 0; i < clients.size(); ++i) results[i].name = clients[i].name;
  std::shared_ptr<ssl::context> tls;
  if (Status st = common::ValidateLimits(options.limits); !st.ok()) {
    for (auto& r : results) r.status = st;
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
  std::vector<std::unique_ptr<ClientSession>> sessions;
  for (size_t i = 0; i < clients.size(); ++i) {
    sessions.push_back(
        std::make_unique<ClientSession>(options, clients[i], tls, trainer));
    asio::co_spawn(io, sessions.back()->Run(),
                   [&results, i](std::exception_ptr e, ClientResult r) {
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
