#include "connection_errors.hpp"

#include "claynet/network.hpp"
#include "exit_codes.hpp"

namespace claynet::cli {

Failure classifyFailure(const Network::Error& error, bool connected, bool isHost,
                        const std::string& code, bool turnConfigured) {
  // No path to the host: between NATs only a relay may connect the two sides.
  const std::string turnAdvice =
      turnConfigured
          ? "a TURN server is configured: check that both sides can reach it (its address, port, "
            "transport and credentials) and that the host has it too; if UDP is blocked, add it "
            "over TCP or TLS on port 443 (--ice turn:user:pass@host:443?transport=tcp or "
            "turns:user:pass@host:443)"
          : "across NATs or firewalls add a TURN server with --ice turn:user:pass@host:port";
  using E = Network::ErrorCode;
  switch (error.code) {
    case E::NetworkFull:
      return {kExitNetworkFull,
              "the network with code " + code +
                  " already has as many nodes as its host allows; ask the host to start again "
                  "with a larger --max-nodes (at most 8), or wait until someone leaves"};
    case E::WrongLanCode:
      return {kExitBadCode,
              "the code's last part is the host's secret: copy the whole code `claynet host` "
              "printed, and ask for a new one if the host has started again"};
    case E::InvalidCode:
      return {kExitBadCode,
              "use the code `claynet host` printed: 6 characters such as K7QP2M (Cloud mode), or "
              "a LAN code such as L1HGE14A-6Y0-K7QP2MXA (Local mode)"};
    case E::HostLeft:
      return {kExitOk, "the host closed the network"};
    case E::HostTimeout:
    case E::HostConnectionLost:
      return {kExitFailure, "the host stopped answering (it may have crashed or lost its network)"};
    case E::NoSuchNetwork:
      return {kExitUnreachable,
              "check the code; the host may have left. A 6-character code must be joined through "
              "the same signaling server as the host's (--signal URL)"};
    case E::SignalingFailed:
      return {kExitUnreachable,
              isHost ? "check that the signaling server (--signal URL) is running and reachable, "
                       "and that its key and path match, or use --local to host without one"
                     : "check that the host is still running and reachable from here (a LAN code "
                       "names the host's own address and port), or that --signal names the "
                       "host's signaling server"};
    case E::TimedOut:
      return {kExitUnreachable,
              error.phase == "ice"
                  ? "the host was found but no path to it formed in time: " + turnAdvice
                  : "the network did not answer in time: check the code and that the host is "
                    "reachable; across NATs, add a TURN server with --ice "
                    "turn:user:pass@host:port; a longer --timeout may help on a slow link"};
    case E::CannotHost:
      return {kExitCannotHost,
              "Local mode runs a signaling server on this machine: check that --local-address "
              "names an address of this machine (127.0.0.1 for this machine only), or leave it "
              "out; in Cloud mode, try again or use another server (--signal URL)"};
    case E::CouldNotConnect:
      return {kExitUnreachable,
              "the host was found but no direct connection formed: " + turnAdvice +
                  "; on one LAN check that UDP between the machines is allowed"};
    case E::JoinRefused:
    case E::Rejected:
      return {kExitUnreachable,
              "the host turned this node away: check that you used the same --topology, app "
              "and password as the host and that the network is still open"};
    case E::None:
      break;
  }
  return {connected ? kExitFailure : kExitUnreachable, ""};
}

}  // namespace claynet::cli
