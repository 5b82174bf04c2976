// The host's side of admitting a joiner, sans-IO: room in the network, the handshake's decision
// (PendingJoiners) turned into the reply to send, the joiner's client token, and its admission
// into the Membership. Time is passed in; nothing here sends or owns a link.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "network/handshake.hpp"
#include "network/membership.hpp"

namespace claynet::network {

/// What to do about one decided joiner, in this order: send `reply` (unless null), then, if
/// admitted, ping it and do `events` (its roster, node_joined to the others, nodeJoined).
struct AdmissionStep {
  enum class Outcome {
    Welcomed,  ///< a current node, admitted: its link speaks wire version 5
    Legacy,    ///< a seed-era node, admitted without a handshake
    Refused,   ///< refused: close its link kRefusalCloseDelay after the reply
  };
  Outcome outcome = Outcome::Refused;
  nlohmann::json reply;            ///< the welcome or the refusal (null: nothing to send)
  bool wasMember = false;          ///< it was a node already (back on a new link)
  bool tokensChanged = false;      ///< clientTokens() changed
  Membership::Events events;       ///< its admission
  std::vector<std::string> notes;  ///< for the diagnostics
};

class HostAdmission {
 public:
  /// The host starts: joiners must present `appId` and `password`; seed-era nodes, which present
  /// neither, are admitted only when both are empty. `maxNodes` counts the host.
  void start(const std::string& appId, const std::string& password, int maxNodes);

  /// Whether a joiner whose link has just come fits, when `othersHolding` other joiners hold a
  /// link that is not being refused (the host counts as one node).
  bool fits(int othersHolding) const { return othersHolding + 1 < maxNodes_; }

  /// The joiners whose channel is open and who are not decided yet.
  PendingJoiners& pending() { return gate_; }

  /// Turns `decision` into what to do. `hostId` and `sessionMs` go into the welcome.
  AdmissionStep decide(const PendingJoiners::Decision& decision, const std::string& hostId,
                       double sessionMs, Membership& members);

  /// Joiner id -> the clientToken of its hello (Clayground's clientTokens).
  const std::map<std::string, std::string>& clientTokens() const { return tokens_; }
  /// `id` is gone (its link closed, or it left): forgets it. True if clientTokens() changed.
  bool forget(const std::string& id);
  /// The host stops. True if clientTokens() changed.
  bool clear();

 private:
  PendingJoiners gate_;
  std::map<std::string, std::string> tokens_;
  int maxNodes_ = 0;
};

}  // namespace claynet::network
