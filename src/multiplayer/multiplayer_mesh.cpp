#include "claynet/multiplayer_mesh.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>
#include <mutex>
#include <utility>

namespace claynet {

namespace {

// PeerShared::sendLimit() caps every message at 1 MiB whatever the remote advertises
// (kLocalSendCeiling in src/rtc/peer_connection.cpp); the mesh checks sizes up front so that a
// broadcast is all or nothing, so it needs the same figure.
constexpr std::size_t kTransportSendCeiling = 1024 * 1024;
constexpr int kChannelCount = 3;
constexpr const char* kChannelLabels[kChannelCount] = {"reliable", "ordered", "unreliable"};

int channelIndex(TransferMode mode) {
  switch (mode) {
    case TransferMode::Reliable:
      return 0;
    case TransferMode::UnreliableOrdered:
      return 1;
    case TransferMode::Unreliable:
      return 2;
  }
  return 0;
}

TransferMode modeOfChannel(int index) {
  static constexpr TransferMode modes[kChannelCount] = {
      TransferMode::Reliable, TransferMode::UnreliableOrdered, TransferMode::Unreliable};
  return modes[index];
}

const char* stateName(ChannelState s) {
  switch (s) {
    case ChannelState::Connecting:
      return "connecting";
    case ChannelState::Open:
      return "open";
    case ChannelState::Closing:
      return "closing";
    case ChannelState::Closed:
      return "closed";
  }
  return "?";
}

bool validPeerId(int64_t id) { return id >= 1 && id <= std::numeric_limits<int32_t>::max(); }

// Received packets. Channel callbacks push from wherever the Runtime delivers (the application's
// thread, or the network thread with Delivery::NetworkThread), hence the lock.
struct Inbox {
  std::mutex mutex;
  std::deque<MeshPacket> packets;
};

}  // namespace

const char* toString(TransferMode mode) {
  switch (mode) {
    case TransferMode::Unreliable:
      return "unreliable";
    case TransferMode::UnreliableOrdered:
      return "unreliable_ordered";
    case TransferMode::Reliable:
      return "reliable";
  }
  return "?";
}

const char* toString(ConnectionStatus status) {
  switch (status) {
    case ConnectionStatus::Disconnected:
      return "disconnected";
    case ConnectionStatus::Connecting:
      return "connecting";
    case ConnectionStatus::Connected:
      return "connected";
  }
  return "?";
}

const char* toString(MeshEvent::Type type) {
  switch (type) {
    case MeshEvent::Type::ConnectionSucceeded:
      return "connection_succeeded";
    case MeshEvent::Type::PeerConnected:
      return "peer_connected";
    case MeshEvent::Type::PeerDisconnected:
      return "peer_disconnected";
    case MeshEvent::Type::ServerDisconnected:
      return "server_disconnected";
  }
  return "?";
}

struct MultiplayerMesh::Impl {
  struct Peer {
    MeshPeer info;
    bool announced = false;  // PeerConnected fired for it
  };

  explicit Impl(Runtime& rt) : runtime(rt) {}

  Runtime& runtime;
  bool initialized = false;
  bool wasClosed = false;
  int uniqueId = 0;
  bool serverCompat = false;
  ConnectionStatus status = ConnectionStatus::Disconnected;
  int target = kTargetPeerBroadcast;
  TransferMode mode = TransferMode::Reliable;
  std::map<int, Peer> peers;
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
  std::vector<MeshEvent> pending;

  std::function<void()> onConnectionSucceeded, onServerDisconnected;
  std::function<void(int)> onPeerConnected, onPeerDisconnected;
  std::vector<std::pair<const void*, std::function<void()>>> pollHooks;
  std::shared_ptr<int> alive = std::make_shared<int>(0);

  void runPollHooks() {
    auto hooks = pollHooks;  // a hook may remove hooks
    for (auto& [key, hook] : hooks) {
      bool still = std::any_of(pollHooks.begin(), pollHooks.end(),
                               [k = key](const auto& h) { return h.first == k; });
      if (still) hook();
    }
  }

  Result notInitialized(const char* what) const {
    return Result::failure(std::string("MultiplayerMesh::") + what +
                           (wasClosed ? ": the mesh was closed; call initialize() to use it again"
                                      : ": the mesh is not initialized; call initialize() first"));
  }

  // Callbacks may replace themselves or close the mesh while running: call a copy.
  void emit(MeshEvent::Type type, int peerId) {
    pending.push_back({type, peerId});
    switch (type) {
      case MeshEvent::Type::ConnectionSucceeded:
        if (auto cb = onConnectionSucceeded) cb();
        break;
      case MeshEvent::Type::ServerDisconnected:
        if (auto cb = onServerDisconnected) cb();
        break;
      case MeshEvent::Type::PeerConnected:
        if (auto cb = onPeerConnected) cb(peerId);
        break;
      case MeshEvent::Type::PeerDisconnected:
        if (auto cb = onPeerDisconnected) cb(peerId);
        break;
    }
  }

  void announce(int peerId) {
    auto it = peers.find(peerId);
    if (it == peers.end() || it->second.announced) return;
    it->second.announced = true;
    emit(MeshEvent::Type::PeerConnected, peerId);
  }

  static void hangUp(const MeshPeer& info) {
    for (const auto& ch : info.channels) {
      if (!ch) continue;
      ch->onMessage(nullptr);
      ch->close();
    }
    if (info.connection) info.connection->close();
  }

  // Godot's remove_peer: out of the map first, so callbacks see the mesh without it.
  void remove(int peerId) {
    auto it = peers.find(peerId);
    if (it == peers.end()) return;
    Peer peer = std::move(it->second);
    peers.erase(it);
    hangUp(peer.info);
    if (!peer.announced) return;
    bool server = serverCompat && peerId == kTargetPeerServer;
    if (server) status = ConnectionStatus::Disconnected;
    emit(MeshEvent::Type::PeerDisconnected, peerId);
    if (server && initialized) emit(MeshEvent::Type::ServerDisconnected, kTargetPeerServer);
  }

  void check() {
    std::vector<int> gone, up;
    for (auto& [id, peer] : peers) {
      PeerState ps = peer.info.connection->state();
      if (ps == PeerState::New || ps == PeerState::Connecting) continue;
      if (ps != PeerState::Connected) {  // disconnected, failed or closed
        gone.push_back(id);
        continue;
      }
      int open = 0;
      bool broken = false;
      for (const auto& ch : peer.info.channels) {
        ChannelState cs = ch->state();
        if (cs == ChannelState::Open)
          ++open;
        else if (cs != ChannelState::Connecting)
          broken = true;
      }
      if (broken) {
        gone.push_back(id);
      } else if (open == kChannelCount && !peer.info.connected) {
        peer.info.connected = true;
        up.push_back(id);
      }
    }
    // Callbacks may add, remove or close; every step looks the peer up again.
    for (int id : gone) {
      if (!initialized) return;
      remove(id);
    }
    for (int id : up) {
      if (!initialized) return;
      auto it = peers.find(id);
      if (it == peers.end() || !it->second.info.connected) continue;
      if (status == ConnectionStatus::Connected) {
        announce(id);
      } else if (serverCompat && id == kTargetPeerServer) {
        status = ConnectionStatus::Connected;
        emit(MeshEvent::Type::ConnectionSucceeded, kTargetPeerServer);
        announce(kTargetPeerServer);
        std::vector<int> waiting;
        for (const auto& [other, p] : peers)
          if (p.info.connected && !p.announced) waiting.push_back(other);
        for (int other : waiting) {
          if (!initialized || status != ConnectionStatus::Connected) break;
          auto o = peers.find(other);
          if (o != peers.end() && o->second.info.connected) announce(other);
        }
      }
    }
  }

  // The peers a packet goes to, or an error; `index` is the channel.
  Result targets(int index, std::vector<std::pair<int, std::shared_ptr<DataChannel>>>& out) const {
    if (target > 0) {
      auto it = peers.find(target);
      if (it == peers.end())
        return Result::failure("MultiplayerMesh::putPacket: the target peer " +
                               std::to_string(target) + " is not in the mesh");
      const auto& ch = it->second.info.channels[index];
      if (!ch->isOpen())
        return Result::failure("MultiplayerMesh::putPacket: peer " + std::to_string(target) +
                               " is not connected yet (its channel '" + ch->label() + "' is " +
                               stateName(ch->state()) + ")");
      out.emplace_back(target, ch);
      return {};
    }
    // int64 so that -INT_MIN cannot overflow; it then excludes nobody.
    int64_t exclude = -static_cast<int64_t>(target);
    for (const auto& [id, peer] : peers) {
      if (id == exclude) continue;
      const auto& ch = peer.info.channels[index];
      if (ch->isOpen()) out.emplace_back(id, ch);
    }
    return {};
  }

  std::size_t limitOf(const Peer& peer) const {
    std::size_t remote = peer.info.connection->remoteMaxMessageSize();
    return remote == 0 ? kTransportSendCeiling : std::min(remote, kTransportSendCeiling);
  }

  Result put(std::span<const std::byte> packet) {
    if (!initialized) return notInitialized("putPacket");
    int index = channelIndex(mode);
    std::vector<std::pair<int, std::shared_ptr<DataChannel>>> to;
    if (Result r = targets(index, to); !r) return r;
    for (const auto& [id, ch] : to) {
      std::size_t limit = limitOf(peers.at(id));
      if (packet.size() > limit)
        return Result::failure(
            "MultiplayerMesh::putPacket: a packet of " + std::to_string(packet.size()) +
            " bytes is larger than peer " + std::to_string(id) + "'s maximum of " +
            std::to_string(limit) +
            " bytes (the remote's max-message-size, see maxPacketSize()); nothing was sent");
    }
    std::string failures;
    for (const auto& [id, ch] : to) {
      if (Result r = ch->send(packet); !r)
        failures += (failures.empty() ? "" : "; ") + std::string("peer ") + std::to_string(id) +
                    ": " + r.error();
    }
    if (!failures.empty())
      return Result::failure("MultiplayerMesh::putPacket: not sent to every target: " + failures);
    return {};
  }

  void closeAll() {
    auto old = std::exchange(peers, {});
    for (const auto& [id, peer] : old) hangUp(peer.info);
    if (initialized) wasClosed = true;
    initialized = false;
    uniqueId = 0;
    serverCompat = false;
    status = ConnectionStatus::Disconnected;
    target = kTargetPeerBroadcast;
    pending.clear();
    // A fresh inbox: a message callback already on its way can only reach the old one.
    inbox = std::make_shared<Inbox>();
  }
};

MultiplayerMesh::MultiplayerMesh(Runtime& runtime) : impl_(std::make_unique<Impl>(runtime)) {}

MultiplayerMesh::~MultiplayerMesh() { impl_->closeAll(); }

Result MultiplayerMesh::initialize(int peerId, bool serverCompatibility) {
  auto& m = *impl_;
  if (!validPeerId(peerId))
    return Result::failure("MultiplayerMesh::initialize: peer id " + std::to_string(peerId) +
                           " is out of range; it must be in 1..2147483647");
  if (m.initialized)
    return Result::failure("MultiplayerMesh::initialize: already initialized with peer id " +
                           std::to_string(m.uniqueId) + "; call close() first");
  m.initialized = true;
  m.uniqueId = peerId;
  m.serverCompat = serverCompatibility;
  m.status = serverCompatibility ? ConnectionStatus::Connecting : ConnectionStatus::Connected;
  return {};
}

void MultiplayerMesh::close() { impl_->closeAll(); }

Result MultiplayerMesh::addPeer(std::shared_ptr<PeerConnection> connection, int peerId,
                                int unreliableLifetime) {
  auto& m = *impl_;
  if (!m.initialized) return m.notInitialized("addPeer");
  const std::string what = "MultiplayerMesh::addPeer(" + std::to_string(peerId) + "): ";
  if (!validPeerId(peerId))
    return Result::failure(what + "peer id out of range; it must be in 1..2147483647");
  if (peerId == m.uniqueId) return Result::failure(what + "that is this mesh's own id");
  if (m.peers.count(peerId))
    return Result::failure(what + "a peer with this id is already in the mesh");
  if (!connection) return Result::failure(what + "the connection is null");
  if (PeerState s = connection->state(); s != PeerState::New)
    return Result::failure(what + "the connection is " + toString(s) +
                           "; it must be new (add it before creating or applying an offer)");
  if (unreliableLifetime < 0 || unreliableLifetime > 65535)
    return Result::failure(what + "unreliable lifetime " + std::to_string(unreliableLifetime) +
                           " ms is out of range; it must be in 0..65535");

  const auto lifetime = static_cast<uint16_t>(unreliableLifetime);
  DataChannelInit inits[kChannelCount];
  for (int i = 0; i < kChannelCount; ++i) {
    inits[i].negotiated = true;
    inits[i].id = static_cast<uint16_t>(i + 1);
  }
  inits[1].maxPacketLifeTime = lifetime;
  inits[2].maxPacketLifeTime = lifetime;
  inits[2].ordered = false;

  Impl::Peer peer;
  peer.info.connection = connection;
  for (int i = 0; i < kChannelCount; ++i) {
    Result r = connection->createDataChannel(kChannelLabels[i], inits[i], peer.info.channels[i]);
    if (!r) {
      for (auto& ch : peer.info.channels)
        if (ch) ch->close();
      return Result::failure(what + "cannot create channel '" + kChannelLabels[i] +
                             "': " + r.error());
    }
    // The inbox, not the mesh, is captured: a message may be delivered after the mesh is gone.
    std::weak_ptr<Inbox> inbox = m.inbox;
    TransferMode mode = modeOfChannel(i);
    peer.info.channels[i]->onMessage([inbox, peerId, mode](Message&& msg) {
      auto box = inbox.lock();
      if (!box) return;
      std::lock_guard lock(box->mutex);
      box->packets.push_back({peerId, mode, std::move(msg.data)});
    });
  }
  m.peers.emplace(peerId, std::move(peer));
  return {};
}

Result MultiplayerMesh::removePeer(int peerId) {
  auto& m = *impl_;
  if (!m.initialized) return m.notInitialized("removePeer");
  if (!m.peers.count(peerId))
    return Result::failure("MultiplayerMesh::removePeer: there is no peer " +
                           std::to_string(peerId) + " in the mesh");
  m.remove(peerId);
  return {};
}

bool MultiplayerMesh::hasPeer(int peerId) const { return impl_->peers.count(peerId) != 0; }

std::optional<MeshPeer> MultiplayerMesh::getPeer(int peerId) const {
  auto it = impl_->peers.find(peerId);
  if (it == impl_->peers.end()) return std::nullopt;
  return it->second.info;
}

std::map<int, MeshPeer> MultiplayerMesh::getPeers() const {
  std::map<int, MeshPeer> out;
  for (const auto& [id, peer] : impl_->peers) out.emplace(id, peer.info);
  return out;
}

void MultiplayerMesh::setTargetPeer(int peerId) { impl_->target = peerId; }
int MultiplayerMesh::targetPeer() const { return impl_->target; }
void MultiplayerMesh::setTransferMode(TransferMode mode) { impl_->mode = mode; }
TransferMode MultiplayerMesh::transferMode() const { return impl_->mode; }

Result MultiplayerMesh::putPacket(std::span<const std::byte> packet) { return impl_->put(packet); }

Result MultiplayerMesh::putPacket(std::string_view packet) {
  return impl_->put({reinterpret_cast<const std::byte*>(packet.data()), packet.size()});
}

std::size_t MultiplayerMesh::getAvailablePacketCount() const {
  auto box = impl_->inbox;
  std::lock_guard lock(box->mutex);
  return box->packets.size();
}

int MultiplayerMesh::getPacketPeer() const {
  auto box = impl_->inbox;
  std::lock_guard lock(box->mutex);
  return box->packets.empty() ? 0 : box->packets.front().peerId;
}

TransferMode MultiplayerMesh::getPacketMode() const {
  auto box = impl_->inbox;
  std::lock_guard lock(box->mutex);
  return box->packets.empty() ? TransferMode::Reliable : box->packets.front().mode;
}

Result MultiplayerMesh::getPacket(MeshPacket& packet) {
  auto& m = *impl_;
  if (!m.initialized) return m.notInitialized("getPacket");
  auto box = m.inbox;
  std::lock_guard lock(box->mutex);
  if (box->packets.empty())
    return Result::failure("MultiplayerMesh::getPacket: no packet available");
  packet = std::move(box->packets.front());
  box->packets.pop_front();
  return {};
}

Result MultiplayerMesh::getPacket(std::string& data) {
  MeshPacket packet;
  Result r = getPacket(packet);
  if (r) data = std::move(packet.data);
  return r;
}

std::vector<MeshEvent> MultiplayerMesh::poll() {
  auto& m = *impl_;
  m.runtime.poll();
  if (m.initialized) m.check();
  m.runPollHooks();
  return std::exchange(m.pending, {});
}

ConnectionStatus MultiplayerMesh::connectionStatus() const { return impl_->status; }
int MultiplayerMesh::uniqueId() const { return impl_->uniqueId; }
bool MultiplayerMesh::serverCompatibility() const { return impl_->serverCompat; }

std::size_t MultiplayerMesh::maxPacketSize(int peerId) const {
  auto it = impl_->peers.find(peerId);
  return it == impl_->peers.end() ? 0 : impl_->limitOf(it->second);
}

std::size_t MultiplayerMesh::maxPacketSize() const {
  auto& m = *impl_;
  std::vector<std::pair<int, std::shared_ptr<DataChannel>>> to;
  if (!m.targets(channelIndex(m.mode), to) || to.empty()) return 0;
  std::size_t smallest = std::numeric_limits<std::size_t>::max();
  for (const auto& [id, ch] : to) smallest = std::min(smallest, m.limitOf(m.peers.at(id)));
  return smallest;
}

void MultiplayerMesh::onConnectionSucceeded(std::function<void()> cb) {
  impl_->onConnectionSucceeded = std::move(cb);
}
void MultiplayerMesh::onPeerConnected(std::function<void(int)> cb) {
  impl_->onPeerConnected = std::move(cb);
}
void MultiplayerMesh::onPeerDisconnected(std::function<void(int)> cb) {
  impl_->onPeerDisconnected = std::move(cb);
}
void MultiplayerMesh::onServerDisconnected(std::function<void()> cb) {
  impl_->onServerDisconnected = std::move(cb);
}

Runtime& MultiplayerMesh::runtime() const { return impl_->runtime; }

void MultiplayerMesh::addPollHook(const void* key, std::function<void()> hook) {
  impl_->pollHooks.emplace_back(key, std::move(hook));
}

void MultiplayerMesh::removePollHook(const void* key) {
  std::erase_if(impl_->pollHooks, [key](const auto& h) { return h.first == key; });
}

std::weak_ptr<void> MultiplayerMesh::aliveToken() const { return impl_->alive; }

}  // namespace claynet
