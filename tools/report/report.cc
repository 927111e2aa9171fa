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
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace fedjets::coordinator {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;
using json = nlohmann::json;

// A field of the wrong type; caught per line and turned into a Status that
// names file:line.
struct FieldError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* TypeName(const json& j) { return j.type_name(); }

std::optional<double> OptNumber(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) {
    throw FieldError(fmt::format("field \"{}\" is a {}, expected a number",
                                 key, TypeName(*it)));
  }
  return it->get<double>();
}

std::optional<int> OptInt(const json& obj, const char* key) {
  std::optional<double> v = OptNumber(obj, key);
  if (!v) return std::nullopt;
  return static_cast<int>(std::llround(*v));
}

std::string OptString(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) {
    throw FieldError(fmt::format("field \"{}\" is a {}, expected a string",
                                 key, TypeName(*it)));
  }
  return it->get<std::string>();
}

std::vector<double> NumberArray(const json& j, const std::string& what) {
  if (!j.is_array()) {
    throw FieldError(fmt::format("{} is a {}, expected an array of numbers",
                                 what, TypeName(j)));
  }
  std::vector<double> out;
  for (const json& v : j) {
    if (!v.is_number()) {
      throw FieldError(fmt::format("{} holds a {}, expected numbers", what,
                                   TypeName(v)));
    }
    out.push_back(v.get<double>());
  }
  return out;
}

std::vector<std::vector<double>> NumberMatrix(const json& obj,
                                              const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_array()) {
    throw FieldError(fmt::format("field \"{}\" is a {}, expected an array",
                                 key, TypeName(*it)));
  }
  std::vector<std::vector<double>> out;
  for (const json& row : *it) {
    out.push_back(NumberArray(row, fmt::format("a row of \"{}\"", key)));
  }
  return out;
}

// Folds one event into *run. `eval_seen` etc. track the last eval event.
struct Pending {
  std::optional<double> eval_seen, eval_unseen, end_seen, end_unseen;
};

void ApplyEvent(const json& e, const std::string& event, RunMetrics* run,
                Pending* p) {
  if (std::optional<int> r = OptInt(e, "round")) {
    run->last_round = std::max(run->last_round, *r);
  }
  if (event == "start") {
    run->algorithm = OptString(e, "algorithm");
    if (auto s = OptNumber(e, "seed")) run->seed = std::llround(*s);
    run->num_experts = OptInt(e, "num_experts");
    run->top_k = OptInt(e, "top_k");
    run->common_expert_accuracy = OptNumber(e, "common_expert_accuracy");
  } else if (event == "round") {
    if (auto it = e.find("expert_load"); it != e.end() && !it->is_null()) {
      run->expert_load.emplace_back(OptInt(e, "round").value_or(0),
                                    NumberArray(*it, "\"expert_load\""));
    }
  } else if (event == "eval") {
    p->eval_seen = OptNumber(e, "seen_accuracy");
    p->eval_unseen = OptNumber(e, "unseen_accuracy");
    run->routing_accuracy = OptNumber(e, "routing_accuracy");
    run->gate_entropy = OptNumber(e, "gate_entropy");
    run->anchor_routed_accuracy = OptNumber(e, "anchor_routed_accuracy");
    if (p->eval_unseen) {
      run->unseen_by_round.emplace_back(OptInt(e, "round").value_or(0),
                                        *p->eval_unseen);
    }
  } else if (event == "baselines") {
    for (const auto& [name, value] : e.items()) {
      if (!value.is_object()) continue;  // "event" and any scalar extras
      run->baselines[name] = AccuracyPair{OptNumber(value, "seen_accuracy"),
                                          OptNumber(value, "unseen_accuracy")};
    }
  } else if (event == "routing") {
    run->confusion = NumberMatrix(e, "confusion");
    if (auto it = e.find("reference_gate"); it != e.end() && it->is_object()) {
      run->reference_routing_accuracy = OptNumber(*it, "routing_accuracy");
      run->reference_unseen_accuracy = OptNumber(*it, "unseen_accuracy");
    }
    for (const auto& row : NumberMatrix(e, "anchor_classes")) {
      std::vector<int> classes;
      for (double c : row) classes.push_back(static_cast<int>(c));
      run->anchor_classes.push_back(std::move(classes));
    }
  } else if (event == "end") {
    run->finished = true;
    run->rounds = OptInt(e, "rounds");
    if (run->rounds) run->last_round = std::max(run->last_round, *run->rounds);
    p->end_seen = OptNumber(e, "seen_accuracy");
    p->end_unseen = OptNumber(e, "unseen_accuracy");
    run->bytes_per_client_round = OptNumber(e, "bytes_per_client_round");
    run->full_model_bytes = OptNumber(e, "full_model_bytes");
  }
  // Other events (update, future ones) carry nothing the report shows.
}

std::optional<int> ConfigRounds(const fs::path& ini) {
  std::ifstream in(ini);
  for (std::string line; std::getline(in, line);) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq);
    key.erase(key.find_last_not_of(" \t") + 1);
    if (key != "rounds") continue;
    try {
      return std::stoi(line.substr(eq + 1));  // skips leading blanks
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

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
      return common::InvalidArgument(fmt::format(
          "{}:{}: expected \"SETTING METHOD DIR\", got \"{}\"", path, line_no,
          line));
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
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return common::NotFound(fmt::format(
        "{}: cannot open; is {} a run directory (fedjets-sim --run-dir)?",
        file, spec.dir));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();

  RunMetrics run;
  run.spec = spec;
  if (fs::exists(dir / "config.ini")) {
    run.planned_rounds = ConfigRounds(dir / "config.ini");
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
    json e = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (e.is_discarded() && last_unterminated) {
      warnings->push_back(fmt::format(
          "{}:{}: last line cut off mid-write (run crashed or still running);"
          " ignored",
          file, line_no));
      break;
    }
    if (e.is_discarded() || !e.is_object()) {
      return common::DataLoss(fmt::format(
          "{}:{}: not a JSON object: \"{}\"; fix or remove the line, or drop"
          " this run",
          file, line_no, line.substr(0, 80)));
    }
    try {
      std::string event = OptString(e, "event");
      if (event.empty()) throw FieldError("no \"event\" field");
      ApplyEvent(e, event, &run, &pending);
    } catch (const std::exception& ex) {  // FieldError or json::exception
      return common::DataLoss(
          fmt::format("{}:{}: {} (schema: docs/METRICS.md)", file, line_no,
                      ex.what()));
    }
  }
  run.seen_accuracy = pending.eval_seen ? pending.eval_seen : pending.end_seen;
  run.unseen_accuracy =
      pending.eval_unseen ? pending.eval_unseen : pending.end_unseen;

  if (!run.algorithm.empty() && run.algorithm != spec.method) {
    warnings->push_back(fmt::format(
        "{}: labelled method \"{}\" but its start event says algorithm \"{}\"",
        spec.dir, spec.method, run.algorithm));
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
