#include "coordinator/coordinator_flags.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "coordinator/coordinator.h"

namespace fedjets::coordinator {
namespace {

using namespace std::chrono_literals;

class CoordinatorFlagsTest : public ::testing::Test {
 protected:
  // Parses `args` (without argv[0]) into a fresh command line.
  void Parse(CoordinatorCommandLine& cl, std::vector<std::string> args) {
    CLI::App app;
    AddCoordinatorFlags(app, cl);
    std::reverse(args.begin(), args.end());  // CLI11 takes them reversed
    app.parse(args);
    config_ =
        app.config_to_str(/*default_also=*/true, /*write_description=*/true);
  }
  // Parses the config file the last Parse would write into a fresh command
  // line, as --config (and --resume) read it back.
  CoordinatorCommandLine ParseLastConfig() {
    const auto path =
        std::filesystem::temp_directory_path() /
        ("fedjets-config-" + std::to_string(std::random_device{}()) + ".ini");
    std::ofstream(path) << config_;
    CoordinatorCommandLine cl;
    Parse(cl, {"--config", path.string()});
    std::filesystem::remove(path);
    return cl;
  }
  std::string config_;
};

TEST_F(CoordinatorFlagsTest, FlagsLandInTheOptions) {
  CoordinatorCommandLine cl;
  Parse(cl, {"--algorithm", "fedjets", "--rounds", "7", "--top-k", "1",
             "--no-anchors", "--round-timeout", "12.5", "--max-frame-bytes",
             "1048576", "--data-option", "label=species", "--insecure",
             "--allow-list", "sites.txt"});
  const auto& o = cl.options;
  EXPECT_EQ(o.strategy.algorithm, "fedjets");
  EXPECT_EQ(o.rounds, 7);
  EXPECT_EQ(o.strategy.top_k, 1);
  EXPECT_FALSE(o.strategy.use_anchors);
  EXPECT_EQ(o.round_timeout, 12500ms);
  EXPECT_EQ(o.limits.max_frame_bytes, 1048576u);
  EXPECT_EQ(o.data.options.at("label"), "species");
  EXPECT_TRUE(o.insecure);
  EXPECT_EQ(o.allow_list, "sites.txt");
}

TEST_F(CoordinatorFlagsTest, QuorumFlagsLandInTheOptionsAndDefaultToACount) {
  CoordinatorCommandLine defaults;
  Parse(defaults, {});
  EXPECT_EQ(defaults.options.quorum.min_updates, 1);
  EXPECT_EQ(defaults.options.quorum.min_update_fraction, 0.0);
  EXPECT_EQ(defaults.options.quorum.max_failed_rounds, 5);
  CoordinatorCommandLine cl;
  Parse(cl, {"--min-updates", "2", "--min-update-fraction", "0.75",
             "--max-failed-rounds", "3"});
  EXPECT_EQ(cl.options.quorum.min_updates, 2);
  EXPECT_EQ(cl.options.quorum.min_update_fraction, 0.75);
  EXPECT_EQ(cl.options.quorum.max_failed_rounds, 3);
}

// fedjets-sim hands its quorum flags to the coordinator as QuorumArgs.
TEST_F(CoordinatorFlagsTest, QuorumArgsParseBackToTheSameQuorum) {
  QuorumOptions want;
  want.min_updates = 3;
  want.min_update_fraction = 0.125;
  want.max_failed_rounds = 2;
  CoordinatorCommandLine cl;
  Parse(cl, QuorumArgs(want));
  EXPECT_EQ(cl.options.quorum.min_updates, 3);
  EXPECT_EQ(cl.options.quorum.min_update_fraction, 0.125);
  EXPECT_EQ(cl.options.quorum.max_failed_rounds, 2);
}

TEST_F(CoordinatorFlagsTest, ClientSilenceTimeoutIsSecondsAndZeroTurnsItOff) {
  CoordinatorCommandLine defaults;
  Parse(defaults, {});
  EXPECT_EQ(defaults.options.client_silence_timeout, 60s);
  CoordinatorCommandLine short_one;
  Parse(short_one, {"--client-silence-timeout", "2.5"});
  EXPECT_EQ(short_one.options.client_silence_timeout, 2500ms);
  CoordinatorCommandLine off;
  Parse(off, {"--client-silence-timeout", "0"});
  EXPECT_EQ(off.options.client_silence_timeout, 0ms);
  CoordinatorCommandLine negative;
  EXPECT_THROW(Parse(negative, {"--client-silence-timeout", "-1"}),
               CLI::ValidationError);
}

TEST_F(CoordinatorFlagsTest, ConfigFileReproducesTheCommandLine) {
  CoordinatorCommandLine first;
  Parse(first, {"--algorithm", "fedprox", "--prox-mu", "0.25", "--rounds", "9",
                "--partition", "dirichlet:0.1", "--num-clients", "40",
                "--wait-timeout", "30", "--lr", "0.02"});
  const CoordinatorCommandLine second = ParseLastConfig();
  const auto& a = first.options;
  const auto& b = second.options;
  EXPECT_EQ(b.strategy.algorithm, a.strategy.algorithm);
  EXPECT_DOUBLE_EQ(b.strategy.prox_mu, 0.25);
  EXPECT_DOUBLE_EQ(b.strategy.learning_rate, 0.02);
  EXPECT_EQ(b.rounds, 9);
  EXPECT_EQ(b.partition, "dirichlet:0.1");
  EXPECT_EQ(b.num_clients, 40);
  EXPECT_EQ(b.wait_clients_timeout, 30s);
}

// Mixture serving is the default; --serve-hard turns it off, and a config
// file written from either command line (serve-mixture=false,
// serve-hard=true/false) reads back to the same serving.
TEST_F(CoordinatorFlagsTest, ServeHardTurnsOffTheDefaultMixtureThroughConfigs) {
  for (bool hard : {false, true}) {
    SCOPED_TRACE(hard);
    CoordinatorCommandLine first;
    Parse(first, hard ? std::vector<std::string>{"--serve-hard"}
                      : std::vector<std::string>{});
    EXPECT_EQ(first.options.strategy.serve_mixture, !hard);
    const CoordinatorCommandLine second = ParseLastConfig();
    EXPECT_EQ(second.options.strategy.serve_mixture, !hard);
  }
}

TEST_F(CoordinatorFlagsTest, MetricsEndpointIsOffUnlessAPortIsGiven) {
  CoordinatorCommandLine by_default;
  Parse(by_default, {});
  EXPECT_FALSE(by_default.options.metrics_port.has_value());
  EXPECT_EQ(by_default.options.metrics_address, "127.0.0.1");
  CoordinatorCommandLine zero;
  Parse(zero, {"--metrics-port", "0"});
  EXPECT_FALSE(zero.options.metrics_port.has_value());
  CoordinatorCommandLine on;
  Parse(on, {"--metrics-port", "9464", "--metrics-address", "::1"});
  EXPECT_EQ(on.options.metrics_port, std::optional<uint16_t>(9464));
  EXPECT_EQ(on.options.metrics_address, "::1");
  CoordinatorCommandLine bad;
  EXPECT_THROW(Parse(bad, {"--metrics-port", "70000"}), CLI::ParseError);
}

TEST_F(CoordinatorFlagsTest, ConfigFileKeepsTheMetricsEndpoint) {
  CoordinatorCommandLine first;
  Parse(first, {"--metrics-port", "9464"});
  const CoordinatorCommandLine second = ParseLastConfig();
  EXPECT_EQ(second.options.metrics_port, std::optional<uint16_t>(9464));
}

// Every field of StrategyOptions away from its default.
StrategyOptions NonDefaultStrategyOptions() {
  StrategyOptions want;
  want.algorithm = "fedjets";
  want.common_expert = "examples:500:epochs:2";
  want.common_expert_cache = "/tmp/cache dir";
  want.model_family = "cnn";
  want.model_hidden = 32;
  want.seed = 42;
  want.local_epochs = 3;
  want.batch_size = 16;
  want.learning_rate = 0.125;
  want.momentum = 0.5;
  want.prox_mu = 0.001;
  want.num_experts = 4;
  want.top_k = 1;
  want.gate_hidden = 8;
  want.gate_lr = 0.3;
  want.normal_gate_lr = -1;
  want.anchor_gate_weight = 2.5;
  want.use_anchors = false;
  want.generalist_expert = true;
  want.generalist_weight = 0.25;
  want.routing_loss = 0.5;
  want.routing_only_gate = true;
  want.serve_mixture = false;
  want.serve_mass = 0.5;
  want.serve_max_k = 2;
  want.serve_label_shift = true;
  want.eval_examples_per_client = 77;
  want.eval_examples = 1000;
  want.finetune_epochs = 2;
  want.baselines = true;
  want.aggregation = "trimmed-mean";
  want.trim_fraction = 0.3;
  want.clip_norm = 2.5;
  want.dp_noise_multiplier = 0.75;
  want.max_update_samples = 60000;
  want.max_update_norm = 40;
  want.update_checks = false;
  want.streaming_aggregation = true;
  return want;
}

// fedjets-sim starts the coordinator with StrategyArgs: every setting must
// survive the trip through the coordinator's flags.
TEST(StrategyFlagsTest, StrategyArgsParseBackToTheSameOptions) {
  const StrategyOptions want = NonDefaultStrategyOptions();
  CoordinatorCommandLine cl;
  CLI::App app;
  AddCoordinatorFlags(app, cl);
  std::vector<std::string> args = StrategyArgs(want);
  std::reverse(args.begin(), args.end());
  app.parse(args);
  // Exact, doubles included: StrategyArgs writes the shortest text that
  // reads back to the same double.
  EXPECT_TRUE(cl.options.strategy == want)
      << fmt::format("{}", fmt::join(StrategyArgs(want), " "));
}

// A strategy flag that StrategyArgs never writes would be lost on the way
// from fedjets-sim to the coordinator.
TEST(StrategyFlagsTest, StrategyArgsWritesEveryStrategyFlag) {
  StrategyOptions s;
  CLI::App app;
  AddStrategyFlags(app, s);
  const std::vector<std::string> args =
      StrategyArgs(NonDefaultStrategyOptions());
  int flags = 0;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_name() == "--help") continue;
    ++flags;
    // Restates the default; --serve-hard carries the field.
    if (opt->get_name() == "--serve-mixture") continue;
    EXPECT_NE(std::find(args.begin(), args.end(), opt->get_name()), args.end())
        << opt->get_name();
  }
  // A new strategy flag belongs in NonDefaultStrategyOptions and in the
  // round trip above too.
  EXPECT_EQ(flags, 39);
}

// An empty cache folder and unset flags are left out; every value is
// written.
TEST(StrategyFlagsTest, DefaultOptionsWriteOnlyValues) {
  const std::vector<std::string> args = StrategyArgs(StrategyOptions{});
  for (const char* unset :
       {"--common-expert-cache", "--no-anchors", "--generalist-expert",
        "--serve-mixture", "--serve-hard", "--serve-label-shift", "--baselines",
        "--no-update-checks"}) {
    EXPECT_EQ(std::find(args.begin(), args.end(), unset), args.end()) << unset;
  }
  EXPECT_EQ(args.size(), 2u * 29);
}

TEST_F(CoordinatorFlagsTest,
       RejectsUnknownAlgorithmOrRuleAndMalformedDataOption) {
  CoordinatorCommandLine cl;
  EXPECT_THROW(Parse(cl, {"--algorithm", "fedsgd"}), CLI::ValidationError);
  CoordinatorCommandLine cl1;
  EXPECT_THROW(Parse(cl1, {"--aggregation", "krum"}), CLI::ValidationError);
  CoordinatorCommandLine cl2;
  EXPECT_THROW(Parse(cl2, {"--data-option", "no-equals-sign"}),
               CLI::ValidationError);
}

TEST(CoordinatorOptionsTest, PrepareNamesTheBadSetting) {
  struct Case {
    std::function<void(CoordinatorOptions&)> set;
    std::string expect;
  };
  std::vector<Case> cases = {
      {[](auto& o) { o.rounds = 0; }, "--rounds"},
      {[](auto& o) { o.anchor_share = 1.5; }, "--anchor-share"},
      {[](auto& o) { o.limits.chunk_bytes = o.limits.max_frame_bytes; },
       "--chunk-bytes"},
      {[](auto& o) { o.strategy.algorithm = "fedsgd"; }, "--algorithm"},
      {[](auto& o) { o.strategy.aggregation = "krum"; }, "--aggregation"},
      {[](auto& o) { o.strategy.trim_fraction = 0.5; }, "--trim-fraction"},
      {[](auto& o) { o.strategy.clip_norm = -1; }, "--clip-norm"},
      {[](auto& o) { o.strategy.dp_noise_multiplier = 1; },
       "--dp-noise-multiplier needs --clip-norm"},
      {[](auto& o) { o.strategy.max_update_samples = 0; },
       "--max-update-samples"},
      {[](auto& o) { o.strategy.max_update_norm = -2; }, "--max-update-norm"},
      {[](auto& o) { o.data.path = "/nonexistent/fedjets"; },
       "/nonexistent/fedjets"},
  };
  for (const auto& c : cases) {
    CoordinatorOptions o;
    o.insecure = true;
    o.port = 0;
    c.set(o);
    Coordinator coordinator(o);
    auto st = coordinator.Prepare();
    EXPECT_FALSE(st.ok()) << c.expect;
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << st.ToString();
  }
}

}  // namespace
}  // namespace fedjets::coordinator
