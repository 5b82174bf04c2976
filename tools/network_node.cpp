// claynet-network-node: one claynet::Network node in its own process, driven by JSON lines.
//
//   claynet-network-node --host [--mode local|cloud] [--signaling-url URL] [--topology star|mesh]
//                        [--max-nodes N] [--no-relay] [--verbose] [--timeout MS]
//                        [--app-id S] [--password S] [--client-token S] ...
//   claynet-network-node --join CODE [...]
//
// stdin, one JSON object per line:
//   {"cmd":"broadcast","data":V}           {"cmd":"state","data":V[,"key":K]}   {"cmd":"flush"}
//   {"cmd":"sendTo","node":ID,"data":V}    {"cmd":"leave"}   {"cmd":"status"}   {"cmd":"quit"}
//   {"cmd":"host"}   {"cmd":"join","code":C}
//   {"cmd":"raw","node":ID,"envelope":E,"state":bool}   (a test hook: E goes on the wire as is)
// End of stdin is "leave" then "quit".
//
// stdout, one JSON object per line: every signal of the Network as
//   {"event":"<signal name>", ...arguments by name}
// ("networkCreated" networkId, "nodeJoined"/"nodeLeft" nodeId, "messageReceived" from + data +
// sentAt, "stateReceived" from + data + sentAt + key, "errorOccurred" message, "diagnosticMessage"
// phase + detail, "connectionTimedOut", "statusChanged" status + phase, "joinRefused" reason +
// message), {"event":"result","cmd":C,"ok":bool,"error":...} for each command, and
// {"event":"status",...every property} for "status".
#include <CLI/CLI.hpp>
#include <atomic>
#include <deque>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "claynet/network.hpp"
#include "network/network_testing.hpp"

using namespace claynet;
using json = nlohmann::json;

namespace {

void emit(const json& j) {
  std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;
}

// Global: the reader thread is detached and may outlive main()'s locals.
std::mutex g_mutex;
std::deque<std::string> g_lines;
std::atomic<bool> g_eof{false};

json transits(Network& n) {
  json out = json::object();
  for (const auto& id : n.nodes()) out[id] = n.transitMs(id);  // NaN prints as null
  return out;
}

json ages(Network& n) {
  json out = json::object();
  for (const auto& id : n.nodes()) out[id] = n.stateAgeMs(id);
  return out;
}

json statusOf(Network& n) {
  return {{"event", "status"},
          {"status", toString(n.status())},
          {"connected", n.connected()},
          {"phase", n.connectionPhase()},
          {"phaseTiming", n.phaseTiming()},
          {"isHost", n.isHost()},
          {"networkId", n.networkId()},
          {"nodeId", n.nodeId()},
          {"nodes", n.nodes()},
          {"nodeCount", n.nodeCount()},
          {"latency", n.latency()},
          {"peerStats", n.peerStats()},
          {"syncStats", n.syncStats()},
          {"maxNodes", n.maxNodes()},
          {"topology", toString(n.topology())},
          {"autoRelay", n.autoRelay()},
          {"hostId", n.hostId()},
          {"wireVersion", Network::kWireVersion},
          {"clientTokens", n.clientTokens()},
          {"hostLostReason", n.hostLostReason()},
          {"acceptingJoins", n.acceptingJoins()},
          {"gracePeriod", n.gracePeriod()},
          {"sessionTime", n.sessionTime()},
          {"sessionTimeSynced", n.sessionTimeSynced()},
          {"transitMs", transits(n)},
          {"stateAgeMs", ages(n)},
          {"links", network::NetworkTesting::directLinks(n)}};
}

void result(const std::string& cmd, const Result& r) {
  json j = {{"event", "result"}, {"cmd", cmd}, {"ok", r.ok()}};
  if (!r) j["error"] = r.error();
  emit(j);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"one claynet::Network node (JSON lines on stdin and stdout)"};
  bool host = false, noRelay = false, verbose = false;
  std::string join, mode = "cloud", url, topology = "star", localAddress, iceServers;
  std::string appId, password, clientToken;
  int maxNodes = 8, timeout = 15000, gracePeriod = Network::kDefaultGracePeriodMs;
  std::vector<std::string> iceLocal;
  app.add_flag("--host", host, "host a network");
  app.add_option("--join", join, "join the network with this code");
  app.add_option("--mode", mode, "signaling mode: cloud or local")
      ->check(CLI::IsMember({"cloud", "local"}));
  app.add_option("--signaling-url", url, "PeerJS server for cloud mode");
  app.add_option("--topology", topology, "star or mesh")->check(CLI::IsMember({"star", "mesh"}));
  app.add_option("--max-nodes", maxNodes, "maxNodes (2-8)");
  app.add_flag("--no-relay", noRelay, "autoRelay off");
  app.add_flag("--verbose", verbose, "verbose diagnostics");
  app.add_option("--timeout", timeout, "connectionTimeout in ms (0: none)");
  app.add_option("--local-address", localAddress, "the address of the LAN code (local mode)");
  app.add_option("--ice-local", iceLocal, "restrict ICE host candidates to these addresses");
  app.add_option("--ice-servers", iceServers, "iceServers as JSON");
  app.add_option("--app-id", appId, "appId (the handshake's app)");
  app.add_option("--grace-period", gracePeriod, "gracePeriod in ms (0: no silence check)");
  int openLimit = 0;
  app.add_option("--open-limit", openLimit,
                 "test hook: give up a link whose channel has not opened after this many ms "
                 "(default 20000)")
      ->check(CLI::Range(1, 600000));
  app.add_option("--password", password, "password (a host's to check, a joiner's to give)");
  app.add_option("--client-token", clientToken, "clientToken (a joiner's, for the host)");
  CLI11_PARSE(app, argc, argv);

  std::thread reader([] {
    std::string line;
    while (std::getline(std::cin, line)) {
      std::lock_guard lock(g_mutex);
      g_lines.push_back(line);
    }
    g_eof = true;
  });
  reader.detach();  // blocked in getline until EOF; the process may end before that

  Runtime runtime;
  Network net(runtime);
  auto configure = [&](const char* what, const Result& r) {
    if (!r) {
      emit({{"event", "configError"}, {"what", what}, {"error", r.error()}});
      std::exit(2);
    }
  };
  net.setAutoRelay(!noRelay);
  net.setVerbose(verbose);
  configure("maxNodes", net.setMaxNodes(maxNodes));
  configure("connectionTimeout", net.setConnectionTimeout(timeout));
  configure("signalingMode", net.setSignalingMode(mode == "local" ? Network::SignalingMode::Local
                                                                  : Network::SignalingMode::Cloud));
  configure("topology", net.setTopology(topology == "mesh" ? Network::Topology::Mesh
                                                           : Network::Topology::Star));
  if (!url.empty()) configure("signalingUrl", net.setSignalingUrl(url));
  if (!localAddress.empty()) configure("localAddress", net.setLocalAddress(localAddress));
  if (!iceLocal.empty()) configure("iceLocalAddresses", net.setIceLocalAddresses(iceLocal));
  configure("appId", net.setAppId(appId));
  configure("gracePeriod", net.setGracePeriod(gracePeriod));
  if (openLimit > 0)
    network::NetworkTesting::setOpenLimit(net, std::chrono::milliseconds(openLimit));
  configure("password", net.setPassword(password));
  configure("clientToken", net.setClientToken(clientToken));
  if (!iceServers.empty()) {
    json servers = json::parse(iceServers, nullptr, false);
    configure("iceServers", net.setIceServers(servers));
  }

  net.onNetworkCreated([](const std::string& id) {
    emit({{"event", "networkCreated"}, {"networkId", id}});
  });
  net.onNodeJoined([](const std::string& id) { emit({{"event", "nodeJoined"}, {"nodeId", id}}); });
  net.onNodeLeft([](const std::string& id) { emit({{"event", "nodeLeft"}, {"nodeId", id}}); });
  net.onMessageReceived([](const std::string& from, const json& data, double sentAt) {
    emit({{"event", "messageReceived"}, {"from", from}, {"data", data}, {"sentAt", sentAt}});
  });
  net.onStateReceived(
      [](const std::string& from, const json& data, double sentAt, const std::string& key) {
        emit({{"event", "stateReceived"},
              {"from", from},
              {"data", data},
              {"sentAt", sentAt},
              {"key", key}});
      });
  net.onError([](const Network::Error& e) {
    emit({{"event", "errorOccurred"},
          {"message", e.message},
          {"code", toString(e.code)},
          {"phase", e.phase}});
  });
  net.onDiagnosticMessage([](const std::string& phase, const std::string& detail) {
    emit({{"event", "diagnosticMessage"}, {"phase", phase}, {"detail", detail}});
  });
  net.onConnectionTimedOut([] { emit({{"event", "connectionTimedOut"}}); });
  net.onSignalingLost([] { emit({{"event", "signalingLost"}}); });
  net.onHostLost([](const std::string& reason, const std::string& message) {
    emit({{"event", "hostLost"}, {"reason", reason}, {"message", message}});
  });
  net.onJoinRefused([](const std::string& reason, const std::string& message) {
    emit({{"event", "joinRefused"}, {"reason", reason}, {"message", message}});
  });
  net.onStatusChanged([&net] {
    emit({{"event", "statusChanged"},
          {"status", toString(net.status())},
          {"nodeId", net.nodeId()},
          {"phaseTiming", net.phaseTiming()}});
  });
  net.onConnectionPhaseChanged([&net] {
    emit({{"event", "connectionPhaseChanged"}, {"phase", net.connectionPhase()}});
  });

  if (host) result("host", net.host());
  if (!join.empty()) result("join", net.join(join));

  bool quit = false;
  while (!quit) {
    runtime.waitAndPoll(std::chrono::milliseconds(20));
    std::deque<std::string> lines;
    {
      std::lock_guard lock(g_mutex);
      lines.swap(g_lines);
    }
    for (const auto& line : lines) {
      if (line.empty()) continue;
      json c = json::parse(line, nullptr, false);
      if (c.is_discarded() || !c.is_object() || !c.contains("cmd") || !c["cmd"].is_string()) {
        emit({{"event", "result"}, {"ok", false}, {"error", "not a command: " + line}});
        continue;
      }
      const std::string cmd = c["cmd"];
      json data = c.value("data", json());
      if (cmd == "broadcast") {
        result(cmd, net.broadcast(data));
      } else if (cmd == "state") {
        result(cmd, c.contains("key") && c["key"].is_string()
                        ? net.broadcastState(data, c["key"].get<std::string>())
                        : net.broadcastState(data));
      } else if (cmd == "flush") {
        net.flushState();
        result(cmd, {});
      } else if (cmd == "sendTo") {
        result(cmd, net.sendTo(c.value("node", ""), data));
      } else if (cmd == "raw") {
        result(cmd,
               network::NetworkTesting::sendRaw(
                   net, c.value("node", ""), c.value("envelope", json()), c.value("state", false)));
      } else if (cmd == "leave") {
        net.leave();
        result(cmd, {});
      } else if (cmd == "host") {
        result(cmd, net.host());
      } else if (cmd == "join") {
        result(cmd, net.join(c.value("code", "")));
      } else if (cmd == "status") {
        emit(statusOf(net));
      } else if (cmd == "quit") {
        quit = true;
      } else {
        result(cmd, Result::failure("unknown command \"" + cmd + "\""));
      }
    }
    if (g_eof && lines.empty()) {
      std::lock_guard lock(g_mutex);
      if (g_lines.empty()) break;
    }
  }
  net.leave();
  // Let the goodbyes leave before the Runtime closes the connections.
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (std::chrono::steady_clock::now() < end) runtime.waitAndPoll(std::chrono::milliseconds(20));
  emit({{"event", "exit"}});
  return 0;
}
