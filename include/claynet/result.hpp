// claynet::Result — the outcome of a call a user can get wrong.
#pragma once

#include <string>
#include <utility>

namespace claynet {

/// Success, or a failure with a message that says what went wrong and why.
/// Calls return it instead of throwing; `if (!r) log(r.error());`.
class [[nodiscard]] Result {
 public:
  Result() = default;
  static Result failure(std::string message) {
    Result r;
    r.ok_ = false;
    r.error_ = std::move(message);
    return r;
  }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  /// Empty on success.
  const std::string& error() const { return error_; }

 private:
  bool ok_ = true;
  std::string error_;
};

}  // namespace claynet
