// Fuzzes checkpoint loading (coordinator/checkpoint.h): the input is a
// checkpoint file, decoded twice by DecodeCheckpoint: as it is (the magic
// and SHA-256 checks), and with its digest recomputed over the bytes after
// it, so that a mutated body reaches the Protobuf parse, the field checks
// and the tensor reassembly instead of stopping at the checksum. A decoded
// checkpoint must hold valid tensors and survive EncodeCheckpoint and a
// second decode unchanged; anything else aborts (a finding).
#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "coordinator/checkpoint.h"
#include "fuzz/fuzz_input.h"

namespace fedjets::fuzz {
namespace {

// The file layout of coordinator/checkpoint.cc: magic, digest, body.
constexpr size_t kMagicBytes = 8;
constexpr size_t kDigestBytes = 32;

void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fedjets checkpoint fuzzer: %s\n", what);
  std::abort();
}

// `file` with the digest replaced by the SHA-256 of its body.
std::string WithFixedDigest(std::string_view file) {
  const std::string_view body = file.substr(kMagicBytes + kDigestBytes);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  Require(EVP_Digest(body.data(), body.size(), digest, &n, EVP_sha256(),
                     nullptr) == 1 &&
              n == kDigestBytes,
          "SHA-256 failed");
  std::string out(file.substr(0, kMagicBytes));
  out.append(reinterpret_cast<const char*>(digest), n);
  out.append(body);
  return out;
}

bool SameCheckpoint(const coordinator::Checkpoint& a,
                    const coordinator::Checkpoint& b) {
  if (a.params.size() != b.params.size()) return false;
  for (size_t i = 0; i < a.params.size(); ++i) {
    const common::WireTensor& x = a.params[i];
    const common::WireTensor& y = b.params[i];
    if (x.name != y.name || x.dtype != y.dtype || x.shape != y.shape ||
        x.bytes != y.bytes) {
      return false;
    }
  }
  // Accuracies compare by bits: a NaN read back is the NaN written.
  auto same_bits = [](double u, double v) {
    return std::string_view(reinterpret_cast<const char*>(&u), sizeof u) ==
           std::string_view(reinterpret_cast<const char*>(&v), sizeof v);
  };
  return a.run_id == b.run_id && a.round == b.round &&
         a.sampler_state == b.sampler_state &&
         a.config_fingerprint == b.config_fingerprint &&
         a.metrics_bytes == b.metrics_bytes &&
         same_bits(a.initial_accuracy, b.initial_accuracy) &&
         same_bits(a.final_accuracy, b.final_accuracy) &&
         same_bits(a.final_seen_accuracy, b.final_seen_accuracy) &&
         same_bits(a.final_unseen_accuracy, b.final_unseen_accuracy) &&
         same_bits(a.final_validation_accuracy, b.final_validation_accuracy) &&
         a.client_bytes_total == b.client_bytes_total &&
         a.client_exchanges == b.client_exchanges;
}

void Check(std::string_view file) {
  common::Result<coordinator::Checkpoint> c =
      coordinator::DecodeCheckpoint(file);
  if (!c.ok()) {
    Require(!c.status().message().empty(), "a refusal without a message");
    return;
  }
  Require(c->round >= 0, "negative round accepted");
  for (const common::WireTensor& t : c->params) {
    Require(common::ValidateTensor(t).ok(), "invalid tensor accepted");
  }
  const common::Result<std::string> again = coordinator::EncodeCheckpoint(*c);
  Require(again.ok(), "a decoded checkpoint does not encode");
  common::Result<coordinator::Checkpoint> d =
      coordinator::DecodeCheckpoint(*again);
  Require(d.ok(), "a re-encoded checkpoint does not decode");
  Require(SameCheckpoint(*c, *d), "a re-encoded checkpoint differs");
}

}  // namespace
}  // namespace fedjets::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedjets::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  fedjets::fuzz::Check(file);
  if (size >= fedjets::fuzz::kMagicBytes + fedjets::fuzz::kDigestBytes) {
    fedjets::fuzz::Check(fedjets::fuzz::WithFixedDigest(file));
  }
  return 0;
}
