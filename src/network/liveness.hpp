// Clayground's liveness rule for one link (clayground-wire.md §3.1), sans-IO: pings every 2 s, a
// ping at once to a link silent for 0.5 s, and the link is gone when its oldest unanswered ping
// is gracePeriod old. Anything heard from the peer answers the ping. Time is passed in.
#pragma once

#include <chrono>
#include <optional>

namespace claynet::network {

class LinkLiveness {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kPingInterval{2000};
  static constexpr std::chrono::milliseconds kQuietProbe{500};

  enum class Action {
    None,
    Ping,  ///< send a ping now (then call pinged())
    Gone,  ///< a ping went unanswered for the grace period
  };

  /// The link opened (or a node is first seen) at `now`.
  explicit LinkLiveness(Clock::time_point now = {}) : lastHeard_(now), lastPing_(now) {}

  /// Something arrived from the peer.
  void heard(Clock::time_point now) {
    lastHeard_ = now;
    unansweredSince_.reset();
  }
  /// A ping left at `now`.
  void pinged(Clock::time_point now) {
    lastPing_ = now;
    if (!unansweredSince_) unansweredSince_ = now;
  }
  /// This node itself did not run for `stall` (starved, suspended): that time does not count
  /// against the peer.
  void stalled(std::chrono::steady_clock::duration stall, Clock::time_point now);
  /// What to do at `now`; `grace` 0 never gives Gone.
  Action check(Clock::time_point now, std::chrono::milliseconds grace) const;

  Clock::time_point lastHeard() const { return lastHeard_; }
  std::optional<Clock::time_point> unansweredSince() const { return unansweredSince_; }

 private:
  Clock::time_point lastHeard_, lastPing_;
  std::optional<Clock::time_point> unansweredSince_;
};

}  // namespace claynet::network
