// What a node's periodic tick decides about each of its links, sans-IO (time passed in): ping it,
// keep it, drop it as silent, or close it as unwanted; and whether this node itself stalled, so
// that the time it did not run is not counted as the others' silence.
#pragma once

#include <chrono>
#include <optional>

#include "network/liveness.hpp"

namespace claynet::network {

using namespace std::chrono_literals;

/// The tick's period.
inline constexpr std::chrono::milliseconds kTickInterval = 200ms;
/// A tick this late means the process itself did not run for a while.
inline constexpr std::chrono::milliseconds kStallThreshold = 1000ms;
/// A link whose handshake is not done and that says nothing for this long is dropped.
inline constexpr std::chrono::milliseconds kHandshakeSilenceLimit = 6000ms;
/// Mesh: a node that dialed us but that the host never announced is closed after this long.
inline constexpr std::chrono::milliseconds kUnannouncedLimit = 15000ms;
/// A link whose reliable channel has not opened this long after it came is given up (a joiner's
/// link to its host excepted: the connection timeout bounds that one). ICE fails sooner by
/// itself; this bounds a peer that completes the transport but never opens the channel, which
/// would otherwise hold a peer connection (and, at a host, a place in the network) for good.
inline constexpr std::chrono::milliseconds kOpenLimit = 20000ms;

/// What the tick needs to know of a link.
struct LinkFacts {
  bool dataOpen = false;       ///< its reliable channel is open
  bool rejecting = false;      ///< host: refused, closing at rejectDeadline
  bool handshakeDone = false;  ///< the handshake is done (or the peer is seed-era)
  bool member = false;         ///< a node of the network as this node sees it
  bool weAreHost = false;      ///< this node hosts
  bool toHost = false;         ///< a joiner's link to its host
  std::chrono::milliseconds openLimit = kOpenLimit;  ///< given up if not open after this long
  LinkLiveness::Clock::time_point created, rejectDeadline;
};

enum class LinkVerdict {
  Keep,
  Ping,         ///< send a ping now
  Silent,       ///< gone: a ping unanswered for the grace period, or a handshake never finished
  Unwanted,     ///< close it: a refused link past its deadline, or a node the host never announced
  NeverOpened,  ///< give it up as lost: its channel did not open within kOpenLimit
};

/// The verdict at `now` for a link with `facts` and `liveness`; `grace` 0 never gives Silent for
/// a link past its handshake.
LinkVerdict judgeLink(const LinkFacts& facts, const LinkLiveness& liveness,
                      LinkLiveness::Clock::time_point now, std::chrono::milliseconds grace);

/// Notices ticks that come late because this process did not run (starved, suspended).
class StallDetector {
 public:
  /// A tick at `now`: how long this node did not run beyond the tick period, if the tick came
  /// more than kStallThreshold after the previous one.
  std::optional<LinkLiveness::Clock::duration> tick(LinkLiveness::Clock::time_point now);
  /// The ticker (re)starts at `now`: the gap before does not count.
  void restart(LinkLiveness::Clock::time_point now) { last_ = now; }

 private:
  std::optional<LinkLiveness::Clock::time_point> last_;
};

}  // namespace claynet::network
