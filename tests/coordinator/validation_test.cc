#include "coordinator/validation.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "coordinator/strategy/strategy_options.h"

namespace fedjets::coordinator {
namespace {

using common::StatusCode;

proto::Hello GoodHello() {
  proto::Hello h;
  h.set_client_name("client-0");
  h.set_num_samples(500);
  return h;
}

common::WireTensor Floats(const std::string& name, std::vector<float> v) {
  common::WireTensor t;
  t.name = name;
  t.dtype = proto::DTYPE_FLOAT32;
  t.shape = {static_cast<int64_t>(v.size())};
  t.bytes.resize(v.size() * sizeof(float));
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}

common::WireTensor Doubles(const std::string& name, std::vector<double> v) {
  common::WireTensor t;
  t.name = name;
  t.dtype = proto::DTYPE_FLOAT64;
  t.shape = {static_cast<int64_t>(v.size())};
  t.bytes.resize(v.size() * sizeof(double));
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}

void ExpectInvalid(const common::Status& st,
                   const std::vector<std::string>& mentions) {
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  for (const auto& m : mentions) {
    EXPECT_NE(st.message().find(m), std::string::npos)
        << "'" << m << "' not in: " << st.message();
  }
}

TEST(ValidationTest, EveryNameTheProjectGivesIsAccepted) {
  const std::vector<std::string> names = {
      "client-0", "client-11",      "newcomer",
      "mallory",  "site_A.eu-west", std::string(64, 'x')};
  for (const std::string& name : names) {
    EXPECT_TRUE(CheckClientName(name).ok()) << name;
  }
}

TEST(ValidationTest, EmptyNameIsRefusedNamingTheRule) {
  ExpectInvalid(CheckClientName(""),
                {"Hello.client_name", "1 to 64 bytes of [A-Za-z0-9._-]"});
}

TEST(ValidationTest, NameOverSixtyFourBytesIsRefusedWithItsLengthOnly) {
  const std::string huge(4 << 20, 'a');
  common::Status st = CheckClientName(huge);
  ExpectInvalid(st, {"4194304 bytes", "1 to 64 bytes"});
  EXPECT_LT(st.message().size(), 300u);  // the name itself is cut short
  EXPECT_FALSE(CheckClientName(std::string(65, 'a')).ok());
}

TEST(ValidationTest, NameWithNewlineIsRefusedWithoutPrintingTheNewline) {
  common::Status st =
      CheckClientName("x\n[info] run complete: final test accuracy 99.99%");
  ExpectInvalid(st, {"byte 0x0a at offset 1", R"("x\n[info])"});
  EXPECT_EQ(st.message().find('\n'), std::string::npos);
}

TEST(ValidationTest, NameWithSpaceSlashOrNonAsciiIsRefused) {
  for (const char* name : {"a b", "../etc", "caf\xc3\xa9", "a\"b"}) {
    EXPECT_FALSE(CheckClientName(name).ok()) << name;
  }
}

TEST(ValidationTest, HelloWithinLimitsIsAccepted) {
  proto::Hello h = GoodHello();
  EXPECT_TRUE(ValidateHello(h, 0).ok());
  h.set_anchor_expert(4);
  EXPECT_TRUE(ValidateHello(h, 5).ok());
  h.set_num_samples(kMaxClientSamples);
  EXPECT_TRUE(ValidateHello(h, 5).ok());
}

TEST(ValidationTest, HelloSampleCountOutsideOneToOneBillionIsRefused) {
  for (int64_t n : {int64_t{0}, int64_t{-5}, kMaxClientSamples + 1,
                    std::numeric_limits<int64_t>::max()}) {
    proto::Hello h = GoodHello();
    h.set_num_samples(n);
    ExpectInvalid(ValidateHello(h, 0),
                  {"Hello.num_samples", std::to_string(n), "[1, 1000000000]"});
  }
}

TEST(ValidationTest, AnchorOutsideTheExpertsIsRefusedNamingTheRange) {
  for (int q : {5, 99, -1}) {
    proto::Hello h = GoodHello();
    h.set_anchor_expert(q);
    ExpectInvalid(ValidateHello(h, 5),
                  {"Hello.anchor_expert", std::to_string(q), "[0, 5)"});
  }
}

TEST(ValidationTest, AnchorIsIgnoredByAnAlgorithmWithoutExperts) {
  proto::Hello h = GoodHello();
  h.set_anchor_expert(99);
  EXPECT_TRUE(ValidateHello(h, 0).ok());
}

TEST(ValidationTest, HelloNameIsCheckedToo) {
  proto::Hello h = GoodHello();
  h.set_client_name("a\nb");
  ExpectInvalid(ValidateHello(h, 0), {"Hello.client_name"});
}

TEST(ValidationTest, FiniteValuesOfEveryDtypePass) {
  common::WireTensor ints;
  ints.name = "steps";
  ints.dtype = proto::DTYPE_INT32;
  ints.shape = {1};
  ints.bytes = std::string("\xff\xff\x80\x7f", 4);  // +inf's bits, as int
  common::ParameterList p = {
      Floats("w", {0.f, -1.5f, std::numeric_limits<float>::max(),
                   std::numeric_limits<float>::denorm_min()}),
      Doubles("b", {1e308, -0.0}), ints};
  EXPECT_TRUE(CheckFinite(p).ok());
  EXPECT_TRUE(CheckFinite({}).ok());
}

TEST(ValidationTest, NanOrInfinityIsFoundNamingTensorAndElement) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  ExpectInvalid(CheckFinite({Floats("a", {1.f}), Floats("b", {0.f, 2.f, nan})}),
                {"tensor 'b' (index 1)", "nan", "element 2"});
  ExpectInvalid(CheckFinite({Floats("a", {-inf})}), {"-inf", "element 0"});
  ExpectInvalid(CheckFinite({Doubles("d", {0.0, 1.0 / 0.0})}),
                {"tensor 'd'", "inf", "element 1"});
}

TEST(ValidationTest, UpdateWithinItsDeclaredSamplesAndFiniteIsKept) {
  EXPECT_FALSE(ValidateUpdate(500, 500, 0.5, {Floats("w", {1.f})}).has_value());
  EXPECT_FALSE(ValidateUpdate(1, 500, 0.0, {}).has_value());
}

TEST(ValidationTest, UpdateClaimingMoreSamplesThanDeclaredIsRejected) {
  for (int64_t n : {int64_t{501}, int64_t{1'000'000'000'000}, int64_t{0},
                    int64_t{-1}, std::numeric_limits<int64_t>::max()}) {
    auto r = ValidateUpdate(n, 500, 0.5, {});
    ASSERT_TRUE(r.has_value()) << n;
    EXPECT_EQ(r->reason, "num_samples");
    ExpectInvalid(r->status,
                  {"Update.num_samples", std::to_string(n), "[1, 500]"});
  }
}

TEST(ValidationTest, UpdateWithNanIsRejectedAsNonFinite) {
  auto r = ValidateUpdate(
      500, 500, 0.5, {Floats("w", {std::numeric_limits<float>::quiet_NaN()})});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reason, "non_finite");
  ExpectInvalid(r->status, {"Update", "tensor 'w'", "finite"});
}

TEST(ValidationTest, UpdateWithNanOrInfiniteLossIsRejected) {
  for (double loss : {std::numeric_limits<double>::quiet_NaN(),
                      std::numeric_limits<double>::infinity(),
                      -std::numeric_limits<double>::infinity()}) {
    auto r = ValidateUpdate(500, 500, loss, {Floats("w", {1.f})});
    ASSERT_TRUE(r.has_value()) << loss;
    EXPECT_EQ(r->reason, "non_finite_loss");
    ExpectInvalid(r->status, {"Update.train_loss", "must be finite"});
  }
}

TEST(ValidationTest, UpdateOverTheSampleCapIsRejectedEvenIfDeclared) {
  UpdateLimits limits;
  limits.max_samples = 60'000;
  EXPECT_FALSE(ValidateUpdate(60'000, 1'000'000, 0.5, {}, {}, limits));
  auto r = ValidateUpdate(60'001, 1'000'000, 0.5, {}, {}, limits);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reason, "num_samples");
  ExpectInvalid(r->status, {"60001", "at most 60000", "--max-update-samples"});
}

TEST(ValidationTest, DefaultSampleCapIsTheHelloCap) {
  EXPECT_EQ(UpdateLimits{}.max_samples, kMaxClientSamples);
  EXPECT_FALSE(ValidateUpdate(kMaxClientSamples, kMaxClientSamples, 0.5, {}));
}

TEST(ValidationTest, UpdateMovingTheModelTooFarIsRejectedAsL2Norm) {
  const common::ParameterList start = {Floats("w", {1.f, 1.f})};
  UpdateLimits limits;
  limits.max_delta_norm = 5.0;
  // delta (3, 4): norm 5, kept; (3, 4.1): over.
  EXPECT_FALSE(
      ValidateUpdate(500, 500, 0.5, {Floats("w", {4.f, 5.f})}, start, limits));
  auto r =
      ValidateUpdate(500, 500, 0.5, {Floats("w", {4.f, 5.1f})}, start, limits);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reason, "l2_norm");
  ExpectInvalid(r->status,
                {"L2 norm of 5.0", "at most 5", "--max-update-norm"});
}

TEST(ValidationTest, NormBoundOffLetsAnyFiniteDeltaThrough) {
  const common::ParameterList start = {Floats("w", {0.f})};
  EXPECT_FALSE(ValidateUpdate(500, 500, 0.5, {Floats("w", {1e30f})}, start));
}

TEST(ValidationTest, NormBoundWithoutAMatchingStartIsRejectedNotCrashed) {
  UpdateLimits limits;
  limits.max_delta_norm = 1.0;
  auto r = ValidateUpdate(500, 500, 0.5, {Floats("w", {1.f})}, {}, limits);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reason, "l2_norm");
  ExpectInvalid(r->status, {"what the client was sent"});
}

// --max-update-samples defaults to the cap a Hello may declare (checked
// here: clang-14 cannot evaluate a StrategyOptions in a static_assert).
TEST(UpdateLimitsTest, SampleCapDefaultsToTheHelloCap) {
  EXPECT_EQ(StrategyOptions{}.max_update_samples, kMaxClientSamples);
}

}  // namespace
}  // namespace fedjets::coordinator
