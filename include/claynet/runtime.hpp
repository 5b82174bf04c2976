// claynet::Runtime — the network thread and the application's event queue.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace claynet {

namespace impl {
class RuntimeCore;
}

/// Where the callbacks of connections and channels run.
enum class Delivery {
  /// Queued and run by poll() / waitAndPoll() on the application's own thread (default).
  Poll,
  /// Run directly on the network thread, as soon as the event happens. Lowest latency; the
  /// callback must not block, and must not destroy the object whose callback is running.
  NetworkThread,
};

/// Owns the network thread that carries every PeerConnection created with it, and the queue
/// through which their events reach the application.
///
/// Thread-safety: every member may be called from any thread; poll() runs callbacks on the thread
/// that calls it. Destroying the Runtime closes every connection still attached to it; do not
/// destroy it from inside one of its own callbacks.
class Runtime {
 public:
  struct Options {
    Delivery delivery = Delivery::Poll;
    /// With Delivery::Poll, received messages wait for poll(). Once this many bytes of one
    /// connection wait (its messages, plus 256 for each other event of it, such as an error
    /// about what the peer sent), claynet stops reading from that connection: the remote's send
    /// buffer fills and its bufferedAmount rises, until poll() has taken some. Without it, a peer
    /// that sends faster than the application polls (during a level load, a dialog) could make
    /// this process grow without bound.
    std::size_t maxUndeliveredBytes = 8 * 1024 * 1024;
    /// Unreliable channels (maxRetransmits or maxPacketLifeTime) do not hold the connection up:
    /// once this many bytes of one such channel wait, its oldest waiting messages are dropped and
    /// counted (Counters::messagesDropped), so the newest state is what poll() hands out.
    std::size_t maxUndeliveredUnreliableBytes = 256 * 1024;
  };

  /// Starts the network thread. The first Runtime of a process also registers GIO's socket
  /// address, task, resolver and TLS types and loads GIO's modules, before any thread of its
  /// own exists: GLib 2.74 can deadlock when those types are first used on two threads at once
  /// (a libsoup session on the network thread, an answer on a resolver thread).
  Runtime();
  explicit Runtime(Options options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  /// Runs the callbacks of queued events, at most `max` of them, on the calling thread.
  /// Returns how many ran. Never blocks. With Delivery::NetworkThread it always returns 0.
  std::size_t poll(std::size_t max = static_cast<std::size_t>(-1));

  /// Waits until at least one event is queued or `timeout` passes, then runs poll().
  /// Returns how many callbacks ran.
  std::size_t waitAndPoll(std::chrono::milliseconds timeout);

  /// Sets a hook that the network thread calls whenever the event queue goes from empty to
  /// non-empty, so an event loop (Qt, a game loop) can schedule a poll() on its own thread.
  /// The hook runs on the network thread: it must only schedule, never poll itself.
  void setWakeupHook(std::function<void()> hook);

  Delivery delivery() const;

  /// Internal: the shared core. Not part of the stable API.
  const std::shared_ptr<impl::RuntimeCore>& core() const { return core_; }

 private:
  std::shared_ptr<impl::RuntimeCore> core_;
};

}  // namespace claynet
