// What a node does about an error of its signaling server, sans-IO: a host's code or a joiner's
// random id that is taken is tried again (a few times), a native Clayground host's REJECT is a
// refusal, and the rest ends an attempt to connect with a typed error and its documented text.
// Once a node is in its network, signaling errors end nothing: the links go on.
#pragma once

#include <string>

#include "claynet/network.hpp"
#include "claynet/peerjs_signaling.hpp"

namespace claynet::network {

/// A host in Cloud mode tries this many codes before it gives up.
inline constexpr int kHostCodeTries = 8;
/// A joiner tries this many random ids before it gives up.
inline constexpr int kJoinerIdTries = 3;

/// Who gets the error.
struct SignalingRole {
  bool host = false;
  bool cloud = true;        ///< Cloud mode (a host's code is its id on a shared server)
  bool connecting = false;  ///< not in its network yet
  std::string hostId;       ///< joiner: the host's id
  std::string networkId;    ///< joiner: the code it joins
};

/// What to do.
struct SignalingStep {
  enum class Kind {
    Ignore,       ///< nothing (the peer retries by itself, or the network goes on without it)
    NewHostCode,  ///< register again under another code
    NewJoinerId,  ///< register again under another random id, and dial the host again
    Refused,      ///< the host refused us at signaling: joinRefused("refused", message)
    Fail,         ///< the attempt ends with `code` and `message`
  };
  Kind kind = Kind::Ignore;
  Network::ErrorCode code = Network::ErrorCode::None;
  std::string message;
};

/// The step for `err`. `hostTries` and `joinerTries` count the retries of this attempt (start
/// them at 0); a retry counts itself.
SignalingStep judgeSignalingError(const PeerJsError& err, const SignalingRole& role, int& hostTries,
                                  int& joinerTries);

}  // namespace claynet::network
