#include "client/session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/this_coro.hpp>
#include <utility>

#include "client/client_session.h"
#include "client/heartbeat.h"

namespace fedjets::client {

using common::Clock;
using common::Connection;
using common::Status;

awaitable<ClientResult> ClientSession::Run() {
  result_.name = local_.name;
  asio::steady_timer pause(co_await asio::this_coro::executor);
  pause_ = &pause;
  const int waker = leave_.Add([this] { WakeToLeave(); });
  // A first join whose connection breaks (a coordinator at its limit of
  // pending handshakes closes new ones; a handshake times out under load)
  // is tried again too, until --connect-timeout after the start.
  Clock::time_point rejoin_until = Clock::now() + opt_.connect_timeout;
  auto backoff = std::chrono::milliseconds(500);
  for (;;) {
    joined_ = false;
    refusal_ = proto::Error::CODE_UNSPECIFIED;
    result_.status = co_await Session(rejoin_until);
    if (leave_.requested()) {
      result_.left = true;
      result_.status = Status::Ok();
      break;
    }
    // Only a session whose connection broke comes back: a refusal, a
    // protocol error or a goodbye ends the client.
    if (!opt_.reconnect || opt_.serve) break;
    if (joined_) {
      if (!IsConnectionLoss(result_.status)) break;
      spdlog::warn("[{}] lost the coordinator in round {} ({}); joining again",
                   local_.name, round_, result_.status.ToString());
      ++result_.reconnects;
      rejoin_until = Clock::now() + opt_.connect_timeout;
      backoff = std::chrono::milliseconds(500);
    } else {
      // After a loss the coordinator may still hold our old session until
      // it finds it gone (CODE_ALREADY_CONNECTED); on a first join that
      // refusal means another client holds the name, and ends this one.
      const bool retry = IsConnectionLoss(result_.status) ||
                         (result_.reconnects > 0 &&
                          refusal_ == proto::Error::CODE_ALREADY_CONNECTED);
      if (!retry) break;
      if (Clock::now() >= rejoin_until) {
        result_.status = result_.status.Annotate(
            fmt::format("gave up joining after {} s (--connect-timeout)",
                        std::chrono::duration_cast<std::chrono::seconds>(
                            opt_.connect_timeout)
                            .count()));
        break;
      }
      spdlog::info("[{}] joining failed ({}); retrying", local_.name,
                   result_.status.ToString());
      co_await Pause(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
    if (conn_) conn_->Close();
    conn_.reset();
  }
  leave_.Remove(waker);
  pause_ = nullptr;
  if (conn_ && joined_ && !result_.status.ok()) {
    // Tell the coordinator why we leave, so its log names the cause.
    co_await common::SendErrorAndClose(
        *conn_, run_id_, round_, proto::Error::CODE_INVALID_ARGUMENT,
        fmt::format("client '{}': {}", local_.name, result_.status.ToString()));
  }
  if (conn_) conn_->Close();
  co_return std::move(result_);
}

awaitable<Status> ClientSession::Connect() {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  const auto give_up = Clock::now() + opt_.connect_timeout;
  auto delay = std::chrono::milliseconds(100);
  for (;;) {
    if (leave_.requested()) co_return common::Unavailable("leaving");
    auto [rec, endpoints] = co_await resolver.async_resolve(
        opt_.host, std::to_string(opt_.port), kTuple);
    boost::system::error_code ec = rec;
    tcp::socket socket(ex);
    if (!ec) {
      connecting_ = &socket;
      auto [cec, ep] = co_await asio::async_connect(socket, endpoints, kTuple);
      connecting_ = nullptr;
      ec = cec;
    }
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      if (tls_) {
        Connection::TlsStream stream(std::move(socket), *tls_);
        const std::string& name =
            opt_.server_name.empty() ? opt_.host : opt_.server_name;
        stream.set_server_name(name);
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
    // Back off: the coordinator may not be listening yet (or restarting).
    co_await Pause(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
  }
}

awaitable<void> ClientSession::Pause(std::chrono::milliseconds delay) {
  if (leave_.requested()) co_return;
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  pause_->expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(
      delay * jitter(jitter_rng_)));
  co_await pause_->async_wait(kTuple);
}

void ClientSession::WakeToLeave() {
  if (pause_ != nullptr) pause_->cancel();
  boost::system::error_code ignored;
  if (connecting_ != nullptr) connecting_->cancel(ignored);
  if (conn_ && (idle_reading_ || !joined_)) conn_->Cancel();
}

awaitable<Status> ClientSession::Session(Clock::time_point join_deadline) {
  if (leave_.requested()) co_return common::Unavailable("leaving");
  // Held until the Welcome (or a failure) is in.
  JoinGate::Slot joining = co_await joins_.Enter(*pause_);
  if (!joining) co_return common::Unavailable("leaving");
  FEDJETS_CO_RETURN_IF_ERROR(co_await Connect());
  // A busy coordinator leaves new connections in its listen backlog
  // (back-pressure) and starts the handshake only when it accepts one, so
  // the wait for the handshake lasts until the join deadline: giving up at
  // --handshake-timeout would throw away a place in the queue and make the
  // coordinator do a handshake for nobody.
  const auto hs_deadline =
      std::max(Clock::now() + opt_.handshake_timeout, join_deadline);
  FEDJETS_CO_RETURN_IF_ERROR(
      co_await conn_->Handshake(ssl::stream_base::client, hs_deadline));
  proto::Envelope hello = common::MakeEnvelope("", 0);
  auto* h = hello.mutable_hello();
  h->set_protocol_version(common::kProtocolVersion);
  h->set_client_name(local_.name);
  h->set_num_samples(opt_.declared_samples > 0 ? opt_.declared_samples
                                               : local_.data->size());
  h->set_serve(opt_.serve);
  h->set_answers_heartbeats(!opt_.serve);
  if (local_.anchor_expert >= 0) h->set_anchor_expert(local_.anchor_expert);
  for (const auto& [hash, params] : cache_) h->add_cached_models(hash);
  FEDJETS_CO_RETURN_IF_ERROR(co_await conn_->Write(hello, hs_deadline));
  auto welcome = co_await conn_->Read(hs_deadline);
  joining.Release();
  if (!welcome.ok()) co_return welcome.status();
  if (welcome->has_error()) {
    refusal_ = welcome->error().code();
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
  auto silence = SilenceBound(w);
  if (!silence.ok()) co_return silence.status();
  silence_ = *silence;
  // Every later read and write must progress within it: a frozen or
  // vanished coordinator is found then, not at --idle-timeout.
  conn_->set_frame_timeout(silence_);
  if (w.algorithm() == "fedjets") {
    fedjets_ = std::make_unique<FedJetsState>(*conn_, run_id_, local_, spec_,
                                              w.moe(), heartbeat_, trainer_);
    FEDJETS_CO_RETURN_IF_ERROR(
        co_await fedjets_->SetUp(w, cache_, Clock::now() + opt_.idle_timeout));
  } else if (opt_.serve) {
    co_return common::FailedPrecondition(fmt::format(
        "--serve needs a fedjets coordinator; this run is {}", w.algorithm()));
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

Status ClientSession::CheckModel(const proto::ModelConfig& m) {
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

bool ClientSession::IsConnectionLoss(const Status& st) {
  return st.code() == common::StatusCode::kUnavailable ||
         st.code() == common::StatusCode::kDeadlineExceeded ||
         st.code() == common::StatusCode::kDataLoss;
}

awaitable<ClientResult> RunSession(const ClientOptions& options,
                                   const LocalClient& local,
                                   std::shared_ptr<ssl::context> tls,
                                   asio::thread_pool& trainer,
                                   ModelCache& cache, LeaveRequest& leave,
                                   JoinGate& joins) {
  ClientSession session(options, local, std::move(tls), trainer, cache, leave,
                        joins);
  co_return co_await session.Run();
}

JoinGate::Slot& JoinGate::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    Release();
    gate_ = std::exchange(o.gate_, nullptr);
  }
  return *this;
}

void JoinGate::Slot::Release() {
  if (gate_ != nullptr) std::exchange(gate_, nullptr)->OnSlotFreed();
}

awaitable<JoinGate::Slot> JoinGate::Enter(asio::steady_timer& timer) {
  if (free_ > 0 && waiting_.empty()) {
    --free_;
    co_return Slot(this);
  }
  Waiter me{&timer};
  waiting_.push_back(&me);
  timer.expires_at(asio::steady_timer::time_point::max());
  co_await timer.async_wait(kTuple);
  if (me.granted) co_return Slot(this);  // OnSlotFreed handed it over
  waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &me));
  co_return Slot();
}

void JoinGate::OnSlotFreed() {
  if (waiting_.empty()) {
    ++free_;
    return;
  }
  Waiter* next = waiting_.front();
  waiting_.pop_front();
  next->granted = true;
  next->timer->cancel();
}

void LeaveRequest::Request(std::string reason) {
  if (requested_) return;
  requested_ = true;
  reason_ = std::move(reason);
  for (auto& [id, wake] : wakers_) wake();
}

int LeaveRequest::Add(std::function<void()> wake) {
  wakers_.emplace(next_id_, std::move(wake));
  return next_id_++;
}

}  // namespace fedjets::client
