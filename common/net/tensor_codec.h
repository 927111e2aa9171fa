// Tensors on the wire, independent of LibTorch: a WireTensor is a name, a
// dtype, a shape and raw little-endian element bytes. A parameter list is a
// vector of them in the model's named_parameters() order.
//
// Large tensors travel as ordered TensorChunk messages so no single frame
// has to hold a whole model; TensorAssembler puts them back together,
// checking order, sizes and limits as chunks arrive. Not thread-safe;
// values are cheap to move.
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

// Bytes per element, or 0 for an unknown dtype.
size_t ElementSize(proto::DType dtype);
std::string DTypeName(proto::DType dtype);
std::string ShapeString(const std::vector<int64_t>& shape);

// Checks that the tensor's byte count matches dtype and shape.
Status ValidateTensor(const WireTensor& t);

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

// Reassembles `expected_tensors` tensors from chunks arriving in order.
class TensorAssembler {
 public:
  // max_tensor_bytes bounds any single tensor's declared size so a peer
  // cannot make us reserve unbounded memory.
  TensorAssembler(int32_t expected_tensors, uint64_t max_tensor_bytes);

  Status Add(const proto::TensorChunk& chunk);
  bool complete() const;
  // Valid once complete(); leaves the assembler empty.
  ParameterList Take();

 private:
  int32_t expected_;
  uint64_t max_tensor_bytes_;
  ParameterList done_;
  bool in_progress_ = false;
  WireTensor current_;
  uint64_t current_total_ = 0;
};

}  // namespace fedjets::common
