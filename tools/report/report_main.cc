// fedjets-report: run directories -> RESULTS.md and PNG plots.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common/base/read_file.h"
#include "tools/report/report.h"

namespace {

// Quotes an argument for the recorded command line when the shell needs it.
std::string ShellWord(const std::string& s) {
  if (!s.empty() &&
      s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
                          "KLMNOPQRSTUVWXYZ0123456789-_./:=,+@%") ==
          std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

int main(int argc, char** argv) {
  namespace fc = fedjets::coordinator;
  std::string out_dir = "docs";
  std::string results;
  std::vector<std::string> run_flags;
  std::string manifest;
  fc::WriteOptions o;
  bool no_plots = false;

  CLI::App app{
      "fedjets-report: reads run directories (metrics.jsonl + config.ini, "
      "schema in docs/METRICS.md) and writes RESULTS.md with per-setting "
      "tables (seen/unseen accuracy mean ± std over seeds, FedJETs' gaps, "
      "routing, bytes), the paper's Table 1 for reference, an Ablations "
      "section (settings named ablation-*), and gnuplot PNGs in plots/ next "
      "to it.\n\nRuns are labelled SETTING and METHOD (fedjets, fedavg, "
      "fedprox; with +em, e.g. fedavg+em, for a run served with "
      "--serve-label-shift, a row of its own); several runs with the same "
      "labels are seeds. Reference "
      "methods (common, local, oracle) are read from the runs' baselines "
      "event. Give runs with --run (repeatable), --manifest, or both.\n\n"
      "Example:\n  fedjets-report --out docs --run weak:fedjets:runs/w-fj-1 "
      "--run weak:fedavg:runs/w-fa-1\n  fedjets-report --out docs "
      "--manifest runs/grid/manifest.txt\n\nExit code 0 when RESULTS.md was "
      "written (warnings go to stderr), 1 on an error such as a corrupt "
      "metrics line (the message names file:line)."};
  app.add_option("--run", run_flags,
                 "a run as SETTING:METHOD:DIR, e.g. weak:fedjets:runs/w1 "
                 "(repeatable; DIR may contain ':')");
  app.add_option("--manifest", manifest,
                 "file with one run per line: SETTING METHOD DIR ('#' "
                 "comments; relative DIRs are relative to the manifest)");
  app.add_option("--out", out_dir,
                 "output folder: RESULTS.md and plots/ are written here")
      ->capture_default_str();
  app.add_option("--results", results,
                 "path of the Markdown file (default: <out>/RESULTS.md); "
                 "plots go to plots/ beside it");
  app.add_option("--gnuplot", o.gnuplot, "gnuplot binary used for the PNGs")
      ->capture_default_str();
  app.add_flag("--no-plots", no_plots,
               "write RESULTS.md without drawing plots");
  CLI11_PARSE(app, argc, argv);

  for (int i = 0; i < argc; ++i) {
    o.command_line += (i ? " " : "") + ShellWord(argv[i]);
  }
  if (!manifest.empty()) {
    auto runs = fc::ReadManifest(manifest);
    if (!runs.ok()) {
      fmt::print(stderr, "error: {}\n", runs.status().ToString());
      return 1;
    }
    o.runs = std::move(runs).value();
    auto text = fedjets::common::ReadFileToString(manifest);
    if (!text.ok()) {
      fmt::print(stderr, "error: {}\n", text.status().ToString());
      return 1;
    }
    o.manifest_text = std::move(text).value();
    while (!o.manifest_text.empty() && o.manifest_text.back() == '\n')
      o.manifest_text.pop_back();
  }
  for (const std::string& flag : run_flags) {
    auto spec = fc::ParseRunSpec(flag);
    if (!spec.ok()) {
      fmt::print(stderr, "error: {}\n", spec.status().ToString());
      return 1;
    }
    o.runs.push_back(std::move(spec).value());
  }
  o.results_path = results.empty() ? out_dir + "/RESULTS.md" : results;
  o.plots = !no_plots;

  std::vector<std::string> warnings;
  fedjets::common::Status st = fc::WriteResults(o, &warnings);
  for (const std::string& w : warnings) fmt::print(stderr, "warning: {}\n", w);
  if (!st.ok()) {
    fmt::print(stderr, "error: {}\n", st.ToString());
    return 1;
  }
  fmt::print("wrote {} ({} runs, {} warnings)\n", o.results_path, o.runs.size(),
             warnings.size());
  return 0;
}
