// Label `multiplayer`: MeshSignaling in one process against the real npm `peer` server.
#include <gtest/gtest.h>

#include "mesh_harness.hpp"
#include "process.hpp"

using namespace claynet;
using namespace claynet::test;
using namespace std::chrono_literals;

namespace {

constexpr uint16_t kPort = 9001;

MeshSignalingOptions optionsFor(const std::string& meshName) {
  MeshSignalingOptions o;
  o.server.host = "127.0.0.1";
  o.server.port = kPort;
  o.server.secure = false;
  o.meshName = meshName;
  o.configuration = loopback();
  o.unreliableLifetime = 60000;
  return o;
}

// A mesh node with its signaling helper; errors are collected.
struct SignaledNode {
  SignaledNode(Runtime& rt, int id, const std::string& meshName, bool serverCompat = false)
      : node(rt, id, serverCompat), signaling(node.mesh) {
    signaling.onError([this](int peer, const std::string& m) {
      errors.push_back(std::to_string(peer) + ": " + m);
    });
    signaling.onOpen([this] { ++opened; });
    Result r = signaling.start(optionsFor(meshName));
    EXPECT_TRUE(r) << r.error();
  }
  Node node;
  MeshSignaling signaling;
  std::vector<std::string> errors;
  int opened = 0;
};

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += x + "\n";
  return s;
}

}  // namespace

TEST(MeshSignaling, FullMeshOfFourFromIdsAndAServer) {
  auto server = SignalServer::start(SignalServer::Kind::NpmPeer, kPort, 1000);
  ASSERT_TRUE(server);
  Runtime rt;
  std::vector<std::unique_ptr<SignaledNode>> nodes;
  const std::vector<int> ids = {1, 2, 3, 4};
  for (int id : ids) {
    nodes.push_back(std::make_unique<SignaledNode>(rt, id, "lobby"));
    ASSERT_TRUE(nodes.back()->signaling.connectTo(ids));
  }
  std::vector<Node*> all;
  for (auto& n : nodes) all.push_back(&n->node);
  auto full = [&] {
    for (auto& a : nodes)
      for (int id : ids)
        if (id != a->node.id && !a->node.connectedTo(id)) return false;
    return true;
  };
  ASSERT_TRUE(pumpUntil(all, full, 60s));
  for (auto& n : nodes) {
    EXPECT_EQ(n->node.events.size(), 3u) << describe(n->node.events);
    EXPECT_TRUE(n->errors.empty()) << joined(n->errors);
    EXPECT_EQ(n->signaling.signalingState(), PeerJsSignalingState::Open);
    EXPECT_EQ(n->opened, 1);
  }
  EXPECT_EQ(nodes[0]->signaling.peerJsId(3), "lobby-3");

  // A broadcast from everyone reaches everyone.
  for (auto& n : nodes)
    ASSERT_TRUE(n->node.mesh.putPacket("hi from " + std::to_string(n->node.id)));
  ASSERT_TRUE(pumpUntil(all, [&] {
    for (auto& n : nodes)
      if (n->node.received.size() < 3) return false;
    return true;
  }));

  // Peer 2 restarts (a new process would do the same): a fresh mesh with the same id. Peer 1,
  // which offers to 2, asks for it again when it sees 2 leave; 3 and 4 take 2's new offers.
  nodes[0]->node.mesh.onPeerDisconnected([&](int id) {
    nodes[0]->node.viaCallbacks.push_back({MeshEvent::Type::PeerDisconnected, id});
    EXPECT_TRUE(nodes[0]->signaling.connectTo(id));
  });
  nodes[1].reset();
  all.erase(all.begin() + 1);
  ASSERT_TRUE(pumpUntil(
      all,
      [&] {
        for (Node* n : all)
          if (n->mesh.hasPeer(2) && n->connectedTo(2)) return false;
        return true;
      },
      60s));
  // The old registration of "lobby-2" goes when its WebSocket closes; until then the server
  // would refuse the id, so wait for that before starting the new peer 2.
  nodes[1] = std::make_unique<SignaledNode>(rt, 2, "lobby");
  all.insert(all.begin() + 1, &nodes[1]->node);
  ASSERT_TRUE(nodes[1]->signaling.connectTo(ids));
  ASSERT_TRUE(pumpUntil(all, full, 60s)) << joined(nodes[1]->errors);
  EXPECT_EQ(nodes[1]->node.events.size(), 3u) << describe(nodes[1]->node.events);
  for (auto& n : nodes) EXPECT_TRUE(n->errors.empty()) << joined(n->errors);
}

TEST(MeshSignaling, Errors) {
  Runtime rt;
  {
    MultiplayerMesh mesh(rt);
    MeshSignaling s(mesh);
    Result r = s.start(optionsFor("x"));
    EXPECT_FALSE(r);
    EXPECT_NE(r.error().find("initialize the mesh first"), std::string::npos) << r.error();
    r = s.connectTo(2);
    EXPECT_NE(r.error().find("start() first"), std::string::npos) << r.error();
  }
  {
    Runtime direct(Runtime::Options{Delivery::NetworkThread});
    MultiplayerMesh mesh(direct);
    ASSERT_TRUE(mesh.initialize(1));
    MeshSignaling s(mesh);
    Result r = s.start(optionsFor("x"));
    EXPECT_NE(r.error().find("Delivery::Poll"), std::string::npos) << r.error();
  }
  {
    MultiplayerMesh mesh(rt);
    ASSERT_TRUE(mesh.initialize(1));
    MeshSignaling s(mesh);
    auto o = optionsFor("not a valid name!");
    Result r = s.start(o);
    EXPECT_FALSE(r);
    o = optionsFor("x");
    o.unreliableLifetime = 70000;
    EXPECT_FALSE(s.start(o));
    ASSERT_TRUE(s.start(optionsFor("x")));
    EXPECT_NE(s.start(optionsFor("x")).error().find("already started"), std::string::npos);
    EXPECT_NE(s.connectTo(1).error().find("own id"), std::string::npos);
    EXPECT_NE(s.connectTo(0).error().find("out of range"), std::string::npos);
    EXPECT_NE(s.connectTo(-4).error().find("out of range"), std::string::npos);
    ASSERT_TRUE(s.connectTo(2));
    EXPECT_NE(s.connectTo(2).error().find("already in the mesh"), std::string::npos);
    s.stop();
    s.stop();
    EXPECT_TRUE(mesh.hasPeer(2)) << "stop() leaves the mesh's peers alone";
  }
}

TEST(MeshSignaling, TakenIdIsReported) {
  auto server = SignalServer::start(SignalServer::Kind::NpmPeer, kPort, 1000);
  ASSERT_TRUE(server);
  Runtime rt;
  SignaledNode first(rt, 1, "dup");
  ASSERT_TRUE(pumpUntil({&first.node}, [&] { return first.opened == 1; }));
  SignaledNode second(rt, 1, "dup");
  ASSERT_TRUE(pumpUntil({&first.node, &second.node}, [&] { return !second.errors.empty(); }));
  EXPECT_NE(second.errors[0].find("0: unavailable-id"), std::string::npos) << joined(second.errors);
  EXPECT_EQ(second.opened, 0);
}
