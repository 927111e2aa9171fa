// fedjets-report and validation clients (--validation-clients, issue #14):
// a validation column next to the unseen one where runs have
// validation_accuracy, and the page of runs without it unchanged.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/tools/report/report_fixture.h"
#include "tools/report/report.h"

namespace fedjets::coordinator::report_test {
namespace {

bool Has(const std::string& md, const std::string& text) {
  return md.find(text) != std::string::npos;
}

class ReportValidationTest : public ReportTest {
 protected:
  // Grid() with validation clients on both FedJETs seeds and on FedAvg;
  // FedProx's run has none.
  std::vector<RunSpec> ValidationGrid(const std::string& setting) {
    RunShape fj1, fj2, fa, fp;
    fj1.validation = 0.6;
    fj2.seed = 2;
    fj2.unseen = 0.9;
    fj2.validation = 0.7;
    fa.method = "fedavg";
    fa.unseen = 0.5;
    fa.validation = 0.55;
    fp.method = "fedprox";
    fp.unseen = 0.55;
    return {{setting, "fedjets", WriteRun(setting + "-vfj1", fj1)},
            {setting, "fedjets", WriteRun(setting + "-vfj2", fj2)},
            {setting, "fedavg", WriteRun(setting + "-vfa1", fa)},
            {setting, "fedprox", WriteRun(setting + "-vfp1", fp)}};
  }
};

TEST_F(ReportValidationTest, FinalAndPerRoundValidationAccuracyAreRead) {
  RunShape shape;
  shape.validation = 0.6;
  std::vector<std::string> warnings;
  auto run = LoadRun({"weak", "fedjets", WriteRun("v", shape)}, &warnings);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_TRUE(run->validation_accuracy.has_value());
  EXPECT_NEAR(*run->validation_accuracy, 0.6, 1e-9);  // the last eval's
  ASSERT_EQ(run->validation_by_round.size(), 3u);
  EXPECT_EQ(run->validation_by_round[0].first, 1);
  EXPECT_NEAR(run->validation_by_round[0].second, 0.2, 1e-9);

  auto plain =
      LoadRun({"weak", "fedjets", WriteRun("p", RunShape{})}, &warnings);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->validation_accuracy.has_value());
  EXPECT_TRUE(plain->validation_by_round.empty());
}

TEST_F(ReportValidationTest, ValidationIsAveragedOverSeedsOfTrainedMethods) {
  Report report = Load(ValidationGrid("weak"));
  const SettingSummary& s = report.settings[0];
  EXPECT_TRUE(s.has_validation);
  const MethodRow& fj = Row(s, "fedjets");
  EXPECT_EQ(fj.validation.n, 2);
  EXPECT_NEAR(fj.validation.mean, 0.65, 1e-9);
  EXPECT_NEAR(fj.validation.std, 0.0707107, 1e-6);  // sample std of 0.6, 0.7
  EXPECT_NEAR(Row(s, "fedavg").validation.mean, 0.55, 1e-9);
  EXPECT_EQ(Row(s, "fedprox").validation.n, 0);
  EXPECT_EQ(Row(s, "common").validation.n, 0);  // references leave them out
}

TEST_F(ReportValidationTest, TableShowsAValidationColumnNextToUnseen) {
  Report report = Load(ValidationGrid("weak"));
  std::string md = RenderMarkdown(report, {});
  EXPECT_TRUE(Has(md,
                  "| method | seen-client acc. (%) | unseen-client acc., "
                  "zero-shot (%) | validation-client acc. (%) | seeds | "
                  "rounds | bytes / client / round |\n"
                  "|---|---|---|---|---|---|---|\n"))
      << md;
  EXPECT_TRUE(Has(md,
                  "| **FedJETs** | 90.0 ± 0.0 | 85.0 ± 7.1 | 65.0 ± 7.1 |"
                  " 2 | 3 |"))
      << md;
  EXPECT_TRUE(Has(md, "| FedAvg | 90.0 | 50.0 | 55.0 | 1 | 3 |")) << md;
  EXPECT_TRUE(Has(md, "| FedProx | 90.0 | 55.0 | n/a | 1 | 3 |")) << md;
  EXPECT_TRUE(Has(md,
                  "| common expert alone (ref.) | 70.0 ± 0.0 | "
                  "60.0 ± 0.0 | – | 2 | – | – |"))
      << md;
  EXPECT_TRUE(Has(md, "*Validation* columns")) << md;
}

TEST_F(ReportValidationTest, SettingsWithoutValidationKeepTheirTable) {
  std::vector<RunSpec> specs = ValidationGrid("dirichlet");
  for (const RunSpec& s : Grid("weak")) specs.push_back(s);
  Report report = Load(specs);
  std::string md = RenderMarkdown(report, {});
  const size_t weak = md.find("## Setting: weak\n");
  ASSERT_NE(weak, std::string::npos);
  const std::string weak_part = md.substr(weak);
  EXPECT_TRUE(Has(weak_part,
                  "| method | seen-client acc. (%) | unseen-client acc., "
                  "zero-shot (%) | seeds | rounds | bytes / client / round "
                  "|\n|---|---|---|---|---|---|\n"))
      << weak_part;
  EXPECT_TRUE(Has(weak_part, "| **FedJETs** | 90.0 ± 0.0 | 85.0 ± 7.1 | 2 |"));
}

TEST_F(ReportValidationTest, RunsWithoutValidationAddNothingToThePage) {
  std::vector<RunSpec> specs = Grid("weak");
  for (const RunSpec& s : Grid("ablation-k1")) specs.push_back(s);
  std::string md = RenderMarkdown(Load(specs), {});
  EXPECT_FALSE(Has(md, "validation-client acc.")) << md;
  EXPECT_FALSE(Has(md, "validation acc.")) << md;
  EXPECT_FALSE(Has(md, "*Validation* columns")) << md;
  EXPECT_TRUE(Has(md,
                  "| setting | method | seen acc. (%) | unseen acc. (%) "
                  "| routing acc. (%) | seeds |\n|---|---|---|---|---|---|\n"))
      << md;
}

TEST_F(ReportValidationTest, AblationTableShowsValidationWhereRunsHaveIt) {
  std::vector<RunSpec> specs = ValidationGrid("ablation-k1");
  for (const RunSpec& s : Grid("ablation-no-anchors")) specs.push_back(s);
  std::string md = RenderMarkdown(Load(specs), {});
  EXPECT_TRUE(Has(md,
                  "| setting | method | seen acc. (%) | unseen acc. (%) | "
                  "validation acc. (%) | routing acc. (%) | seeds |\n"
                  "|---|---|---|---|---|---|---|\n"))
      << md;
  EXPECT_TRUE(Has(md,
                  "| **ablation-k1** | **FedJETs** | 90.0 ± 0.0 | "
                  "85.0 ± 7.1 | 65.0 ± 7.1 | 70.0 ± 0.0 | 2 |"))
      << md;
  // The setting without validation runs shows n/a in the shared table.
  EXPECT_TRUE(Has(md,
                  "| **ablation-no-anchors** | **FedJETs** | 90.0 ± 0.0 "
                  "| 85.0 ± 7.1 | n/a | 70.0 ± 0.0 | 2 |"))
      << md;
}

TEST_F(ReportValidationTest, AccuracyPlotIsDrawnWithValidationCurves) {
  if (std::system("gnuplot --version >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "gnuplot not installed";
  WriteOptions o;
  o.runs = ValidationGrid("weak");
  o.results_path = (root_ / "out" / "RESULTS.md").string();
  std::vector<std::string> warnings;
  ASSERT_TRUE(WriteResults(o, &warnings).ok());
  for (const std::string& w : warnings) ADD_FAILURE() << w;
  EXPECT_TRUE(fs::exists(root_ / "out" / "plots" / "weak-accuracy.png"));
}

}  // namespace
}  // namespace fedjets::coordinator::report_test
