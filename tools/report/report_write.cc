// WriteResults(): the whole fedjets-report pipeline, used by report_main.cc.
#include <fmt/format.h>

#include <ctime>
#include <filesystem>
#include <set>

#include "common/base/atomic_file.h"
#include "tools/report/report.h"

namespace fedjets::coordinator {
namespace {

namespace fs = std::filesystem;

std::string UtcNow() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

common::Status Validate(const std::vector<RunSpec>& runs) {
  if (runs.empty()) {
    return common::InvalidArgument(
        "no runs given; pass --run SETTING:METHOD:DIR or --manifest FILE");
  }
  // A run may serve several settings (the FedAvg runs a variant is
  // compared with), but counts once within one.
  std::set<std::pair<std::string, std::string>> dirs;
  for (const RunSpec& r : runs) {
    if (r.setting.empty() || r.method.empty() || r.dir.empty()) {
      return common::InvalidArgument(fmt::format(
          "run \"{}:{}:{}\" has an empty field", r.setting, r.method, r.dir));
    }
    if (r.method == "common" || r.method == "local" || r.method == "oracle") {
      return common::InvalidArgument(fmt::format(
          "{}: \"{}\" is a reference method read from the baselines event of "
          "other runs; label the run fedjets, fedavg or fedprox",
          r.dir, r.method));
    }
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(r.dir, ec);
    if (!dirs.insert({r.setting, ec ? r.dir : canonical.string()}).second) {
      return common::InvalidArgument(fmt::format(
          "run directory {} is listed twice in setting {}; each run counts "
          "once",
          r.dir, r.setting));
    }
  }
  return common::Status::Ok();
}

}  // namespace

common::Status WriteResults(const WriteOptions& options,
                            std::vector<std::string>* warnings) {
  FEDJETS_RETURN_IF_ERROR(Validate(options.runs));
  Report report;
  for (const RunSpec& spec : options.runs) {
    common::Result<RunMetrics> run = LoadRun(spec, &report.warnings);
    if (!run.ok()) return run.status();
    report.runs.push_back(std::move(run).value());
  }
  Summarize(report);

  const fs::path results(options.results_path);
  const fs::path out_dir =
      results.has_parent_path() ? results.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) {
    return common::Unavailable(
        fmt::format("cannot create {}: {}", out_dir.string(), ec.message()));
  }

  RenderOptions render;
  render.command_line = options.command_line;
  render.manifest_text = options.manifest_text;
  render.date = UtcNow();
  if (!options.plots) {
    render.plots_note = "not drawn (--no-plots).";
  } else {
    auto plots = RenderPlots(report, (out_dir / "plots").string(), "plots",
                             options.gnuplot, &report.warnings);
    if (plots.ok()) {
      render.plots = std::move(plots).value();
    } else {
      report.warnings.push_back("plots skipped: " + plots.status().message());
      render.plots_note = "not drawn: " + plots.status().message();
    }
  }

  // Written atomically, so a reader never sees half a page.
  FEDJETS_RETURN_IF_ERROR(
      common::WriteFileAtomically(results, RenderMarkdown(report, render)));
  warnings->insert(warnings->end(), report.warnings.begin(),
                   report.warnings.end());
  return common::Status::Ok();
}

}  // namespace fedjets::coordinator
