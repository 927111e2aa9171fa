// The fixture of the fedjets-report tests: run directories written with the
// typed metrics events (a start, three rounds each with an eval, baselines,
// routing and end events), loaded and summarized as the tool does.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tools/report/report.h"

namespace fedjets::coordinator::report_test {

namespace fs = std::filesystem;

struct RunShape {
  std::string method = "fedjets";
  int seed = 1;
  double seen = 0.9, unseen = 0.8;
  double common = 0.6, oracle = 0.9;  // baselines event
  bool finished = true;
  double full_bytes = 5200, bytes = 4000;
  // Validation clients' final accuracy (--validation-clients); none if unset.
  std::optional<double> validation;
  bool generalist = false;   // fedjets --generalist-expert: generalist_share
  bool label_shift = false;  // config.ini: serve-label-shift=true
};

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("report_test-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // Writes <root>/<name>/{metrics.jsonl,config.ini}; returns the directory.
  std::string WriteRaw(const std::string& name, const std::string& text) {
    fs::path dir = root_ / name;
    fs::create_directories(dir);
    std::ofstream(dir / "metrics.jsonl") << text;
    std::ofstream(dir / "config.ini") << "# test\nrounds=3\n";
    return dir.string();
  }

  // Three rounds with an eval after each, as the schema describes.
  std::string WriteRun(const std::string& name, const RunShape& r) {
    const bool fj = r.method == "fedjets";
    std::vector<Event> ev;
    StartEvent start = Start(r.method, r.seed);
    if (fj) {
      start.num_experts = 5;
      start.top_k = 2;
      start.common_expert_accuracy = 0.7 + 0.02 * r.seed;
    }
    ev.push_back(start);
    for (int round = 1; round <= 3; ++round) {
      RoundEvent rd = Round(round);
      if (fj) rd.expert_load = std::vector<int>{round, 2, 3, 1, 0};
      ev.push_back(rd);
      EvalEvent e;
      e.round = round;
      e.algorithm = r.method;
      e.accuracy.seen = r.seen * round / 3;
      e.accuracy.unseen = r.unseen * round / 3;
      if (r.validation) e.accuracy.validation = *r.validation * round / 3;
      if (fj) {
        e.routing_accuracy = 0.7;
        e.gate_entropy = 0.5;
        e.anchor_routed_accuracy = 0.9 + 0.01 * r.seed;
        if (r.generalist) e.generalist_share = 0.1;
      }
      ev.push_back(e);
    }
    if (!r.finished) return Write(name, ev);
    BaselinesEvent base;
    // emplace, not an assigned temporary: GCC 12 warns of a maybe
    // uninitialized string in the temporary's optional `error`.
    base.common.emplace().seen = 0.7;
    base.common->unseen = r.common;
    base.local.emplace().seen = 0.8;
    base.local->unseen = 0.85;
    if (r.method == "fedavg") {
      base.oracle.emplace().seen = 0.95;
      base.oracle->unseen = r.oracle;
    }
    ev.push_back(base);
    if (fj) {
      RoutingEvent routing;
      for (int c = 0; c < 10; ++c) {
        std::vector<int64_t> row(5, 1);
        row[c / 2] = 40;
        routing.confusion.push_back(row);
      }
      routing.anchor_classes = {{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}};
      routing.reference_gate = ReferenceGateEval{{0.9, 0.86}, 0.8};
      ev.push_back(routing);
    }
    EndEvent end;
    end.rounds = 3;
    end.accuracy = {r.seen, r.unseen};
    end.accuracy.validation = r.validation;
    end.bytes_per_client_round = r.bytes;
    end.full_model_bytes = static_cast<uint64_t>(r.full_bytes);
    ev.push_back(end);
    std::string dir = Write(name, ev);
    if (r.label_shift)
      std::ofstream(fs::path(dir) / "config.ini", std::ios::app)
          << "serve-label-shift = true\n";
    return dir;
  }

  static StartEvent Start(const std::string& method, int seed) {
    StartEvent start;
    start.run_id = "run-test";
    start.algorithm = method;
    start.seed = seed;
    start.test_accuracy = 0.1;
    return start;
  }

  static RoundEvent Round(int round) {
    RoundEvent rd;
    rd.round = round;
    rd.bytes_sent = 1;
    rd.bytes_received = 1;
    return rd;
  }

  static std::string Line(const Event& e) { return EventLine(e) + "\n"; }

  std::string Write(const std::string& name, const std::vector<Event>& ev) {
    std::string text;
    for (const Event& e : ev) text += Line(e);
    return WriteRaw(name, text);
  }

  Report Load(const std::vector<RunSpec>& specs) {
    Report report;
    for (const RunSpec& s : specs) {
      auto run = LoadRun(s, &report.warnings);
      EXPECT_TRUE(run.ok()) << run.status().ToString();
      if (run.ok()) report.runs.push_back(std::move(run).value());
    }
    Summarize(report);
    return report;
  }

  static const MethodRow& Row(const SettingSummary& s, const std::string& m) {
    for (const MethodRow& r : s.rows)
      if (r.method == m) return r;
    ADD_FAILURE() << "no row " << m;
    return s.rows.front();
  }

  // The grid most tests use: fedjets x2 seeds, fedavg, fedprox.
  std::vector<RunSpec> Grid(const std::string& setting = "weak") {
    RunShape fj1, fj2, fa, fp;
    fj2.seed = 2;
    fj2.unseen = 0.9;
    fa.method = "fedavg";
    fa.unseen = 0.5;
    fa.full_bytes = 1000;
    fa.bytes = 2000;
    fp.method = "fedprox";
    fp.unseen = 0.55;
    return {{setting, "fedjets", WriteRun(setting + "-fj1", fj1)},
            {setting, "fedjets", WriteRun(setting + "-fj2", fj2)},
            {setting, "fedavg", WriteRun(setting + "-fa1", fa)},
            {setting, "fedprox", WriteRun(setting + "-fp1", fp)}};
  }

  std::string ReadFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  fs::path root_;
};

}  // namespace fedjets::coordinator::report_test
