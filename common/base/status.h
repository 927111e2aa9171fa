// Status and Result<T>: errors as values, in the style of leveldb/abseil.
//
// A Status is either OK or carries a code and a message that names what was
// wrong and, where possible, what to do. Codes carry retry policy:
//   kInvalidArgument    bad input; never retry.
//   kUnavailable        peer or resource not reachable now; retry may work.
//   kDeadlineExceeded   an operation ran past its deadline.
//   kFailedPrecondition state does not allow the operation; stop.
//   kDataLoss           truncated or corrupt data.
//   kResourceExhausted  a peer sent more than a limit allows (bytes, size).
//   kInternal           a bug or an unexpected library failure.
// Values are cheap to copy and thread-compatible (no shared state).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace fedjets::common {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kUnavailable,
  kDeadlineExceeded,
  kFailedPrecondition,
  kPermissionDenied,
  kDataLoss,
  kInternal,
  kResourceExhausted,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: frame of 9 bytes exceeds ..." or "OK".
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context: `.
  Status Annotate(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) {
  return {StatusCode::kNotFound, std::move(m)};
}
inline Status Unavailable(std::string m) {
  return {StatusCode::kUnavailable, std::move(m)};
}
inline Status DeadlineExceeded(std::string m) {
  return {StatusCode::kDeadlineExceeded, std::move(m)};
}
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status PermissionDenied(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}
inline Status DataLoss(std::string m) {
  return {StatusCode::kDataLoss, std::move(m)};
}
inline Status Internal(std::string m) {
  return {StatusCode::kInternal, std::move(m)};
}
inline Status ResourceExhausted(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  // A Result that holds an error until assigned (needed by coroutine
  // machinery that default-constructs results).
  Result() : v_(Status(StatusCode::kInternal, "result never set")) {}
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // OK when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace fedjets::common

// Evaluates `expr` (a Status); returns it from the enclosing function if not
// OK.
#define FEDJETS_RETURN_IF_ERROR(expr)                   \
  do {                                                  \
    ::fedjets::common::Status fedjets_status_ = (expr); \
    if (!fedjets_status_.ok()) return fedjets_status_;  \
  } while (0)

#define FEDJETS_CO_RETURN_IF_ERROR(expr)                  \
  do {                                                    \
    ::fedjets::common::Status fedjets_status_ = (expr);   \
    if (!fedjets_status_.ok()) co_return fedjets_status_; \
  } while (0)
