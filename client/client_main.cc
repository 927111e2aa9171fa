// fedjets-client: hosts one or more federated clients (each with its own
// connection and data shard). Parses flags and calls the client library.
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "client/client.h"
#include "client/local_data.h"
#include "common/base/process_memory.h"
#include "common/cli/cli_flags.h"

int main(int argc, char** argv) {
  using namespace fedjets;
  common::RetainFreedMemory();
  client::ClientOptions o;
  client::DataOptions d;
  std::string log_level = "info";
  int threads = 1;
  std::chrono::milliseconds connect = o.connect_timeout,
                            handshake = o.handshake_timeout,
                            idle = o.idle_timeout;

  CLI::App app{
      "fedjets-client: joins a federation and trains on local data that "
      "never leaves this host. One process can host several clients "
      "(--shards 0,1,2), each with its own connection. SIGINT/SIGTERM: "
      "each client finishes the round it is in, says goodbye and the "
      "process exits 0; a second signal exits at once."};
  app.set_config("--config", "", "read flags from an INI/TOML file");
  common::AddOptionWithDefault(app, "--host", o.host,
                               "coordinator host name or IP");
  common::AddOptionWithDefault(app, "--port", o.port, "coordinator port");
  app.add_option("--server-name", o.server_name,
                 "name the coordinator's certificate must carry (default: "
                 "--host)");
  common::AddTlsFlags(app, o.tls, o.insecure);
  common::AddLimitFlags(app, o.limits);
  common::AddSecondsFlag(app, "--connect-timeout", connect,
                         "keep retrying the connection this long");
  common::AddSecondsFlag(app, "--handshake-timeout", handshake,
                         "deadline for the TLS handshake and welcome; "
                         "while joining, at least until --connect-timeout "
                         "after the start (a busy coordinator queues new "
                         "connections)");
  common::AddOptionWithDefault(
      app, "--max-joining", o.max_joining,
      "at most this many of this process's clients join at once (connect, "
      "TLS handshake, Welcome); the others wait their turn, so thousands "
      "of clients in one process do not overflow the coordinator's listen "
      "backlog")
      ->check(CLI::PositiveNumber);
  common::AddSecondsFlag(app, "--idle-timeout", idle,
                         "give up if no task arrives for this long");
  common::AddDatasetFlags(app, d.data);
  common::AddOptionWithDefault(
      app, "--partition", d.partition,
      "how the training split is divided among --num-shards "
      "clients: iid, classes:K, dirichlet:ALPHA");
  common::AddOptionWithDefault(app, "--num-shards", d.num_shards,
                               "number of clients in the whole federation");
  app.add_option("--shards", d.shards,
                 "shard indices hosted by this process, one client each "
                 "(e.g. 0,1,2)")
      ->delimiter(',')
      ->capture_default_str();
  common::AddOptionWithDefault(
      app, "--seed", d.seed,
      "partition seed (must match across the federation)");
  common::AddOptionWithDefault(
      app, "--max-examples", d.max_examples_per_client,
      "cap on each client's examples (0 = whole shard)");
  common::AddOptionWithDefault(app, "--name-prefix", d.name_prefix,
                               "client names are PREFIX<shard>");
  common::AddOptionWithDefault(
      app, "--num-experts", d.num_experts,
      "FedJETs layout: shards 0..N-1 are the anchors of experts "
      "0..N-1 (must match the coordinator)");
  common::AddOptionWithDefault(
      app, "--validation-fraction", d.validation_fraction,
      "share of the training split held out for the coordinator's "
      "validation clients, never trained on (must match the coordinator's "
      "--validation-fraction when it has --validation-clients; 0 = none)");
  app.add_flag_callback(
      "--no-reconnect", [&o] { o.reconnect = false; },
      "exit when the connection to the coordinator breaks instead of "
      "joining again (with back-off, for --connect-timeout)");
  app.add_flag("--serve", o.serve,
               "just in time (FedJETs): get the gate and the top-K experts "
               "for the local data, predict with no training, print the "
               "accuracy and leave");
  common::AddOptionWithDefault(app, "--threads", threads,
                               "LibTorch threads for local training");
  common::AddLogLevelFlag(app, log_level);
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  // Debug lines mark the phases bench/serve_latency.sh times.
  spdlog::debug("fedjets-client starting");
  at::set_num_threads(threads);
  o.connect_timeout = connect;
  o.handshake_timeout = handshake;
  o.idle_timeout = idle;
  o.handle_signals = true;
  if (o.insecure) {
    spdlog::warn("--insecure: traffic is neither encrypted nor authenticated");
  }

  auto local = client::LoadLocalClients(d);
  if (!local.ok()) {
    spdlog::error("{}", local.status().ToString());
    return 1;
  }
  int failures = 0;
  for (const auto& r : client::RunClients(o, *local)) {
    if (!r.status.ok()) {
      ++failures;
      spdlog::error("[{}] {}", r.name, r.status.ToString());
    } else if (r.left) {
      spdlog::info("[{}] left after {} rounds", r.name, r.rounds_trained);
    } else if (o.serve) {
      fmt::print("{}: experts [{}], zero-shot accuracy {:.2f}%\n", r.name,
                 fmt::join(r.jit_experts, ", "), 100 * r.jit_accuracy);
    } else {
      spdlog::info("[{}] done after {} rounds", r.name, r.rounds_trained);
    }
  }
  return failures == 0 ? 0 : 1;
}
