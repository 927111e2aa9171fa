#include "coordinator/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "tests/common/base/temp_dir.h"

namespace fedjets::coordinator {
namespace {

namespace fs = std::filesystem;

Checkpoint MakeCheckpoint(int round) {
  Checkpoint c;
  c.run_id = "run-x";
  c.round = round;
  std::mt19937_64 rng(7);
  rng.discard(round);
  std::ostringstream sampler;
  sampler << rng;
  c.sampler_state = sampler.str();
  c.config_fingerprint = "--lr\n0.05";
  c.metrics_bytes = 1234;
  common::WireTensor w{"w", proto::DTYPE_FLOAT32, {2, 3}, {}};
  w.bytes.resize(24);
  for (size_t i = 0; i < w.bytes.size(); ++i) {
    w.bytes[i] = static_cast<char>(i + round);
  }
  common::WireTensor empty{"b", proto::DTYPE_FLOAT32, {0}, {}};
  c.params = {w, empty};
  c.initial_accuracy = 0.1;
  c.final_accuracy = 0.8;
  c.final_unseen_accuracy = 0.7;
  c.client_bytes_total = 99;
  c.client_exchanges = 4;
  return c;
}

TEST(CheckpointTest, RoundTripsEveryField) {
  const Checkpoint c = MakeCheckpoint(3);
  auto d = DecodeCheckpoint(EncodeCheckpoint(c));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->run_id, c.run_id);
  EXPECT_EQ(d->round, 3);
  EXPECT_EQ(d->sampler_state, c.sampler_state);
  EXPECT_EQ(d->config_fingerprint, c.config_fingerprint);
  EXPECT_EQ(d->metrics_bytes, 1234u);
  ASSERT_EQ(d->params.size(), 2u);
  EXPECT_EQ(d->params[0].name, "w");
  EXPECT_EQ(d->params[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(d->params[0].bytes, c.params[0].bytes);
  EXPECT_EQ(d->params[1].bytes, "");
  EXPECT_EQ(d->initial_accuracy, 0.1);
  EXPECT_EQ(d->final_accuracy, 0.8);
  EXPECT_EQ(d->final_seen_accuracy, -1.0);
  EXPECT_EQ(d->final_unseen_accuracy, 0.7);
  EXPECT_EQ(d->client_bytes_total, 99u);
  EXPECT_EQ(d->client_exchanges, 4);
}

TEST(CheckpointTest, EveryFlippedByteAndEveryTruncationIsRefused) {
  const std::string good = EncodeCheckpoint(MakeCheckpoint(1));
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    EXPECT_FALSE(DecodeCheckpoint(bad).ok()) << "byte " << i;
  }
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(DecodeCheckpoint(good.substr(0, n)).ok()) << n << " bytes";
  }
  auto torn = DecodeCheckpoint(good.substr(0, good.size() - 1));
  EXPECT_NE(torn.status().message().find("checksum"), std::string::npos)
      << torn.status().ToString();
}

class CheckpointFilesTest : public testutil::TempDirTest {};

TEST_F(CheckpointFilesTest, KeepsTheNewestTwoAndLoadsTheNewest) {
  for (int round = 1; round <= 4; ++round) {
    ASSERT_TRUE(WriteCheckpoint(dir_, MakeCheckpoint(round)).ok());
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(CheckpointDir(dir_))) {
    files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"round-000003.ckpt",
                                             "round-000004.ckpt"}));
  std::vector<std::string> skipped;
  auto c = LoadNewestCheckpoint(dir_, skipped);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->round, 4);
  EXPECT_TRUE(skipped.empty());
}

TEST_F(CheckpointFilesTest, ACorruptNewestFallsBackToThePreviousAndSaysWhy) {
  ASSERT_TRUE(WriteCheckpoint(dir_, MakeCheckpoint(1)).ok());
  ASSERT_TRUE(WriteCheckpoint(dir_, MakeCheckpoint(2)).ok());
  const fs::path newest = CheckpointDir(dir_) / "round-000002.ckpt";
  fs::resize_file(newest, fs::file_size(newest) / 2);  // torn
  std::vector<std::string> skipped;
  auto c = LoadNewestCheckpoint(dir_, skipped);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->round, 1);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("round-000002.ckpt"), std::string::npos);
  EXPECT_NE(skipped[0].find("checksum"), std::string::npos) << skipped[0];
}

TEST_F(CheckpointFilesTest, AFileNamedForAnotherRoundIsNotTrusted) {
  ASSERT_TRUE(WriteCheckpoint(dir_, MakeCheckpoint(1)).ok());
  fs::copy_file(CheckpointDir(dir_) / "round-000001.ckpt",
                CheckpointDir(dir_) / "round-000005.ckpt");
  std::vector<std::string> skipped;
  auto c = LoadNewestCheckpoint(dir_, skipped);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->round, 1);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("holds round 1, not 5"), std::string::npos)
      << skipped[0];
}

TEST_F(CheckpointFilesTest, NoCheckpointIsNotFound) {
  std::vector<std::string> skipped;
  auto c = LoadNewestCheckpoint(dir_, skipped);
  EXPECT_EQ(c.status().code(), common::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("no usable checkpoint"),
            std::string::npos);
}

}  // namespace
}  // namespace fedjets::coordinator
