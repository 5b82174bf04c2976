// Label `multiplayer`: a full mesh of 4 peers, each in its own process
// (claynet-multiplayer-peer), joined through MeshSignaling and a real PeerJS server.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "process.hpp"

using namespace claynet::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr uint16_t kPort = 9000;  // the test has its network namespace to itself

struct Peer {
  int id;
  std::unique_ptr<Child> child;
  std::vector<json> lines;
  std::string log() const {
    std::string s;
    for (auto& l : lines) s += "\n  " + l.dump();
    return s;
  }
  std::vector<json> events(const std::string& name) const {
    std::vector<json> out;
    for (auto& l : lines)
      if (l.value("event", "") == name) out.push_back(l);
    return out;
  }
};

// Reads every peer's lines until `done` holds or the time is up.
bool readUntil(std::vector<Peer>& peers, const std::function<bool()>& done,
               std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    for (auto& p : peers) {
      while (auto line = p.child->readLine(10ms)) {
        json j = json::parse(*line, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << "peer " << p.id << " printed: " << *line;
        if (!j.is_discarded()) p.lines.push_back(j);
      }
    }
  }
  return true;
}

std::unique_ptr<Child> startPeer(int id, bool serverCompat) {
  std::vector<std::string> argv = {std::string(CLAYNET_BIN_DIR) + "/claynet-multiplayer-peer",
                                   "--port",
                                   std::to_string(kPort),
                                   "--mesh",
                                   "procmesh",
                                   "--id",
                                   std::to_string(id),
                                   "--peers",
                                   "1,2,3,4",
                                   "--timeout",
                                   "90",
                                   "--local-address",
                                   "127.0.0.1"};
  if (serverCompat) argv.push_back("--server-compatibility");
  return Child::spawn(argv);
}

void runFourProcesses(SignalServer::Kind kind) {
  // A short expire_timeout: peer 4 starts late, so the offers sent to it expire and are sent again.
  auto server = SignalServer::start(kind, kPort, 1000);
  ASSERT_TRUE(server) << "the signaling server did not start";

  std::vector<Peer> peers;
  // Peer 1 is the server of the Godot-style game: without server compatibility. The others use it.
  for (int id = 1; id <= 3; ++id) {
    peers.push_back({id, startPeer(id, id != 1), {}});
    ASSERT_TRUE(peers.back().child);
  }
  ASSERT_TRUE(readUntil(
      peers,
      [&] {
        for (auto& p : peers)
          if (p.events("open").empty()) return false;
        return true;
      },
      30s));
  std::this_thread::sleep_for(2500ms);  // > expire_timeout plus the server's cleanup period
  peers.push_back({4, startPeer(4, true), {}});
  ASSERT_TRUE(peers.back().child);

  bool allVerified = readUntil(
      peers,
      [&] {
        for (auto& p : peers)
          if (p.events("verified").empty() && p.events("timeout").empty()) return false;
        return true;
      },
      120s);
  for (auto& p : peers) {
    ASSERT_TRUE(allVerified) << "peer " << p.id << ":" << p.log();
    auto v = p.events("verified");
    ASSERT_EQ(v.size(), 1u) << "peer " << p.id << ":" << p.log();
    EXPECT_TRUE(v[0]["ok"].get<bool>()) << "peer " << p.id << ":" << p.log();
    EXPECT_TRUE(p.events("error").empty()) << "peer " << p.id << ":" << p.log();
    if (p.id != 4) {
      // Peer 4 came late: the offers to it expired and were sent again.
      bool resent = false;
      for (auto& d : p.events("diagnostic"))
        resent |=
            d["peer"] == 4 && d["message"].get<std::string>().find("again") != std::string::npos;
      EXPECT_TRUE(resent) << "peer " << p.id << ":" << p.log();
    }

    // Lifecycle: peer 1 sees each other peer connect; the others (server compatibility) first
    // the connection to the server, then the server, then the rest.
    std::vector<int> connected;
    for (auto& e : p.events("peer_connected")) connected.push_back(e["peer"].get<int>());
    EXPECT_EQ(connected.size(), 3u) << "peer " << p.id << ":" << p.log();
    std::vector<std::string> names;
    for (auto& l : p.lines) {
      std::string e = l.value("event", "");
      if (e == "peer_connected" || e == "connection_succeeded") names.push_back(e);
    }
    if (p.id == 1) {
      EXPECT_TRUE(p.events("connection_succeeded").empty()) << p.log();
    } else {
      ASSERT_GE(names.size(), 2u) << p.log();
      EXPECT_EQ(names[0], "connection_succeeded") << "peer " << p.id << ":" << p.log();
      EXPECT_EQ(connected[0], 1) << "peer " << p.id << ":" << p.log();
    }
  }

  // The server (peer 1) leaves: every other peer sees peer_disconnected(1), server_disconnected.
  peers[0].child->closeStdin();
  EXPECT_EQ(peers[0].child->wait(30s), std::optional<int>(0)) << peers[0].log();
  ASSERT_TRUE(readUntil(
      peers,
      [&] {
        for (std::size_t i = 1; i < peers.size(); ++i)
          if (peers[i].events("server_disconnected").empty()) return false;
        return true;
      },
      60s))
      << "server_disconnected missing";
  for (std::size_t i = 1; i < peers.size(); ++i) {
    std::vector<json> l;
    for (auto& line : peers[i].lines)
      if (line.value("event", "") != "diagnostic") l.push_back(line);
    ASSERT_GE(l.size(), 2u);
    EXPECT_EQ(l[l.size() - 2], (json{{"event", "peer_disconnected"}, {"peer", 1}}))
        << peers[i].log();
    EXPECT_EQ(l.back(), (json{{"event", "server_disconnected"}})) << peers[i].log();
  }
  for (std::size_t i = 1; i < peers.size(); ++i) {
    peers[i].child->closeStdin();
    EXPECT_EQ(peers[i].child->wait(30s), std::optional<int>(0)) << peers[i].log();
  }
}

}  // namespace

TEST(ProcessMesh, FourPeersEachInItsOwnProcessThroughNpmPeerServer) {
  runFourProcesses(SignalServer::Kind::NpmPeer);
}

TEST(ProcessMesh, FourPeersEachInItsOwnProcessThroughClaynetSignal) {
  runFourProcesses(SignalServer::Kind::ClaynetSignal);
}
