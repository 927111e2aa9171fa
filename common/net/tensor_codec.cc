#include "common/net/tensor_codec.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <limits>
#include <new>

#include "common/base/log_quote.h"

namespace fedjets::common {

static_assert(std::endian::native == std::endian::little,
              "the wire format is little-endian; add byte swapping to port "
              "fedjets to a big-endian host");

int64_t WireTensor::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t ElementSize(proto::DType dtype) {
  switch (dtype) {
    case proto::DTYPE_FLOAT32:
      return 4;
    case proto::DTYPE_FLOAT64:
      return 8;
    case proto::DTYPE_INT64:
      return 8;
    case proto::DTYPE_INT32:
      return 4;
    case proto::DTYPE_UINT8:
      return 1;
    default:
      return 0;
  }
}

std::string DTypeName(proto::DType dtype) {
  switch (dtype) {
    case proto::DTYPE_FLOAT32:
      return "float32";
    case proto::DTYPE_FLOAT64:
      return "float64";
    case proto::DTYPE_INT64:
      return "int64";
    case proto::DTYPE_INT32:
      return "int32";
    case proto::DTYPE_UINT8:
      return "uint8";
    default:
      return fmt::format("unknown dtype {}", static_cast<int>(dtype));
  }
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

namespace {

// Number of bytes shape x dtype needs, or an error for negative dims,
// unknown dtypes or overflow.
Result<uint64_t> ExpectedBytes(const std::string& name, proto::DType dtype,
                               const std::vector<int64_t>& shape) {
  const size_t elem = ElementSize(dtype);
  if (elem == 0) {
    return InvalidArgument(
        fmt::format("tensor {} has {}", QuoteForLog(name), DTypeName(dtype)));
  }
  uint64_t n = elem;
  for (int64_t d : shape) {
    if (d < 0) {
      return InvalidArgument(fmt::format("tensor {} has negative dim in {}",
                                         QuoteForLog(name),
                                         ShapeString(shape)));
    }
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / d) {
      return InvalidArgument(fmt::format("tensor {} shape {} overflows",
                                         QuoteForLog(name),
                                         ShapeString(shape)));
    }
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

}  // namespace

TensorSpecList SpecOf(const ParameterList& list) {
  TensorSpecList specs;
  specs.reserve(list.size());
  for (const WireTensor& t : list) specs.push_back({t.name, t.dtype, t.shape});
  return specs;
}

uint64_t StreamByteCap(const TensorSpecList& expected) {
  uint64_t data = 0;
  for (const TensorSpec& t : expected) {
    auto bytes = ExpectedBytes(t.name, t.dtype, t.shape);
    if (bytes.ok()) data += *bytes;
  }
  return data + data / 4 + 1024 * uint64_t{expected.size()} + (64u << 10);
}

Status ValidateTensor(const WireTensor& t) {
  auto want = ExpectedBytes(t.name, t.dtype, t.shape);
  if (!want.ok()) return want.status();
  if (*want != t.bytes.size()) {
    return InvalidArgument(
        fmt::format("tensor {} ({} {}) should hold {} bytes but holds {}",
                    QuoteForLog(t.name), DTypeName(t.dtype),
                    ShapeString(t.shape), *want, t.bytes.size()));
  }
  return Status::Ok();
}

proto::TensorChunk ChunkHeader(int32_t index, const WireTensor& t,
                               size_t offset) {
  proto::TensorChunk c;
  c.set_index(index);
  c.set_total_bytes(t.bytes.size());
  c.set_offset(offset);
  if (offset == 0) {
    c.set_name(t.name);
    c.set_dtype(t.dtype);
    for (int64_t d : t.shape) c.add_shape(d);
  }
  return c;
}

std::vector<proto::TensorChunk> ChunkTensor(int32_t index, const WireTensor& t,
                                            size_t chunk_bytes) {
  std::vector<proto::TensorChunk> chunks;
  size_t offset = 0;
  do {
    const size_t n = std::min(chunk_bytes, t.bytes.size() - offset);
    proto::TensorChunk& c = chunks.emplace_back(ChunkHeader(index, t, offset));
    c.set_data(t.bytes.substr(offset, n));
    offset += n;
  } while (offset < t.bytes.size());
  return chunks;
}

Status CheckParameterList(const ParameterList& expected,
                          const ParameterList& got) {
  for (size_t i = 0; i < expected.size() && i < got.size(); ++i) {
    const WireTensor& e = expected[i];
    const WireTensor& g = got[i];
    if (e.name != g.name) {
      return InvalidArgument(
          fmt::format("parameter {} is named {} but '{}' was expected", i,
                      QuoteForLog(g.name), e.name));
    }
    if (e.dtype != g.dtype) {
      return InvalidArgument(
          fmt::format("parameter '{}' is {} but {} was "
                      "expected",
                      g.name, DTypeName(g.dtype), DTypeName(e.dtype)));
    }
    if (e.shape != g.shape) {
      return InvalidArgument(
          fmt::format("parameter '{}' has shape {} but {} was expected", g.name,
                      ShapeString(g.shape), ShapeString(e.shape)));
    }
  }
  if (expected.size() != got.size()) {
    return InvalidArgument(fmt::format(
        "got {} parameters but {} were expected{}", got.size(), expected.size(),
        got.size() < expected.size()
            ? fmt::format(" (first missing: '{}')", expected[got.size()].name)
            : fmt::format(" (first extra: {})",
                          QuoteForLog(got[expected.size()].name))));
  }
  return Status::Ok();
}

ParameterList WithPrefix(const std::string& prefix, ParameterList list) {
  for (WireTensor& t : list) t.name = prefix + t.name;
  return list;
}

ParameterList TakePrefix(const std::string& prefix, const ParameterList& list) {
  ParameterList out;
  for (const WireTensor& t : list) {
    if (t.name.compare(0, prefix.size(), prefix) == 0) {
      out.push_back(t);
      out.back().name = t.name.substr(prefix.size());
    }
  }
  return out;
}

std::string ContentHash(const ParameterList& list) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  for (const auto& t : list) {
    EVP_DigestUpdate(md, t.name.data(), t.name.size());
    EVP_DigestUpdate(md, t.bytes.data(), t.bytes.size());
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(md, digest, &n);
  EVP_MD_CTX_free(md);
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

uint64_t TotalBytes(const ParameterList& list) {
  uint64_t n = 0;
  for (const WireTensor& t : list) n += t.bytes.size();
  return n;
}

TensorAssembler::TensorAssembler(int32_t expected_tensors,
                                 uint64_t max_tensor_bytes)
    : expected_(expected_tensors), max_tensor_bytes_(max_tensor_bytes) {}

TensorAssembler::TensorAssembler(TensorSpecList expected,
                                 uint64_t max_tensor_bytes)
    : expected_(static_cast<int32_t>(expected.size())),
      max_tensor_bytes_(max_tensor_bytes),
      specs_(std::move(expected)),
      has_specs_(true),
      wire_cap_(StreamByteCap(specs_)) {}

Status TensorAssembler::ChargeWireBytes(uint64_t wire_bytes) {
  if (!has_specs_) return Status::Ok();
  wire_bytes_ += wire_bytes;
  if (wire_bytes_ > wire_cap_) {
    return ResourceExhausted(fmt::format(
        "the stream of {} tensors took {} bytes, over its cap of {} bytes "
        "(their size plus framing slack)",
        specs_.size(), wire_bytes_, wire_cap_));
  }
  return Status::Ok();
}

uint64_t TensorAssembler::wire_bytes_left() const {
  if (!has_specs_) return std::numeric_limits<uint64_t>::max();
  return wire_bytes_ >= wire_cap_ ? 0 : wire_cap_ - wire_bytes_;
}

Status TensorAssembler::CheckSpec(int32_t index, const WireTensor& got) const {
  const TensorSpec& want = specs_[index];
  if (got.name != want.name) {
    return InvalidArgument(
        fmt::format("tensor {} is named {} but '{}' was expected", index,
                    QuoteForLog(got.name), want.name));
  }
  if (got.dtype != want.dtype) {
    return InvalidArgument(
        fmt::format("tensor {} ('{}') has dtype {} but {} was expected", index,
                    want.name, DTypeName(got.dtype), DTypeName(want.dtype)));
  }
  if (got.shape != want.shape) {
    return InvalidArgument(fmt::format(
        "tensor {} ('{}') has shape {} but {} was expected", index, want.name,
        ShapeString(got.shape), ShapeString(want.shape)));
  }
  return Status::Ok();
}

bool TensorAssembler::complete() const {
  return static_cast<int32_t>(done_.size()) == expected_ && !in_progress_;
}

Result<char*> TensorAssembler::Place(const proto::TensorChunk& c,
                                     uint64_t data_bytes) {
  const int32_t want_index = static_cast<int32_t>(done_.size());
  if (want_index >= expected_) {
    return InvalidArgument(fmt::format(
        "unexpected chunk for tensor {}: all {} tensors already received",
        c.index(), expected_));
  }
  if (c.index() != want_index) {
    return InvalidArgument(
        fmt::format("chunk for tensor {} arrived while tensor {} was expected",
                    c.index(), want_index));
  }
  if (!in_progress_) {
    if (c.offset() != 0) {
      return InvalidArgument(
          fmt::format("tensor {} started at offset {} instead of 0", c.index(),
                      c.offset()));
    }
    WireTensor t;
    t.name = c.name();
    t.dtype = c.dtype();
    t.shape.assign(c.shape().begin(), c.shape().end());
    if (has_specs_) FEDJETS_RETURN_IF_ERROR(CheckSpec(want_index, t));
    auto want = ExpectedBytes(t.name, t.dtype, t.shape);
    if (!want.ok()) return want.status();
    if (*want != c.total_bytes()) {
      return InvalidArgument(
          fmt::format("tensor {} ({} {}) declares {} bytes but needs {}",
                      QuoteForLog(t.name), DTypeName(t.dtype),
                      ShapeString(t.shape), c.total_bytes(), *want));
    }
    if (c.total_bytes() > max_tensor_bytes_) {
      return InvalidArgument(
          fmt::format("tensor {} of {} bytes exceeds the limit of {} bytes",
                      QuoteForLog(t.name), c.total_bytes(), max_tensor_bytes_));
    }
    current_ = std::move(t);
    current_total_ = c.total_bytes();
    current_received_ = 0;
    in_progress_ = true;
    if (static_cast<size_t>(want_index) < spare_.size()) {
      current_.bytes = std::move(spare_[want_index]);
      if (current_.bytes.size() > current_total_) {
        current_.bytes.resize(current_total_);
      }
    }
    // Address space for the whole tensor, so that it is never copied to
    // grow; pages are only touched, and memory used, as bytes arrive.
    try {
      current_.bytes.reserve(current_total_);
    } catch (const std::bad_alloc&) {
      in_progress_ = false;
      return ResourceExhausted(
          fmt::format("cannot reserve {} bytes for tensor {}", current_total_,
                      QuoteForLog(current_.name)));
    }
  } else if (c.offset() != current_received_ ||
             c.total_bytes() != current_total_) {
    return InvalidArgument(fmt::format(
        "tensor {} chunk at offset {} (total {}) does not continue the {} "
        "bytes received of {}",
        QuoteForLog(current_.name), c.offset(), c.total_bytes(),
        current_received_, current_total_));
  }
  if (data_bytes == 0 && current_total_ > 0) {
    return InvalidArgument(fmt::format("a chunk of tensor {} carries no data",
                                       QuoteForLog(current_.name)));
  }
  if (data_bytes > current_total_ - current_received_) {
    return InvalidArgument(
        fmt::format("tensor {} chunks exceed its declared {} bytes",
                    QuoteForLog(current_.name), current_total_));
  }
  // Memory grows with bytes actually received, never with what is declared
  // (a reused tensor's old bytes are overwritten in place, not zeroed).
  const size_t at = current_received_;
  if (current_.bytes.size() < at + data_bytes) {
    current_.bytes.resize(at + data_bytes);
  }
  current_received_ += data_bytes;
  return current_.bytes.data() + at;
}

void TensorAssembler::Commit() {
  if (in_progress_ && current_received_ == current_total_) {
    done_.push_back(std::move(current_));
    current_ = WireTensor();
    in_progress_ = false;
  }
}

void TensorAssembler::Reuse(ParameterList old) {
  spare_.clear();
  for (WireTensor& t : old) spare_.push_back(std::move(t.bytes));
}

Status TensorAssembler::Add(const proto::TensorChunk& c) {
  auto at = Place(c, c.data().size());
  if (!at.ok()) return at.status();
  std::copy(c.data().begin(), c.data().end(), *at);
  Commit();
  return Status::Ok();
}

ParameterList TensorAssembler::Take() {
  ParameterList out = std::move(done_);
  done_.clear();
  expected_ = 0;
  return out;
}

}  // namespace fedjets::common
