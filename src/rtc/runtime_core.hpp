// The network thread (a GLib main context) and the queue of events for the application.
#pragma once

#include <glib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "claynet/runtime.hpp"
#include "rtc/certificate.hpp"

namespace claynet::impl {

class RuntimeCore : public std::enable_shared_from_this<RuntimeCore> {
 public:
  explicit RuntimeCore(const Runtime::Options& options);
  ~RuntimeCore();

  GMainContext* context() const { return context_; }
  Delivery delivery() const { return delivery_; }
  const Runtime::Options& options() const { return options_; }
  const rtc::Certificate& certificate() const { return *certificate_; }
  bool onNetworkThread() const { return std::this_thread::get_id() == threadId_; }
  std::thread::id threadId() const { return threadId_; }

  /// Runs `task` later on the network thread. Once the thread has stopped, tasks are dropped.
  void post(std::function<void()> task);
  /// Runs `task` on the network thread after `delay`, unless cancelled first. Returns the source
  /// (a reference the caller owns; cancel with g_source_destroy, then g_source_unref), or null
  /// once the thread has stopped. Callable from any thread.
  GSource* postAfter(std::chrono::milliseconds delay, std::function<void()> task);
  /// Runs `task` on the network thread and waits for it; inline when already there or when the
  /// thread has stopped (then nothing else runs concurrently).
  void run(const std::function<void()>& task);

  /// Hands an event callback to the application: inline with Delivery::NetworkThread, else queued
  /// for poll(). Call it on the network thread (see deliverFromAnyThread).
  void deliver(std::function<void()> event);
  /// deliver() for code on any thread: with Delivery::NetworkThread the event hops to the
  /// network thread first, so that it never runs on the caller's thread.
  void deliverFromAnyThread(std::function<void()> event);
  std::size_t poll(std::size_t max);
  std::size_t waitAndPoll(std::chrono::milliseconds timeout);
  void setWakeupHook(std::function<void()> hook);

  /// Closes every registered object (connections) and stops the thread. Idempotent.
  void shutdown();
  /// Things to close when the runtime shuts down (peer connections register themselves).
  void registerCloser(void* key, std::function<void()> closer);
  void unregisterCloser(void* key);
  /// Work that outlives its object for a while (libnice freeing TURN allocations): shutdown()
  /// waits for it, at most a second, then calls `force` for what is left. Network thread only.
  void beginLinger(void* key, std::function<void()> force);
  void endLinger(void* key);

 private:
  void threadMain();
  void attach(GSource* source, std::function<void()> task);
  static gboolean tickSctp(gpointer self);

  const Runtime::Options options_;
  const Delivery delivery_;
  GMainContext* context_ = nullptr;
  GMainLoop* loop_ = nullptr;
  std::thread thread_;
  std::thread::id threadId_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> loopExited_{false};
  std::mutex runMutex_;  // serialises run() calls once the thread has stopped
  std::unique_ptr<rtc::Certificate> certificate_;

  std::mutex eventsMutex_;
  std::condition_variable eventsCv_;
  std::deque<std::function<void()>> events_;
  std::function<void()> wakeupHook_;

  std::mutex closersMutex_;
  std::vector<std::pair<void*, std::function<void()>>> closers_;
  std::vector<std::pair<void*, std::function<void()>>> lingering_;  // network thread only

  GSource* sctpTimer_ = nullptr;
  gint64 lastTickUs_ = 0;
};

}  // namespace claynet::impl
