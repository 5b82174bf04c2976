// The phases of connecting and how long each took (Clayground's connectionPhase and phaseTiming),
// sans-IO: told when the attempt began, when the transport to the host connected and when its
// channel opened, with the time passed in. A joiner goes signaling -> ice -> datachannel ->
// handshake -> "" (in); a host is in once it has registered.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace claynet::network {

class JoinTimeline {
 public:
  using Clock = std::chrono::steady_clock;

  /// An attempt begins at `now`: phase "signaling".
  void begin(Clock::time_point now);
  /// The transport to the host is connecting (ICE checks run): phase "ice". False when that
  /// changes nothing (it is past that phase already).
  bool transportConnecting(Clock::time_point now);
  /// The transport to the host connected (ICE and DTLS): phase "datachannel".
  bool transportConnected(Clock::time_point now);
  /// The reliable channel to the host opened: phase "handshake". The transport's events, if they
  /// were not seen, count as at once.
  bool channelOpen(Clock::time_point now);
  /// The joiner is in: phase "", and the timing of every phase and the total, in ms.
  nlohmann::json joined(Clock::time_point now);
  /// A host registered: phase "", and its timing (all of it signaling).
  nlohmann::json hosted(Clock::time_point now);

  /// "signaling", "ice", "datachannel", "handshake", or "" (not connecting).
  const std::string& phase() const { return phase_; }
  /// Ms since the attempt began.
  std::int64_t elapsedMs(Clock::time_point now) const;
  /// The phase a node still connecting is in: before the first change, signaling.
  std::string connectingPhase() const { return phase_.empty() ? "signaling" : phase_; }
  /// Not connecting any more (left, failed, or torn down).
  void end() { phase_.clear(); }

 private:
  void enter(const char* phase, Clock::time_point now);
  std::int64_t since(Clock::time_point mark, Clock::time_point now) const;

  std::string phase_;
  Clock::time_point start_, mark_;
  nlohmann::json timing_ = nlohmann::json::object();
};

}  // namespace claynet::network
