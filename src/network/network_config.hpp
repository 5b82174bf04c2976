// Sans-IO pieces of claynet::Network: signaling URLs, the QML form of ICE servers, node ids,
// candidate descriptions and round-trip estimates.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "claynet/configuration.hpp"
#include "claynet/peerjs_signaling.hpp"
#include "claynet/result.hpp"

namespace claynet::network {

/// Parses a signaling URL into a PeerJS server: ws://, wss://, http://, https:// (https/wss set
/// `secure`), host (an IPv6 literal in brackets), optional port (default 80 / 443), optional path:
/// ".../peerjs" is the WebSocket endpoint under mount path "...", any other path is the mount path
/// itself; "?key=K" sets the key. Fails with what is wrong; `out` is unchanged then.
Result parseSignalingUrl(std::string_view url, PeerJsServer& out);

/// Parses the QML form of iceServers: an array of URL strings and {urls, username, credential}
/// objects, `urls` a string or an array of strings (each URL becomes one IceServer). Every URL
/// must parse (IceServerUrl::parse). `out` is unchanged on failure.
Result parseIceServers(const nlohmann::json& value, std::vector<IceServer>& out);
/// Checks URLs of an already built list.
Result validateIceServers(const std::vector<IceServer>& servers);
/// The QML form: a string for a server without credentials, else {urls, username, credential}.
nlohmann::json iceServersToJson(const std::vector<IceServer>& servers);
/// Clayground's defaults: Google's two public STUN servers.
std::vector<IceServer> defaultIceServers();

/// A random joiner id: 12 characters from [a-z0-9] (a valid PeerJS id).
std::string randomNodeId();

/// "host 10.0.0.1:5000 udp" for an ICE candidate line ("candidate:... typ host ..."), or the line
/// itself when it does not parse.
std::string describeCandidate(std::string_view line);

/// Smoothed round-trip time, as Clayground: the first sample, then 70 % old + 30 % new.
class RttEstimator {
 public:
  void sample(double ms) { smoothed_ = smoothed_ < 0 ? ms : smoothed_ * 0.7 + ms * 0.3; }
  /// -1 until the first sample.
  double smoothed() const { return smoothed_; }
  int rounded() const { return smoothed_ < 0 ? -1 : static_cast<int>(smoothed_ + 0.5); }
  void reset() { smoothed_ = -1; }

 private:
  double smoothed_ = -1;
};

}  // namespace claynet::network
