#include "coordinator/coordinator.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <thread>

#include "common/base/process_memory.h"
#include "common/data/federation_split.h"
#include "coordinator/coordinator_impl.h"
#include "coordinator/run_log.h"

namespace fedjets::coordinator {
namespace {

std::string NewRunId() {
  std::random_device rd;
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  return fmt::format("run-{}-{:06x}", stamp, rd() & 0xffffff);
}

}  // namespace

void LogException(const char* what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("{} failed: {}", what, ex.what());
  }
}

Coordinator::Impl::Impl(CoordinatorOptions o)
    : opt_(std::move(o)),
      acceptor_(io_),
      clients_changed_(io_),
      log_(opt_.print_table, opt_.rounds) {
  // LibTorch's thread count (OpenMP) is per thread: evaluation and
  // aggregation run on the worker with the caller's setting (--threads).
  asio::post(workers_, [n = at::get_num_threads()] { at::set_num_threads(n); });
}

Coordinator::Impl::~Impl() {
  io_.stop();
  workers_.join();
}

Status Coordinator::Impl::Prepare() {
  FEDJETS_RETURN_IF_ERROR(common::ValidateLimits(opt_.limits));
  if (opt_.rounds < 1) return common::InvalidArgument("--rounds must be >= 1");
  if (opt_.min_clients < 1) {
    return common::InvalidArgument("--min-clients must be >= 1");
  }
  if (opt_.clients_per_round < 0) {
    return common::InvalidArgument("--clients-per-round must be >= 0");
  }
  FEDJETS_RETURN_IF_ERROR(ValidateQuorum(opt_.quorum, opt_.clients_per_round));
  if (opt_.eval_every < 1) {
    return common::InvalidArgument("--eval-every must be >= 1");
  }
  if (opt_.anchor_share < 0 || opt_.anchor_share > 1) {
    return common::InvalidArgument("--anchor-share must be in [0, 1]");
  }
  summary_.run_id = opt_.run_id.empty() ? NewRunId() : opt_.run_id;
  if (!opt_.allow_list.empty()) {
    auto list = AllowList::Load(opt_.allow_list);
    if (!list.ok()) return list.status();
    allow_list_ = std::move(*list);
  }
  if (opt_.resume) FEDJETS_RETURN_IF_ERROR(LoadResumePoint());

  auto data = common::LoadDataset(opt_.data);
  if (!data.ok()) return data.status().Annotate("loading evaluation data");
  std::optional<common::FederationSplit> split;
  if (opt_.validation_clients != 0 && opt_.num_clients <= 0) {
    return common::InvalidArgument(fmt::format(
        "--validation-clients {} needs the simulated layout they are cut "
        "from (--partition and --num-clients)",
        opt_.validation_clients));
  }
  if (opt_.num_clients > 0) {
    common::SplitOptions so;
    so.partition = opt_.partition;
    so.num_clients = opt_.num_clients;
    so.num_experts = opt_.strategy.num_experts;  // anchors in the layout
    so.seed = opt_.strategy.seed;
    so.num_validation_eval = opt_.validation_clients;
    if (opt_.validation_clients > 0) {
      so.validation_fraction = opt_.validation_fraction;
    }
    auto s = common::MakeFederationSplit(data->train.labels,
                                         data->train.num_classes, so);
    if (!s.ok()) return s.status().Annotate("building the evaluation clients");
    split = std::move(*s);
  }
  auto strategy = MakeStrategy(opt_.strategy, *data, split ? &*split : nullptr);
  if (!strategy.ok()) return strategy.status();
  strategy_ = std::move(*strategy);
  if (resume_) {
    FEDJETS_RETURN_IF_ERROR(
        strategy_->Restore(resume_->params)
            .Annotate(
                "--resume: the checkpoint does not fit this run's models"));
    resume_->params.clear();  // the strategy holds them now
    strategy_->Publish(strategy_->MakeSnapshot(resume_->round));
  }
  if (allow_list_) {
    FEDJETS_RETURN_IF_ERROR(allow_list_->CheckAnchors(strategy_->NumExperts()));
  }

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
  // A coordinator restarted on its port (--resume) may find it held for a
  // moment by the connections of the one before: retry for up to 10 s.
  for (int attempt = 0;; ++attempt) {
    ec.clear();
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    // AcceptLoop drains the backlog with accepts that must not block.
    if (!ec) acceptor_.non_blocking(true, ec);
    if (ec != asio::error::address_in_use || opt_.port == 0 || attempt == 20) {
      break;
    }
    if (attempt == 0) {
      spdlog::warn("port {} is in use; retrying for up to 10 s", opt_.port);
    }
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (ec) {
    return common::Unavailable(fmt::format("cannot listen on {}:{}: {}",
                                           opt_.host, opt_.port, ec.message()));
  }
  port_ = acceptor_.local_endpoint().port();
  FEDJETS_RETURN_IF_ERROR(StartMetrics());

  if (!opt_.run_dir.empty()) {
    std::optional<uint64_t> keep;
    if (resume_) keep = resume_->metrics_bytes;
    FEDJETS_RETURN_IF_ERROR(log_.Open(opt_.run_dir, keep));
  }
  if (resume_) {
    spdlog::info("run {} resumes after round {} (checkpoint in {})",
                 summary_.run_id, resume_->round,
                 CheckpointDir(opt_.run_dir).string());
  }
  spdlog::info("run {} ({}) listening on {}:{} ({})", summary_.run_id,
               opt_.strategy.algorithm, opt_.host, port_,
               opt_.insecure ? "plain TCP, INSECURE" : "mutual TLS 1.3");
  if (opt_.insecure) {
    spdlog::warn("--insecure: traffic is neither encrypted nor authenticated");
  }
  if (!opt_.strategy.update_checks) {
    spdlog::warn(
        "--no-update-checks: updates are aggregated unchecked, NaN and "
        "inflated sample counts included (for experiments only)");
  }
  return Status::Ok();
}

Status Coordinator::Impl::StartMetrics() {
  if (!opt_.metrics_port) return Status::Ok();
  auto metrics = std::make_unique<PrometheusMetrics>();
  // metrics_ is declared before metrics_server_, so it outlives the
  // server's thread that renders it.
  auto server = MetricsServer::Start(opt_.metrics_address, *opt_.metrics_port,
                                     [m = metrics.get()] { return m->Text(); });
  if (!server.ok()) return server.status();
  metrics_ = std::move(metrics);
  metrics_server_ = std::move(*server);
  log_.AddSink(metrics_.get());
  spdlog::info("metrics at http://{}/metrics (plain HTTP)",
               metrics_server_->endpoint());
  boost::system::error_code ec;
  if (!asio::ip::make_address(opt_.metrics_address, ec).is_loopback()) {
    spdlog::warn(
        "--metrics-address {} is not a loopback address: anyone who can "
        "reach it reads this run's metrics, unencrypted and unauthenticated",
        opt_.metrics_address);
  }
  return Status::Ok();
}

void Coordinator::Impl::Record(Event event) {
  if (auto* round = std::get_if<RoundEvent>(&event)) {
    if (auto rss = common::ResidentSetBytes(); rss.ok()) {
      round->rss_bytes = *rss;
    }
  }
  log_.Record(event);
}

void Coordinator::Impl::NoteConnectedClients() {
  if (!metrics_) return;
  metrics_->SetConnectedClients(
      static_cast<int>(std::count_if(sessions_.begin(), sessions_.end(),
                                     [](const auto& s) { return s->alive; })));
}

Status Coordinator::Impl::Run() {
  asio::signal_set signals(io_);
  if (opt_.handle_signals) {
    signals.add(SIGINT);
    signals.add(SIGTERM);
    signals.async_wait(
        [this, &signals](boost::system::error_code ec, int signo) {
          if (ec) return;
          spdlog::warn(
              "signal {} received: stopping after the round in progress (a "
              "second signal exits at once)",
              signo);
          stop_requested_ = true;
          Shutdown();
          if (finished_) {  // lingering after the last round: nothing to do
            signals.cancel();
            return;
          }
          signals.async_wait([](boost::system::error_code ec, int signo) {
            if (ec) return;
            spdlog::error("second signal {}: exiting now", signo);
            spdlog::shutdown();
            std::_Exit(128 + signo);
          });
        });
  }
  asio::co_spawn(io_, AcceptLoop(),
                 [](std::exception_ptr e) { LogException("accept loop", e); });
  asio::co_spawn(
      io_, Drive(), [this, &signals](std::exception_ptr e, Status st) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            st = common::Internal(
                fmt::format("round driver failed: {}", ex.what()));
          }
        }
        result_ = st;
        finished_ = true;
        asio::co_spawn(io_, Finish(signals), [](std::exception_ptr e) {
          LogException("shutdown", e);
        });
      });
  io_.run();
  if (!result_.ok()) return result_;
  if (summary_.interrupted) return Status::Ok();  // the checkpoint stays
  if (opt_.run_dir.empty()) return Status::Ok();
  return SaveRun();
}

Coordinator::Coordinator(CoordinatorOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
Coordinator::~Coordinator() = default;
Status Coordinator::Prepare() { return impl_->Prepare(); }
uint16_t Coordinator::port() const { return impl_->port(); }
uint16_t Coordinator::metrics_port() const { return impl_->metrics_port(); }
const std::string& Coordinator::run_id() const { return impl_->run_id(); }
Status Coordinator::Run() { return impl_->Run(); }
void Coordinator::Stop() { impl_->Stop(); }
const RunSummary& Coordinator::summary() const { return impl_->summary(); }

}  // namespace fedjets::coordinator
