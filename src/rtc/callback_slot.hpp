// A callback that may be replaced from any thread while another thread invokes it.
#pragma once

#include <functional>
#include <memory>
#include <mutex>

namespace claynet::impl {

template <typename... Args>
class CallbackSlot {
 public:
  void set(std::function<void(Args...)> fn) {
    auto p = fn ? std::make_shared<const std::function<void(Args...)>>(std::move(fn)) : nullptr;
    std::lock_guard lock(mutex_);
    fn_ = std::move(p);
  }
  void clear() { set(nullptr); }
  explicit operator bool() const {
    std::lock_guard lock(mutex_);
    return fn_ != nullptr;
  }
  // The copy keeps the function alive even if it is replaced while it runs.
  template <typename... CallArgs>
  void operator()(CallArgs&&... args) const {
    std::shared_ptr<const std::function<void(Args...)>> fn;
    {
      std::lock_guard lock(mutex_);
      fn = fn_;
    }
    if (fn) (*fn)(std::forward<CallArgs>(args)...);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const std::function<void(Args...)>> fn_;
};

}  // namespace claynet::impl
