// Writes the seed corpora of the fuzz targets, made from valid messages
// and files, to DIR/<target>/ (frame, envelope, tensor, chunk_frame, csv,
// idx, checkpoint):
//   fuzz_make_seeds DIR
// Generated at build or test time so they always match the current proto
// and encoders; nothing here is committed.
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "common/net/connection.h"
#include "common/net/frame.h"
#include "common/net/tensor_codec.h"
#include "coordinator/checkpoint.h"
#include "proto/fedjets.pb.h"

namespace fedjets::fuzz {
namespace {

namespace fs = std::filesystem;

constexpr char kRunId[] = "fuzz-run";  // what the fuzz targets expect

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

common::ParameterList SmallModel(float first_weight) {
  common::WireTensor w{"fc.weight",
                       proto::DTYPE_FLOAT32,
                       {2, 3},
                       Bytes<float>({first_weight, 0.5f, -1, 2, 0, 3})};
  common::WireTensor b{
      "fc.bias", proto::DTYPE_FLOAT64, {2}, Bytes<double>({0.25, -0.75})};
  common::WireTensor steps{
      "steps", proto::DTYPE_INT64, {}, Bytes<int64_t>({7})};
  common::WireTensor empty{"empty", proto::DTYPE_UINT8, {0}, ""};
  return {w, b, steps, empty};
}

std::string Frame(const google::protobuf::MessageLite& m) {
  auto frame = common::EncodeFrame(m.SerializeAsString(), 1 << 20);
  return frame.ok() ? *frame : std::string();
}

// A client's side of one round: Hello, Update, then the update's chunks.
std::string Session(const common::ParameterList& params, int64_t samples,
                    size_t chunk_bytes) {
  proto::Envelope hello;
  hello.mutable_hello()->set_protocol_version(common::kProtocolVersion);
  hello.mutable_hello()->set_client_name("client-0");
  hello.mutable_hello()->set_num_samples(100);
  hello.mutable_hello()->set_anchor_expert(2);
  proto::Envelope update = common::MakeEnvelope(kRunId, 1);
  update.mutable_update()->set_num_tensors(static_cast<int32_t>(params.size()));
  update.mutable_update()->set_num_samples(samples);
  update.mutable_update()->set_train_loss(0.5);
  update.mutable_update()->add_experts(2);
  std::string out = Frame(hello) + Frame(update);
  for (size_t i = 0; i < params.size(); ++i) {
    for (proto::TensorChunk& c :
         common::ChunkTensor(static_cast<int32_t>(i), params[i], chunk_bytes)) {
      proto::Envelope e = common::MakeEnvelope(kRunId, 1);
      *e.mutable_tensor_chunk() = std::move(c);
      out += Frame(e);
    }
  }
  return out;
}

std::string OtherMessages() {
  proto::Envelope error = common::MakeEnvelope(kRunId, 1);
  error.mutable_error()->set_code(proto::Error::CODE_STALE);
  error.mutable_error()->set_message("stale");
  proto::Envelope bye = common::MakeEnvelope(kRunId, 1);
  bye.mutable_goodbye()->set_reason("done");
  proto::Envelope request = common::MakeEnvelope(kRunId, 1);
  request.mutable_expert_request()->add_experts(1);
  request.mutable_expert_request()->add_experts(3);
  return Frame(request) + Frame(error) + Frame(bye);
}

// The tensor target's input: count, limit/chunk byte, chunk frames.
std::string ChunkStream(const common::ParameterList& params, size_t chunk_bytes,
                        uint8_t limit_byte) {
  std::string out = {static_cast<char>(params.size()),
                     static_cast<char>(limit_byte)};
  for (size_t i = 0; i < params.size(); ++i) {
    for (const proto::TensorChunk& c :
         common::ChunkTensor(static_cast<int32_t>(i), params[i], chunk_bytes)) {
      out += Frame(c);
    }
  }
  return out;
}

std::string Idx(const std::vector<uint32_t>& dims,
                const std::vector<uint8_t>& payload) {
  std::string out = {0, 0, 8, static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    out += {static_cast<char>(d >> 24), static_cast<char>(d >> 16),
            static_cast<char>(d >> 8), static_cast<char>(d)};
  }
  out.append(payload.begin(), payload.end());
  return out;
}

std::string Gzip(const std::string& plain) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, /*windowBits=*/15 + 16,
               /*memLevel=*/8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, plain.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  z.avail_in = static_cast<uInt>(plain.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// The idx target's input: hint byte, image file length, images, labels.
std::string IdxPair(bool hint_ten, const std::string& images,
                    const std::string& labels) {
  const uint32_t n = static_cast<uint32_t>(images.size());
  std::string out = {static_cast<char>(hint_ten ? 1 : 0),
                     static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)};
  return out + images + labels;
}

// A checkpoint file as the coordinator writes it after round `round`.
std::string CheckpointFile(int round, const common::ParameterList& params) {
  coordinator::Checkpoint c;
  c.run_id = kRunId;
  c.round = round;
  c.sampler_state = "5489 1 2 3";
  c.config_fingerprint = "--algorithm\nfedjets\n--seed\n1";
  c.metrics_bytes = 4096;
  c.params = params;
  c.initial_accuracy = 0.1;
  c.final_accuracy = 0.75;
  c.final_unseen_accuracy = 0.5;
  c.client_bytes_total = 123456;
  c.client_exchanges = 20;
  return coordinator::EncodeCheckpoint(c).value();
}

bool Write(const fs::path& dir, const std::string& name,
           const std::string& bytes) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz_make_seeds: cannot write %s\n",
                 (dir / name).c_str());
  }
  return static_cast<bool>(out);
}

bool WriteAll(const fs::path& root) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::string session = Session(SmallModel(1), 50, 8);
  const std::string poisoned = Session(SmallModel(nan), 100, 5);
  const std::string inflated = Session(SmallModel(1), 1'000'000'000'000, 64);
  bool ok = true;
  for (const char* target : {"frame", "envelope"}) {
    ok &= Write(root / target, "session", session);
    ok &= Write(root / target, "session-nan", poisoned);
    ok &= Write(root / target, "session-inflated", inflated);
    ok &= Write(root / target, "other-messages", OtherMessages());
  }
  ok &= Write(root / "tensor", "model-chunks-8",
              ChunkStream(SmallModel(1), 8, 12));
  ok &= Write(root / "tensor", "model-whole",
              ChunkStream(SmallModel(2), 1024, 19));
  ok &= Write(root / "tensor", "nothing-expected", std::string(2, '\0'));
  // Chunk frame bodies as SendParameters writes them: first and later
  // chunks of a tensor, and an empty tensor's.
  const common::ParameterList model = SmallModel(3);
  for (size_t i = 0; i < model.size(); ++i) {
    const auto chunks =
        common::ChunkTensor(static_cast<int32_t>(i), model[i], 8);
    for (size_t k = 0; k < chunks.size() && k < 2; ++k) {
      proto::Envelope e;
      e.set_run_id(kRunId);
      e.set_round(1);
      *e.mutable_tensor_chunk() = chunks[k];
      ok &= Write(root / "chunk_frame",
                  "tensor-" + std::to_string(i) + "-chunk-" + std::to_string(k),
                  e.SerializeAsString());
    }
  }

  ok &= Write(root / "csv", "numeric-labels",
              "x,y,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,10,0\n11,12,1\n");
  ok &= Write(root / "csv", "quoted-crlf",
              "\xEF\xBB\xBF\"a\", b ,\"class\"\r\n\"1.5\",2,\"x\"\"y\"\r\n"
              "3,+4e1,z\r\n5,6,\"x\"\"y\"\r\n7,8,z\r\n\r\n");
  ok &= Write(root / "csv", "string-labels",
              "f1,f2,f3,species\n0.1,0.2,0.3,setosa\n0.4,0.5,0.6,virginica\n"
              "0.7,0.8,0.9,setosa\n1.0,1.1,1.2,virginica\n");

  const std::string images =
      Idx({3, 2, 2}, {0, 255, 7, 9, 1, 2, 3, 4, 5, 6, 7, 8});
  const std::string labels = Idx({3}, {0, 2, 1});
  ok &= Write(root / "idx", "plain", IdxPair(false, images, labels));
  ok &= Write(root / "idx", "gzip", IdxPair(true, Gzip(images), Gzip(labels)));
  ok &= Write(root / "idx", "empty",
              IdxPair(true, Idx({0, 28, 28}, {}), Idx({0}, {})));

  ok &= Write(root / "checkpoint", "round-3", CheckpointFile(3, SmallModel(1)));
  ok &= Write(root / "checkpoint", "no-params", CheckpointFile(0, {}));
  return ok;
}

}  // namespace
}  // namespace fedjets::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds DIR\n");
    return 2;
  }
  return fedjets::fuzz::WriteAll(argv[1]) ? 0 : 1;
}
