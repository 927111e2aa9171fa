// RenderMarkdown(): the RESULTS.md page. Every number comes from a Report;
// the only fixed numbers are the paper's Table 1, labelled as such.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "tools/report/report.h"

namespace fedjets::coordinator {
namespace {

// arXiv 2306.08586, Table 1: zero-shot accuracy (%) on unseen clients, as
// copied into /work/shared/DESIGN.md. Not our data.
constexpr const char* kPaperTable1 =
    R"(| method | CIFAR-10 (C 73%) | CIFAR-10 (C 93%) | CIFAR-100 (C 67%) | CIFAR-100 (C 73%) |
|---|---|---|---|---|
| common expert alone | 73 | 93 | 67 | 73 |
| FedAvg | 31.2 | 58.4 | 72.9 | 74.0 |
| FedProx | 72.7 | 71.4 | 72.8 | 74.0 |
| FedMix | 31.3 | 42.9 | 49.7 | 48.3 |
| FedJETs | 91.8 | 95.7 | 75.7 | 78.6 |
)";

std::string Pct(const Stat& s) {
  if (s.n == 0) return "n/a";
  if (s.n == 1) return fmt::format("{:.1f}", 100 * s.mean);
  return fmt::format("{:.1f} ± {:.1f}", 100 * s.mean, 100 * s.std);
}

std::string Plain(const Stat& s, int digits) {
  if (s.n == 0) return "n/a";
  if (s.n == 1 || s.std == 0) return fmt::format("{:.{}f}", s.mean, digits);
  return fmt::format("{:.{}f} ± {:.{}f}", s.mean, digits, s.std, digits);
}

std::string Bytes(double b) {
  if (b >= 1024.0 * 1024.0) return fmt::format("{:.2f} MiB", b / 1048576.0);
  if (b >= 1024.0) return fmt::format("{:.1f} KiB", b / 1024.0);
  return fmt::format("{:.0f} B", b);
}

std::string Pp(std::optional<double> gap) {
  return gap ? fmt::format("{:+.1f} pp", 100 * *gap) : "n/a";
}

std::string Label(const MethodRow& r) {
  if (r.method == "common") return "common expert alone (ref.)";
  if (r.method == "local") return "local fine-tune (ref.)";
  if (r.method == "oracle") return "oracle: FedAvg fine-tuned (ref.)";
  if (r.method == "fedjets") return "**FedJETs**";
  if (r.method == "fedavg") return "FedAvg";
  if (r.method == "fedprox") return "FedProx";
  if (r.method != AlgorithmOf(r.method)) {  // served with label-shift EM
    MethodRow base = r;
    base.method = AlgorithmOf(r.method);
    return Label(base) + " + EM (`--serve-label-shift`)";
  }
  return r.reference ? r.method + " (ref.)" : r.method;
}

std::string Seeds(const MethodRow& r) {
  if (r.unfinished == 0) return std::to_string(r.seeds);
  return fmt::format("{} (+{} unfinished, excluded)", r.seeds, r.unfinished);
}

// The validation column of a trained row; reference methods leave the
// validation clients out.
std::string ValidationCell(const MethodRow& r) {
  return r.reference ? "–" : Pct(r.validation);
}

void MethodTable(const SettingSummary& s, std::string& md) {
  const bool val = s.has_validation;
  md += fmt::format(
      "| method | seen-client acc. (%) | unseen-client acc., zero-shot (%) "
      "|{} seeds | rounds | bytes / client / round |\n"
      "|---|---|---|{}---|---|---|\n",
      val ? " validation-client acc. (%) |" : "", val ? "---|" : "");
  for (const MethodRow& r : s.rows) {
    std::string bytes = r.bytes_per_client_round.n > 0
                            ? Bytes(r.bytes_per_client_round.mean)
                            : "–";
    md += fmt::format("| {} | {} | {} |{} {} | {} | {} |\n", Label(r),
                      Pct(r.seen), Pct(r.unseen),
                      val ? fmt::format(" {} |", ValidationCell(r)) : "",
                      Seeds(r), r.reference ? "–" : Plain(r.rounds, 0),
                      r.reference ? "–" : bytes);
  }
  md += "\n";
}

const MethodRow* Find(const SettingSummary& s, const std::string& m) {
  for (const MethodRow& r : s.rows)
    if (r.method == m) return &r;
  return nullptr;
}

void FedJetsFindings(const SettingSummary& s, std::string& md) {
  const MethodRow* fj = Find(s, "fedjets");
  if (fj == nullptr || fj->unseen.n == 0) return;
  if (s.common_expert_accuracy.n > 0) {
    md += fmt::format(
        "- **Common expert (frozen):** test accuracy {} % on the whole test "
        "split.\n",
        Pct(s.common_expert_accuracy));
  }
  md += fmt::format(
      "- **Unseen clients, FedJETs minus:** common expert alone {}, FedAvg "
      "{}, FedProx {}{} (differences of means).\n",
      Pp(s.gap_over_common), Pp(s.gap_over_fedavg), Pp(s.gap_over_fedprox),
      s.gap_over_fedavg_em ? ", FedAvg + EM " + Pp(s.gap_over_fedavg_em)
                           : std::string());
  md += s.gap_closed
            ? fmt::format(
                  "- **FedAvg→oracle gap closed by FedJETs:** {:.0f}% "
                  "= (fedjets − fedavg) / (oracle − fedavg) on unseen "
                  "clients.\n",
                  100 * *s.gap_closed)
            : "- **FedAvg→oracle gap closed:** n/a (needs finished fedavg "
              "runs with an oracle baseline that differs from FedAvg).\n";
  md += fmt::format(
      "- **Routing (FedJETs, final eval, unseen clients):** routing accuracy "
      "{} %, gate entropy {}.\n",
      Pct(s.routing_accuracy), Plain(s.gate_entropy, 3));
  if (s.reference_routing_accuracy.n > 0 || s.anchor_routed_accuracy.n > 0) {
    md += fmt::format(
        "- **Where the errors are (FedJETs diagnostics, need labels):** a "
        "reference gate trained centrally on every labelled training "
        "embedding routes {} % correctly and reaches {} % zero-shot; "
        "sending every sample to its class's anchor expert reaches {} %.\n",
        Pct(s.reference_routing_accuracy), Pct(s.reference_unseen_accuracy),
        Pct(s.anchor_routed_accuracy));
  }
  if (s.bytes_ratio && fj->full_model_bytes.n > 0) {
    const bool g = s.generalist_expert;
    std::string bound = "n/a (no num_experts/top_k in the start event)";
    if (s.bytes_bound) {
      bound = fmt::format(
          "{:.3f} with K = {}, M = {}{}", *s.bytes_bound, *s.top_k,
          *s.num_experts,
          s.bound_assumes_tiny_gate
              ? (g ? " (gate size unknown without a fedavg run: "
                     "(K + 1)/(M + 1))"
                   : " (gate size unknown without a fedavg run: K/M)")
              : (g ? " (gate size = full model − (M + 1) × FedAvg model)"
                   : " (gate size = full model − M × FedAvg model)"));
    }
    md += fmt::format(
        "- **Communication (FedJETs):** {} per client per round (received + "
        "sent) vs {} for exchanging all experts{} + gate both ways (2 × "
        "full_model_bytes = 2 × {}): measured ratio **{:.3f}**; bound "
        "{} = {}.\n",
        Bytes(fj->bytes_per_client_round.mean),
        Bytes(2 * fj->full_model_bytes.mean),
        g ? " (the M specialists and the generalist)" : "",
        Bytes(fj->full_model_bytes.mean), *s.bytes_ratio,
        g ? "(K + 1 + gate) / (M + 1 + gate)" : "(K + gate) / (M + gate)",
        bound);
  }
  md += "\n";
}

void Plots(const SettingSummary& s, const RenderOptions& o, std::string& md,
           const Report& report) {
  auto it = o.plots.find(s.setting);
  if (it == o.plots.end()) return;
  const SettingPlots& p = it->second;
  std::string from =
      s.heatmap_run >= 0
          ? fmt::format(" (run `{}`)", report.runs[s.heatmap_run].spec.dir)
          : "";
  if (!p.accuracy.empty())
    md += fmt::format("![Unseen-client accuracy per round, {}]({})\n\n",
                      s.setting, p.accuracy);
  if (!p.expert_load.empty())
    md += fmt::format("![Expert load per round, {}]({})\n\n", s.setting,
                      p.expert_load);
  if (!p.routing.empty())
    md += fmt::format("![Routing: true class × chosen expert, {}]({})\n\n",
                      s.setting, p.routing);
  if (!p.expert_load.empty() || !p.routing.empty())
    md += fmt::format("Heatmaps from one FedJETs run{}.\n\n", from);
}

void Overview(const Report& report, std::string& md) {
  std::vector<const SettingSummary*> main;
  for (const SettingSummary& s : report.settings)
    if (!s.ablation) main.push_back(&s);
  if (main.empty()) return;
  md += "## Overview: unseen-client (zero-shot) accuracy, %\n\n| method |";
  for (const SettingSummary* s : main) md += fmt::format(" {} |", s->setting);
  md += "\n|---|";
  for (size_t i = 0; i < main.size(); ++i) md += "---|";
  md += "\n";
  std::vector<std::string> methods;
  for (const SettingSummary* s : main)
    for (const MethodRow& r : s->rows)
      if (std::find(methods.begin(), methods.end(), r.method) == methods.end())
        methods.push_back(r.method);
  for (const std::string& m : methods) {
    const MethodRow* any = nullptr;
    std::string cells;
    for (const SettingSummary* s : main) {
      const MethodRow* r = Find(*s, m);
      if (r != nullptr) any = r;
      cells += fmt::format(" {} |", r ? Pct(r->unseen) : "–");
    }
    md += fmt::format("| {} |{}\n", Label(*any), cells);
  }
  md += "\n";
}

void Ablations(const Report& report, const RenderOptions& o, std::string& md) {
  bool any = false, val = false;
  for (const SettingSummary& s : report.settings) {
    any |= s.ablation;
    val |= s.ablation && s.has_validation;
  }
  if (!any) return;
  md += fmt::format(
      "## Ablations\n\n| setting | method | seen acc. (%) | unseen acc. (%) "
      "|{} routing acc. (%) | seeds |\n|---|---|---|---|{}---|---|\n",
      val ? " validation acc. (%) |" : "", val ? "---|" : "");
  for (const SettingSummary& s : report.settings) {
    if (!s.ablation) continue;
    bool first = true;
    for (const MethodRow& r : s.rows) {
      md += fmt::format(
          "| {} | {} | {} | {} |{} {} | {} |\n",
          first ? "**" + s.setting + "**" : "", Label(r), Pct(r.seen),
          Pct(r.unseen), val ? fmt::format(" {} |", ValidationCell(r)) : "",
          r.method == "fedjets" ? Pct(s.routing_accuracy) : "", Seeds(r));
      first = false;
    }
  }
  md += "\n";
  for (const SettingSummary& s : report.settings) {
    if (!s.ablation) continue;
    md += fmt::format("### {}\n\n", s.setting);
    FedJetsFindings(s, md);
    Plots(s, o, md, report);
  }
}

void Excluded(const Report& report, std::string& md) {
  std::string rows;
  for (const RunMetrics& r : report.runs) {
    if (r.finished) continue;
    rows += fmt::format(
        "| {} | {} | `{}` | {}{} |\n", r.spec.setting, r.spec.method,
        r.spec.dir, r.last_round,
        r.planned_rounds ? fmt::format(" of {}", *r.planned_rounds) : "");
  }
  if (rows.empty()) return;
  md +=
      "## Unfinished runs (no `end` event; excluded from every mean)\n\n"
      "| setting | method | run | reached round |\n|---|---|---|---|\n" +
      rows + "\n";
}

}  // namespace

std::string RenderMarkdown(const Report& report, const RenderOptions& o) {
  std::string md =
      "# Results\n\n<!-- Generated by fedjets-report; do not edit by hand. "
      "-->\n\n";
  md += fmt::format("Generated on {} by:\n\n```sh\n{}\n```\n\n", o.date,
                    o.command_line);
  if (!o.manifest_text.empty())
    md += fmt::format("Manifest:\n\n```\n{}\n```\n\n", o.manifest_text);
  md +=
      "Accuracies are test accuracies in percent, mean ± sample standard "
      "deviation over seeds (one run per seed), from each run's final `eval` "
      "event (its `end` event when it has none). *Seen* clients hold label "
      "sets that training clients hold; *unseen* clients hold held-out label "
      "combinations no training client has and are served zero-shot. "
      "Reference rows (ref.) come from the runs' `baselines` event: the "
      "common expert alone, the common expert fine-tuned on each evaluation "
      "client's own labelled data (local), and the final FedAvg model "
      "fine-tuned the same way (oracle, an upper reference). Bytes are per "
      "participating client per round, received + sent. Schema: "
      "docs/METRICS.md.\n\n"
      "Validation protocol: the hyper-parameters of these runs are the "
      "fixed values in the command lines above; the unseen (test) clients "
      "are for reporting, not for choosing them. Values are chosen with "
      "scripts/tune.sh on validation clients (`--validation-clients`) "
      "drawn like the unseen ones from a slice of the training split that "
      "no client trains on, by final `validation_accuracy` "
      "(docs/ALGORITHM.md, \"Honest tuning\").\n\n";
  if (std::any_of(report.settings.begin(), report.settings.end(),
                  [](const SettingSummary& s) { return s.has_validation; })) {
    md +=
        "*Validation* columns (settings whose runs had "
        "`--validation-clients`): the validation clients' final "
        "`validation_accuracy`, mean ± sd over seeds like the other columns; "
        "they are served exactly as the unseen clients are, and their "
        "examples come from the slice of the training split cut off for "
        "them, so those runs' clients hold that much less data. Reference "
        "rows leave validation clients out (–).\n\n";
  }
  Overview(report, md);
  md +=
      "## Paper reference: Table 1 of arXiv 2306.08586 (CIFAR, not our "
      "data)\n\nZero-shot accuracy (%) on unseen clients as published; "
      "columns are common experts (C) of different strength. Fixed "
      "numbers, for comparison only.\n\n";
  md += kPaperTable1;
  md +=
      "\nAlso from the paper: Dirichlet(0.1) CIFAR-10, FedJETs 80.8 vs "
      "FedAvg 51.3.\n\n";
  for (const SettingSummary& s : report.settings) {
    if (s.ablation) continue;
    md += fmt::format("## Setting: {}\n\n", s.setting);
    MethodTable(s, md);
    FedJetsFindings(s, md);
    Plots(s, o, md, report);
  }
  Ablations(report, o, md);
  Excluded(report, md);
  if (!o.plots_note.empty()) md += fmt::format("Plots: {}\n\n", o.plots_note);
  if (!report.warnings.empty()) {
    md += "## Warnings while generating\n\n";
    for (const std::string& w : report.warnings) md += "- " + w + "\n";
    md += "\n";
  }
  return md;
}

}  // namespace fedjets::coordinator
