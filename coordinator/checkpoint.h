// Checkpoints: the coordinator's whole state once a round is over, so that
// `fedjets-coordinator --resume RUN_DIR` continues a run that was stopped
// or killed and ends with the same model bytes as a run never interrupted
// (docs/OPERATIONS.md, "Checkpoints and resume").
//
// A checkpoint file is RUN_DIR/checkpoints/round-NNNNNN.ckpt: 8 magic bytes
// ("FJCKPT01"), the SHA-256 of the rest, then a serialized
// proto::Checkpoint (proto/checkpoint.proto). It is written with
// common::WriteFileAtomically, so a crash leaves either the old files or
// the new one whole; the digest catches a file damaged afterwards.
// Torch-free; functions are thread-compatible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"
#include "common/net/tensor_codec.h"

namespace fedjets::coordinator {

// The largest checkpoint body: protobuf's limit on one message (2 GiB - 1).
inline constexpr uint64_t kMaxCheckpointBodyBytes = 0x7fffffff;

struct Checkpoint {
  std::string run_id;
  int round = 0;                   // rounds completed
  std::string sampler_state;       // the client sampler's mt19937_64
  std::string config_fingerprint;  // what a resume must not change
  uint64_t metrics_bytes = 0;      // metrics.jsonl's size after `round`
  common::ParameterList params;    // ModelSnapshot::All()
  // What the end event and summary add up over the whole run.
  double initial_accuracy = 0.0;
  double final_accuracy = 0.0;
  double final_seen_accuracy = -1.0;
  double final_unseen_accuracy = -1.0;
  double final_validation_accuracy = -1.0;
  uint64_t client_bytes_total = 0;
  int64_t client_exchanges = 0;
};

// The file's bytes. Fails, naming the sizes, when the checkpoint would be
// over kMaxCheckpointBodyBytes (a protobuf message holds at most 2 GiB).
common::Result<std::string> EncodeCheckpoint(const Checkpoint& c);
// Checks the magic, the digest, every field and every tensor; the error
// says which is wrong.
common::Result<Checkpoint> DecodeCheckpoint(std::string_view bytes);

// RUN_DIR/checkpoints.
std::filesystem::path CheckpointDir(const std::filesystem::path& run_dir);

// Writes round `c.round`'s checkpoint atomically (and durably: the file and
// the directory are synced), then deletes all but the newest `keep`.
common::Status WriteCheckpoint(const std::filesystem::path& run_dir,
                               const Checkpoint& c, int keep = 2);

// The newest checkpoint in RUN_DIR that reads and decodes. Each newer one
// that does not (torn, corrupt, unreadable) is skipped and described in
// `skipped`. NotFound when none is usable.
common::Result<Checkpoint> LoadNewestCheckpoint(
    const std::filesystem::path& run_dir, std::vector<std::string>& skipped);

}  // namespace fedjets::coordinator
