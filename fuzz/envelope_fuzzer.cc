// Fuzzes what the coordinator does with a client's messages before using
// them: the input is a stream of frames (fuzz_input.h), each body decoded
// as an Envelope. The first must be a Hello, checked with ValidateHello
// (FedAvg and a 5-expert FedJETs run); then an Update whose num_tensors
// TensorChunk envelopes are reassembled, and the whole update checked with
// ValidateUpdate and CheckFinite against what the Hello declared.
#include <algorithm>
#include <cstdint>
#include <string>

#include "common/base/log_quote.h"
#include "common/net/connection.h"
#include "common/net/tensor_codec.h"
#include "coordinator/validation.h"
#include "fuzz/fuzz_input.h"
#include "proto/fedjets.pb.h"

namespace fedjets::fuzz {
namespace {

constexpr uint32_t kMaxFrameBytes = 64 << 10;
constexpr uint64_t kMaxTensorBytes = 64 << 10;
constexpr int32_t kMaxTensors = 16;
constexpr int kFedJetsExperts = 5;
constexpr char kRunId[] = "fuzz-run";

bool Decode(std::optional<std::string_view> body, proto::Envelope* e) {
  return body.has_value() &&
         e->ParseFromArray(body->data(), static_cast<int>(body->size()));
}

void CheckSession(FrameCursor& frames) {
  proto::Envelope e;
  if (!Decode(frames.Next(), &e) || !e.has_hello()) return;
  const proto::Hello hello = e.hello();
  (void)common::QuoteForLog(hello.client_name());
  (void)common::QuoteForLog(hello.client_name(), 3);
  const bool fedavg_ok = coordinator::ValidateHello(hello, 0).ok();
  const bool fedjets_ok =
      coordinator::ValidateHello(hello, kFedJetsExperts).ok();
  if (!fedavg_ok && !fedjets_ok) return;  // refused at admission

  if (!Decode(frames.Next(), &e)) return;
  if (!common::CheckEnvelope(e, kRunId, 1).ok() || !e.has_update()) return;
  const proto::Update update = e.update();
  const int32_t count = std::clamp(update.num_tensors(), 0, kMaxTensors);
  common::TensorAssembler assembler(count, kMaxTensorBytes);
  while (!assembler.complete()) {
    if (!Decode(frames.Next(), &e)) return;
    if (!common::CheckEnvelope(e, kRunId, 1).ok() || !e.has_tensor_chunk()) {
      return;
    }
    if (!assembler.Add(e.tensor_chunk()).ok()) return;
  }
  const common::ParameterList params = assembler.Take();
  (void)coordinator::CheckFinite(params);
  (void)coordinator::ValidateUpdate(update.num_samples(), hello.num_samples(),
                                    update.train_loss(), params);
}

}  // namespace
}  // namespace fedjets::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedjets::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fedjets::fuzz::FrameCursor frames(data, size, fedjets::fuzz::kMaxFrameBytes);
  fedjets::fuzz::CheckSession(frames);
  return 0;
}
