// What a node does with a Message, State or Batch that arrived on a link past its handshake,
// sans-IO (the local time is passed in): the host routes it (relaying with `from` set by itself,
// never by the sender), a joiner takes another origin only from its host and only one the roster
// names, a Mesh node keeps what a node sends before the host announced it, and stale state goes
// nowhere (StateIntake). It says what to raise and what to relay; it sends nothing itself.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "network/envelope.hpp"
#include "network/membership.hpp"
#include "network/session_clock.hpp"
#include "network/state_intake.hpp"

namespace claynet::network {

/// One messageReceived or stateReceived to raise.
struct InboundDelivery {
  std::string origin;
  bool state = false;  ///< stateReceived, else messageReceived
  nlohmann::json data;
  double sentAt = -1;  ///< the sender's session time, -1 if unknown
  std::string key;     ///< keyed state: its key ("" for unkeyed state and messages)
};

/// What to do with one envelope.
struct InboundOutcome {
  std::vector<InboundDelivery> deliveries;
  /// Host: relay `forwarded` to these joiners (a State or Batch on their state lanes).
  std::vector<std::string> forwardTo;
  Envelope forwarded;
  /// Mesh: it came from a node the host has not announced yet: keep it until it is.
  bool early = false;
  /// What was dropped and why, for the diagnostics.
  std::vector<std::string> notes;
};

/// Who this node is, when the envelope arrives.
struct InboundContext {
  bool host = false;
  std::string self, hostId;
  bool relay = false;                     ///< host: autoRelay in Star
  std::vector<std::string> readyJoiners;  ///< host: the joiners a relay may go to
};

class Inbound {
 public:
  /// `env` (a Message, State or Batch) arrived from `peer` at local ms `nowMs`.
  InboundOutcome take(const std::string& peer, const Envelope& env, const InboundContext& ctx,
                      const Membership& members, double nowMs);

  const StateIntake& intake() const { return intake_; }
  const TransitTracker& transit() const { return transit_; }
  /// A node left: what is kept about its state goes.
  void forget(const std::string& origin);
  void clear();

 private:
  // False when nothing in it was new.
  bool accept(const std::string& origin, const Envelope& env, double nowMs, bool raise,
              InboundOutcome& out);

  StateIntake intake_;
  TransitTracker transit_;
};

}  // namespace claynet::network
