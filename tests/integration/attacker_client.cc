// attacker_client: a poisoning fedjets client for the poisoning acceptance
// test (poisoning_test.cc), built only with the tests. It loads its shard
// and trains like fedjets-client, then rewrites every update before it
// leaves: --attack nan fills it with NaN; --attack scale sends the start
// plus --scale times the trained delta and claims --declared-samples
// samples in its Hello and every Update.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <limits>

#include "client/client.h"
#include "client/local_data.h"
#include "common/cli/cli_flags.h"

namespace {

using fedjets::common::ParameterList;

void FillWithNan(ParameterList& params) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (auto& t : params) {
    for (size_t i = 0; i + sizeof(float) <= t.bytes.size();
         i += sizeof(float)) {
      std::memcpy(t.bytes.data() + i, &nan, sizeof(float));
    }
  }
}

// params = start + scale * (params - start), float32 only.
void ScaleDelta(const ParameterList& start, ParameterList& params,
                double scale) {
  for (size_t k = 0; k < params.size() && k < start.size(); ++k) {
    auto* p = reinterpret_cast<float*>(params[k].bytes.data());
    const auto* s = reinterpret_cast<const float*>(start[k].bytes.data());
    const size_t n =
        std::min(params[k].bytes.size(), start[k].bytes.size()) / sizeof(float);
    for (size_t j = 0; j < n; ++j) {
      p[j] = static_cast<float>(s[j] + scale * (p[j] - s[j]));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedjets;
  client::ClientOptions o;
  client::DataOptions d;
  std::string attack;
  double scale = 1000;
  int64_t declared = 0;
  CLI::App app{"attacker_client: a poisoning fedjets client (tests only)"};
  app.add_option("--attack", attack, "nan or scale")
      ->required()
      ->check(CLI::IsMember({"nan", "scale"}));
  app.add_option("--scale", scale, "scale: factor on the trained delta");
  app.add_option("--declared-samples", declared,
                 "scale: samples claimed in the Hello and every Update");
  app.add_option("--port", o.port, "coordinator port")->required();
  o.server_name = "localhost";
  fedjets::common::AddTlsFlags(app, o.tls, o.insecure);
  fedjets::common::AddDatasetFlags(app, d.data);
  app.add_option("--num-shards", d.num_shards, "clients in the federation");
  app.add_option("--shards", d.shards, "the shard this attacker holds")
      ->delimiter(',');
  app.add_option("--seed", d.seed, "partition seed");
  app.add_option("--max-examples", d.max_examples_per_client,
                 "cap on the shard's examples");
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(1);

  if (attack == "nan") {
    o.rewrite_update = [](const ParameterList&, proto::Update&,
                          ParameterList& params) { FillWithNan(params); };
  } else {
    o.declared_samples = declared;
    o.rewrite_update = [scale, declared](const ParameterList& start,
                                         proto::Update& update,
                                         ParameterList& params) {
      ScaleDelta(start, params, scale);
      if (declared > 0) update.set_num_samples(declared);
    };
  }
  auto local = client::LoadLocalClients(d);
  if (!local.ok()) {
    spdlog::error("{}", local.status().ToString());
    return 1;
  }
  int failures = 0;
  for (const auto& r : client::RunClients(o, *local)) {
    if (r.status.ok()) continue;
    ++failures;  // expected when the coordinator refuses the update
    spdlog::warn("[{}] {}", r.name, r.status.ToString());
  }
  return failures == 0 ? 0 : 1;
}
