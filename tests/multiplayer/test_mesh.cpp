// Label `multiplayer`: MultiplayerMesh in one process (signaling handed across directly).
#include <gtest/gtest.h>

#include <climits>
#include <map>
#include <set>

#include "mesh_harness.hpp"

using namespace claynet;
using namespace claynet::test;
using Type = MeshEvent::Type;

namespace {

// Unreliable channels with a long lifetime, so that nothing is abandoned on a busy machine in the
// tests that count on delivery (the lifetime itself is tested under loss in test_lifetime.cpp).
constexpr int kPatient = 60000;

std::vector<std::unique_ptr<Node>> makeNodes(std::vector<std::unique_ptr<Runtime>>& runtimes,
                                             int count, bool serverCompat = false) {
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 1; i <= count; ++i) {
    runtimes.push_back(std::make_unique<Runtime>());
    nodes.push_back(std::make_unique<Node>(*runtimes.back(), i, serverCompat));
  }
  return nodes;
}

std::vector<Node*> raw(const std::vector<std::unique_ptr<Node>>& nodes) {
  std::vector<Node*> out;
  for (auto& n : nodes) out.push_back(n.get());
  return out;
}

// Every node connected to every other one.
bool fullyConnected(const std::vector<std::unique_ptr<Node>>& nodes) {
  for (auto& a : nodes)
    for (auto& b : nodes)
      if (a != b && !a->connectedTo(b->id)) return false;
  return true;
}

// Packets that `node` got from `from` with this data.
std::size_t count(const Node& node, int from, const std::string& data) {
  std::size_t n = 0;
  for (const auto& p : node.received) n += p.peerId == from && p.data == data;
  return n;
}

// Sends `marker` reliably from `from` to everyone and waits until all have it: since packets of
// one transfer mode travel in one ordered channel, whatever `from` sent reliably before has
// arrived by then, or never will.
void flushReliable(std::vector<std::unique_ptr<Node>>& nodes, Node& from,
                   const std::string& marker) {
  from.mesh.setTransferMode(TransferMode::Reliable);
  from.mesh.setTargetPeer(MultiplayerMesh::kTargetPeerBroadcast);
  ASSERT_TRUE(from.mesh.putPacket(marker));
  ASSERT_TRUE(pumpUntil(raw(nodes), [&] {
    for (auto& n : nodes)
      if (n.get() != &from && count(*n, from.id, marker) == 0) return false;
    return true;
  }));
}

}  // namespace

TEST(Mesh, FullMeshOfFourInOneProcess) {
  std::vector<std::unique_ptr<Runtime>> runtimes;
  auto nodes = makeNodes(runtimes, 4);
  std::vector<Link> links;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (std::size_t j = i + 1; j < nodes.size(); ++j)
      links.push_back(link(*nodes[i], *nodes[j], kPatient));
  ASSERT_TRUE(pumpUntil(raw(nodes), [&] { return fullyConnected(nodes); }));

  for (auto& n : nodes) {
    // Without server compatibility: connected from the start, one peer_connected per peer.
    EXPECT_EQ(n->mesh.connectionStatus(), ConnectionStatus::Connected);
    EXPECT_EQ(n->countEvents(Type::PeerConnected), 3u) << describe(n->events);
    EXPECT_EQ(n->events.size(), 3u) << describe(n->events);
    EXPECT_EQ(n->mesh.getPeers().size(), 3u);
    std::set<int> announced;
    for (auto& e : n->events) announced.insert(e.peerId);
    EXPECT_EQ(announced.size(), 3u);
    EXPECT_FALSE(announced.count(n->id));
  }

  // A broadcast in every transfer mode from every node reaches every other node exactly once.
  const TransferMode modes[] = {TransferMode::Reliable, TransferMode::UnreliableOrdered,
                                TransferMode::Unreliable};
  for (auto& n : nodes) {
    n->mesh.setTargetPeer(MultiplayerMesh::kTargetPeerBroadcast);
    for (TransferMode m : modes) {
      n->mesh.setTransferMode(m);
      std::string data = std::string("from ") + std::to_string(n->id) + " " + toString(m);
      ASSERT_TRUE(n->mesh.putPacket(data));
    }
  }
  ASSERT_TRUE(pumpUntil(raw(nodes), [&] {
    for (auto& n : nodes)
      if (n->received.size() < 9) return false;
    return true;
  }));
  for (auto& n : nodes) {
    EXPECT_EQ(n->received.size(), 9u);
    for (auto& other : nodes) {
      if (other == n) continue;
      for (TransferMode m : modes) {
        std::string data = std::string("from ") + std::to_string(other->id) + " " + toString(m);
        EXPECT_EQ(count(*n, other->id, data), 1u) << "node " << n->id << " missing " << data;
      }
    }
    for (auto& p : n->received) {
      // The packet itself says which mode it was sent in; the mesh must report the same.
      EXPECT_NE(p.data.find(toString(p.mode)), std::string::npos) << p.data;
    }
  }
}

TEST(Mesh, ChannelsAreNegotiatedWithTheLifetimeApplied) {
  Runtime rt;
  Node a(rt, 1), b(rt, 2);
  auto l = link(a, b, 7);
  ASSERT_TRUE(pumpUntil({&a, &b}, [&] { return a.connectedTo(2) && b.connectedTo(1); }));
  for (Node* n : {&a, &b}) {
    auto peer = n->mesh.getPeer(n->id == 1 ? 2 : 1);
    ASSERT_TRUE(peer);
    EXPECT_EQ(peer->connection, n->id == 1 ? l.a : l.b);
    EXPECT_TRUE(peer->connected);
    const char* labels[] = {"reliable", "ordered", "unreliable"};
    for (int i = 0; i < 3; ++i) {
      auto& ch = peer->channels[i];
      ASSERT_TRUE(ch);
      EXPECT_EQ(ch->label(), labels[i]);
      EXPECT_EQ(ch->id(), std::optional<uint16_t>(i + 1));
      EXPECT_TRUE(ch->negotiated());
      EXPECT_TRUE(ch->isOpen());
      EXPECT_FALSE(ch->maxRetransmits());
    }
    EXPECT_TRUE(peer->channels[0]->ordered());
    EXPECT_FALSE(peer->channels[0]->maxPacketLifeTime());
    EXPECT_TRUE(peer->channels[1]->ordered());
    EXPECT_EQ(peer->channels[1]->maxPacketLifeTime(), std::optional<uint16_t>(7));
    EXPECT_FALSE(peer->channels[2]->ordered());
    EXPECT_EQ(peer->channels[2]->maxPacketLifeTime(), std::optional<uint16_t>(7));
  }
  // Packets carry no header: the channel carries exactly the packet's bytes.
  a.mesh.setTargetPeer(2);
  ASSERT_TRUE(a.mesh.putPacket("abc"));
  ASSERT_TRUE(pumpUntil({&a, &b}, [&] { return b.received.size() == 1; }));
  EXPECT_EQ(b.received[0].data, "abc");
  EXPECT_EQ(b.received[0].peerId, 1);
  EXPECT_EQ(b.received[0].mode, TransferMode::Reliable);
  EXPECT_EQ(b.mesh.getPeer(1)->channels[0]->counters().bytesReceived, 3u);
  EXPECT_EQ(a.mesh.getPeer(2)->channels[0]->counters().bytesSent, 3u);

  // The default lifetime is Godot's 1 ms.
  Node c(rt, 3);
  auto l2 = std::make_shared<PeerConnection>(rt, loopback());
  ASSERT_TRUE(c.mesh.addPeer(l2, 9));
  EXPECT_EQ(c.mesh.getPeer(9)->channels[1]->maxPacketLifeTime(), std::optional<uint16_t>(1));
  EXPECT_FALSE(c.mesh.getPeer(9)->connected);
  EXPECT_TRUE(c.mesh.hasPeer(9));
  EXPECT_FALSE(c.mesh.hasPeer(8));
}

TEST(Mesh, TargetedSendsAndAllExcept) {
  std::vector<std::unique_ptr<Runtime>> runtimes;
  auto nodes = makeNodes(runtimes, 4);
  std::vector<Link> links;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (std::size_t j = i + 1; j < nodes.size(); ++j)
      links.push_back(link(*nodes[i], *nodes[j], kPatient));
  ASSERT_TRUE(pumpUntil(raw(nodes), [&] { return fullyConnected(nodes); }));
  Node& one = *nodes[0];
  one.mesh.setTransferMode(TransferMode::Reliable);

  one.mesh.setTargetPeer(3);
  EXPECT_EQ(one.mesh.targetPeer(), 3);
  ASSERT_TRUE(one.mesh.putPacket("to three"));
  one.mesh.setTargetPeer(-2);
  ASSERT_TRUE(one.mesh.putPacket("all but two"));
  one.mesh.setTargetPeer(-1);  // excluding oneself excludes nobody else
  ASSERT_TRUE(one.mesh.putPacket("all but one"));
  one.mesh.setTargetPeer(INT_MIN);  // -INT_MIN is no peer id: everyone
  ASSERT_TRUE(one.mesh.putPacket("all but nobody"));
  flushReliable(nodes, one, "end");

  EXPECT_EQ(count(*nodes[2], 1, "to three"), 1u);
  EXPECT_EQ(count(*nodes[1], 1, "to three"), 0u);
  EXPECT_EQ(count(*nodes[3], 1, "to three"), 0u);
  EXPECT_EQ(count(*nodes[1], 1, "all but two"), 0u);
  EXPECT_EQ(count(*nodes[2], 1, "all but two"), 1u);
  EXPECT_EQ(count(*nodes[3], 1, "all but two"), 1u);
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ(count(*nodes[i], 1, "all but one"), 1u);
    EXPECT_EQ(count(*nodes[i], 1, "all but nobody"), 1u);
  }
  EXPECT_TRUE(one.received.empty());
  // Reliable packets from one sender arrive in the order sent.
  std::vector<std::string> atThree;
  for (auto& p : nodes[2]->received) atThree.push_back(p.data);
  EXPECT_EQ(atThree, (std::vector<std::string>{"to three", "all but two", "all but one",
                                               "all but nobody", "end"}));

  // Binary bytes go through untouched, including zeros and an empty packet.
  std::vector<std::byte> bytes = {std::byte{0}, std::byte{0xff}, std::byte{0}, std::byte{7}};
  one.mesh.setTargetPeer(4);
  ASSERT_TRUE(one.mesh.putPacket(std::span<const std::byte>(bytes)));
  ASSERT_TRUE(one.mesh.putPacket(std::string_view()));
  ASSERT_TRUE(pumpUntil(raw(nodes), [&] { return nodes[3]->received.size() >= 6; }));
  auto& got = nodes[3]->received;
  ASSERT_EQ(got.size(), 6u);
  EXPECT_TRUE(std::equal(got[4].bytes().begin(), got[4].bytes().end(), bytes.begin(), bytes.end()));
  EXPECT_TRUE(got[5].data.empty());
}

TEST(Mesh, LifecycleWithoutServerCompatibility) {
  Runtime rt;
  Node a(rt, 5), b(rt, 9), c(rt, 1);
  EXPECT_EQ(a.mesh.connectionStatus(), ConnectionStatus::Connected);
  EXPECT_EQ(a.mesh.uniqueId(), 5);
  EXPECT_FALSE(a.mesh.serverCompatibility());
  auto ab = link(a, b);
  auto ac = link(a, c);
  ASSERT_TRUE(pumpUntil({&a, &b, &c}, [&] { return a.connectedTo(9) && a.connectedTo(1); }));
  ASSERT_TRUE(
      pumpUntil({&a, &b, &c}, [&] { return b.events.size() == 1 && c.events.size() == 1; }));
  EXPECT_EQ(b.events, (std::vector<MeshEvent>{{Type::PeerConnected, 5}}));
  EXPECT_EQ(c.events, (std::vector<MeshEvent>{{Type::PeerConnected, 5}}));
  EXPECT_EQ(a.countEvents(Type::PeerConnected), 2u);
  EXPECT_EQ(a.events.size(), 2u) << describe(a.events);

  // Removing a peer announces it gone on this side; the other side sees its connection close.
  ASSERT_TRUE(a.mesh.removePeer(9));
  EXPECT_EQ(a.viaCallbacks.back(), (MeshEvent{Type::PeerDisconnected, 9}));  // at once
  EXPECT_FALSE(a.mesh.hasPeer(9));
  EXPECT_EQ(ab.a->state(), PeerState::Closed);
  ASSERT_TRUE(pumpUntil({&a, &b, &c}, [&] { return !b.mesh.hasPeer(5); }));
  EXPECT_EQ(b.events,
            (std::vector<MeshEvent>{{Type::PeerConnected, 5}, {Type::PeerDisconnected, 5}}));
  EXPECT_EQ(a.mesh.connectionStatus(), ConnectionStatus::Connected);

  // A peer whose connection fails or closes is removed by poll(); peer 1 is nobody special here.
  c.mesh.close();
  ASSERT_TRUE(pumpUntil({&a, &b, &c}, [&] { return !a.mesh.hasPeer(1); }));
  EXPECT_EQ(a.events.back(), (MeshEvent{Type::PeerDisconnected, 1}));
  EXPECT_EQ(a.countEvents(Type::ServerDisconnected), 0u);
  EXPECT_EQ(a.countEvents(Type::ConnectionSucceeded), 0u);
  EXPECT_EQ(a.mesh.connectionStatus(), ConnectionStatus::Connected);
  EXPECT_TRUE(c.events.size() == 1) << "close() fires no event: " << describe(c.events);

  // A peer removed before it connected was never announced, so nothing fires for it.
  auto lone = std::make_shared<PeerConnection>(rt, loopback());
  ASSERT_TRUE(a.mesh.addPeer(lone, 77));
  std::size_t before = a.events.size();
  ASSERT_TRUE(a.mesh.removePeer(77));
  a.poll();
  EXPECT_EQ(a.events.size(), before);
}

TEST(Mesh, LifecycleWithServerCompatibility) {
  Runtime rt;
  Node server(rt, 1), client(rt, 3, true), other(rt, 2), late(rt, 4), early(rt, 6);
  EXPECT_EQ(client.mesh.connectionStatus(), ConnectionStatus::Connecting);
  EXPECT_TRUE(client.mesh.serverCompatibility());
  std::vector<Node*> all = {&server, &client, &other, &late, &early};

  // Peers that connect before the server are held back.
  auto l2 = link(client, other);
  auto l6 = link(client, early);
  ASSERT_TRUE(pumpUntil(all, [&] { return client.connectedTo(2) && client.connectedTo(6); }));
  client.poll();
  EXPECT_TRUE(client.events.empty()) << describe(client.events);
  EXPECT_EQ(client.mesh.connectionStatus(), ConnectionStatus::Connecting);

  // One of them goes before the server came: it was never announced, so no peer_disconnected.
  early.mesh.close();
  ASSERT_TRUE(pumpUntil(all, [&] { return !client.mesh.hasPeer(6); }));
  EXPECT_TRUE(client.events.empty()) << describe(client.events);

  // The server connects: connection_succeeded, then the server and the peers already there.
  auto l1 = link(client, server);
  ASSERT_TRUE(pumpUntil(
      all, [&] { return client.mesh.connectionStatus() == ConnectionStatus::Connected; }));
  EXPECT_EQ(client.events, (std::vector<MeshEvent>{{Type::ConnectionSucceeded, 1},
                                                   {Type::PeerConnected, 1},
                                                   {Type::PeerConnected, 2}}));

  // A peer that connects later is announced as it comes.
  auto l4 = link(client, late);
  ASSERT_TRUE(pumpUntil(all, [&] { return client.events.size() == 4; }));
  EXPECT_EQ(client.events.back(), (MeshEvent{Type::PeerConnected, 4}));

  // The server drops: peer_disconnected(1), server_disconnected, and the status is disconnected.
  server.mesh.close();
  ASSERT_TRUE(pumpUntil(all, [&] { return client.events.size() == 6; }));
  EXPECT_EQ(client.events[4], (MeshEvent{Type::PeerDisconnected, 1}));
  EXPECT_EQ(client.events[5], (MeshEvent{Type::ServerDisconnected, 1}));
  EXPECT_EQ(client.mesh.connectionStatus(), ConnectionStatus::Disconnected);

  // Peers announced before still report their departure.
  other.mesh.close();
  ASSERT_TRUE(pumpUntil(all, [&] { return client.events.size() == 7; }));
  EXPECT_EQ(client.events.back(), (MeshEvent{Type::PeerDisconnected, 2}));

  // The server coming back (a new connection for id 1) makes the mesh connected again, and the
  // peers still there are not announced twice.
  ASSERT_TRUE(server.mesh.initialize(1));
  auto l1b = link(client, server);
  ASSERT_TRUE(pumpUntil(
      all, [&] { return client.mesh.connectionStatus() == ConnectionStatus::Connected; }));
  EXPECT_EQ(std::vector<MeshEvent>(client.events.begin() + 7, client.events.end()),
            (std::vector<MeshEvent>{{Type::ConnectionSucceeded, 1}, {Type::PeerConnected, 1}}));

  // Removing the server by hand is a server disconnection too.
  ASSERT_TRUE(client.mesh.removePeer(1));
  client.poll();
  EXPECT_EQ(std::vector<MeshEvent>(client.events.end() - 2, client.events.end()),
            (std::vector<MeshEvent>{{Type::PeerDisconnected, 1}, {Type::ServerDisconnected, 1}}));
}

TEST(Mesh, Errors) {
  Runtime rt;
  MultiplayerMesh mesh(rt);
  auto expectError = [](const Result& r, const std::string& part) {
    EXPECT_FALSE(r);
    EXPECT_NE(r.error().find(part), std::string::npos) << r.error();
  };
  auto pc = std::make_shared<PeerConnection>(rt, loopback());

  // Not initialized yet.
  EXPECT_EQ(mesh.connectionStatus(), ConnectionStatus::Disconnected);
  EXPECT_EQ(mesh.uniqueId(), 0);
  expectError(mesh.addPeer(pc, 2), "not initialized");
  expectError(mesh.putPacket("x"), "not initialized");

  // Invalid ids.
  expectError(mesh.initialize(0), "1..2147483647");
  expectError(mesh.initialize(-5), "out of range");
  expectError(mesh.initialize(INT_MIN), "out of range");
  ASSERT_TRUE(mesh.initialize(INT_MAX));
  EXPECT_EQ(mesh.uniqueId(), INT_MAX);
  expectError(mesh.initialize(3), "already initialized");
  expectError(mesh.addPeer(pc, 0), "out of range");
  expectError(mesh.addPeer(pc, -1), "out of range");
  expectError(mesh.addPeer(pc, INT_MAX), "own id");
  expectError(mesh.addPeer(nullptr, 2), "null");
  expectError(mesh.addPeer(pc, 2, -1), "lifetime");
  expectError(mesh.addPeer(pc, 2, 65536), "lifetime");
  EXPECT_FALSE(mesh.hasPeer(2)) << "a refused peer must leave nothing behind";

  // A duplicate id.
  ASSERT_TRUE(mesh.addPeer(pc, 2));
  expectError(mesh.addPeer(std::make_shared<PeerConnection>(rt, loopback()), 2), "already");
  // The same connection twice: its channel ids 1..3 are taken.
  expectError(mesh.addPeer(pc, 3), "cannot create channel");
  EXPECT_FALSE(mesh.hasPeer(3));

  // Connections that are not new: closed, or already negotiating.
  auto closed = std::make_shared<PeerConnection>(rt, loopback());
  closed->close();
  expectError(mesh.addPeer(closed, 4), "closed; it must be new");
  auto offerer = std::make_shared<PeerConnection>(rt, loopback());
  auto answerer = std::make_shared<PeerConnection>(rt, loopback());
  std::optional<Description> offer;
  offerer->onLocalDescription([&](const Description& d) { offer = d; });
  offerer->createDataChannel("x");
  ASSERT_TRUE(offerer->createOffer());
  ASSERT_TRUE(test::pumpUntil({}, [&] {
    rt.poll();
    return offer.has_value();
  }));
  ASSERT_TRUE(answerer->setRemoteDescription(*offer));
  expectError(mesh.addPeer(answerer, 5), "connecting; it must be new");

  // Sending to a peer that is not there, or not connected yet.
  mesh.setTargetPeer(42);
  expectError(mesh.putPacket("x"), "not in the mesh");
  mesh.setTargetPeer(2);
  expectError(mesh.putPacket("x"), "not connected yet");
  mesh.setTargetPeer(0);
  EXPECT_TRUE(mesh.putPacket("nobody is connected; a broadcast reaches nobody"));
  expectError(mesh.removePeer(42), "no peer 42");
  MeshPacket p;
  expectError(mesh.getPacket(p), "no packet");
  EXPECT_EQ(mesh.getPacketPeer(), 0);

  // After close(): clear errors, empty answers, no crash; initialize() works again.
  mesh.close();
  EXPECT_EQ(pc->state(), PeerState::Closed) << "close() closes the connections";
  mesh.close();
  EXPECT_EQ(mesh.uniqueId(), 0);
  EXPECT_EQ(mesh.connectionStatus(), ConnectionStatus::Disconnected);
  EXPECT_FALSE(mesh.hasPeer(2));
  EXPECT_FALSE(mesh.getPeer(2));
  EXPECT_TRUE(mesh.getPeers().empty());
  EXPECT_EQ(mesh.getAvailablePacketCount(), 0u);
  EXPECT_EQ(mesh.maxPacketSize(), 0u);
  EXPECT_EQ(mesh.maxPacketSize(2), 0u);
  EXPECT_TRUE(mesh.poll().empty());
  expectError(mesh.addPeer(std::make_shared<PeerConnection>(rt, loopback()), 2), "was closed");
  expectError(mesh.removePeer(2), "was closed");
  expectError(mesh.putPacket("x"), "was closed");
  expectError(mesh.getPacket(p), "was closed");
  std::string s;
  expectError(mesh.getPacket(s), "was closed");
  ASSERT_TRUE(mesh.initialize(2, true));
  EXPECT_EQ(mesh.connectionStatus(), ConnectionStatus::Connecting);
  EXPECT_TRUE(mesh.addPeer(std::make_shared<PeerConnection>(rt, loopback()), 1));
}

TEST(Mesh, PacketsLargerThanTheRemoteMaximumAreRefused) {
  Runtime rt;
  Node a(rt, 1), b(rt, 2), c(rt, 3);
  Configuration small = loopback(), large = loopback();
  small.maxMessageSize = 4096;
  large.maxMessageSize = 4 * 1024 * 1024;  // more than the transport sends in one message
  auto ab = link(a, b, kPatient, loopback(), small);
  auto ac = link(a, c, kPatient, loopback(), large);
  ASSERT_TRUE(pumpUntil({&a, &b, &c}, [&] { return a.connectedTo(2) && a.connectedTo(3); }));
  EXPECT_EQ(a.mesh.maxPacketSize(2), 4096u);
  EXPECT_EQ(a.mesh.maxPacketSize(3), 1024u * 1024u);
  EXPECT_EQ(a.mesh.maxPacketSize(), 4096u);  // broadcast: the smallest
  a.mesh.setTargetPeer(-2);
  EXPECT_EQ(a.mesh.maxPacketSize(), 1024u * 1024u);

  a.mesh.setTargetPeer(0);
  Result r = a.mesh.putPacket(std::string(4097, 'x'));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("4097"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("4096"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("peer 2"), std::string::npos) << r.error();
  ASSERT_TRUE(a.mesh.putPacket(std::string(4096, 'y')));

  a.mesh.setTargetPeer(3);
  std::string big(1024 * 1024, 'z');
  ASSERT_TRUE(a.mesh.putPacket(big));
  big.push_back('z');
  EXPECT_FALSE(a.mesh.putPacket(big));

  ASSERT_TRUE(
      pumpUntil({&a, &b, &c}, [&] { return b.received.size() == 1 && c.received.size() == 2; }));
  // The refused broadcast went to nobody, not even to peer 3 that could have taken it.
  EXPECT_EQ(b.received[0].data, std::string(4096, 'y'));
  EXPECT_EQ(c.received[0].data, std::string(4096, 'y'));
  EXPECT_EQ(c.received[1].data.size(), 1024u * 1024u);
}

TEST(Mesh, CallbacksMayRemovePeersAndCloseTheMesh) {
  Runtime rt;
  Node a(rt, 1), b(rt, 2), c(rt, 3);
  bool removed = false, closed = false;
  // The first peer to connect is removed from inside its own peer_connected; when the second one
  // connects the whole mesh is closed from inside the callback.
  a.mesh.onPeerConnected([&](int id) {
    a.viaCallbacks.push_back({Type::PeerConnected, id});
    if (!removed) {
      removed = true;
      ASSERT_TRUE(a.mesh.removePeer(id));
    } else if (!closed) {
      closed = true;
      a.mesh.close();
    }
  });
  auto ab = link(a, b);
  auto ac = link(a, c);
  ASSERT_TRUE(pumpUntil({&b, &c}, [&] {
    a.mesh.poll();
    return closed;
  }));
  EXPECT_EQ(a.mesh.connectionStatus(), ConnectionStatus::Disconnected);
  EXPECT_TRUE(a.mesh.getPeers().empty());
  EXPECT_EQ(ab.a->state(), PeerState::Closed);
  EXPECT_EQ(ac.a->state(), PeerState::Closed);
}

TEST(Mesh, WorksWithNetworkThreadDelivery) {
  Runtime rt(Runtime::Options{Delivery::NetworkThread});
  Node a(rt, 1), b(rt, 2);
  auto l = link(a, b, kPatient);
  ASSERT_TRUE(pumpUntil({&a, &b}, [&] { return a.connectedTo(2) && b.connectedTo(1); }));
  a.mesh.setTransferMode(TransferMode::Reliable);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(a.mesh.putPacket(std::to_string(i)));
  ASSERT_TRUE(pumpUntil({&a, &b}, [&] { return b.received.size() == 1000; }));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(b.received[i].data, std::to_string(i));
}

TEST(Mesh, DestroyingTheRuntimeFirstIsSafe) {
  auto rt = std::make_unique<Runtime>();
  auto a = std::make_unique<Node>(*rt, 1);
  auto b = std::make_unique<Node>(*rt, 2);
  auto l = link(*a, *b);
  ASSERT_TRUE(pumpUntil({a.get(), b.get()}, [&] { return a->connectedTo(2); }));
  rt.reset();  // closes every connection; the meshes must still close cleanly afterwards
  a.reset();
  b.reset();
}
