#include "tools/sim/partition_summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "common/base/subprocess.h"
#include "common/data/partition.h"

namespace fedjets::common {
namespace {

namespace fs = std::filesystem;

// A gnuplot single-quoted string literal ('' is a literal quote).
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out.flush()) {
    return Unavailable(fmt::format("cannot write {}", path.string()));
  }
  return Status::Ok();
}

std::string Script(const std::vector<std::vector<int64_t>>& hist,
                   const std::vector<std::string>& names,
                   const std::string& title, const fs::path& dir) {
  const size_t clients = hist.size();
  const size_t classes = names.size();
  const int width =
      static_cast<int>(std::clamp<size_t>(120 + 45 * classes, 640, 4000));
  const int height =
      static_cast<int>(std::clamp<size_t>(140 + 18 * clients, 480, 4000));
  std::string s;
  s += fmt::format("set terminal pngcairo size {},{} font ',9'\n", width,
                   height);
  s += "set termoption noenhanced\n";
  s += "set output " + Quote((dir / "partition.png").string()) + "\n";
  s += "set title " + Quote(title) + "\n";
  s += "set xlabel 'class'\nset ylabel 'client'\nset cblabel 'examples'\n";
  s += fmt::format("set xrange [-0.5:{}-0.5]\n", classes);
  s += fmt::format("set yrange [{}-0.5:-0.5]\n", clients);  // client 0 on top
  s += "set xtics (";
  for (size_t c = 0; c < classes; ++c) {
    s += fmt::format("{}{} {}", c ? ", " : "", Quote(names[c]), c);
  }
  s += ") rotate by 45 right\n";
  s += clients <= 40 ? "set ytics 1\n" : "";
  s += "set palette defined (0 'white', 1 '#9ecae1', 2 '#08306b')\n";
  s += "set cbrange [0:*]\nunset key\n";
  s += "plot " + Quote((dir / "partition.dat").string()) + " matrix with image";
  if (clients * classes <= 400) {
    s += ", '' matrix using 1:2:(sprintf('%d', $3)) with labels";
  }
  return s + "\n";
}

// Runs `gnuplot script`, output to `log`; returns a warning or "".
std::string RunGnuplot(const std::string& gnuplot, const fs::path& script,
                       const fs::path& log) {
  SpawnOptions logged;
  logged.log_file = log.string();
  logged.truncate_log = true;
  Result<int> exit_code = RunProcess({gnuplot, script.string()}, logged);
  if (!exit_code.ok()) {
    return fmt::format(
        "{}, so there is no partition.png; install gnuplot-nox "
        "(scripts/install-deps.sh) for the heatmap",
        exit_code.status().message());
  }
  if (*exit_code != 0) {
    return fmt::format("gnuplot failed on {} (see {}); no partition.png",
                       script.string(), log.string());
  }
  return "";
}

}  // namespace

Result<PartitionSummary> WritePartitionSummary(
    const std::vector<std::vector<int64_t>>& hist,
    const std::vector<std::string>& class_names, const std::string& title,
    const fs::path& dir, const std::string& gnuplot) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Unavailable(
        fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  }
  const fs::path abs = fs::absolute(dir);
  PartitionSummary out;
  out.table = title + "\n\n" + FormatHistogram(hist, class_names);
  out.table_path = (abs / "partition.txt").string();
  FEDJETS_RETURN_IF_ERROR(WriteText(out.table_path, out.table));
  if (hist.empty() || class_names.empty()) {
    out.warning = "no clients or no classes: nothing to plot";
    return out;
  }
  std::string dat;
  for (const auto& row : hist) {
    for (size_t c = 0; c < class_names.size(); ++c) {
      dat += fmt::format("{}{}", c ? " " : "", c < row.size() ? row[c] : 0);
    }
    dat += '\n';
  }
  FEDJETS_RETURN_IF_ERROR(WriteText(abs / "partition.dat", dat));
  FEDJETS_RETURN_IF_ERROR(
      WriteText(abs / "partition.gp", Script(hist, class_names, title, abs)));
  fs::remove(abs / "partition.png", ec);
  out.warning =
      RunGnuplot(gnuplot, abs / "partition.gp", abs / "partition.gnuplot.log");
  if (out.warning.empty() && fs::exists(abs / "partition.png", ec)) {
    out.png_path = (abs / "partition.png").string();
  } else if (out.warning.empty()) {
    out.warning = "gnuplot ran but wrote no partition.png";
  }
  return out;
}

}  // namespace fedjets::common
