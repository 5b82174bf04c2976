// Star topology routing and the per-origin state sequence guard, sans-IO.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "network/envelope.hpp"

namespace claynet::network {

/// What the host does with one envelope that arrived from a joiner.
struct HostRoute {
  bool deliverLocally = false;         ///< raise messageReceived / stateReceived on the host
  std::string origin;                  ///< the node it is from (always the sending joiner)
  std::vector<std::string> forwardTo;  ///< joiners to send `forwarded` to
  Envelope forwarded;                  ///< the envelope with `from` set by the host, `to` kept
  bool unknownTarget = false;          ///< `to` names no node: dropped
};

/// Routes a Message or State envelope that joiner `sender` sent to the host.
///
/// The host never trusts a `from` a joiner supplies: the origin is the connection it arrived on.
/// A message with `to` (sendTo through the star) goes to that node only, whatever autoRelay says,
/// because it is addressed rather than broadcast; autoRelay governs only the fan-out of broadcasts
/// and state, which with autoRelay off reach the host alone.
HostRoute routeAtHost(const Envelope& in, const std::string& sender, const std::string& hostId,
                      const std::vector<std::string>& joiners, bool autoRelay);

/// The node a received Message/State comes from, as a joiner sees it: the host may name another
/// origin with `from` (it relayed it); anyone else cannot.
std::string originAtReceiver(const Envelope& in, const std::string& sender,
                             const std::string& hostId);

/// Drops state updates that are not newer than the last one accepted from the same origin.
/// Sequence numbers are compared in serial-number arithmetic (RFC 1982), so wrapping past
/// 2^32 - 1 keeps working.
class SequenceGuard {
 public:
  /// True if `seq` is newer than the last accepted from `origin` (or the first from it).
  bool accept(const std::string& origin, std::uint32_t seq);
  /// The same for keyed state: sequences count per origin and key (Clayground's batches).
  bool accept(const std::string& origin, const std::string& key, std::uint32_t seq);
  /// Forgets an origin (it left), so a rejoin with a fresh counter is accepted.
  void forget(const std::string& origin) { last_.erase(origin); }
  void clear() { last_.clear(); }
  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t droppedFrom(const std::string& origin) const;

 private:
  struct Last {
    bool any = false;  // an unkeyed update was accepted
    std::uint32_t seq = 0;
    std::uint64_t dropped = 0;
    std::map<std::string, std::uint32_t> keyed;
  };
  bool newer(Last& last, std::uint32_t& current, bool first, std::uint32_t seq);
  std::map<std::string, Last> last_;
  std::uint64_t dropped_ = 0;
};

}  // namespace claynet::network
