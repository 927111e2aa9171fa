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
  auto d = DecodeCheckpoint(EncodeCheckpoint(c).value());
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

// Absent in runs without validation clients and in older files (read as
// -1, "none"); a real 0 stays 0.
TEST(CheckpointTest, ValidationAccuracyIsKeptOnlyWhenThereIsOne) {
  Checkpoint c = MakeCheckpoint(2);
  auto none = DecodeCheckpoint(EncodeCheckpoint(c).value());
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->final_validation_accuracy, -1.0);
  for (double v : {0.0, 0.65}) {
    c.final_validation_accuracy = v;
    auto d = DecodeCheckpoint(EncodeCheckpoint(c).value());
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->final_validation_accuracy, v);
  }
}

TEST(CheckpointTest, EveryFlippedByteAndEveryTruncationIsRefused) {
  const std::string good = EncodeCheckpoint(MakeCheckpoint(1)).value();
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

// A model over protobuf's 2 GiB message limit cannot be checkpointed: the
// write is refused with the sizes named (before, the body serialized to
// nothing and a file that decodes as round 0 was written), and a file
// whose body is over the limit is refused before it is hashed or parsed.
TEST(CheckpointTest, OverTwoGibIsRefusedWithTheSizes) {
  Checkpoint c = MakeCheckpoint(1);
  c.params[0] =
      common::WireTensor{"big", proto::DTYPE_FLOAT32, {int64_t{1} << 29}, {}};
  c.params[0].bytes.resize(size_t{1} << 31);
  auto encoded = EncodeCheckpoint(c);
  ASSERT_FALSE(encoded.ok());
  EXPECT_NE(encoded.status().message().find("2147483648 bytes"),
            std::string::npos)
      << encoded.status().ToString();
  c.params[0].bytes.clear();
  c.params[0].bytes.shrink_to_fit();

  std::string file = EncodeCheckpoint(MakeCheckpoint(1)).value();
  file.resize(kMaxCheckpointBodyBytes + 8 + 32 + 1);
  auto decoded = DecodeCheckpoint(file);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("over the limit"),
            std::string::npos)
      << decoded.status().ToString();
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

TEST_F(CheckpointFilesTest, ARefusedCheckpointKeepsTheOnesBefore) {
  ASSERT_TRUE(WriteCheckpoint(dir_, MakeCheckpoint(1)).ok());
  Checkpoint big = MakeCheckpoint(2);
  big.params[0].bytes.resize(kMaxCheckpointBodyBytes + 1);
  const common::Status st = WriteCheckpoint(dir_, big);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("checkpoint of round 2 not written"),
            std::string::npos)
      << st.ToString();
  big = Checkpoint{};
  std::vector<std::string> skipped;
  auto c = LoadNewestCheckpoint(dir_, skipped);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->round, 1);
  EXPECT_FALSE(fs::exists(CheckpointDir(dir_) / "round-000002.ckpt"));
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
