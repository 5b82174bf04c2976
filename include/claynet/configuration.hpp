// claynet::Configuration — how a PeerConnection finds its way to the other side.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "claynet/result.hpp"

namespace claynet {

/// One STUN or TURN server, as in the W3C RTCIceServer.
/// `url` is `stun:host[:port]`, `turn:host[:port][?transport=udp|tcp]` or
/// `turns:host[:port][?transport=tcp]`. TURN needs `username` and `credential`.
struct IceServer {
  std::string url;
  std::string username;
  std::string credential;
};

/// A parsed ICE server URL.
struct IceServerUrl {
  enum class Scheme { Stun, Turn, Turns };
  enum class Transport { Udp, Tcp };
  Scheme scheme = Scheme::Stun;
  std::string host;  // without brackets for IPv6
  uint16_t port = 3478;
  Transport transport = Transport::Udp;

  /// Parses a `stun:`, `turn:` or `turns:` URL. Fails with a message naming the bad part.
  static Result parse(const std::string& url, IceServerUrl& out);
};

enum class IceTransportPolicy {
  All,    ///< host, server-reflexive and relayed candidates
  Relay,  ///< only relayed (TURN) candidates
};

struct Configuration {
  std::vector<IceServer> iceServers;
  IceTransportPolicy iceTransportPolicy = IceTransportPolicy::All;

  /// Restricts host candidates to these local IP addresses (e.g. {"127.0.0.1"}). Empty: every
  /// interface. Useful to keep a game on one machine or one LAN interface.
  std::vector<std::string> localAddresses;

  /// The largest message this side accepts, advertised as `a=max-message-size`. 0 advertises and
  /// accepts messages of any size: a peer can then make this side buffer as much as it sends.
  /// Values below 65536 are raised to 65536 for receiving (what peers assume without the line).
  std::size_t maxMessageSize = 262144;

  /// A PEM file of CA certificates to trust for `turns:` servers, besides the system's.
  std::string caFile;

  /// How long ICE may look for a working candidate pair before the connection fails with
  /// StateReason::Code::IceFailed (0: no limit; libnice may still give up earlier once every
  /// pair has failed).
  std::chrono::milliseconds iceTimeout{30000};
  /// A connected connection that receives nothing for this long becomes Disconnected (it sends
  /// SCTP heartbeats about every second, so an idle but healthy path is never silent that long),
  /// and Connected again when packets come back.
  std::chrono::milliseconds disconnectedAfter{3000};
  /// ... and Failed after this long without anything from the remote (RFC 7675's consent bound).
  std::chrono::milliseconds failedAfter{30000};

  /// Local UDP port range for ICE; 0/0 lets the system choose.
  uint16_t portRangeBegin = 0;
  uint16_t portRangeEnd = 0;
};

}  // namespace claynet
