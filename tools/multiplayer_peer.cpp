// claynet-multiplayer-peer: one peer of a MultiplayerMesh in its own process, joined to the others
// through a PeerJS signaling server (MeshSignaling). Used by the multiplayer tests: it prints one
// JSON object per line on stdout, checks the packets the others send, and stays in the mesh
// until its stdin closes.
//
// Lines: {"event":"open"}, {"event":"peer_connected","peer":N}, {"event":"peer_disconnected",
// "peer":N}, {"event":"connection_succeeded"}, {"event":"server_disconnected"},
// {"event":"error","peer":N,"message":...}, {"event":"diagnostic","peer":N,"message":...},
// {"event":"verified","ok":bool,"detail":...},
// {"event":"timeout","detail":...}.
//
// Traffic, once every other peer is connected (all reliable, so per sender in order): a broadcast
// "hello <me>", "to <j> from <me>" to each j, "except <x> from <me>" to all but x (the next id
// after <me>, cyclically), then a broadcast "done <me>". When "done" came from everyone, the
// peer checks it got exactly what was meant for it.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "claynet/multiplayer_mesh.hpp"

using namespace claynet;
using json = nlohmann::json;

namespace {

// Global: the watcher thread is detached and may outlive main()'s locals.
std::atomic<bool> g_stdinClosed{false};

void emit(const json& j) {
  std::cout << j.dump() << std::endl;  // flushed: the test reads line by line
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"one MultiplayerMesh peer in its own process (JSON lines on stdout)"};
  std::string host = "127.0.0.1", key = "peerjs", meshName = "mesh";
  uint16_t port = 9000;
  int id = 0, timeoutS = 60, lifetime = 1000;
  std::vector<int> peers;
  std::vector<std::string> localAddresses;
  bool serverCompat = false;
  app.add_option("--host", host, "PeerJS server host");
  app.add_option("--port", port, "PeerJS server port");
  app.add_option("--key", key, "PeerJS key");
  app.add_option("--mesh", meshName, "mesh name (PeerJS ids are <mesh>-<id>)");
  app.add_option("--id", id, "own peer id")->required();
  app.add_option("--peers", peers, "every peer id of the mesh")->required()->delimiter(',');
  app.add_option("--lifetime", lifetime, "unreliable lifetime in ms");
  app.add_option("--timeout", timeoutS, "seconds to wait for the exchange");
  app.add_option("--local-address", localAddresses, "restrict ICE host candidates");
  app.add_flag("--server-compatibility", serverCompat, "initialize(id, true)");
  CLI11_PARSE(app, argc, argv);

  std::thread stdinWatcher([] {
    char buf[256];
    while (std::fread(buf, 1, sizeof buf, stdin) > 0) {
    }
    g_stdinClosed = true;
  });
  stdinWatcher.detach();  // blocked in fread until EOF; the process may end before that

  Runtime runtime;
  MultiplayerMesh mesh(runtime);
  if (Result r = mesh.initialize(id, serverCompat); !r) {
    emit({{"event", "error"}, {"peer", 0}, {"message", r.error()}});
    return 2;
  }
  bool failed = false;
  mesh.onConnectionSucceeded([] { emit({{"event", "connection_succeeded"}}); });
  mesh.onServerDisconnected([] { emit({{"event", "server_disconnected"}}); });
  mesh.onPeerConnected([](int p) { emit({{"event", "peer_connected"}, {"peer", p}}); });
  mesh.onPeerDisconnected([](int p) { emit({{"event", "peer_disconnected"}, {"peer", p}}); });

  MeshSignaling signaling(mesh);
  signaling.onOpen([] { emit({{"event", "open"}}); });
  signaling.onDiagnostic([](int p, const std::string& message) {
    emit({{"event", "diagnostic"}, {"peer", p}, {"message", message}});
  });
  signaling.onError([&](int p, const std::string& message) {
    emit({{"event", "error"}, {"peer", p}, {"message", message}});
    failed = true;
  });
  MeshSignalingOptions options;
  options.server.host = host;
  options.server.port = port;
  options.server.secure = false;
  options.server.key = key;
  options.meshName = meshName;
  options.configuration.localAddresses = localAddresses;
  options.unreliableLifetime = lifetime;
  if (Result r = signaling.start(options); !r) {
    emit({{"event", "error"}, {"peer", 0}, {"message", r.error()}});
    return 2;
  }
  if (Result r = signaling.connectTo(peers); !r) {
    emit({{"event", "error"}, {"peer", 0}, {"message", r.error()}});
    return 2;
  }

  std::vector<int> others;
  for (int p : peers)
    if (p != id) others.push_back(p);
  std::sort(others.begin(), others.end());
  std::vector<int> all = others;
  all.push_back(id);
  std::sort(all.begin(), all.end());
  int next = all[(std::find(all.begin(), all.end(), id) - all.begin() + 1) % all.size()];

  bool sent = false, verified = false, verdict = false;
  std::map<int, std::vector<std::string>> got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutS);

  auto send = [&](int target, const std::string& data) {
    mesh.setTargetPeer(target);
    if (Result r = mesh.putPacket(data); !r) {
      emit({{"event", "error"}, {"peer", target}, {"message", r.error()}});
      failed = true;
    }
  };

  while (!g_stdinClosed) {
    runtime.waitAndPoll(std::chrono::milliseconds(5));
    (void)mesh.poll();
    MeshPacket p;
    while (mesh.getAvailablePacketCount() > 0 && mesh.getPacket(p)) got[p.peerId].push_back(p.data);

    if (!sent && std::all_of(others.begin(), others.end(), [&](int o) {
          auto peer = mesh.getPeer(o);
          return peer && peer->connected;
        })) {
      sent = true;
      mesh.setTransferMode(TransferMode::Reliable);
      send(0, "hello " + std::to_string(id));
      for (int o : others) send(o, "to " + std::to_string(o) + " from " + std::to_string(id));
      send(-next, "except " + std::to_string(next) + " from " + std::to_string(id));
      send(0, "done " + std::to_string(id));
    }

    if (sent && !verified && std::all_of(others.begin(), others.end(), [&](int o) {
          auto& v = got[o];
          return std::find(v.begin(), v.end(), "done " + std::to_string(o)) != v.end();
        })) {
      verified = true;
      std::string detail;
      for (int o : others) {
        std::string from = std::to_string(o);
        int theirNext = all[(std::find(all.begin(), all.end(), o) - all.begin() + 1) % all.size()];
        std::vector<std::string> expected = {"hello " + from,
                                             "to " + std::to_string(id) + " from " + from};
        if (theirNext != id)
          expected.push_back("except " + std::to_string(theirNext) + " from " + from);
        expected.push_back("done " + from);
        if (got[o] != expected) {
          json g = got[o], e = expected;
          detail += "from " + from + ": got " + g.dump() + ", expected " + e.dump() + "; ";
        }
      }
      verdict = detail.empty() && !failed;
      emit({{"event", "verified"}, {"ok", verdict}, {"detail", detail}});
    }

    if (!verified && std::chrono::steady_clock::now() > deadline) {
      std::string missing;
      for (int o : others)
        if (!mesh.getPeer(o) || !mesh.getPeer(o)->connected) missing += std::to_string(o) + " ";
      emit({{"event", "timeout"}, {"detail", "not connected to: " + missing}});
      return 1;
    }
  }
  signaling.stop();
  mesh.close();
  return verdict ? 0 : 1;
}
