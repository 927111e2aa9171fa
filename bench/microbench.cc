// Micro-benchmarks of the paths a round's bytes take (docs/PERFORMANCE.md):
// chunking and reassembly, framing, weighted averaging, a model's round
// trip over mutual TLS on loopback, and, side by side in the same run, the
// cipher TLS 1.3 negotiates here (AES-256-GCM) sealing 16 KiB records on
// one core, which bounds what the transfer can reach.
//
// Sizes are in bytes of float32 parameters. Every benchmark reports
// bytes_per_second. `--benchmark_filter=/65536$` runs the small sizes only
// (the smoke run in the test suite).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/learn/aggregate.h"
#include "common/net/certs.h"
#include "common/net/connection.h"
#include "common/net/frame.h"
#include "common/net/tensor_codec.h"
#include "common/net/tls.h"

namespace fedjets::common {
namespace {

constexpr int64_t kSmall = 64 << 10;
constexpr int64_t kLarge = 100 << 20;

// A float32 tensor of `bytes` bytes with a fixed pseudo-random content.
WireTensor MakeTensor(int64_t bytes, uint32_t seed) {
  WireTensor t{"w", proto::DTYPE_FLOAT32, {bytes / 4}, {}};
  t.bytes.resize(static_cast<size_t>(bytes / 4) * 4);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  auto* f = reinterpret_cast<float*>(t.bytes.data());
  for (int64_t i = 0; i < bytes / 4; ++i) f[i] = dist(rng);
  return t;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void Check(const Status& st, benchmark::State& state) {
  if (!st.ok()) state.SkipWithError(st.message().c_str());
}

// ChunkTensor + TensorAssembler over one tensor: the copies a received or
// sent model pays besides the socket.
void BM_ChunkAndAssemble(benchmark::State& state) {
  const WireTensor t = MakeTensor(state.range(0), 1);
  for (auto _ : state) {
    TensorAssembler assembler(1, uint64_t{4} << 30);
    for (const proto::TensorChunk& c : ChunkTensor(0, t, 1u << 20)) {
      Status st = assembler.Add(c);
      if (!st.ok()) return Check(st, state);
    }
    ParameterList out = assembler.Take();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ChunkAndAssemble)->Arg(kSmall)->Arg(kLarge)->UseRealTime();

// One frame: an envelope holding a 1 MiB chunk serialized and framed.
void BM_EncodeFrame(benchmark::State& state) {
  const WireTensor t = MakeTensor(state.range(0), 2);
  proto::Envelope e = MakeEnvelope("bench", 1);
  *e.mutable_tensor_chunk() = ChunkTensor(0, t, 1u << 20).front();
  for (auto _ : state) {
    Result<std::string> frame =
        EncodeFrame(e.SerializeAsString(), kDefaultMaxFrameBytes);
    if (!frame.ok()) return Check(frame.status(), state);
    benchmark::DoNotOptimize(frame->data());
  }
  state.SetBytesProcessed(state.iterations() *
                          std::min<int64_t>(state.range(0), 1 << 20));
}
BENCHMARK(BM_EncodeFrame)->Arg(kSmall)->Arg(1 << 20);

// Weighted average of 10 updates of `range(0)` bytes each; bytes are the
// updates read.
void BM_WeightedAverage(benchmark::State& state) {
  constexpr int kUpdates = 10;
  std::vector<ParameterList> updates;
  for (int k = 0; k < kUpdates; ++k) {
    updates.push_back({MakeTensor(state.range(0), 10 + k)});
  }
  std::vector<WeightedParameters> inputs;
  for (int k = 0; k < kUpdates; ++k) inputs.push_back({&updates[k], 1.0 + k});
  for (auto _ : state) {
    Result<ParameterList> avg = WeightedAverage(inputs);
    if (!avg.ok()) return Check(avg.status(), state);
    benchmark::DoNotOptimize(avg->data());
  }
  state.SetBytesProcessed(state.iterations() * kUpdates * state.range(0));
}
BENCHMARK(BM_WeightedAverage)
    ->Arg(kSmall)
    ->Arg(80 << 20)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The plain weighted mean as a coordinator folds it (StreamingMean): 100
// updates of `range(0)` bytes each (10M floats = 40 MB: issue 15's target
// 4), folded into the running sum `range(1)` at a time as they arrive (1:
// each on its own; 4: four waiting updates in one pass, as
// --streaming-aggregation does). Four distinct update buffers take turns,
// so memory stays that of a coordinator holding at most four updates.
// Bytes are the updates read.
constexpr int kFoldedUpdates = 100;
constexpr int kUpdateBuffers = 4;
constexpr int64_t kTenMillionFloats = 40'000'000;

void BM_StreamingMean(benchmark::State& state) {
  std::vector<ParameterList> updates;
  for (int k = 0; k < kUpdateBuffers; ++k) {
    updates.push_back({MakeTensor(state.range(0), 20 + k)});
  }
  const auto group = static_cast<int>(state.range(1));
  for (auto _ : state) {
    StreamingMean mean;
    for (int k = 0; k < kFoldedUpdates; k += group) {
      std::vector<WeightedParameters> waiting;
      for (int g = k; g < k + group && g < kFoldedUpdates; ++g) {
        waiting.push_back({&updates[g % kUpdateBuffers], 1.0 + g});
      }
      Status st = mean.Add(waiting);
      if (!st.ok()) return Check(st, state);
    }
    Result<ParameterList> avg = mean.Mean();
    if (!avg.ok()) return Check(avg.status(), state);
    benchmark::DoNotOptimize(avg->data());
  }
  state.SetBytesProcessed(state.iterations() * kFoldedUpdates * state.range(0));
}
BENCHMARK(BM_StreamingMean)
    ->Args({kSmall, 1})
    ->Args({kSmall, 4})
    ->Args({kTenMillionFloats, 1})
    ->Args({kTenMillionFloats, 4})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The baseline for BM_StreamingMean: memcpy of the same bytes (each of the
// 100 updates copied once) from the same four buffers.
void BM_MemcpyUpdates(benchmark::State& state) {
  std::vector<WireTensor> updates;
  for (int k = 0; k < kUpdateBuffers; ++k) {
    updates.push_back(MakeTensor(state.range(0), 20 + k));
  }
  std::string dst(static_cast<size_t>(state.range(0)), '\0');
  for (auto _ : state) {
    for (int k = 0; k < kFoldedUpdates; ++k) {
      const std::string& src = updates[k % kUpdateBuffers].bytes;
      std::memcpy(dst.data(), src.data(), src.size());
      benchmark::ClobberMemory();
    }
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(state.iterations() * kFoldedUpdates * state.range(0));
}
BENCHMARK(BM_MemcpyUpdates)
    ->Arg(kSmall)
    ->Arg(kTenMillionFloats)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A model sent coordinator -> client -> coordinator over mutual TLS 1.3 on
// loopback, each end on its own thread, with the real Connection,
// SendParameters and ReceiveParameters; each end receives into the
// storage of what it received in the previous iteration, as a client and
// a coordinator do from round to round. Bytes are both directions.
class MtlsLoopback {
 public:
  MtlsLoopback() {
    dir_ = std::filesystem::temp_directory_path() /
           ("fedjets-bench-" + std::to_string(std::random_device{}()));
    status_ = GenerateRunCertificates(dir_, 1, {"localhost", "127.0.0.1"});
    if (!status_.ok()) return;
    auto server = MakeServerTlsContext(Files("coordinator"));
    auto client = MakeClientTlsContext(Files("client-0"));
    if (!server.ok() || !client.ok()) {
      status_ = server.ok() ? client.status() : server.status();
      return;
    }
    server_ctx_ = *server;
    client_ctx_ = *client;
  }
  ~MtlsLoopback() { std::filesystem::remove_all(dir_); }

  const Status& status() const { return status_; }
  // CPU time each end's thread has spent in round trips so far.
  double server_cpu_seconds() const { return server_cpu_seconds_; }
  double client_cpu_seconds() const { return client_cpu_seconds_; }
  void ResetCpuSeconds() { server_cpu_seconds_ = client_cpu_seconds_ = 0; }

  // One round trip of `params`; the status of the first failure.
  Status RoundTrip(const ParameterList& params) {
    asio::io_context server_io, client_io;
    tcp::acceptor acceptor(server_io, {asio::ip::make_address("127.0.0.1"), 0});
    const auto endpoint = acceptor.local_endpoint();
    const int32_t count = static_cast<int32_t>(params.size());
    const TensorSpecList specs = SpecOf(params);
    const auto deadline = Clock::now() + std::chrono::minutes(5);
    auto server = asio::co_spawn(
        server_io,
        [&]() -> awaitable<Status> {
          tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
          Connection conn(Connection::TlsStream(std::move(s), *server_ctx_),
                          {});
          FEDJETS_CO_RETURN_IF_ERROR(co_await conn.Handshake(
              asio::ssl::stream_base::server, deadline));
          FEDJETS_CO_RETURN_IF_ERROR(
              co_await SendParameters(conn, "bench", 1, params, deadline));
          // As a coordinator receives an update: checked against what it
          // expects, into the storage of the last one.
          auto back = co_await ReceiveParameters(
              conn, "bench", 1, specs, deadline, std::move(server_spare_));
          if (!back.ok()) co_return back.status();
          server_spare_ = std::move(*back);
          co_return Status::Ok();
        },
        asio::use_future);
    auto client = asio::co_spawn(
        client_io,
        [&]() -> awaitable<Status> {
          tcp::socket s(client_io);
          co_await s.async_connect(endpoint, asio::use_awaitable);
          Connection::TlsStream stream(std::move(s), *client_ctx_);
          stream.set_server_name("localhost");
          Connection conn(std::move(stream), {});
          FEDJETS_CO_RETURN_IF_ERROR(co_await conn.Handshake(
              asio::ssl::stream_base::client, deadline));
          auto got = co_await ReceiveParameters(
              conn, "bench", 1, count, deadline, std::move(client_spare_));
          if (!got.ok()) co_return got.status();
          client_spare_ = std::move(*got);
          co_return co_await SendParameters(conn, "bench", 1, client_spare_,
                                            deadline);
        },
        asio::use_future);
    std::thread client_thread([&] {
      const double start = ThreadCpuSeconds();
      client_io.run();
      client_cpu_seconds_ += ThreadCpuSeconds() - start;
    });
    const double start = ThreadCpuSeconds();
    server_io.run();
    server_cpu_seconds_ += ThreadCpuSeconds() - start;
    client_thread.join();
    Status st = server.get();
    return st.ok() ? client.get() : st;
  }

 private:
  TlsFiles Files(const std::string& node) const {
    return {(dir_ / "ca.pem").string(), (dir_ / (node + ".pem")).string(),
            (dir_ / (node + ".key")).string()};
  }

  std::filesystem::path dir_;
  Status status_;
  std::shared_ptr<asio::ssl::context> server_ctx_, client_ctx_;
  double server_cpu_seconds_ = 0, client_cpu_seconds_ = 0;
  // What each end received last; the next round trip receives into it.
  ParameterList server_spare_, client_spare_;
};

void BM_MtlsRoundTrip(benchmark::State& state) {
  MtlsLoopback loopback;
  if (!loopback.status().ok()) return Check(loopback.status(), state);
  const ParameterList params = {MakeTensor(state.range(0), 3)};
  // One untimed round trip first: from then on each end receives into the
  // storage of the last one, as every round after a federation's first.
  if (Status st = loopback.RoundTrip(params); !st.ok()) return Check(st, state);
  loopback.ResetCpuSeconds();
  for (auto _ : state) {
    Status st = loopback.RoundTrip(params);
    if (!st.ok()) return Check(st, state);
  }
  const double bytes = static_cast<double>(state.iterations()) * 2 *
                       static_cast<double>(state.range(0));
  state.SetBytesProcessed(state.iterations() * 2 * state.range(0));
  // On a busy machine wall time measures the scheduler; CPU time does not.
  // Each end encrypts what it sends and decrypts what it receives, so
  // with a core each the round trip takes about as long as the busier
  // end's CPU time: its bytes per CPU second are the speed an idle
  // two-core machine would see.
  state.counters["cpu_MBps"] =
      bytes / 1e6 /
      std::max(loopback.server_cpu_seconds(), loopback.client_cpu_seconds());
  state.counters["server_cpu_s"] =
      loopback.server_cpu_seconds() / static_cast<double>(state.iterations());
  state.counters["client_cpu_s"] =
      loopback.client_cpu_seconds() / static_cast<double>(state.iterations());
}
BENCHMARK(BM_MtlsRoundTrip)
    ->Arg(kSmall)
    ->Arg(kLarge)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// AES-256-GCM sealing 16 KiB records (a TLS 1.3 record's payload) on one
// core: the ceiling the transfer above is compared with.
void BM_Aes256GcmSeal(benchmark::State& state) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(
      EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  const unsigned char key[32] = {1}, iv[12] = {2};
  const WireTensor t = MakeTensor(state.range(0), 4);
  std::string out(16 << 10, '\0');
  unsigned char tag[16];
  const auto* in = reinterpret_cast<const unsigned char*>(t.bytes.data());
  for (auto _ : state) {
    for (size_t off = 0; off < t.bytes.size(); off += out.size()) {
      const int len =
          static_cast<int>(std::min(out.size(), t.bytes.size() - off));
      int n = 0;
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key, iv);
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()),
                        &n, in + off, len);
      EVP_EncryptFinal_ex(ctx.get(), tag, &n);
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, sizeof tag, tag);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Aes256GcmSeal)->Arg(kSmall)->Arg(kLarge)->UseRealTime();

}  // namespace
}  // namespace fedjets::common

BENCHMARK_MAIN();
