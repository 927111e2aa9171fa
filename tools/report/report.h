// fedjets-report: turns run directories (metrics.jsonl + config.ini, schema
// in docs/METRICS.md) into a Markdown results page and gnuplot PNG plots.
//
// The pipeline is three pure-ish steps, each usable and testable alone:
//   LoadRun        one run directory -> RunMetrics (errors name file:line);
//   Summarize      all runs -> Report (means/stds over seeds, gaps, bytes);
//   RenderMarkdown / RenderPlots  Report -> RESULTS.md text / PNG files.
// WriteResults glues them together for the binary.
//
// Runs are labelled by an experiment setting (e.g. "weak", "dirichlet",
// "ablation-k1") and a method ("fedjets", "fedavg", "fedprox"); several runs
// with the same labels are seeds. Reference methods ("common", "local",
// "oracle") are not runs of their own: they come from each run's `baselines`
// event. A run without an `end` event is kept in the Report but excluded from
// every mean, with a warning.
//
// Thread-compatible: no shared state; all values are plain data, and
// concurrent RenderPlots calls use separate temporary folders.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"
#include "coordinator/metrics/events.h"

namespace fedjets::coordinator {

// One run to include: which setting and method it belongs to, and where.
struct RunSpec {
  std::string setting;
  // The algorithm (fedjets, fedavg, fedprox), with "+em" when the run
  // served its zero-shot clients with --serve-label-shift (a row of its
  // own: "fedavg+em" is FedAvg with the EM label-shift correction).
  std::string method;
  std::string dir;
};

// `method` without a "+em" suffix: the algorithm its runs must have.
std::string AlgorithmOf(const std::string& method);

// Parses "SETTING:METHOD:DIR" (DIR may itself contain ':').
common::Result<RunSpec> ParseRunSpec(std::string_view text);

// Reads a manifest: one "SETTING METHOD DIR" per line, '#' starts a comment,
// blank lines ignored. Relative DIRs are taken relative to the manifest's
// folder. Errors name manifest:line.
common::Result<std::vector<RunSpec>> ReadManifest(const std::string& path);

// What one run directory says, reduced to what the report needs.
struct RunMetrics {
  RunSpec spec;
  bool finished = false;  // an `end` event was seen
  std::string algorithm;  // from `start`, may be empty
  std::optional<int64_t> seed;
  std::optional<int> num_experts, top_k;
  // fedjets --generalist-expert: an `eval` event had generalist_share. The
  // generalist is one expert more (id M) beside the M specialists.
  bool generalist_expert = false;
  std::optional<int> planned_rounds;  // `rounds` in config.ini
  bool label_shift = false;           // `serve-label-shift=true` in config.ini
  int last_round = 0;                 // highest round seen in any event
  std::optional<int> rounds;          // `end.rounds`
  // Final accuracies: the last `eval` event, else the `end` event.
  std::optional<double> seen_accuracy, unseen_accuracy;
  // `validation_accuracy` (runs with --validation-clients), by the same rule.
  std::optional<double> validation_accuracy;
  std::optional<double> routing_accuracy, gate_entropy;  // fedjets
  // fedjets diagnostics: `eval.anchor_routed_accuracy` (every sample sent
  // to its class's anchor expert) and the `routing.reference_gate` scores.
  std::optional<double> anchor_routed_accuracy;
  std::optional<double> reference_routing_accuracy, reference_unseen_accuracy;
  // `start.common_expert_accuracy`: the frozen common expert's test accuracy.
  std::optional<double> common_expert_accuracy;
  std::optional<double> bytes_per_client_round, full_model_bytes;
  // Unseen accuracy of every `eval` event, by round.
  std::vector<std::pair<int, double>> unseen_by_round;
  // Validation accuracy of every `eval` event that has one, by round.
  std::vector<std::pair<int, double>> validation_by_round;
  // `round.expert_load`, one row per round that had it.
  std::vector<std::pair<int, std::vector<double>>> expert_load;
  // `routing.confusion` [class][expert] and `routing.anchor_classes`.
  std::vector<std::vector<double>> confusion;
  std::vector<std::vector<int>> anchor_classes;
  // Seen/unseen accuracy of the reference methods: common, local, oracle.
  std::map<std::string, SplitAccuracy> baselines;
};

// Reads <spec.dir>/metrics.jsonl (required) and <spec.dir>/config.ini
// (optional). A line that is not an event of docs/METRICS.md (not a JSON
// object, a field missing or of the wrong type; see ParseEvent) is an error
// naming file:line. A last line cut off mid-write (no trailing newline) is
// not an error: the run is then simply unfinished.
// Non-fatal findings are appended to *warnings.
common::Result<RunMetrics> LoadRun(const RunSpec& spec,
                                   std::vector<std::string>* warnings);

// Mean and sample standard deviation (n - 1); n == 0 means "no data".
struct Stat {
  double mean = 0;
  double std = 0;
  int n = 0;
};
Stat ComputeStat(const std::vector<double>& values);

// One table row: a trained method or a reference method.
struct MethodRow {
  std::string method;
  bool reference = false;  // common / local / oracle
  Stat seen, unseen;
  // Validation clients' accuracy (n == 0 for runs without them and for
  // reference methods, which leave validation clients out).
  Stat validation;
  int seeds = 0;       // finished runs averaged
  int unfinished = 0;  // runs excluded for lack of an `end` event
  Stat rounds, bytes_per_client_round, full_model_bytes;
};

// Everything the page shows for one setting.
struct SettingSummary {
  std::string setting;
  bool ablation = false;        // label starts with "ablation-"
  std::vector<MethodRow> rows;  // trained methods first, then references
  // Some finished run of the setting has validation_accuracy: the tables
  // then show a validation column.
  bool has_validation = false;
  // Unseen-client gaps of FedJETs (differences of means, fractions).
  std::optional<double> gap_over_common, gap_over_fedavg, gap_over_fedprox;
  // Over FedAvg with the same EM label-shift correction ("fedavg+em").
  std::optional<double> gap_over_fedavg_em;
  // (fedjets - fedavg) / (oracle - fedavg) on unseen clients.
  std::optional<double> gap_closed;
  Stat routing_accuracy, gate_entropy;  // fedjets, final eval
  Stat anchor_routed_accuracy;          // fedjets
  Stat reference_routing_accuracy, reference_unseen_accuracy;  // fedjets
  Stat common_expert_accuracy;  // test split, over the fedjets runs
  // Communication (fedjets): bytes/client/round over 2 x full model bytes
  // (a client that receives and sends every expert and the gate; the full
  // model holds the generalist expert where runs have one), and the bound
  // (K + gate) / (M + gate) with the gate's size estimated from the FedAvg
  // model's size when a fedavg run exists, else K / M. With a generalist
  // expert every client also exchanges it: (K + 1 + gate) / (M + 1 + gate).
  std::optional<double> bytes_ratio, bytes_bound;
  bool bound_assumes_tiny_gate = false;
  std::optional<int> num_experts, top_k;
  bool generalist_expert = false;  // some finished fedjets run has one
  // Index into Report::runs of the run the heatmaps are drawn from (the
  // finished fedjets run with the lowest seed); -1 if none.
  int heatmap_run = -1;
};

struct Report {
  std::vector<RunMetrics> runs;
  std::vector<SettingSummary> settings;  // in first-seen order
  std::vector<std::string> warnings;
};

// Groups report.runs into settings and methods and fills report.settings
// (and report.warnings) with every number shown.
void Summarize(Report& report);

// Relative links (from RESULTS.md) to the plots drawn for one setting; empty
// strings for plots that were not drawn.
struct SettingPlots {
  std::string accuracy, expert_load, routing;
};

struct RenderOptions {
  std::string command_line;   // exact command that produced the page
  std::string manifest_text;  // contents of the manifest, if one was used
  std::string date;           // e.g. "2026-11-25 14:03 UTC"
  std::map<std::string, SettingPlots> plots;  // by setting
  std::string plots_note;  // why plots are missing, if they are
};

std::string RenderMarkdown(const Report& report, const RenderOptions& options);

// Draws the plots of every setting into plots_dir with gnuplot (pngcairo if
// the binary supports it, else png). Links are relative to link_prefix
// (e.g. "plots"). FailedPrecondition when gnuplot cannot be run at all; a
// single plot that cannot be drawn (too little data, gnuplot error) is a
// warning appended to *warnings.
common::Result<std::map<std::string, SettingPlots>> RenderPlots(
    const Report& report, const std::string& plots_dir,
    const std::string& link_prefix, const std::string& gnuplot,
    std::vector<std::string>* warnings);

// The whole tool: load every run, summarize, draw plots into
// <dirname(results_path)>/plots, write results_path. Warnings are appended
// to *warnings; a missing gnuplot is a warning, not an error.
struct WriteOptions {
  std::vector<RunSpec> runs;
  std::string results_path;  // e.g. docs/RESULTS.md
  std::string gnuplot = "gnuplot";
  bool plots = true;
  std::string command_line, manifest_text;
};
common::Status WriteResults(const WriteOptions& options,
                            std::vector<std::string>* warnings);

// "setting" -> a string safe in a file name ([A-Za-z0-9._-], others '_').
std::string FileSafe(std::string_view text);

}  // namespace fedjets::coordinator
