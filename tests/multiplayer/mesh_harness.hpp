// In-process meshes for the multiplayer tests: signaling is handed across directly.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "claynet/multiplayer_mesh.hpp"

namespace claynet::test {

inline Configuration loopback() {
  Configuration c;
  c.localAddresses = {"127.0.0.1"};
  return c;
}

/// One mesh with the events it produced so far (from poll()'s result and from the callbacks,
/// which must agree).
struct Node {
  Node(Runtime& rt, int id, bool serverCompat = false) : runtime(rt), mesh(rt), id(id) {
    EXPECT_TRUE(mesh.initialize(id, serverCompat));
    mesh.onConnectionSucceeded([this] {
      viaCallbacks.push_back({MeshEvent::Type::ConnectionSucceeded, 1});
    });
    mesh.onPeerConnected([this](int p) {
      viaCallbacks.push_back({MeshEvent::Type::PeerConnected, p});
    });
    mesh.onPeerDisconnected([this](int p) {
      viaCallbacks.push_back({MeshEvent::Type::PeerDisconnected, p});
    });
    mesh.onServerDisconnected([this] {
      viaCallbacks.push_back({MeshEvent::Type::ServerDisconnected, 1});
    });
  }

  void poll() {
    for (auto& e : mesh.poll()) events.push_back(e);
    EXPECT_EQ(events, viaCallbacks) << "poll() and the callbacks disagree on node " << id;
  }

  /// Every packet available now, appended to `received`.
  void drain() {
    MeshPacket p;
    while (mesh.getAvailablePacketCount() > 0) {
      int peer = mesh.getPacketPeer();
      TransferMode mode = mesh.getPacketMode();
      ASSERT_TRUE(mesh.getPacket(p));
      EXPECT_EQ(p.peerId, peer);
      EXPECT_EQ(p.mode, mode);
      received.push_back(std::move(p));
    }
  }

  bool connectedTo(int peer) const {
    auto p = mesh.getPeer(peer);
    return p && p->connected;
  }

  std::size_t countEvents(MeshEvent::Type type) const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.type == type;
    return n;
  }

  Runtime& runtime;
  MultiplayerMesh mesh;
  int id;
  std::vector<MeshEvent> events, viaCallbacks;
  std::vector<MeshPacket> received;
};

/// Polls every node until `done` holds or `timeout` passes; returns `done()`.
inline bool pumpUntil(const std::vector<Node*>& nodes, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (Node* n : nodes) {
      n->poll();
      n->drain();
    }
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

/// The two connections of one link, kept so a test can look at or break them.
struct Link {
  std::shared_ptr<PeerConnection> a, b;
};

/// Creates a connection on each side, adds both to their meshes and starts negotiation: the
/// lower id offers (Godot's usual convention), descriptions and candidates are handed across.
inline Link link(Node& x, Node& y, int lifetime = 1, Configuration cx = loopback(),
                 Configuration cy = loopback()) {
  Link l{std::make_shared<PeerConnection>(x.runtime, cx),
         std::make_shared<PeerConnection>(y.runtime, cy)};
  std::weak_ptr<PeerConnection> wa = l.a, wb = l.b;
  l.a->onLocalDescription([wb](const Description& d) {
    if (auto p = wb.lock()) {
      Result r = p->setRemoteDescription(d);
      EXPECT_TRUE(r || p->state() == PeerState::Closed) << r.error();
    }
  });
  l.b->onLocalDescription([wa](const Description& d) {
    if (auto p = wa.lock()) {
      Result r = p->setRemoteDescription(d);
      EXPECT_TRUE(r || p->state() == PeerState::Closed) << r.error();
    }
  });
  l.a->onLocalCandidate([wb](const Candidate& c) {
    if (auto p = wb.lock()) (void)p->addRemoteCandidate(c);
  });
  l.b->onLocalCandidate([wa](const Candidate& c) {
    if (auto p = wa.lock()) (void)p->addRemoteCandidate(c);
  });
  Result rx = x.mesh.addPeer(l.a, y.id, lifetime);
  Result ry = y.mesh.addPeer(l.b, x.id, lifetime);
  EXPECT_TRUE(rx) << rx.error();
  EXPECT_TRUE(ry) << ry.error();
  Result offer = x.id < y.id ? l.a->createOffer() : l.b->createOffer();
  EXPECT_TRUE(offer) << offer.error();
  return l;
}

inline std::string describe(const std::vector<MeshEvent>& events) {
  std::string s;
  for (const auto& e : events)
    s += std::string(s.empty() ? "" : ", ") + toString(e.type) + "(" + std::to_string(e.peerId) +
         ")";
  return "[" + s + "]";
}

}  // namespace claynet::test
