#include "connection_options.hpp"

#include "ice_spec.hpp"

namespace claynet::cli {

void addConnectionOptions(CLI::App& command, ConnectionOptions& o) {
  auto* local = command.add_flag(
      "--local", o.local,
      "Local mode: the host runs its own signaling server, its code is a LAN code (no internet)");
  command
      .add_option("--signal", o.signalUrl,
                  "PeerJS server for 6-character codes, e.g. ws://10.0.0.5:9000/peerjs (claynet "
                  "signal); default: the PeerJS cloud")
      ->excludes(local);
  command.add_option("--max-nodes", o.maxNodes, "most nodes in the network, the host included")
      ->check(CLI::Range(Network::kMinNodes, Network::kMaxNodes))
      ->capture_default_str();
  command.add_option("--topology", o.topology, "star (joiners talk through the host) or mesh")
      ->check(CLI::IsMember({"star", "mesh"}))
      ->capture_default_str();
  command.add_flag("--no-relay", o.noRelay,
                   "Star: the host does not forward broadcasts between joiners");
  command.add_option("--ice", o.ice,
                     "STUN/TURN server, repeatable: stun:host:port, "
                     "turn:user:pass@host:port[?transport=tcp], turns:user:pass@host:port; "
                     "default: Google's public STUN servers");
  command.add_flag("--verbose,-v", o.verbose,
                   "print diagnostics: candidates, ICE/DTLS/SCTP states, the selected pair");
  command.add_flag("--json", o.json, "JSON lines on stdout, one per event (see the README)");
  command
      .add_option("--timeout", o.timeoutSeconds, "seconds to connect before giving up (0: none)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  command.add_option("--local-address", o.localAddress,
                     "Local mode: the IPv4 address in the LAN code (default: this machine's first "
                     "private address)");
  command.add_option("--ice-ca", o.iceCa,
                     "PEM file of CA certificates to trust for turns: servers, besides the "
                     "system's");
  command.add_option("--ice-local", o.iceLocal,
                     "repeatable: gather ICE candidates on these local addresses only, e.g. "
                     "127.0.0.1 to stay on this machine");
}

namespace {

nlohmann::json iceServerJson(const std::string& spec) {
  IceServer s = parseIceSpec(spec);
  if (s.username.empty() && s.credential.empty()) return s.url;
  return {{"urls", s.url}, {"username", s.username}, {"credential", s.credential}};
}

Result named(const char* option, Result r) {
  if (r) return r;
  return Result::failure(std::string(option) + ": " + r.error());
}

}  // namespace

Result applyConnectionOptions(Network& net, const ConnectionOptions& o) {
  net.setVerbose(o.verbose);
  net.setAutoRelay(!o.noRelay);
  Result r = named("--max-nodes", net.setMaxNodes(o.maxNodes));
  if (r)
    r = named("--topology", net.setTopology(o.topology == "mesh" ? Network::Topology::Mesh
                                                                 : Network::Topology::Star));
  if (r)
    r = named("--local/--signal", net.setSignalingMode(o.local ? Network::SignalingMode::Local
                                                               : Network::SignalingMode::Cloud));
  if (r && !o.signalUrl.empty()) r = named("--signal", net.setSignalingUrl(o.signalUrl));
  // Below a millisecond the Network's whole-ms timeout would round to 0, which means none.
  if (r && o.timeoutSeconds > 0 && o.timeoutSeconds < 0.001)
    r = Result::failure("--timeout: at least 0.001 s (or 0 for none), got " +
                        std::to_string(o.timeoutSeconds));
  if (r)
    r = named("--timeout", net.setConnectionTimeout(static_cast<int>(o.timeoutSeconds * 1000)));
  if (r && !o.localAddress.empty())
    r = named("--local-address", net.setLocalAddress(o.localAddress));
  if (r && !o.iceLocal.empty()) r = named("--ice-local", net.setIceLocalAddresses(o.iceLocal));
  if (r && !o.iceCa.empty()) r = named("--ice-ca", net.setIceCaFile(o.iceCa));
  if (r && !o.ice.empty()) {
    nlohmann::json servers = nlohmann::json::array();
    for (const auto& s : o.ice) servers.push_back(iceServerJson(s));
    r = named("--ice", net.setIceServers(servers));
  }
  return r;
}

}  // namespace claynet::cli
