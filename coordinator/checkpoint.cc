#include "coordinator/checkpoint.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <limits>

#include "common/base/atomic_file.h"
#include "common/base/read_file.h"
#include "proto/checkpoint.pb.h"

namespace fedjets::coordinator {
namespace {

namespace fs = std::filesystem;
using common::InvalidArgument;
using common::Status;

constexpr std::string_view kMagic = "FJCKPT01";
constexpr size_t kDigestBytes = 32;

std::string Sha256(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &n, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), n);
}

std::string FileName(int round) {
  return fmt::format("round-{:06d}.ckpt", round);
}

// The rounds of RUN_DIR's checkpoint files, newest first.
std::vector<int> CheckpointRounds(const fs::path& dir) {
  std::vector<int> rounds;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    int round = 0;
    if (name.size() == FileName(0).size() &&
        std::sscanf(name.c_str(), "round-%6d.ckpt", &round) == 1 &&
        name == FileName(round)) {
      rounds.push_back(round);
    }
  }
  std::sort(rounds.rbegin(), rounds.rend());
  return rounds;
}

}  // namespace

common::Result<std::string> EncodeCheckpoint(const Checkpoint& c) {
  // The tensors first: refused before anything is copied.
  uint64_t tensor_bytes = 0;
  for (const common::WireTensor& t : c.params) tensor_bytes += t.bytes.size();
  if (tensor_bytes > kMaxCheckpointBodyBytes) {
    return common::ResourceExhausted(fmt::format(
        "the model's {} bytes of tensors are over the checkpoint limit of {} "
        "bytes (one protobuf message)",
        tensor_bytes, kMaxCheckpointBodyBytes));
  }
  proto::Checkpoint p;
  p.set_run_id(c.run_id);
  p.set_round(c.round);
  p.set_sampler_state(c.sampler_state);
  p.set_config_fingerprint(c.config_fingerprint);
  p.set_metrics_bytes(c.metrics_bytes);
  for (size_t i = 0; i < c.params.size(); ++i) {
    // One chunk holding the whole tensor.
    *p.add_params() = common::ChunkTensor(static_cast<int32_t>(i), c.params[i],
                                          std::numeric_limits<size_t>::max())
                          .front();
  }
  p.set_initial_accuracy(c.initial_accuracy);
  p.set_final_accuracy(c.final_accuracy);
  p.set_final_seen_accuracy(c.final_seen_accuracy);
  p.set_final_unseen_accuracy(c.final_unseen_accuracy);
  if (c.final_validation_accuracy != -1.0) {  // -1: none (left out)
    p.set_final_validation_accuracy(c.final_validation_accuracy);
  }
  p.set_client_bytes_total(c.client_bytes_total);
  p.set_client_exchanges(c.client_exchanges);
  if (p.ByteSizeLong() > kMaxCheckpointBodyBytes) {
    return common::ResourceExhausted(
        fmt::format("a checkpoint of {} bytes is over the limit of {} bytes "
                    "(one protobuf message)",
                    p.ByteSizeLong(), kMaxCheckpointBodyBytes));
  }
  const std::string body = p.SerializeAsString();
  return std::string(kMagic) + Sha256(body) + body;
}

common::Result<Checkpoint> DecodeCheckpoint(std::string_view bytes) {
  if (bytes.size() < kMagic.size() + kDigestBytes ||
      bytes.substr(0, kMagic.size()) != kMagic) {
    return InvalidArgument("not a fedjets checkpoint (bad magic)");
  }
  const std::string_view digest = bytes.substr(kMagic.size(), kDigestBytes);
  const std::string_view body = bytes.substr(kMagic.size() + kDigestBytes);
  if (body.size() > kMaxCheckpointBodyBytes) {
    return InvalidArgument(
        fmt::format("its body of {} bytes is over the limit of {} bytes",
                    body.size(), kMaxCheckpointBodyBytes));
  }
  if (Sha256(body) != digest) {
    return InvalidArgument("checksum mismatch (torn or damaged file)");
  }
  proto::Checkpoint p;
  if (!p.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return InvalidArgument("its body does not parse");
  }
  if (p.round() < 0) {
    return InvalidArgument(fmt::format("negative round {}", p.round()));
  }
  Checkpoint c;
  c.run_id = p.run_id();
  c.round = p.round();
  c.sampler_state = p.sampler_state();
  c.config_fingerprint = p.config_fingerprint();
  c.metrics_bytes = p.metrics_bytes();
  common::TensorAssembler assembler(p.params_size(), kMaxCheckpointBodyBytes);
  for (const proto::TensorChunk& chunk : p.params()) {
    FEDJETS_RETURN_IF_ERROR(assembler.Add(chunk));
  }
  if (!assembler.complete()) return InvalidArgument("a tensor is incomplete");
  c.params = assembler.Take();
  c.initial_accuracy = p.initial_accuracy();
  c.final_accuracy = p.final_accuracy();
  c.final_seen_accuracy = p.final_seen_accuracy();
  c.final_unseen_accuracy = p.final_unseen_accuracy();
  c.final_validation_accuracy =
      p.has_final_validation_accuracy() ? p.final_validation_accuracy() : -1.0;
  c.client_bytes_total = p.client_bytes_total();
  c.client_exchanges = p.client_exchanges();
  return c;
}

fs::path CheckpointDir(const fs::path& run_dir) {
  return run_dir / "checkpoints";
}

Status WriteCheckpoint(const fs::path& run_dir, const Checkpoint& c, int keep) {
  const fs::path dir = CheckpointDir(run_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return common::Unavailable(
        fmt::format("cannot create checkpoint directory {}: {}", dir.string(),
                    ec.message()));
  }
  common::Result<std::string> bytes = EncodeCheckpoint(c);
  if (!bytes.ok()) {
    return bytes.status().Annotate(
        fmt::format("checkpoint of round {} not written", c.round));
  }
  FEDJETS_RETURN_IF_ERROR(
      common::WriteFileAtomically(dir / FileName(c.round), *bytes)
          .Annotate("writing a checkpoint"));
  const std::vector<int> rounds = CheckpointRounds(dir);
  for (size_t i = static_cast<size_t>(std::max(keep, 1)); i < rounds.size();
       ++i) {
    fs::remove(dir / FileName(rounds[i]), ec);
  }
  return Status::Ok();
}

common::Result<Checkpoint> LoadNewestCheckpoint(
    const fs::path& run_dir, std::vector<std::string>& skipped) {
  const fs::path dir = CheckpointDir(run_dir);
  for (int round : CheckpointRounds(dir)) {
    const fs::path path = dir / FileName(round);
    common::Result<std::string> bytes = common::ReadFileToString(path);
    if (!bytes.ok()) {  // its message names the file
      skipped.push_back(bytes.status().message());
      continue;
    }
    common::Result<Checkpoint> c = DecodeCheckpoint(*bytes);
    if (c.ok() && c->round != round) {
      c = InvalidArgument(
          fmt::format("it holds round {}, not {}", c->round, round));
    }
    if (c.ok()) return c;
    skipped.push_back(
        fmt::format("{}: {}", path.string(), c.status().message()));
  }
  return common::NotFound(
      fmt::format("no usable checkpoint in {}", dir.string()));
}

}  // namespace fedjets::coordinator
