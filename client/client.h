// A federated client: connects to the coordinator over (m)TLS, announces
// itself, then trains on its local data whenever it receives a round task,
// until the coordinator says goodbye.
//
// Many clients ("virtual clients", each with its own connection and data
// shard) can run in one process: RunClients drives them all on one network
// thread, while their training runs one at a time on a separate training
// thread so the network never blocks on LibTorch.
//
// Inside: client/session.{h,cc} connects, joins and runs the round loop;
// client/fedjets_state.{h,cc} holds and trains a FedJETs client's common
// expert, gate and experts, and serves; client/virtual_clients.cc runs the
// sessions of one process.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/net/connection.h"
#include "common/net/tensor_codec.h"
#include "common/net/tls.h"

namespace fedjets::common {
struct TensorData;
}  // namespace fedjets::common

namespace fedjets::client {

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7000;
  // Name the coordinator's certificate must carry; defaults to host.
  std::string server_name;
  bool insecure = false;
  common::TlsFiles tls;
  common::ConnectionLimits limits;
  // Keep retrying the TCP connect this long (the coordinator may start later).
  std::chrono::milliseconds connect_timeout{60'000};
  std::chrono::milliseconds handshake_timeout{10'000};
  // At most this many of the process's clients join at once (connect, TLS
  // handshake, Hello, Welcome); the others wait their turn in the process
  // rather than in the coordinator's listen backlog. >= 1.
  int max_joining = 64;
  // How long to wait for the next task before giving up on the coordinator.
  std::chrono::milliseconds idle_timeout{1'800'000};
  // After the connection of a joined client breaks (network, a coordinator
  // restart, a missed deadline), join again under the same name, retrying
  // the connect with exponential back-off and jitter for connect_timeout.
  bool reconnect = true;
  // Just-in-time mode (FedJETs): never train; get the gate and the top-K
  // experts for the local data once, predict, report and leave.
  bool serve = false;
  // SIGINT/SIGTERM make every client leave: one waiting for a round says
  // Goodbye at once, one in a round first finishes it (trains and sends
  // its update), one not joined stops trying; each then ends OK. A second
  // signal exits the process at once (status 128 + signal). For
  // fedjets-client; tests leave it off.
  bool handle_signals = false;

  // For tests that play a poisoning client (tests/integration/
  // attacker_client.cc); fedjets-client leaves both unset. The sample count
  // the Hello declares instead of the local data's size (0: the size), and
  // a rewrite of each Update and its parameters just before they are sent,
  // given the parameters the round task carried (FedAvg: the global model).
  int64_t declared_samples = 0;
  std::function<void(const common::ParameterList& start, proto::Update& update,
                     common::ParameterList& params)>
      rewrite_update;
};

// One client's identity and data. The data must stay alive and unchanged
// while RunClients runs.
struct LocalClient {
  std::string name;
  std::shared_ptr<const common::TensorData> data;
  int anchor_expert = -1;  // FedJETs: the expert this client anchors
};

struct ClientResult {
  std::string name;
  common::Status status;
  int rounds_trained = 0;
  int reconnects = 0;  // times it joined again after losing the coordinator
  bool left = false;   // left on a signal (handle_signals) before the end
  // Just-in-time mode: accuracy on the local labels, the experts picked,
  // and the gate + expert parameters as held after predicting.
  double jit_accuracy = -1.0;
  std::vector<int> jit_experts;
  common::ParameterList jit_params;
};

// Runs every client to completion (goodbye from the coordinator, or an
// error) and returns one result per client, in order. The model's
// architecture comes from the coordinator's Welcome; a client whose data
// does not fit it reports the mismatch to the coordinator and stops.
std::vector<ClientResult> RunClients(const ClientOptions& options,
                                     const std::vector<LocalClient>& clients);

}  // namespace fedjets::client
