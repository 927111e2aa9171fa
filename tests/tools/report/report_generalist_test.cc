// fedjets-report on runs with a generalist expert (--generalist-expert,
// issue #14): the full model and every client's exchange hold one expert
// more, and the communication bound says so.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/tools/report/report_fixture.h"
#include "tools/report/report.h"

namespace fedjets::coordinator::report_test {
namespace {

class ReportGeneralistTest : public ReportTest {
 protected:
  // Two generalist FedJETs seeds: M = 5 specialists and the generalist of
  // 1000 B each and a 200 B gate; a FedAvg model (one expert) if `fedavg`.
  std::vector<RunSpec> GeneralistGrid(bool fedavg) {
    RunShape fj1, fj2, fa;
    fj1.generalist = fj2.generalist = true;
    fj1.full_bytes = fj2.full_bytes = 6 * 1000 + 200;
    fj2.seed = 2;
    fa.method = "fedavg";
    fa.full_bytes = 1000;
    fa.bytes = 2000;
    std::vector<RunSpec> specs = {
        {"weak-gw", "fedjets", WriteRun("gfj1", fj1)},
        {"weak-gw", "fedjets", WriteRun("gfj2", fj2)}};
    if (fedavg) specs.push_back({"weak-gw", "fedavg", WriteRun("gfa1", fa)});
    return specs;
  }
};

TEST_F(ReportGeneralistTest, GeneralistShareInAnEvalMarksTheRun) {
  Report report = Load(GeneralistGrid(/*fedavg=*/true));
  EXPECT_TRUE(report.runs[0].generalist_expert);
  EXPECT_FALSE(report.runs[2].generalist_expert);  // fedavg
  EXPECT_TRUE(report.settings[0].generalist_expert);
  EXPECT_FALSE(Load(Grid()).settings[0].generalist_expert);
}

TEST_F(ReportGeneralistTest, RatioIsOverEveryExpertTheGeneralistIncluded) {
  Report report = Load(GeneralistGrid(/*fedavg=*/true));
  const SettingSummary& s = report.settings[0];
  ASSERT_TRUE(s.bytes_ratio && s.bytes_bound);
  // full_model_bytes is the coordinator's whole model: M + 1 experts + gate.
  EXPECT_NEAR(*s.bytes_ratio, 4000.0 / (2 * 6200), 1e-9);
  // A client exchanges K specialists, the generalist and the gate.
  EXPECT_NEAR(*s.bytes_bound, (3 * 1000.0 + 200) / (6 * 1000.0 + 200), 1e-9);
  EXPECT_FALSE(s.bound_assumes_tiny_gate);
  std::string md = RenderMarkdown(report, {});
  EXPECT_NE(md.find("for exchanging all experts (the M specialists and the "
                    "generalist) + gate both ways"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("bound (K + 1 + gate) / (M + 1 + gate) = 0.516 with K = "
                    "2, M = 5 (gate size = full model − (M + 1) × FedAvg "
                    "model)"),
            std::string::npos)
      << md;
}

TEST_F(ReportGeneralistTest, BoundWithoutAFedAvgRunIsKPlusOneOverMPlusOne) {
  Report report = Load(GeneralistGrid(/*fedavg=*/false));
  const SettingSummary& s = report.settings[0];
  ASSERT_TRUE(s.bytes_bound);
  EXPECT_NEAR(*s.bytes_bound, 3.0 / 6.0, 1e-9);
  EXPECT_TRUE(s.bound_assumes_tiny_gate);
  EXPECT_NE(RenderMarkdown(report, {})
                .find("= 0.500 with K = 2, M = 5 (gate size unknown without "
                      "a fedavg run: (K + 1)/(M + 1))"),
            std::string::npos);
}

TEST_F(ReportGeneralistTest, RunsWithoutAGeneralistKeepTheirBoundText) {
  std::string md = RenderMarkdown(Load(Grid()), {});
  EXPECT_NE(md.find("for exchanging all experts + gate both ways (2 × "
                    "full_model_bytes = 2 × 5.1 KiB): measured ratio **0.385**;"
                    " bound (K + gate) / (M + gate) = 0.423 with K = 2, M = 5 "
                    "(gate size = full model − M × FedAvg model)."),
            std::string::npos)
      << md;
}

}  // namespace
}  // namespace fedjets::coordinator::report_test
