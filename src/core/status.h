// Errors as values: every fallible boundary in greenshift returns a Status or a Result<T>.
// A failed Status carries a message that names what was wrong (the input, the file, the VM),
// written for the operator who reads it, and a kind (not found, invalid, conflict, unavailable)
// so that callers map errors (to an HTTP status, to an exit code) without parsing the text.
// See docs/architecture.md.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace greenshift {

class [[nodiscard]] Status {
 public:
  // What kind of failure: callers branch on the kind, people read the message.
  enum class Kind {
    kOk,
    kError,        // anything else: a failure of greenshift or of the system under it
    kInvalid,      // the input is malformed or a value cannot be (a caller's mistake)
    kNotFound,     // a named thing (VM, site, plan, file) does not exist
    kConflict,     // the request contradicts the current state (already moving, not pending)
    kUnavailable,  // a dependency cannot be reached now (store, hypervisor, broker); retry later
  };

  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(Kind::kError, std::move(message)); }
  static Status Invalid(std::string message) { return Status(Kind::kInvalid, std::move(message)); }
  static Status NotFound(std::string message) {
    return Status(Kind::kNotFound, std::move(message));
  }
  static Status Conflict(std::string message) {
    return Status(Kind::kConflict, std::move(message));
  }
  static Status Unavailable(std::string message) {
    return Status(Kind::kUnavailable, std::move(message));
  }

  bool ok() const { return kind_ == Kind::kOk; }
  Kind kind() const { return kind_; }
  bool IsInvalid() const { return kind_ == Kind::kInvalid; }
  bool IsNotFound() const { return kind_ == Kind::kNotFound; }
  bool IsConflict() const { return kind_ == Kind::kConflict; }
  bool IsUnavailable() const { return kind_ == Kind::kUnavailable; }
  // The error message; empty for an OK status.
  const std::string& message() const { return message_; }
  // Returns a failed status of the same kind whose message is `context: message`. OK stays OK.
  Status Context(const std::string& context) const {
    if (ok()) return *this;
    return Status(kind_, context + ": " + message_);
  }

 private:
  Status(Kind kind, std::string message) : kind_(kind), message_(std::move(message)) {}
  Kind kind_ = Kind::kOk;
  std::string message_;
};

// The kind's name, for logs and JSON: "ok", "error", "invalid", "not_found", "conflict",
// "unavailable".
const char* KindName(Status::Kind kind);

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok() && "a Result built from a Status must be an error");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  const std::string& error() const { return status_.message(); }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  // By value: `for (auto& x : F().value())` must not iterate a destroyed temporary.
  T value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace greenshift

// Returns from the enclosing function when `expr` (a Status) failed.
#define GS_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::greenshift::Status gs_status_ = (expr); \
    if (!gs_status_.ok()) return gs_status_;  \
  } while (0)

// Assigns a Result's value to `lhs`, or returns its error from the enclosing function.
#define GS_ASSIGN(lhs, expr)                          \
  do {                                                \
    auto gs_result_ = (expr);                         \
    if (!gs_result_.ok()) return gs_result_.status(); \
    lhs = *gs_result_;                                \
  } while (0)
