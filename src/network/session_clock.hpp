// Clayground's session clock (wire version 3+, clayground-wire.md §2.11), sans-IO: the host's
// monotonic milliseconds since it created the network, estimated on a joiner from the welcome's
// "st" and from pongs that carry "st". Every call takes the local monotonic time in ms; nothing
// here reads a clock.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <string>

namespace claynet::network {

class SessionClock {
 public:
  static constexpr std::size_t kWindow = 64;       ///< samples kept (and pings in the burst)
  static constexpr std::size_t kSyncedAfter = 32;  ///< samples before sessionTimeSynced
  static constexpr std::size_t kMinKept = 16;      ///< old samples stay when fewer would remain
  static constexpr double kMaxSampleAgeMs = 60000;
  static constexpr double kSlewRate = 0.05;  ///< ms of offset change per ms, once synced
  static constexpr double kBurstIntervalMs = 50;

  /// The host: session time 0 is now; synced by definition.
  void start(double localNow);
  /// Out of a network: invalid again.
  void reset();
  /// A joiner's first value, from the welcome's st (off by its one-way delay). Ignored once
  /// samples exist.
  void seed(double sessionMs, double localNow);
  /// One pong that carried st: the ping left at `sentLocal`, the pong came at `receivedLocal`.
  /// Returns false for a sample that cannot be one (negative round trip, st not >= 0).
  bool sample(double sentLocal, double receivedLocal, double sessionMs);

  bool valid() const { return valid_; }
  bool synced() const { return synced_; }
  std::size_t samples() const { return window_.size(); }
  /// The session time at local time `localNow`; -1 when not valid. Never goes back.
  double sessionTime(double localNow);
  /// The offset (session - local) in force at `localNow`.
  double offsetAt(double localNow);

 private:
  double estimate() const;

  struct Sample {
    double at;  // local time it was taken
    double rtt;
    double offset;
  };
  std::deque<Sample> window_;
  bool valid_ = false;
  bool synced_ = false;
  double offset_ = 0;  // in force at lastLocal_
  double target_ = 0;  // the estimate the offset slews towards
  double lastLocal_ = 0;
  double lastSession_ = -1;
};

/// Clayground's transitMs(node): the one-way delay of state from each origin over the last 3 s,
/// as a sliding minimum (clayground-wire.md §2.11).
class TransitTracker {
 public:
  static constexpr double kWindowMs = 3000;

  /// A state from `origin` sent at session time `sentAt` (ignored when < 0) arrived at local time
  /// `localNow`.
  void arrived(const std::string& origin, double sentAt, double localNow);
  /// The fastest transit within the window, in session ms, given the clock's offset now; NaN
  /// when there is none.
  double transitMs(const std::string& origin, double localNow, double offset) const;
  void forget(const std::string& origin) { byOrigin_.erase(origin); }
  void clear() { byOrigin_.clear(); }

 private:
  struct Entry {
    double at;   // local arrival
    double raw;  // local arrival - sentAt
  };
  std::map<std::string, std::deque<Entry>> byOrigin_;
};

}  // namespace claynet::network
