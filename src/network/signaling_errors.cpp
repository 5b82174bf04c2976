#include "network/signaling_errors.hpp"

namespace claynet::network {

namespace {

SignalingStep step(SignalingStep::Kind kind, std::string message = {}) {
  SignalingStep s;
  s.kind = kind;
  s.message = std::move(message);
  return s;
}

SignalingStep fail(Network::ErrorCode code, std::string message) {
  SignalingStep s = step(SignalingStep::Kind::Fail, std::move(message));
  s.code = code;
  return s;
}

}  // namespace

SignalingStep judgeSignalingError(const PeerJsError& err, const SignalingRole& role, int& hostTries,
                                  int& joinerTries) {
  if (err.willRetry) return {};     // re-registering: the peer tries again by itself
  if (!role.connecting) return {};  // the network goes on without it
  switch (err.type) {
    case PeerJsErrorType::UnavailableId:
      if (role.host && role.cloud) {
        if (++hostTries >= kHostCodeTries)
          return fail(Network::ErrorCode::CannotHost,
                      "could not find a free network code on the signaling server after " +
                          std::to_string(kHostCodeTries) + " tries");
        return step(SignalingStep::Kind::NewHostCode);
      }
      if (!role.host && ++joinerTries < kJoinerIdTries)
        return step(SignalingStep::Kind::NewJoinerId);
      return fail(Network::ErrorCode::SignalingFailed, "Signaling failed: " + err.text());
    case PeerJsErrorType::PeerRejected: {
      // Clayground's joiner takes a REJECT while connecting as joinRefused("refused", reason).
      if (role.host || err.peer != role.hostId) return {};
      return step(SignalingStep::Kind::Refused, err.message);
    }
    case PeerJsErrorType::PeerUnavailable:
      // Another node (a Mesh joiner dials the roster) gone from the server: that link fails by
      // itself, and the join goes on.
      if (role.host || (!err.peer.empty() && err.peer != role.hostId)) return {};
      return fail(Network::ErrorCode::NoSuchNetwork, "No network with code " + role.networkId +
                                                         ": the host did not answer (" +
                                                         err.message + ")");
    case PeerJsErrorType::ServerError:
      if (err.message == Network::kWrongLanCodeMessage)
        return fail(Network::ErrorCode::WrongLanCode, Network::kWrongLanCodeMessage);
      [[fallthrough]];
    case PeerJsErrorType::Network:
    case PeerJsErrorType::InvalidKey:
    case PeerJsErrorType::InvalidId:
    case PeerJsErrorType::SslUnavailable:
    case PeerJsErrorType::SocketError:
    case PeerJsErrorType::SocketClosed:
      return fail(Network::ErrorCode::SignalingFailed, "Signaling failed: " + err.text());
    default:
      return {};  // connection-level trouble comes through the connection's own callbacks
  }
}

}  // namespace claynet::network
