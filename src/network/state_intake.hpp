// What a node accepts of the state it receives (Clayground's stale-state rule and its syncStats),
// sans-IO: the caller gives each State or Batch with its origin and the local time, and is told
// which parts are new. Sequences count per origin, and per origin and key for batches; what is
// kept per origin is bounded, so a node sending ever new keys cannot grow it without end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "network/envelope.hpp"
#include "network/relay.hpp"

namespace claynet::network {

class StateIntake {
 public:
  /// Keys remembered per origin; updates of further keys are dropped (and counted).
  static constexpr std::size_t kMaxKeysPerOrigin = 4096;
  /// Longer keys are dropped (and counted): a key is an object's name, not a payload.
  static constexpr std::size_t kMaxKeyBytes = 256;

  struct Outcome {
    /// nullopt: nothing in it was new (a stale State, or a Batch without a new entry). Otherwise
    /// the indices of the Batch's new entries (empty for a State or a Message).
    std::optional<std::vector<std::size_t>> fresh;
    /// This origin has just reached kMaxKeysPerOrigin (said once per origin).
    bool keysCappedNow = false;
  };

  /// Judges `env` (a Message is always new and not counted) from `origin` at local ms `nowMs`.
  Outcome accept(const std::string& origin, const Envelope& env, double nowMs);

  /// Ms since the newest accepted update of `origin`: of any without `key`, else of that key
  /// ("" is the unkeyed state); -1 if none.
  double ageMs(const std::string& origin, const std::optional<std::string>& key,
               double nowMs) const;
  /// Clayground's syncStats: per origin seq, recv, dropped, ageMs, and with keyed state keys
  /// (each seq, recv, dropped, ageMs), batches and maxBatchBytes.
  nlohmann::json syncStats(double nowMs) const;
  /// Stale updates dropped from `origin` (peerStats' stateDropped).
  std::uint64_t droppedFrom(const std::string& origin) const { return guard_.droppedFrom(origin); }

  /// Forgets an origin (it left): a rejoin with a fresh counter is accepted.
  void forget(const std::string& origin);
  void clear();

 private:
  struct StreamStats {
    std::uint32_t seq = 0;
    std::uint64_t recv = 0, dropped = 0;
    double lastLocal = -1;  // local ms of the newest accepted
  };
  struct OriginStats {
    StreamStats unkeyed;
    std::map<std::string, StreamStats> keys;
    std::uint64_t recv = 0, dropped = 0, batches = 0;
    std::size_t maxBatchBytes = 0;
    bool keysCapped = false;
  };
  SequenceGuard guard_;
  std::map<std::string, OriginStats> stats_;
};

}  // namespace claynet::network
