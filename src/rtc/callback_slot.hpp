// A callback that may be replaced from any thread while another thread invokes it.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

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
  /// Clears, then (with `wait`) waits until no invocation is running on another thread, so that
  /// what the callback uses may be freed once this returns. An invocation on the calling thread
  /// (the callback destroying its own object) is not waited for. The network thread must not
  /// wait: the callback may be running on the application's thread and need the network thread.
  void clearAndWait(bool wait = true) {
    std::unique_lock lock(mutex_);
    fn_ = nullptr;
    if (!wait) return;
    const auto me = std::this_thread::get_id();
    done_.wait(lock, [&] {
      return std::all_of(running_.begin(), running_.end(), [&](auto id) { return id == me; });
    });
  }
  explicit operator bool() const {
    std::lock_guard lock(mutex_);
    return fn_ != nullptr;
  }
  // The copy keeps the function alive even if it is replaced while it runs.
  template <typename... CallArgs>
  void operator()(CallArgs&&... args) const {
    (void)invoke(std::forward<CallArgs>(args)...);
  }
  /// Runs the callback; when none is set, remembers that the event happened (see takeLatched).
  template <typename... CallArgs>
  void invokeOrLatch(CallArgs&&... args) const {
    if (!invoke(std::forward<CallArgs>(args)...)) {
      std::lock_guard lock(mutex_);
      if (!fn_) latched_ = true;
    }
  }
  /// Sets the callback and says whether an event came while none was set (clearing that).
  bool setAndTakeLatched(std::function<void(Args...)> fn) {
    auto p = fn ? std::make_shared<const std::function<void(Args...)>>(std::move(fn)) : nullptr;
    std::lock_guard lock(mutex_);
    fn_ = std::move(p);
    bool latched = latched_ && fn_;
    if (fn_) latched_ = false;
    return latched;
  }

 private:
  template <typename... CallArgs>
  bool invoke(CallArgs&&... args) const {
    std::shared_ptr<const std::function<void(Args...)>> fn;
    {
      std::lock_guard lock(mutex_);
      fn = fn_;
      if (!fn) return false;
      running_.push_back(std::this_thread::get_id());
    }
    struct Done {
      const CallbackSlot* slot;
      ~Done() {
        std::lock_guard lock(slot->mutex_);
        auto& r = slot->running_;
        r.erase(std::find(r.begin(), r.end(), std::this_thread::get_id()));
        slot->done_.notify_all();
      }
    } done{this};
    (*fn)(std::forward<CallArgs>(args)...);
    return true;
  }

  mutable std::mutex mutex_;
  mutable std::condition_variable done_;
  mutable std::vector<std::thread::id> running_;  // threads inside the callback right now
  mutable bool latched_ = false;
  std::shared_ptr<const std::function<void(Args...)>> fn_;
};

}  // namespace claynet::impl
