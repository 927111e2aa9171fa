// Loading run directories for fedjets-report: run specs, manifests and
// metrics.jsonl parsing. Summaries live in report_summary.cc, output in
// report_markdown.cc and report_plots.cc.
#include "tools/report/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <variant>

#include "common/base/read_file.h"

namespace fedjets::coordinator {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

void SeeRound(int round, RunMetrics* run) {
  run->last_round = std::max(run->last_round, round);
}

// The final accuracies: the last `eval` event's, else the `end` event's.
struct Pending {
  SplitAccuracy eval, end;
};

// Folding one event into *run.
void Apply(const StartEvent& e, RunMetrics* run, Pending*) {
  run->algorithm = e.algorithm;
  run->seed = static_cast<int64_t>(e.seed);
  run->num_experts = e.num_experts;
  run->top_k = e.top_k;
  run->common_expert_accuracy = e.common_expert_accuracy;
}

void Apply(const UpdateEvent& e, RunMetrics* run, Pending*) {
  SeeRound(e.round, run);
}

void Apply(const UpdateRejectedEvent& e, RunMetrics* run, Pending*) {
  SeeRound(e.round, run);
}

void Apply(const RoundEvent& e, RunMetrics* run, Pending*) {
  SeeRound(e.round, run);
  if (e.expert_load) {
    run->expert_load.emplace_back(
        e.round,
        std::vector<double>(e.expert_load->begin(), e.expert_load->end()));
  }
}

void Apply(const RoundFailedEvent& e, RunMetrics* run, Pending*) {
  SeeRound(e.round, run);
}

void Apply(const EvalEvent& e, RunMetrics* run, Pending* p) {
  SeeRound(e.round, run);
  p->eval = e.accuracy;
  run->routing_accuracy = e.routing_accuracy;
  run->gate_entropy = e.gate_entropy;
  run->anchor_routed_accuracy = e.anchor_routed_accuracy;
  run->generalist_expert |= e.generalist_share.has_value();
  if (e.accuracy.unseen) {
    run->unseen_by_round.emplace_back(e.round, *e.accuracy.unseen);
  }
  if (e.accuracy.validation) {
    run->validation_by_round.emplace_back(e.round, *e.accuracy.validation);
  }
}

void Apply(const BaselinesEvent& e, RunMetrics* run, Pending*) {
  if (e.common) run->baselines["common"] = *e.common;
  if (e.local) run->baselines["local"] = *e.local;
  if (e.oracle) run->baselines["oracle"] = *e.oracle;
}

void Apply(const RoutingEvent& e, RunMetrics* run, Pending*) {
  run->confusion.clear();
  for (const auto& row : e.confusion) {
    run->confusion.emplace_back(row.begin(), row.end());
  }
  run->anchor_classes.clear();
  for (const auto& row : e.anchor_classes) {
    run->anchor_classes.emplace_back(row.begin(), row.end());
  }
  if (e.reference_gate) {
    run->reference_routing_accuracy = e.reference_gate->routing_accuracy;
    run->reference_unseen_accuracy = e.reference_gate->accuracy.unseen;
  }
}

void Apply(const EndEvent& e, RunMetrics* run, Pending* p) {
  run->finished = true;
  run->rounds = static_cast<int>(e.rounds);
  SeeRound(*run->rounds, run);
  p->end = e.accuracy;
  run->bytes_per_client_round = e.bytes_per_client_round;
  run->full_model_bytes = static_cast<double>(e.full_model_bytes);
}

// Kinds this version does not know carry nothing the report shows.
void Apply(const OtherEvent&, RunMetrics*, Pending*) {}

// The value of `key` in config.ini (the first "key=value" line), blanks
// around it removed; nullopt when the key is not there.
std::optional<std::string> ConfigValue(const fs::path& ini,
                                       const std::string& key) {
  std::ifstream in(ini);
  for (std::string line; std::getline(in, line);) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string name = line.substr(0, eq);
    name.erase(name.find_last_not_of(" \t") + 1);
    if (name != key) continue;
    std::string value = line.substr(eq + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t\r") + 1);
    return value;
  }
  return std::nullopt;
}

std::optional<int> ConfigRounds(const fs::path& ini) {
  std::optional<std::string> v = ConfigValue(ini, "rounds");
  if (!v) return std::nullopt;
  try {
    return std::stoi(*v);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

constexpr std::string_view kEmSuffix = "+em";

bool HasEmSuffix(const std::string& method) {
  return method.size() > kEmSuffix.size() && method.ends_with(kEmSuffix);
}

}  // namespace

std::string AlgorithmOf(const std::string& method) {
  return HasEmSuffix(method)
             ? method.substr(0, method.size() - kEmSuffix.size())
             : method;
}

Result<RunSpec> ParseRunSpec(std::string_view text) {
  size_t a = text.find(':');
  size_t b = a == std::string_view::npos ? a : text.find(':', a + 1);
  if (b == std::string_view::npos || a == 0 || b == a + 1 ||
      b + 1 == text.size()) {
    return common::InvalidArgument(fmt::format(
        "run \"{}\" is not SETTING:METHOD:DIR (e.g. weak:fedjets:runs/w1)",
        text));
  }
  return RunSpec{std::string(text.substr(0, a)),
                 std::string(text.substr(a + 1, b - a - 1)),
                 std::string(text.substr(b + 1))};
}

Result<std::vector<RunSpec>> ReadManifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return common::NotFound(
        fmt::format("{}: cannot open manifest; check the path", path));
  }
  fs::path base = fs::path(path).parent_path();
  std::vector<RunSpec> runs;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (size_t hash = line.find('#'); hash != std::string::npos) {
      line.resize(hash);
    }
    std::istringstream fields(line);
    RunSpec spec;
    std::string extra;
    if (!(fields >> spec.setting)) continue;  // blank or comment
    if (!(fields >> spec.method >> spec.dir) || (fields >> extra)) {
      return common::InvalidArgument(
          fmt::format("{}:{}: expected \"SETTING METHOD DIR\", got \"{}\"",
                      path, line_no, line));
    }
    if (fs::path(spec.dir).is_relative()) spec.dir = (base / spec.dir).string();
    runs.push_back(std::move(spec));
  }
  return runs;
}

Result<RunMetrics> LoadRun(const RunSpec& spec,
                           std::vector<std::string>* warnings) {
  const fs::path dir(spec.dir);
  const std::string file = (dir / "metrics.jsonl").string();
  Result<std::string> read = common::ReadFileToString(file);
  if (!read.ok()) {
    return read.status().Annotate(fmt::format(
        "is {} a run directory (fedjets-sim --run-dir)?", spec.dir));
  }
  const std::string text = std::move(read).value();

  RunMetrics run;
  run.spec = spec;
  if (fs::exists(dir / "config.ini")) {
    run.planned_rounds = ConfigRounds(dir / "config.ini");
    run.label_shift =
        ConfigValue(dir / "config.ini", "serve-label-shift") == "true";
  } else {
    warnings->push_back(fmt::format("{}: no config.ini", spec.dir));
  }

  Pending pending;
  int line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    const bool last_unterminated = nl == std::string::npos;
    std::string_view line(text.data() + pos,
                          (last_unterminated ? text.size() : nl) - pos);
    pos = last_unterminated ? text.size() : nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    Result<Event> event = ParseEvent(line);
    if (!event.ok() && last_unterminated &&
        event.status().code() == common::StatusCode::kDataLoss) {
      warnings->push_back(fmt::format(
          "{}:{}: last line cut off mid-write (run crashed or still running);"
          " ignored",
          file, line_no));
      break;
    }
    if (!event.ok()) {
      return common::DataLoss(fmt::format(
          "{}:{}: {}; fix or remove the line, or drop this run (schema:"
          " docs/METRICS.md)",
          file, line_no, event.status().message()));
    }
    std::visit([&](const auto& e) { Apply(e, &run, &pending); }, *event);
  }
  run.seen_accuracy = pending.eval.seen ? pending.eval.seen : pending.end.seen;
  run.unseen_accuracy =
      pending.eval.unseen ? pending.eval.unseen : pending.end.unseen;
  run.validation_accuracy = pending.eval.validation ? pending.eval.validation
                                                    : pending.end.validation;

  if (!run.algorithm.empty() && run.algorithm != AlgorithmOf(spec.method)) {
    warnings->push_back(fmt::format(
        "{}: labelled method \"{}\" but its start event says algorithm \"{}\"",
        spec.dir, spec.method, run.algorithm));
  }
  if (run.label_shift != HasEmSuffix(spec.method)) {
    warnings->push_back(
        run.label_shift
            ? fmt::format("{}: served with --serve-label-shift (config.ini) "
                          "but labelled \"{}\"; label it \"{}+em\"",
                          spec.dir, spec.method, spec.method)
            : fmt::format("{}: labelled \"{}\" but its config.ini does not "
                          "say serve-label-shift=true",
                          spec.dir, spec.method));
  }
  if (!run.finished) {
    std::string of = run.planned_rounds
                         ? fmt::format(" of {}", *run.planned_rounds)
                         : std::string();
    warnings->push_back(fmt::format(
        "{} ({}/{}): did not finish (no end event; reached round {}{}); "
        "excluded from means",
        spec.dir, spec.setting, spec.method, run.last_round, of));
  } else if (!run.unseen_accuracy && !run.seen_accuracy) {
    warnings->push_back(fmt::format(
        "{}: no eval event and no seen/unseen accuracy in its end event; "
        "accuracy columns will be n/a",
        spec.dir));
  }
  return run;
}

Stat ComputeStat(const std::vector<double>& values) {
  Stat s;
  s.n = static_cast<int>(values.size());
  if (s.n == 0) return s;
  for (double v : values) s.mean += v;
  s.mean /= s.n;
  if (s.n > 1) {
    double ss = 0;
    for (double v : values) ss += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(ss / (s.n - 1));
  }
  return s;
}

std::string FileSafe(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

}  // namespace fedjets::coordinator
