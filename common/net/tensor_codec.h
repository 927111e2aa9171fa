// Tensors on the wire, independent of LibTorch: a WireTensor is a name, a
// dtype, a shape and raw little-endian element bytes. A parameter list is a
// vector of them in the model's named_parameters() order.
//
// Large tensors travel as ordered TensorChunk messages so no single frame
// has to hold a whole model; TensorAssembler puts them back together,
// checking order, sizes and limits as chunks arrive and, given the list of
// tensors it expects (TensorSpecList), each tensor's name, dtype and shape
// before any of its bytes are accepted. Not thread-safe; values are cheap
// to move.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "proto/fedjets.pb.h"

namespace fedjets::common {

struct WireTensor {
  std::string name;
  proto::DType dtype = proto::DTYPE_FLOAT32;
  std::vector<int64_t> shape;
  std::string bytes;  // little-endian, NumElements() * ElementSize(dtype)

  int64_t NumElements() const;
};

using ParameterList = std::vector<WireTensor>;

// What a peer must send for one tensor: a WireTensor without its bytes.
struct TensorSpec {
  std::string name;
  proto::DType dtype = proto::DTYPE_FLOAT32;
  std::vector<int64_t> shape;
};

// The tensors a receiver expects, in order: for a FedAvg update the global
// model's parameters, for a FedJETs update the gate and the experts
// granted to that client.
using TensorSpecList = std::vector<TensorSpec>;

// The names, dtypes and shapes of `list`.
TensorSpecList SpecOf(const ParameterList& list);

// The most wire bytes (frame headers and envelopes included) a peer may
// use to stream the tensors of `expected`: their data bytes, a quarter more
// for framing, 1 KiB per tensor (its first chunk's name and shape) and
// 64 KiB. Chunks of 1 KiB or more (the default is 1 MiB) need well under
// that; a stream of tiny chunks does not fit.
uint64_t StreamByteCap(const TensorSpecList& expected);

// Bytes per element, or 0 for an unknown dtype.
size_t ElementSize(proto::DType dtype);
std::string DTypeName(proto::DType dtype);
std::string ShapeString(const std::vector<int64_t>& shape);

// Checks that the tensor's byte count matches dtype and shape.
Status ValidateTensor(const WireTensor& t);

// The chunk of tensor `index` starting at byte `offset`, without its data:
// index, total_bytes and offset always; name, dtype and shape on the
// first chunk only (docs/PROTOCOL.md).
proto::TensorChunk ChunkHeader(int32_t index, const WireTensor& t,
                               size_t offset);

// Splits tensor `index` into chunks carrying at most chunk_bytes of data
// each (an empty tensor still yields one chunk).
std::vector<proto::TensorChunk> ChunkTensor(int32_t index, const WireTensor& t,
                                            size_t chunk_bytes);

// Checks that `got` has the same names, dtypes and shapes as `expected`, in
// order. The error names the first mismatch.
Status CheckParameterList(const ParameterList& expected,
                          const ParameterList& got);

// The list with every name prefixed by `prefix` (e.g. "expert.3.").
ParameterList WithPrefix(const std::string& prefix, ParameterList list);
// The tensors whose names start with `prefix`, with the prefix removed.
ParameterList TakePrefix(const std::string& prefix, const ParameterList& list);
// SHA-256 (hex) over the tensors' names and bytes, in order.
std::string ContentHash(const ParameterList& list);
// Total raw bytes of the tensors.
uint64_t TotalBytes(const ParameterList& list);

// Reassembles tensors from chunks arriving in order. Every chunk must
// carry data unless its tensor is empty, so each one makes progress.
class TensorAssembler {
 public:
  // Any `expected_tensors` tensors. max_tensor_bytes bounds any single
  // tensor's declared size so a peer cannot make us reserve unbounded
  // memory.
  TensorAssembler(int32_t expected_tensors, uint64_t max_tensor_bytes);
  // Exactly the tensors of `expected`, in order: a tensor's first chunk
  // must match its name, dtype and shape, or it is refused (the error names
  // the tensor and the field) before any of its bytes are accepted; and
  // the stream's frames may take at most StreamByteCap(expected) wire bytes
  // (see ChargeWireBytes).
  TensorAssembler(TensorSpecList expected, uint64_t max_tensor_bytes);

  // Tensor i received from now on takes over the storage of old[i] (its
  // bytes are overwritten), so a receiver that hands back last round's
  // list touches memory it already has instead of fresh pages.
  void Reuse(ParameterList old);
  // A whole chunk: Place + copy + Commit.
  Status Add(const proto::TensorChunk& chunk);
  // Where the `data_bytes` bytes of `chunk` (whose own data field is
  // unused) go: checks the chunk as Add does, then makes room for them at
  // the end of its tensor and returns that room. Call Commit once they
  // are written there, before the next Place or Add. A tensor's storage is
  // reserved whole on its first chunk (address space: memory is used as
  // bytes arrive), so it is never copied to grow.
  Result<char*> Place(const proto::TensorChunk& chunk, uint64_t data_bytes);
  void Commit();
  // Counts a received frame of `wire_bytes` (header included) against the
  // stream's byte cap; RESOURCE_EXHAUSTED once the frames pass it. A no-op
  // without an expected list.
  Status ChargeWireBytes(uint64_t wire_bytes);
  // Wire bytes the stream's remaining frames may take: the reader refuses
  // a longer frame from its header (UINT64_MAX without an expected list).
  uint64_t wire_bytes_left() const;
  bool complete() const;
  // Valid once complete(); leaves the assembler empty.
  ParameterList Take();

 private:
  // The first chunk of tensor `index` against the expected list.
  Status CheckSpec(int32_t index, const WireTensor& got) const;

  int32_t expected_;
  uint64_t max_tensor_bytes_;
  TensorSpecList specs_;  // empty: no expected list
  bool has_specs_ = false;
  uint64_t wire_cap_ = 0;
  uint64_t wire_bytes_ = 0;
  ParameterList done_;
  std::vector<std::string> spare_;  // Reuse: storage by tensor index
  bool in_progress_ = false;
  WireTensor current_;
  uint64_t current_total_ = 0;
  // Bytes of current_ placed so far. current_.bytes may be longer: a
  // reused tensor's storage keeps its old bytes (up to current_total_)
  // until chunks overwrite them, so that it is not zeroed first.
  uint64_t current_received_ = 0;
};

}  // namespace fedjets::common
