// A full mesh of three peers in one process, with Godot's WebRTCMultiplayerPeer semantics.
#include <chrono>
#include <claynet/multiplayer_mesh.hpp>
#include <cstdio>
#include <memory>
#include <vector>

using namespace claynet;

// Hands descriptions and candidates across: the signaling a game does through its own server
// (or with claynet::MeshSignaling and a PeerJS server).
void wire(const std::shared_ptr<PeerConnection>& from, const std::shared_ptr<PeerConnection>& to) {
  std::weak_ptr<PeerConnection> other = to;  // weak: the two must not keep each other alive
  from->onLocalDescription([other](const Description& d) {
    if (auto pc = other.lock()) (void)pc->setRemoteDescription(d);
  });
  from->onLocalCandidate([other](const Candidate& c) {
    if (auto pc = other.lock()) (void)pc->addRemoteCandidate(c);
  });
}

int main() {
  Runtime runtime;
  Configuration config;
  config.localAddresses = {"127.0.0.1"};  // stay on this machine

  std::vector<std::unique_ptr<MultiplayerMesh>> meshes;
  for (int id = 1; id <= 3; ++id) {
    meshes.push_back(std::make_unique<MultiplayerMesh>(runtime));
    if (auto r = meshes.back()->initialize(id); !r) std::printf("%s\n", r.error().c_str());
  }

  // One connection per pair. addPeer() creates the three channels while the connection is new;
  // then the lower id offers.
  for (int a = 0; a < 3; ++a) {
    for (int b = a + 1; b < 3; ++b) {
      auto offerer = std::make_shared<PeerConnection>(runtime, config);
      auto answerer = std::make_shared<PeerConnection>(runtime, config);
      wire(offerer, answerer);
      wire(answerer, offerer);
      (void)meshes[a]->addPeer(offerer, b + 1);
      (void)meshes[b]->addPeer(answerer, a + 1);
      (void)offerer->createOffer();
    }
  }

  int connected = 0, received = 0;
  for (int frame = 0; frame < 1000 && received < 7; ++frame) {  // a game's frame loop
    runtime.waitAndPoll(std::chrono::milliseconds(10));
    for (auto& mesh : meshes) {
      for (const MeshEvent& e : mesh->poll()) {
        std::printf("peer %d: %s(%d)\n", mesh->uniqueId(), toString(e.type), e.peerId);
        if (e.type == MeshEvent::Type::PeerConnected) ++connected;
      }
      while (mesh->getAvailablePacketCount() > 0) {
        int from = mesh->getPacketPeer();
        std::string packet;
        (void)mesh->getPacket(packet);
        std::printf("peer %d got '%s' from %d\n", mesh->uniqueId(), packet.c_str(), from);
        ++received;
      }
    }
    if (connected == 6) {  // every peer sees the two others: say hello once
      connected = -1;
      for (auto& mesh : meshes) {
        mesh->setTargetPeer(MultiplayerMesh::kTargetPeerBroadcast);
        (void)mesh->putPacket("hello from " + std::to_string(mesh->uniqueId()));
      }
      meshes[0]->setTargetPeer(3);  // only peer 3 (-3 would be everyone but 3)
      meshes[0]->setTransferMode(TransferMode::Reliable);  // the default; or Unreliable(Ordered)
      if (auto r = meshes[0]->putPacket("just for 3"); !r) std::printf("%s\n", r.error().c_str());
    }
  }
  return received == 7 ? 0 : 1;
}
