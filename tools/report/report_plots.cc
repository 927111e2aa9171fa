// RenderPlots(): gnuplot PNGs per setting. Data and scripts go to a private
// temporary folder that is removed afterwards; only PNGs land in plots_dir.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <utility>

#include "common/base/subprocess.h"
#include "tools/report/report.h"

namespace fedjets::coordinator {
namespace {

namespace fs = std::filesystem;

// gnuplot single-quoted string: a quote is written twice.
std::string GpQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// Runs `argv`; returns its exit status and output, or why it could not run.
std::pair<int, std::string> Capture(const std::vector<std::string>& argv) {
  common::Result<common::CapturedRun> run = common::RunAndCapture(argv);
  if (!run.ok()) return {-1, run.status().message()};
  return {run->exit_code, std::move(run->output)};
}

const char* Color(const std::string& method, size_t i) {
  if (method == "fedjets") return "#d62728";
  if (method == "fedavg") return "#1f77b4";
  if (method == "fedprox") return "#2ca02c";
  constexpr const char* kOthers[] = {"#9467bd", "#8c564b", "#e377c2",
                                     "#7f7f7f", "#bcbd22", "#17becf"};
  return kOthers[i % 6];
}

class Plotter {
 public:
  Plotter(std::string gnuplot, std::string terminal, fs::path tmp,
          std::vector<std::string>* warnings)
      : gnuplot_(std::move(gnuplot)),
        terminal_(std::move(terminal)),
        tmp_(std::move(tmp)),
        warnings_(warnings) {}

  bool pngcairo() const { return terminal_ == "pngcairo"; }

  // Writes `script` after the terminal/output preamble and runs gnuplot.
  bool Draw(const fs::path& png, const std::string& title,
            const std::string& script) {
    const fs::path gp = tmp_ / (png.stem().string() + ".gp");
    std::ofstream(gp) << fmt::format(
        "set terminal {} size 900,560{}\nset output {}\n"
        "set title {} noenhanced\n{}",
        terminal_, pngcairo() ? " font ',11'" : "", GpQuote(png.string()),
        GpQuote(title), script);
    auto [rc, out] = Capture({gnuplot_, gp.string()});
    if (rc != 0 || !fs::exists(png)) {
      warnings_->push_back(fmt::format("gnuplot failed for {}: {}",
                                       png.string(), out.substr(0, 300)));
      return false;
    }
    return true;
  }

  fs::path Data(const std::string& name, const std::string& text) {
    fs::path p = tmp_ / name;
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::string gnuplot_, terminal_;
  fs::path tmp_;
  std::vector<std::string>* warnings_;
};

// Mean over seeds per round of `curve` (unseen_by_round or
// validation_by_round) of one method's finished runs: "round mean lo hi".
std::string CurveData(const Report& report, const SettingSummary& s,
                      const std::string& method,
                      std::vector<std::pair<int, double>> RunMetrics::*curve) {
  std::map<int, std::vector<double>> by_round;
  for (const RunMetrics& r : report.runs) {
    if (r.spec.setting != s.setting || r.spec.method != method || !r.finished)
      continue;
    for (auto [round, acc] : r.*curve) by_round[round].push_back(100 * acc);
  }
  std::string dat;
  for (const auto& [round, v] : by_round) {
    Stat st = ComputeStat(v);
    dat += fmt::format("{} {:.4f} {:.4f} {:.4f}\n", round, st.mean,
                       st.mean - st.std, st.mean + st.std);
  }
  return dat;
}

bool AccuracyPlot(const Report& report, const SettingSummary& s, Plotter& plot,
                  const fs::path& png) {
  std::string series;
  bool has_data = false, has_validation = false;
  size_t i = 0;
  for (const MethodRow& row : s.rows) {
    if (row.reference) {
      if (row.unseen.n == 0 ||
          (row.method != "common" && row.method != "oracle"))
        continue;
      series += fmt::format(
          "{:.4f} with lines dt 2 lw 2 lc rgb '{}' title "
          "'{} (ref.)', ",
          100 * row.unseen.mean, row.method == "common" ? "#555555" : "#ff7f0e",
          row.method == "common" ? "common expert" : "oracle");
      continue;
    }
    std::string dat =
        CurveData(report, s, row.method, &RunMetrics::unseen_by_round);
    if (dat.empty()) continue;
    std::string file =
        GpQuote(plot.Data(FileSafe(s.setting + "-" + row.method) + ".dat", dat)
                    .string());
    const char* c = Color(row.method, i++);
    series += fmt::format(
        fmt::runtime(
            plot.pngcairo()
                ? "{0} using 1:3:4 with filledcurves fs transparent solid 0.2 "
                  "noborder lc rgb '{1}' notitle, {0} using 1:2 with "
                  "linespoints "
                  "pt 7 ps 0.6 lw 2 lc rgb '{1}' title '{2}', "
                : "{0} using 1:2:3:4 with yerrorlines lc rgb '{1}' title "
                  "'{2}', "),
        file, c, row.method);
    has_data = true;
    // Runs with validation clients: their mean as a dotted line.
    std::string val =
        CurveData(report, s, row.method, &RunMetrics::validation_by_round);
    if (val.empty()) continue;
    series += fmt::format(
        "{} using 1:2 with linespoints dt 3 pt 6 ps 0.6 lw 2 lc rgb '{}' "
        "title '{} (validation)', ",
        GpQuote(
            plot.Data(FileSafe(s.setting + "-" + row.method) + "-val.dat", val)
                .string()),
        c, row.method);
    has_validation = true;
  }
  if (!has_data) return false;
  series.resize(series.size() - 2);  // trailing ", "
  return plot.Draw(
      png,
      fmt::format("{}: unseen-client accuracy{} (mean ± std over seeds)",
                  s.setting,
                  has_validation ? ", validation clients dotted" : ""),
      fmt::format("set xlabel 'round'\nset ylabel '{}accuracy (%)'\n"
                  "set grid\nset key outside right\nplot ",
                  has_validation ? "" : "unseen-client ") +
          series + "\n");
}

const char* kHeatmapStyle =
    "set palette defined (0 '#ffffff', 1 '#fdd49e', 2 '#ef6548', 3 "
    "'#7f0000')\nset xtics 1\nunset key\nset tics out\n";

bool ExpertLoadPlot(const RunMetrics& r, const SettingSummary& s, Plotter& plot,
                    const fs::path& png) {
  if (r.expert_load.size() < 2 || r.expert_load.front().second.size() < 2)
    return false;  // gnuplot images need a 2 x 2 grid
  std::string dat;
  for (const auto& [round, load] : r.expert_load) {
    for (size_t e = 0; e < load.size(); ++e)
      dat += fmt::format("{} {} {}\n", e, round, load[e]);
    dat += "\n";
  }
  auto file = plot.Data(FileSafe(s.setting) + "-load.dat", dat);
  return plot.Draw(
      png, fmt::format("{}: clients training each expert per round", s.setting),
      std::string(kHeatmapStyle) +
          fmt::format("set xrange [-0.5:{}]\nset yrange [{}:{}]\n"
                      "set ytics {}\nset cbrange [0:*]\n",
                      r.expert_load.front().second.size() - 0.5,
                      r.expert_load.front().first - 0.5,
                      r.expert_load.back().first + 0.5,
                      std::max<size_t>(1, (r.expert_load.size() + 9) / 10)) +
          "set xlabel 'expert'\nset ylabel 'round'\n"
          "set cblabel 'clients'\nplot " +
          GpQuote(file.string()) + " using 1:2:3 with image\n");
}

bool RoutingPlot(const RunMetrics& r, const SettingSummary& s, Plotter& plot,
                 const fs::path& png) {
  if (r.confusion.size() < 2 || r.confusion.front().size() < 2) return false;
  std::string dat;
  for (size_t c = 0; c < r.confusion.size(); ++c) {
    double total = 0;
    for (double v : r.confusion[c]) total += v;
    for (size_t e = 0; e < r.confusion[c].size(); ++e)
      dat += fmt::format("{} {} {:.4f}\n", e, c,
                         total > 0 ? r.confusion[c][e] / total : 0.0);
    dat += "\n";
  }
  std::string anchors;
  for (size_t e = 0; e < r.anchor_classes.size(); ++e)
    for (int c : r.anchor_classes[e]) anchors += fmt::format("{} {}\n", e, c);
  std::string cmd =
      "plot " +
      GpQuote(plot.Data(FileSafe(s.setting) + "-routing.dat", dat).string()) +
      " using 1:2:3 with image notitle";
  if (!anchors.empty()) {
    cmd +=
        ", " +
        GpQuote(
            plot.Data(FileSafe(s.setting) + "-anchors.dat", anchors).string()) +
        " using 1:2 with points pt 6 ps 2 lw 2 lc rgb '#1f77b4' notitle";
  }
  return plot.Draw(
      png,
      fmt::format("{}: routing of unseen-client samples (circles: the "
                  "anchor's classes)",
                  s.setting),
      std::string(kHeatmapStyle) +
          fmt::format("set xrange [-0.5:{}]\nset yrange [-0.5:{}]\n",
                      r.confusion.front().size() - 0.5,
                      r.confusion.size() - 0.5) +
          "set xlabel 'chosen expert'\nset ylabel 'true class'\n"
          "set ytics 1\nset cbrange [0:1]\n"
          "set cblabel 'fraction of the class'\n" +
          cmd + "\n");
}

}  // namespace

common::Result<std::map<std::string, SettingPlots>> RenderPlots(
    const Report& report, const std::string& plots_dir,
    const std::string& link_prefix, const std::string& gnuplot,
    std::vector<std::string>* warnings) {
  auto [rc, terminals] = Capture({gnuplot, "-e", "set terminal"});
  if (rc != 0 || terminals.find("png") == std::string::npos) {
    return common::FailedPrecondition(fmt::format(
        "cannot run gnuplot as \"{}\" with a png terminal ({}); install "
        "gnuplot-nox, pass --gnuplot PATH, or --no-plots",
        gnuplot, terminals.substr(0, 200)));
  }
  std::string terminal =
      terminals.find("pngcairo") != std::string::npos ? "pngcairo" : "png";
  std::error_code ec;
  fs::create_directories(plots_dir, ec);
  static std::atomic<int> calls{0};
  fs::path tmp =
      fs::temp_directory_path() /
      fmt::format("fedjets-report-{}-{}", static_cast<long>(getpid()), calls++);
  fs::create_directories(tmp, ec);
  if (ec) {
    return common::Unavailable(
        fmt::format("cannot create {}: {}", tmp.string(), ec.message()));
  }
  Plotter plot(gnuplot, terminal, tmp, warnings);
  std::map<std::string, SettingPlots> out;
  for (const SettingSummary& s : report.settings) {
    SettingPlots& links = out[s.setting];
    const std::string base = FileSafe(s.setting);
    auto link = [&](const std::string& name) {
      return link_prefix.empty() ? name : link_prefix + "/" + name;
    };
    const fs::path dir(plots_dir);
    if (AccuracyPlot(report, s, plot, dir / (base + "-accuracy.png")))
      links.accuracy = link(base + "-accuracy.png");
    if (s.heatmap_run < 0) continue;
    const RunMetrics& r = report.runs[s.heatmap_run];
    if (ExpertLoadPlot(r, s, plot, dir / (base + "-expert-load.png")))
      links.expert_load = link(base + "-expert-load.png");
    if (RoutingPlot(r, s, plot, dir / (base + "-routing.png")))
      links.routing = link(base + "-routing.png");
  }
  fs::remove_all(tmp, ec);
  return out;
}

}  // namespace fedjets::coordinator
