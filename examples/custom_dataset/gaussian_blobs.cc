// A complete dataset plug-in: a "gaussian-blobs" dataset generated in code,
// registered with the dataset registry, and trained by a small federation
// (a coordinator and N clients over loopback mutual TLS) in this process.
//
// The three steps a plug-in needs:
//   1. a loader, Result<TrainTest>(const DatasetSource&), that fills
//      common::Dataset (example_shape, num_classes, class_names, features,
//      labels) for a train and a test split;
//   2. one registration line, RegisterDataset("name", "description", fn),
//      in main() before anything resolves a DatasetSource (an explicit call
//      rather than FEDJETS_REGISTER_DATASET, so it works however this file
//      is linked; see common/dataset_registry.h);
//   3. DatasetSource{name, path, options, seed} wherever a dataset is named:
//      the coordinator evaluates its test split, LoadLocalClients partitions
//      its train split, and --dataset/--data-option flags reach it too.
//
// Run: fedjets-example-custom-dataset --clients 3 --rounds 5
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <numbers>
#include <random>
#include <thread>

#include "client/client.h"
#include "client/local_data.h"
#include "common/data/dataset_registry.h"
#include "common/net/certs.h"
#include "coordinator/coordinator.h"

namespace {

using fedjets::common::Dataset;
using fedjets::common::DatasetSource;
using fedjets::common::InvalidArgument;
using fedjets::common::Result;
using fedjets::common::TrainTest;

// An integer --data-option, or `fallback` when absent.
Result<int64_t> IntOption(const DatasetSource& s, const std::string& key,
                          int64_t fallback, int64_t min, int64_t max) {
  auto it = s.options.find(key);
  if (it == s.options.end()) return fallback;
  int64_t v = 0;
  const std::string& text = it->second;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < min ||
      v > max) {
    return InvalidArgument(fmt::format(
        "gaussian-blobs: --data-option {}={} must be an integer in [{}, {}]",
        key, text, min, max));
  }
  return v;
}

// Standard normal draw from our own Box-Muller, so that the data are the
// same with every standard library (std::normal_distribution is not).
double Normal(std::mt19937_64& rng) {
  auto u = [&] { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53; };
  return std::sqrt(-2.0 * std::log(u())) *
         std::cos(2.0 * std::numbers::pi * u());
}

// `classes` isotropic Gaussian blobs in `features` dimensions: centres drawn
// once from the seed, examples = centre + noise. Train and test come from
// the same centres with different draws.
Result<TrainTest> LoadGaussianBlobs(const DatasetSource& s) {
  auto train_n = IntOption(s, "train", 2000, 1, 10'000'000);
  auto test_n = IntOption(s, "test", 500, 1, 10'000'000);
  auto classes = IntOption(s, "classes", 4, 2, 1000);
  auto features = IntOption(s, "features", 8, 1, 10'000);
  for (const auto* r : {&train_n, &test_n, &classes, &features}) {
    if (!r->ok()) return r->status();
  }
  for (const auto& [key, value] : s.options) {
    if (key != "train" && key != "test" && key != "classes" &&
        key != "features") {
      return InvalidArgument(fmt::format(
          "gaussian-blobs: unknown --data-option '{}'; accepted: train, "
          "test, classes, features",
          key));
    }
  }
  std::mt19937_64 rng(s.seed);
  std::vector<double> centres(*classes * *features);
  for (double& c : centres) c = 2.0 * Normal(rng);
  auto make = [&](int64_t n) {
    Dataset d;
    d.name = "gaussian-blobs";
    d.example_shape = {*features};
    d.num_classes = *classes;
    for (int64_t c = 0; c < *classes; ++c) {
      d.class_names.push_back(fmt::format("blob-{}", c));
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t y = i % *classes;
      d.labels.push_back(y);
      for (int64_t f = 0; f < *features; ++f) {
        d.features.push_back(
            static_cast<float>(centres[y * *features + f] + Normal(rng)));
      }
    }
    return d;
  };
  TrainTest out;
  out.train = make(*train_n);
  out.test = make(*test_n);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedjets;
  namespace fs = std::filesystem;
  int clients = 3, rounds = 5;
  int64_t train_examples = 2000;
  double min_accuracy = 0.0;
  std::string partition = "dirichlet:0.5";
  CLI::App app{
      "fedjets-example-custom-dataset: registers a 'gaussian-blobs' dataset "
      "plug-in and trains it with FedAvg over loopback mutual TLS, in one "
      "process. Exit code 0 when the run completes (and reaches "
      "--min-accuracy)."};
  app.add_option("--clients", clients, "clients in the federation")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--rounds", rounds, "federated rounds")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--train-examples", train_examples,
                 "training examples in the whole federation")
      ->capture_default_str();
  app.add_option("--partition", partition, "iid, classes:K, dirichlet:ALPHA")
      ->capture_default_str();
  app.add_option("--min-accuracy", min_accuracy,
                 "fail (exit 1) below this final test accuracy, in [0, 1]")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  // Step 2: one registration line.
  if (auto st = common::RegisterDataset(
          "gaussian-blobs",
          "Gaussian blobs generated in code (examples/custom_dataset); "
          "options train, test, classes, features",
          LoadGaussianBlobs);
      !st.ok()) {
    spdlog::error("{}", st.ToString());
    return 1;
  }
  // Step 3: name it like any built-in dataset.
  const common::DatasetSource data{
      "gaussian-blobs", "", {{"train", std::to_string(train_examples)}}, 7};

  const fs::path dir =
      fs::temp_directory_path() / fmt::format("fedjets-example-{}", ::getpid());
  // One client certificate for the one process hosting every client: it
  // must grant each client's name ("client-<shard>").
  common::ClientCertSpec host{"client-0", {}};
  for (int i = 0; i < clients; ++i) {
    host.client_names.push_back(common::ClientCertName(i));
  }
  if (auto st = common::GenerateRunCertificates(dir / "certs", {host},
                                                {"localhost", "127.0.0.1"});
      !st.ok()) {
    spdlog::error("{}", st.ToString());
    return 1;
  }
  auto tls = [&](const std::string& node) {
    return common::TlsFiles{(dir / "certs" / "ca.pem").string(),
                            (dir / "certs" / (node + ".pem")).string(),
                            (dir / "certs" / (node + ".key")).string()};
  };

  coordinator::CoordinatorOptions co;
  co.host = "127.0.0.1";
  co.port = 0;
  co.tls = tls("coordinator");
  co.rounds = rounds;
  co.min_clients = clients;
  co.data = data;
  co.strategy.learning_rate = 0.05;
  co.strategy.batch_size = 32;
  co.strategy.model_hidden = 32;
  co.wait_clients_timeout = std::chrono::seconds(60);
  coordinator::Coordinator coordinator(co);
  if (auto st = coordinator.Prepare(); !st.ok()) {
    spdlog::error("{}", st.ToString());
    return 1;
  }

  client::DataOptions local;
  local.data = data;
  local.partition = partition;
  local.num_shards = clients;
  local.shards.clear();
  for (int i = 0; i < clients; ++i) local.shards.push_back(i);
  auto shards = client::LoadLocalClients(local);
  if (!shards.ok()) {
    spdlog::error("{}", shards.status().ToString());
    return 1;
  }

  common::Status run_status;
  std::thread coordinator_thread([&] { run_status = coordinator.Run(); });
  client::ClientOptions cl;
  cl.host = "127.0.0.1";
  cl.server_name = "localhost";
  cl.port = coordinator.port();
  cl.tls = tls("client-0");
  cl.connect_timeout = std::chrono::seconds(10);
  int failures = 0;
  for (const auto& r : client::RunClients(cl, *shards)) {
    if (!r.status.ok()) {
      ++failures;
      spdlog::error("[{}] {}", r.name, r.status.ToString());
    }
  }
  coordinator_thread.join();
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!run_status.ok() || failures > 0) {
    spdlog::error("run failed: {}", run_status.ToString());
    return 1;
  }
  const double accuracy = coordinator.summary().final_accuracy;
  fmt::print(
      "gaussian-blobs: {} clients, {} rounds, partition {}: final "
      "test accuracy {:.2f}%\n",
      clients, rounds, partition, 100 * accuracy);
  if (accuracy < min_accuracy) {
    spdlog::error("accuracy {:.4f} is below --min-accuracy {:.4f}", accuracy,
                  min_accuracy);
    return 1;
  }
  return 0;
}
