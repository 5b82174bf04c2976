#include "connection_errors.hpp"

#include "claynet/network.hpp"
#include "exit_codes.hpp"

namespace claynet::cli {

namespace {

bool startsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

Failure classifyFailure(const std::string& message, bool connected, bool isHost,
                        const std::string& code, bool turnConfigured) {
  // No path to the host: between NATs only a relay may connect the two sides.
  const std::string turnAdvice =
      turnConfigured
          ? "a TURN server is configured: check that both sides can reach it (its address, port, "
            "transport and credentials) and that the host has it too; if UDP is blocked, add it "
            "over TCP or TLS on port 443 (--ice turn:user:pass@host:443?transport=tcp or "
            "turns:user:pass@host:443)"
          : "across NATs or firewalls add a TURN server with --ice turn:user:pass@host:port";
  if (message == Network::kNetworkFullMessage)
    return {kExitNetworkFull,
            "the network with code " + code +
                " already has as many nodes as its host allows; ask the host to start again with "
                "a larger --max-nodes (at most 8), or wait until someone leaves"};
  if (message == Network::kWrongLanCodeMessage)
    return {kExitBadCode,
            "the code's last part is the host's secret: copy the whole code `claynet host` "
            "printed, and ask for a new one if the host has started again"};
  if (startsWith(message, "Invalid LAN code") || startsWith(message, "Invalid network code") ||
      startsWith(message, "join(): the network code is empty"))
    return {kExitBadCode,
            "use the code `claynet host` printed: 6 characters such as K7QP2M (Cloud mode), or a "
            "LAN code such as L1HGE14A-6Y0-K7QP2MXA (Local mode)"};
  if (message == Network::kHostLeftMessage) return {kExitOk, "the host closed the network"};
  if (message == Network::kHostLostMessage ||
      startsWith(message, Network::kHostTimeoutMessagePrefix))
    return {kExitFailure, "the host stopped answering (it may have crashed or lost its network)"};
  if (startsWith(message, "No network with code"))
    return {kExitUnreachable,
            "check the code; the host may have left. A 6-character code must be joined through "
            "the same signaling server as the host's (--signal URL)"};
  if (startsWith(message, "Signaling failed"))
    return {kExitUnreachable,
            isHost ? "check that the signaling server (--signal URL) is running and reachable, or "
                     "use --local to host without one"
                   : "check that the host is still running and reachable from here (a LAN code "
                     "names the host's own address and port), or that --signal names the host's "
                     "signaling server"};
  if (startsWith(message, "Connection timed out"))
    return {kExitUnreachable,
            message.find(" in phase ice") != std::string::npos
                ? "the host was found but no path to it formed in time: " + turnAdvice
                : "the network did not answer in time: check the code and that the host is "
                  "reachable; across NATs, add a TURN server with --ice turn:user:pass@host:port; "
                  "a longer --timeout may help on a slow link"};
  // The host's own machine, not a connection: nothing to reach, so not "could not connect".
  if (startsWith(message, "could not start the embedded signaling server"))
    return {kExitCannotHost,
            "Local mode runs a signaling server on this machine and it could not listen: check "
            "that --local-address names an address of this machine, or leave it out"};
  if (startsWith(message, "no IPv4 address to put in the LAN code"))
    return {kExitCannotHost,
            "this machine has no private IPv4 address to put in the LAN code: give the one the "
            "joiners reach it on with --local-address A.B.C.D (127.0.0.1 for this machine only)"};
  if (startsWith(message, "could not register with the signaling server"))
    return {kExitUnreachable,
            "check that the signaling server (--signal URL) is running and reachable and that its "
            "key and path match, or use --local to host without one"};
  if (startsWith(message, "could not find a free network code"))
    return {kExitUnreachable,
            "the signaling server refused every code tried: try again, use another server "
            "(--signal URL), or host with --local"};
  if (startsWith(message, "Could not connect to the host"))
    return {kExitUnreachable, "the host was found but no direct connection formed: " + turnAdvice +
                                  "; on one LAN check that UDP between the machines "
                                  "is allowed"};
  if (startsWith(message, "Connection rejected by the host"))
    return {kExitUnreachable,
            "the host turned this node away: check that you used the same --topology as the host "
            "and that the network is still open; ask the host to start again if it persists"};
  return {connected ? kExitFailure : kExitUnreachable, ""};
}

}  // namespace claynet::cli
