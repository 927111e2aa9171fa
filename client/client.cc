#include "client/client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

#include "common/learn/model.h"
#include "common/learn/moe.h"
#include "common/learn/training.h"
#include "common/net/asio_coro.h"

namespace fedjets::client {
namespace {

using common::Clock;
using common::Connection;
using common::ParameterList;
using common::Status;

// Models a process already holds, by content hash (the common expert), so
// a client that reconnects or serves is not sent it again. Used from the
// network thread only.
using ModelCache = std::map<std::string, ParameterList>;

class ClientSession {
 public:
  ClientSession(const ClientOptions& o, const LocalClient& local,
                std::shared_ptr<ssl::context> tls, asio::thread_pool& trainer,
                ModelCache& cache)
      : opt_(o), local_(local), tls_(std::move(tls)), trainer_(trainer),
        cache_(cache) {}

  awaitable<ClientResult> Run() {
    result_.name = local_.name;
    result_.status = co_await Session();
    if (conn_ && joined_ && !result_.status.ok()) {
      // Tell the coordinator why we leave, so its log names the cause.
      co_await common::SendErrorAndClose(
          *conn_, run_id_, round_, proto::Error::CODE_INVALID_ARGUMENT,
          fmt::format("client '{}': {}", local_.name, result_.status.ToString()));
    }
    if (conn_) conn_->Close();
    co_return std::move(result_);
  }

 private:
  // Runs `f` on the training thread and resumes here with its result.
  template <typename F>
  auto OnTrainer(F f) -> awaitable<decltype(f())> {
    using R = decltype(f());
    return asio::co_spawn(
        trainer_, [f = std::move(f)]() mutable -> awaitable<R> { co_return f(); },
        asio::use_awaitable);
  }

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
            std::chrono::duration_cast<std::chrono::seconds>(opt_.connect_timeout)
                .count()));
      }
      // Back off: the coordinator may not be listening yet.
      asio::steady_timer timer(ex, delay);
      co_await timer.async_wait(kTuple);
      delay = std::min(delay * 2, std::chrono::milliseconds(2000));
    }
  }

  awaitable<Status> Session() {
    FEDJETS_CO_RETURN_IF_ERROR(co_await Connect());
    const auto hs_deadline = Clock::now() + opt_.handshake_timeout;
    FEDJETS_CO_RETURN_IF_ERROR(
        co_await conn_->Handshake(ssl::stream_base::client, hs_deadline));
    proto::Envelope hello = common::MakeEnvelope("", 0);
    auto* h = hello.mutable_hello();
    h->set_protocol_version(common::kProtocolVersion);
    h->set_client_name(local_.name);
    h->set_num_samples(local_.data->size());
    h->set_serve(opt_.serve);
    if (local_.anchor_expert >= 0) h->set_anchor_expert(local_.anchor_expert);
    for (const auto& [hash, params] : cache_) h->add_cached_models(hash);
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
    const proto::Welcome& w = welcome->welcome();
    spdlog::info("[{}] joined run {} ({}, {} rounds)", local_.name, run_id_,
                 w.algorithm(), w.total_rounds());
    FEDJETS_CO_RETURN_IF_ERROR(CheckModel(w.model()));
    if (w.algorithm() == "fedjets") {
      FEDJETS_CO_RETURN_IF_ERROR(co_await SetUpFedJets(w));
    } else if (opt_.serve) {
      co_return common::FailedPrecondition(fmt::format(
          "--serve needs a fedjets coordinator; this run is {}", w.algorithm()));
    } else {
      auto model = common::MakeClassifier(spec_, /*seed=*/0);
      if (!model.ok()) co_return model.status();
      model_ = *model;
    }
    if (opt_.serve) co_return co_await Serve();

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
      return common::InvalidArgument(fmt::format(
          "local label {} is outside the federation's {} classes", max_label,
          spec_.num_classes));
    }
    return Status::Ok();
  }

  // Gets the common expert (from the cache or the wire), embeds the local
  // data once and builds an empty gate.
  awaitable<Status> SetUpFedJets(const proto::Welcome& w) {
    moe_ = w.moe();
    const std::string& hash = w.common_expert_hash();
    if (w.common_expert_tensors() > 0) {
      auto params = co_await common::ReceiveParameters(
          *conn_, run_id_, 0, w.common_expert_tensors(),
          Clock::now() + opt_.idle_timeout);
      if (!params.ok()) co_return params.status();
      if (common::ContentHash(*params) != hash) {
        co_return common::DataLoss(
            "the common expert received does not match its announced hash");
      }
      cache_[hash] = std::move(*params);
    } else if (!cache_.count(hash)) {
      co_return common::FailedPrecondition(fmt::format(
          "coordinator assumed a cached common expert {} we do not hold", hash));
    }
    auto common = common::MakeClassifier(spec_, /*seed=*/0);
    if (!common.ok()) co_return common.status();
    common_ = *common;
    FEDJETS_CO_RETURN_IF_ERROR(
        common::FromWire(*common_, common::TakePrefix(common::kCommonWirePrefix, cache_[hash])));
    z_ = co_await OnTrainer(
        [this] { return common::EmbedAll(*common_, local_.data->x); });
    gate_ = common::Gate(spec_.hidden, moe_.gate_hidden(), moe_.num_experts());
    co_return Status::Ok();
  }

  Status LoadExperts(const ParameterList& params, const std::vector<int>& ids) {
    experts_.assign(moe_.num_experts(), nullptr);
    for (int q : ids) {
      if (q < 0 || q >= moe_.num_experts()) {
        return common::InvalidArgument(fmt::format("expert id {} out of range", q));
      }
      auto e = common::MakeClassifier(spec_, /*seed=*/0);
      if (!e.ok()) return e.status();
      experts_[q] = *e;
      FEDJETS_RETURN_IF_ERROR(common::FromWire(
          *experts_[q], common::TakePrefix(common::ExpertWirePrefix(q), params)));
    }
    return Status::Ok();
  }

  ParameterList MoeWire(const std::vector<int>& ids) {
    ParameterList out = common::WithPrefix(common::kGateWirePrefix, common::ToWire(*gate_));
    for (int q : ids) {
      auto e = common::ExpertWire(*experts_[q], q);
      out.insert(out.end(), e.begin(), e.end());
    }
    return out;
  }

  // Picks the top-K experts from the local data, asks for them and loads
  // what the coordinator grants.
  awaitable<common::Result<std::vector<int>>> RequestExperts(
      int64_t round, Clock::time_point deadline) {
    std::vector<int> ids = co_await OnTrainer(
        [this] { return common::SelectExperts(*gate_, z_, moe_.top_k()); });
    proto::Envelope req = common::MakeEnvelope(run_id_, round);
    for (int q : ids) req.mutable_expert_request()->add_experts(q);
    FEDJETS_CO_RETURN_IF_ERROR(co_await conn_->Write(req, deadline));
    auto grant = co_await conn_->Read(deadline);
    if (!grant.ok()) co_return grant.status();
    FEDJETS_CO_RETURN_IF_ERROR(common::CheckEnvelope(*grant, run_id_, round));
    if (!grant->has_expert_grant()) {
      co_return common::InvalidArgument("expected an ExpertGrant");
    }
    std::vector<int> granted(grant->expert_grant().experts().begin(),
                             grant->expert_grant().experts().end());
    auto params = co_await common::ReceiveParameters(
        *conn_, run_id_, round, grant->expert_grant().num_tensors(), deadline);
    if (!params.ok()) co_return params.status();
    FEDJETS_CO_RETURN_IF_ERROR(LoadExperts(*params, granted));
    co_return granted;
  }

  awaitable<Status> Serve() {
    const auto deadline = Clock::now() + opt_.idle_timeout;
    auto e = co_await conn_->Read(deadline);
    if (!e.ok()) co_return e.status();
    FEDJETS_CO_RETURN_IF_ERROR(common::CheckEnvelope(*e, run_id_, 0));
    if (!e->has_round_task() ||
        e->round_task().role() != proto::RoundTask::ROLE_SERVE) {
      co_return common::InvalidArgument("expected the gate for serving");
    }
    auto gate = co_await common::ReceiveParameters(
        *conn_, run_id_, 0, e->round_task().num_tensors(), deadline);
    if (!gate.ok()) co_return gate.status();
    FEDJETS_CO_RETURN_IF_ERROR(
        common::FromWire(*gate_, common::TakePrefix(common::kGateWirePrefix, *gate)));
    auto ids = co_await RequestExperts(0, deadline);
    if (!ids.ok()) co_return ids.status();
    // Zero-shot: predict with no gradient step.
    auto jit = co_await OnTrainer([this] {
      std::vector<common::ClassifierImpl*> ptrs;
      for (auto& x : experts_) ptrs.push_back(x.get());
      return common::JitPredict(*gate_, ptrs, local_.data->x, z_,
                                moe_.top_k());
    });
    result_.jit_experts = jit.selected;
    result_.jit_accuracy = jit.predictions.eq(local_.data->y)
                               .to(torch::kFloat64)
                               .mean()
                               .item<double>();
    result_.jit_params = MoeWire(*ids);
    spdlog::info("[{}] just in time: experts [{}], accuracy {:.2f}% on {} "
                 "local examples, no training",
                 local_.name, fmt::join(jit.selected, ", "),
                 100 * result_.jit_accuracy, local_.data->size());
    proto::Envelope bye = common::MakeEnvelope(run_id_, 0);
    bye.mutable_goodbye()->set_reason("served");
    co_return co_await conn_->Write(bye, deadline);
  }

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
    std::vector<int> ids;
    common::Result<common::TrainStats> stats = common::Internal("not trained");
    switch (task.role()) {
      case proto::RoundTask::ROLE_MODEL: {
        if (!model_) co_return common::FailedPrecondition("no model to train");
        FEDJETS_CO_RETURN_IF_ERROR(common::FromWire(*model_, *params));
        stats = co_await OnTrainer(
            [this, o] { return common::TrainLocal(*model_, *local_.data, o); });
        break;
      }
      case proto::RoundTask::ROLE_ANCHOR:
      case proto::RoundTask::ROLE_NORMAL: {
        if (!gate_) co_return common::FailedPrecondition("not a fedjets run");
        FEDJETS_CO_RETURN_IF_ERROR(
            common::FromWire(*gate_, common::TakePrefix(common::kGateWirePrefix, *params)));
        if (task.role() == proto::RoundTask::ROLE_ANCHOR) {
          ids = {task.anchor_expert()};
          FEDJETS_CO_RETURN_IF_ERROR(LoadExperts(*params, ids));
          stats = co_await OnTrainer([this, o, &task, q = ids[0]] {
            return common::TrainAnchor(*experts_[q], *gate_, q, *local_.data,
                                       z_, o, task.gate_lr(),
                                       task.anchor_gate_weight());
          });
        } else {
          auto granted = co_await RequestExperts(round, deadline);
          if (!granted.ok()) co_return granted.status();
          ids = *granted;
          stats = co_await OnTrainer([this, o, &task, &ids] {
            std::vector<common::ClassifierImpl*> ptrs;
            for (auto& x : experts_) ptrs.push_back(x.get());
            return common::TrainMixture(ptrs, ids, *gate_, *local_.data, z_, o,
                                        task.gate_lr());
          });
        }
        break;
      }
      default:
        co_return common::InvalidArgument(fmt::format(
            "unexpected task role {}", static_cast<int>(task.role())));
    }
    if (!stats.ok()) co_return stats.status();
    spdlog::info("[{}] round {}: trained on {} examples{}, loss {:.4f}, {:.1f} s",
                 local_.name, round, stats->examples_seen,
                 ids.empty() ? std::string()
                             : fmt::format(" (experts {})", fmt::join(ids, ",")),
                 stats->mean_loss, stats->seconds);
    const ParameterList out = ids.empty() && model_ ? common::ToWire(*model_)
                                                    : MoeWire(ids);
    experts_.clear();
    proto::Envelope reply = common::MakeEnvelope(run_id_, round);
    auto* u = reply.mutable_update();
    u->set_num_tensors(static_cast<int32_t>(out.size()));
    u->set_num_samples(local_.data->size());
    u->set_train_loss(stats->mean_loss);
    u->set_train_seconds(stats->seconds);
    for (int q : ids) u->add_experts(q);
    FEDJETS_CO_RETURN_IF_ERROR(co_await conn_->Write(reply, deadline));
    co_return co_await common::SendParameters(*conn_, run_id_, round, out,
                                              deadline);
  }

  const ClientOptions& opt_;
  const LocalClient& local_;
  std::shared_ptr<ssl::context> tls_;
  asio::thread_pool& trainer_;
  ModelCache& cache_;
  std::unique_ptr<Connection> conn_;
  std::string run_id_;
  bool joined_ = false;
  int64_t round_ = 0;
  ClientResult result_;
  common::ModelSpec spec_;
  common::Classifier model_;  // fedavg/fedprox
  // fedjets
  proto::MoeConfig moe_;
  common::Classifier common_;
  torch::Tensor z_;  // common-expert embeddings of the local data
  common::Gate gate_{nullptr};
  std::vector<common::Classifier> experts_;  // by id; only this round's set
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
  // LibTorch's thread count (OpenMP) is per thread: give the training
  // thread the caller's (--threads), not the machine-wide default.
  asio::post(trainer, [n = torch::get_num_threads()] { torch::set_num_threads(n); });
  ModelCache cache;
  std::vector<std::unique_ptr<ClientSession>> sessions;
  for (size_t i = 0; i < clients.size(); ++i) {
    sessions.push_back(std::make_unique<ClientSession>(options, clients[i], tls,
                                                       trainer, cache));
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
