// claynet::MultiplayerMesh — a full mesh of peer connections with Godot's WebRTCMultiplayerPeer
// semantics: three negotiated channels per peer, targeted and broadcast packets, and the
// peer_connected / peer_disconnected / connection_succeeded / server_disconnected events.
// claynet::MeshSignaling — builds such a mesh through a PeerJS signaling server.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "claynet/data_channel.hpp"
#include "claynet/peer_connection.hpp"
#include "claynet/peerjs_signaling.hpp"
#include "claynet/result.hpp"
#include "claynet/runtime.hpp"

namespace claynet {

/// How putPacket() sends, named after Godot's TRANSFER_MODE_* (same order of values).
enum class TransferMode {
  Unreliable,         ///< channel 3 "unreliable": unordered, limited by the peer's lifetime
  UnreliableOrdered,  ///< channel 2 "ordered": ordered, limited by the peer's lifetime
  Reliable,           ///< channel 1 "reliable": ordered and reliable (the default)
};
const char* toString(TransferMode mode);  // "unreliable", "unreliable_ordered", "reliable"

/// The mesh's own status, as Godot's CONNECTION_* values.
enum class ConnectionStatus { Disconnected, Connecting, Connected };
const char* toString(ConnectionStatus status);  // "disconnected", "connecting", "connected"

/// Something that happened to the mesh, as Godot's signals.
struct MeshEvent {
  enum class Type {
    ConnectionSucceeded,  ///< server compatibility only: the server (peer 1) connected
    PeerConnected,        ///< peerId connected (all three channels open)
    PeerDisconnected,     ///< peerId, announced earlier by PeerConnected, is gone
    ServerDisconnected,   ///< server compatibility only: the server (peer 1) is gone
  };
  Type type = Type::PeerConnected;
  /// The peer concerned; 1 for ConnectionSucceeded and ServerDisconnected.
  int peerId = 0;
  bool operator==(const MeshEvent&) const = default;
};
const char* toString(MeshEvent::Type type);  // "connection_succeeded", "peer_connected", ...

/// One peer of the mesh, as Godot's get_peer() dictionary.
struct MeshPeer {
  std::shared_ptr<PeerConnection> connection;
  /// [0] id 1 "reliable", [1] id 2 "ordered", [2] id 3 "unreliable". They belong to the mesh:
  /// their onMessage is the mesh's (do not replace it, or packets stop arriving in the mesh).
  std::array<std::shared_ptr<DataChannel>, 3> channels;
  /// The connection is connected and all three channels are open (as of the last poll()).
  bool connected = false;
};

/// A received packet. Packets carry no header: the sender is the peer whose connection it came
/// on, and the mode is the channel's.
struct MeshPacket {
  int peerId = 0;
  TransferMode mode = TransferMode::Reliable;
  std::string data;
  std::span<const std::byte> bytes() const {
    return {reinterpret_cast<const std::byte*>(data.data()), data.size()};
  }
};

/// A mesh of PeerConnections, one per remote peer, with the semantics of Godot's
/// WebRTCMultiplayerPeer. The mesh does not signal: you create each connection, give it to
/// addPeer() while it is still new, and then exchange its offer/answer and candidates yourself
/// (or with MeshSignaling below). The mesh watches the connections, announces peers when they are
/// up, removes them when they fail or close, and moves packets.
///
/// Threading: use a MultiplayerMesh from one thread, the one that calls poll(); events (callbacks
/// and poll()'s result) happen on it. It works with either Runtime Delivery: received packets are
/// queued under a lock. Do not destroy the mesh from inside one of its callbacks.
class MultiplayerMesh {
 public:
  /// Godot's TARGET_PEER_BROADCAST and TARGET_PEER_SERVER.
  static constexpr int kTargetPeerBroadcast = 0;
  static constexpr int kTargetPeerServer = 1;

  /// `runtime` is the one the connections are created with; poll() runs its event queue.
  explicit MultiplayerMesh(Runtime& runtime);
  /// Closes the mesh (see close()).
  ~MultiplayerMesh();
  MultiplayerMesh(const MultiplayerMesh&) = delete;
  MultiplayerMesh& operator=(const MultiplayerMesh&) = delete;

  /// Starts the mesh with the own id, which must be in 1..2147483647.
  /// Without server compatibility the status is Connected at once and no ConnectionSucceeded
  /// event ever fires. With it the status is Connecting and PeerConnected events are held back
  /// until peer 1 (the server) connects; then ConnectionSucceeded fires, followed by
  /// PeerConnected for the server and every other peer already connected (in id order), and
  /// later for each peer that connects. If the server goes after that, PeerDisconnected(1) and
  /// ServerDisconnected fire and the status becomes Disconnected (until a server connects again).
  /// Fails on an id out of range, or when already initialized (close() first).
  Result initialize(int peerId, bool serverCompatibility = false);

  /// Closes every connection and channel, drops unread packets and pending events, and returns
  /// to the uninitialized state (initialize() may be called again). Fires no event. Idempotent.
  void close();

  /// Adds a peer. `connection` must be in state New (not offered, answered or closed yet); the
  /// mesh creates three negotiated channels on it: id 1 "reliable" (ordered, reliable), id 2
  /// "ordered" (ordered, maxPacketLifeTime = unreliableLifetime ms) and id 3 "unreliable"
  /// (unordered, same lifetime). Create the offer after this call, on the side that offers.
  /// The mesh keeps the connection; removePeer() and close() close it.
  /// Fails when not initialized, on a null or non-new connection, an id out of 1..2147483647,
  /// the mesh's own id, an id already in the mesh, a lifetime outside 0..65535, or when the
  /// connection refuses the channels (for example ids 1..3 already taken on it).
  Result addPeer(std::shared_ptr<PeerConnection> connection, int peerId,
                 int unreliableLifetime = 1);

  /// Removes a peer and closes its channels and connection. PeerDisconnected fires if
  /// PeerConnected had fired for it (and ServerDisconnected after it for the server in server
  /// compatibility). Packets already received from it stay readable.
  /// Fails when not initialized or when there is no such peer.
  Result removePeer(int peerId);

  /// Whether the peer is in the mesh (connected or not).
  bool hasPeer(int peerId) const;
  /// The peer's connection, channels and `connected`; empty when there is no such peer.
  std::optional<MeshPeer> getPeer(int peerId) const;
  /// Every peer, by id.
  std::map<int, MeshPeer> getPeers() const;

  /// Where putPacket() sends: 0 (kTargetPeerBroadcast) every connected peer, a positive id that
  /// peer, a negative id every connected peer except -id. Checked by putPacket(), not here.
  void setTargetPeer(int peerId);
  int targetPeer() const;
  void setTransferMode(TransferMode mode);
  TransferMode transferMode() const;

  /// Sends one packet (as a binary message, no header) on the current transfer mode's channel to
  /// the current target. A broadcast skips peers whose channel is not open yet, as Godot does.
  /// Fails when not initialized, when a single target is not in the mesh or not connected yet,
  /// or when the packet is larger than a target's maxPacketSize() (then nothing is sent at all).
  /// If the transport refuses the packet for some peers of a broadcast, the others still get it
  /// and the error names the peers that did not.
  Result putPacket(std::span<const std::byte> packet);
  Result putPacket(std::string_view packet);

  /// Packets received and not read yet, from all peers and channels, in order of arrival.
  std::size_t getAvailablePacketCount() const;
  /// The sender of the next packet (the one getPacket() returns); 0 when there is none.
  int getPacketPeer() const;
  /// The transfer mode (channel) of the next packet; Reliable when there is none.
  TransferMode getPacketMode() const;
  /// Takes the next packet. Fails when there is none or when not initialized.
  Result getPacket(std::string& data);
  Result getPacket(MeshPacket& packet);

  /// Runs the Runtime's queued events (runtime.poll()), then checks every connection: newly
  /// connected peers are announced, peers whose connection failed or closed, or one of whose
  /// channels closed, are removed. Callbacks run inside this call. Returns every event since the
  /// previous poll(), including those that removePeer() caused, in order. Call it once per frame.
  std::vector<MeshEvent> poll();

  ConnectionStatus connectionStatus() const;
  /// The own id from initialize(); 0 when not initialized.
  int uniqueId() const;
  bool serverCompatibility() const;

  /// The largest packet putPacket() accepts for `peerId`: the remote's max-message-size (65536
  /// until its description is known), capped at the transport's 1 MiB per message. 0 when there
  /// is no such peer.
  std::size_t maxPacketSize(int peerId) const;
  /// The smallest maxPacketSize() over the current target's peers whose channel is open; 0 when
  /// the target has none.
  std::size_t maxPacketSize() const;

  /// Callbacks, each called at the moment its event happens (inside poll() or removePeer()).
  /// Every event also appears once in poll()'s result, so use whichever style fits.
  void onConnectionSucceeded(std::function<void()> callback);
  void onPeerConnected(std::function<void(int peerId)> callback);
  void onPeerDisconnected(std::function<void(int peerId)> callback);
  void onServerDisconnected(std::function<void()> callback);

  Runtime& runtime() const;

 private:
  friend class MeshSignaling;
  // Work that rides on poll() (MeshSignaling's retries). The token expires with the mesh.
  void addPollHook(const void* key, std::function<void()> hook);
  void removePollHook(const void* key);
  std::weak_ptr<void> aliveToken() const;

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Options of MeshSignaling::start().
struct MeshSignalingOptions {
  /// The PeerJS server (npm `peer`, `claynet signal`, ...). The default is the PeerJS cloud.
  PeerJsServer server;
  /// Peer n of the mesh registers as "<meshName>-<n>" on the server, so several meshes can share
  /// one server. It must fit PeerJS's id rule: letters and digits, with single '-', '_' or ' '
  /// inside.
  std::string meshName = "mesh";
  /// For every PeerConnection this helper creates.
  Configuration configuration;
  /// Passed to MultiplayerMesh::addPeer().
  int unreliableLifetime = 1;
  /// Answer offers from lower ids that connectTo() was not called for (peers joining later).
  bool acceptOffers = true;
  /// An offer that is not answered is sent again (with its candidates) this often, and at once
  /// when the server reports it undeliverable (EXPIRE, LEAVE): the other peer may not have
  /// registered yet, or a frame may have been lost. After offerAttempts sends the peer is given
  /// up (removed from the mesh, reported to onError).
  std::chrono::milliseconds offerRetry{2000};
  int offerAttempts = 30;
};

/// Builds a full mesh from peer ids through a PeerJS signaling server: for each pair the lower id
/// creates the connection, adds it to the mesh and offers; the higher id answers, adding its own
/// connection to the mesh when the offer comes. Offers, answers and candidates travel as the
/// PeerJS frames OFFER, ANSWER and CANDIDATE (payload `{"sdp": {"type", "sdp"}}` or
/// `{"candidate": {"candidate", "sdpMid", "sdpMLineIndex"}}`, each with `"type": "mesh"` and a
/// `"connectionId"`). An unanswered offer is sent again until the other peer answers, so peers
/// may start in any order; the answering side answers each copy it gets and ignores repeated
/// candidates.
///
/// Everything after start() happens inside MultiplayerMesh::poll() (it runs the Runtime's
/// events and this helper's retries), so the Runtime must use Delivery::Poll. Use it from the
/// mesh's thread; destroy it before the mesh (if the mesh goes first it does nothing more).
/// Peers that fail are removed by the mesh as usual; call connectTo() again to retry one (for
/// example from onPeerDisconnected, to take a restarted peer back).
///
///     claynet::MultiplayerMesh mesh(runtime);
///     mesh.initialize(myId);
///     claynet::MeshSignaling signaling(mesh);
///     claynet::MeshSignalingOptions options;
///     options.server.host = "10.0.0.1";
///     options.server.port = 9000;
///     options.server.secure = false;
///     options.meshName = "lobby7";
///     signaling.start(options);
///     signaling.connectTo({1, 2, 3, 4});  // every id of the mesh; the own id is skipped
///     for (;;) { mesh.poll(); ... }
class MeshSignaling {
 public:
  explicit MeshSignaling(MultiplayerMesh& mesh);
  /// Stops signaling (see stop()).
  ~MeshSignaling();
  MeshSignaling(const MeshSignaling&) = delete;
  MeshSignaling& operator=(const MeshSignaling&) = delete;

  /// Registers "<meshName>-<own id>" on the server. Fails when the mesh is not initialized, when
  /// the Runtime does not use Delivery::Poll, when already started, on an invalid mesh name or
  /// server, or a lifetime out of 0..65535. Problems later (the id taken, the server
  /// unreachable) go to onError with peer id 0.
  Result start(MeshSignalingOptions options);

  /// Connects to `peerId`: offers when the own id is lower, else waits for its offer (which is
  /// answered even without this call, unless acceptOffers is off). Fails when not started, on the
  /// own id or an invalid one, or when the peer is already in the mesh.
  Result connectTo(int peerId);
  /// connectTo() for each id, skipping the own id; fails on the first failure, after trying all.
  Result connectTo(const std::vector<int>& peerIds);

  /// Leaves the signaling server. Peers already in the mesh stay; pending negotiations stop.
  /// Idempotent.
  void stop();

  /// "<meshName>-<peerId>".
  std::string peerJsId(int peerId) const;
  /// The state of the server connection (Open once registered).
  PeerJsSignalingState signalingState() const;

  /// Something went wrong with peer `peerId` (an offer nobody answered, a description the
  /// connection refused, ...) or, for 0, with the signaling server itself.
  void onError(std::function<void(int peerId, const std::string& message)> callback);
  /// Registered on the server (again after each reconnection).
  void onOpen(std::function<void()> callback);
  /// What the helper does, for verbose logs: offers, answers, offers sent again, offers ignored.
  void onDiagnostic(std::function<void(int peerId, const std::string& message)> callback);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace claynet
