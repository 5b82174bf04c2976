// MeshSignaling: MultiplayerMesh's offer/answer/candidate exchange over a PeerJS server.
#include <charconv>
#include <random>
#include <set>

#include "claynet/multiplayer_mesh.hpp"

namespace claynet {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// An EXPIRE arrives for every queued frame of a batch (the offer and each candidate) within one
// pass of the server's cleanup. Expiries this close to the last send belong to that batch and
// lead to no further resend.
constexpr auto kResendGuard = std::chrono::milliseconds(1000);

std::string randomConnectionId() {
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
  std::string id = "mesh_";
  for (int i = 0; i < 16; ++i) id += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return id;
}

const std::string* stringAt(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

const json* objectAt(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? &*it : nullptr;
}

}  // namespace

struct MeshSignaling::Impl {
  // One negotiation with one peer. Each side keeps what it sent so it can send it again: the
  // offerer until it is answered, the answerer whenever the same offer comes again.
  struct Link {
    std::shared_ptr<PeerConnection> connection;  // null while waiting for the peer's offer
    std::string connectionId;
    bool offerer = false;
    bool answered = false;  // offerer: the answer came
    json description;       // our OFFER or ANSWER payload, once made
    std::vector<json> candidates;
    std::set<std::string> remoteCandidates;
    int attempts = 0;
    Clock::time_point lastSent{};
  };

  explicit Impl(MultiplayerMesh& m) : mesh(m), meshAlive(m.aliveToken()) {}

  MultiplayerMesh& mesh;
  std::weak_ptr<void> meshAlive;
  std::unique_ptr<PeerJsSignaling> signaling;
  MeshSignalingOptions options;
  int ownId = 0;
  std::map<int, Link> links;
  std::function<void(int, const std::string&)> onError, onDiagnostic;
  std::function<void()> onOpen;

  std::string peerJsId(int peerId) const { return options.meshName + "-" + std::to_string(peerId); }

  void error(int peerId, const std::string& message) {
    if (auto cb = onError) cb(peerId, message);
  }
  void diag(int peerId, const std::string& message) {
    if (auto cb = onDiagnostic) cb(peerId, message);
  }

  // The peer id behind a PeerJS id of this mesh; 0 for anyone else.
  int peerOf(const std::string& src) const {
    const std::string prefix = options.meshName + "-";
    if (src.size() <= prefix.size() || src.compare(0, prefix.size(), prefix) != 0) return 0;
    int id = 0;
    const char* first = src.data() + prefix.size();
    const char* last = src.data() + src.size();
    auto [end, ec] = std::from_chars(first, last, id);
    if (ec != std::errc() || end != last || id < 1 || *first == '0') return 0;
    return id;
  }

  // Whether our link to `peerId` is still the mesh's peer (the mesh drops peers that fail).
  bool live(int peerId) const {
    auto it = links.find(peerId);
    if (it == links.end() || !it->second.connection) return false;
    auto peer = mesh.getPeer(peerId);
    return peer && peer->connection == it->second.connection;
  }

  static void detach(Link& link) {
    if (!link.connection) return;
    link.connection->onLocalDescription(nullptr);
    link.connection->onLocalCandidate(nullptr);
  }

  void forget(int peerId) {
    auto it = links.find(peerId);
    if (it == links.end()) return;
    detach(it->second);
    links.erase(it);
  }

  void send(int peerId, const char* type, const json& payload) {
    if (!signaling) return;
    if (Result r = signaling->send(type, peerJsId(peerId), payload); !r)
      error(peerId,
            std::string("cannot send ") + type + " to " + peerJsId(peerId) + ": " + r.error());
  }

  void replay(int peerId, Link& link) {
    if (link.description.is_null()) return;
    link.lastSent = Clock::now();
    send(peerId, link.offerer ? "OFFER" : "ANSWER", link.description);
    for (const auto& c : link.candidates) send(peerId, "CANDIDATE", c);
  }

  // A new connection in the mesh, wired to the server.
  Result createLink(int peerId, bool offerer, const std::string& connectionId) {
    auto connection = std::make_shared<PeerConnection>(mesh.runtime(), options.configuration);
    if (Result r = mesh.addPeer(connection, peerId, options.unreliableLifetime); !r) return r;
    Link& link = links[peerId];
    link = Link{};
    link.connection = connection;
    link.connectionId = connectionId;
    link.offerer = offerer;
    // Callbacks arrive through the Runtime's queue, possibly after this link was replaced: each
    // checks that it still belongs to the current link.
    connection->onLocalDescription([this, peerId, connectionId](const Description& d) {
      Link* l = current(peerId, connectionId);
      if (!l) return;
      l->description = {{"sdp", {{"type", toString(d.type)}, {"sdp", d.sdp}}},
                        {"type", "mesh"},
                        {"connectionId", connectionId}};
      l->attempts = 1;
      l->lastSent = Clock::now();
      diag(peerId, std::string("sending the ") + toString(d.type) + " to " + peerJsId(peerId));
      send(peerId, d.type == SdpType::Offer ? "OFFER" : "ANSWER", l->description);
    });
    connection->onLocalCandidate([this, peerId, connectionId](const Candidate& c) {
      Link* l = current(peerId, connectionId);
      if (!l) return;
      json payload = {
          {"candidate",
           {{"candidate", c.candidate}, {"sdpMid", c.mid}, {"sdpMLineIndex", c.mLineIndex}}},
          {"type", "mesh"},
          {"connectionId", connectionId}};
      l->candidates.push_back(payload);
      send(peerId, "CANDIDATE", payload);
    });
    return {};
  }

  Link* current(int peerId, const std::string& connectionId) {
    if (meshAlive.expired()) return nullptr;
    auto it = links.find(peerId);
    return it == links.end() || it->second.connectionId != connectionId ? nullptr : &it->second;
  }

  void onMessage(const std::string& type, const std::string& src, const json& payload) {
    if (meshAlive.expired()) return;
    int peerId = peerOf(src);
    if (peerId == 0 || peerId == ownId) return;
    // EXPIRE: the frames we sent were not picked up in time. LEAVE: the server could not forward
    // them (the peer's old socket had just gone). Either way the peer may register soon.
    if (type == "EXPIRE" || type == "LEAVE") return onUndelivered(peerId, type == "LEAVE");
    const std::string* cid = stringAt(payload, "connectionId");
    if (!cid) return;  // not one of ours
    if (type == "OFFER") return onOffer(peerId, *cid, payload);
    Link* link = current(peerId, *cid);
    if (!link || !link->connection) return;  // stale or unknown
    if (type == "ANSWER") {
      if (!link->offerer || link->answered) return;
      const json* sdpObject = objectAt(payload, "sdp");
      const std::string* sdp = sdpObject ? stringAt(*sdpObject, "sdp") : nullptr;
      if (!sdp) return error(peerId, "ANSWER from " + src + " has no sdp.sdp string");
      link->answered = true;
      diag(peerId, "answer from " + src);
      if (Result r = link->connection->setRemoteDescription({SdpType::Answer, *sdp}); !r)
        error(peerId, "the answer of " + src + " was refused: " + r.error());
    } else if (type == "CANDIDATE") {
      const json* c = objectAt(payload, "candidate");
      const std::string* line = c ? stringAt(*c, "candidate") : nullptr;
      if (!line)
        return error(peerId, "CANDIDATE from " + src + " has no candidate.candidate string");
      if (!link->remoteCandidates.insert(*line).second) return;  // a copy sent again
      Candidate candidate;
      candidate.candidate = *line;
      if (const std::string* mid = stringAt(*c, "sdpMid")) candidate.mid = *mid;
      if (auto i = c->find("sdpMLineIndex"); i != c->end() && i->is_number_integer())
        candidate.mLineIndex = i->get<int>();
      if (Result r = link->connection->addRemoteCandidate(candidate); !r)
        error(peerId, "a candidate of " + src + " was refused: " + r.error());
    }
  }

  void onOffer(int peerId, const std::string& connectionId, const json& payload) {
    if (peerId > ownId)
      return error(peerId, "peer " + std::to_string(peerId) +
                               " sent an offer, but in this mesh the lower id offers; ignored");
    const json* sdpObject = objectAt(payload, "sdp");
    const std::string* sdp = sdpObject ? stringAt(*sdpObject, "sdp") : nullptr;
    if (!sdp) return error(peerId, "OFFER from " + peerJsId(peerId) + " has no sdp.sdp string");
    auto it = links.find(peerId);
    if (it != links.end() && it->second.connectionId == connectionId) {
      // The offer again: our answer may not have reached it.
      if (live(peerId) && !mesh.getPeer(peerId)->connected) replay(peerId, it->second);
      return;
    }
    diag(peerId, "offer " + connectionId + " from " + peerJsId(peerId));
    bool expected = it != links.end();
    if (live(peerId)) {
      // A new offer from a peer we are connected to: it started over (restarted, say).
      (void)mesh.removePeer(peerId);
    } else if (mesh.hasPeer(peerId)) {
      return error(peerId, "peer " + std::to_string(peerId) +
                               " offered, but the application added that id to the mesh itself");
    } else if (!expected && !options.acceptOffers) {
      return;
    }
    forget(peerId);
    if (Result r = createLink(peerId, false, connectionId); !r)
      return error(peerId, "cannot answer " + peerJsId(peerId) + ": " + r.error());
    if (Result r = links[peerId].connection->setRemoteDescription({SdpType::Offer, *sdp}); !r) {
      error(peerId, "the offer of " + peerJsId(peerId) + " was refused: " + r.error());
      (void)mesh.removePeer(peerId);
      forget(peerId);
    }
  }

  // Sends an unanswered offer again, or gives up on the peer.
  void retry(int peerId, Link& link, const char* why) {
    if (link.attempts >= options.offerAttempts) {
      error(peerId, "no answer from " + peerJsId(peerId) + " after " +
                        std::to_string(link.attempts) + " offers; gave up");
      (void)mesh.removePeer(peerId);
      forget(peerId);
      return;
    }
    ++link.attempts;
    diag(peerId, std::string("sending the offer to ") + peerJsId(peerId) + " again (" + why +
                     ", attempt " + std::to_string(link.attempts) + ")");
    replay(peerId, link);
  }

  bool waitingForAnswer(int peerId) const {
    auto it = links.find(peerId);
    return it != links.end() && it->second.offerer && !it->second.answered &&
           !it->second.description.is_null() && live(peerId);
  }

  void onUndelivered(int peerId, bool leave) {
    if (!waitingForAnswer(peerId)) return;
    Link& link = links[peerId];
    if (!leave && Clock::now() - link.lastSent < kResendGuard) return;
    retry(peerId, link, leave ? "the server could not deliver it" : "it expired on the server");
  }

  // Runs inside MultiplayerMesh::poll().
  void tick() {
    if (!signaling) return;
    std::vector<int> ids;
    for (const auto& [id, link] : links) ids.push_back(id);
    auto now = Clock::now();
    for (int id : ids) {
      auto it = links.find(id);
      if (it == links.end()) continue;
      if (it->second.connection && !live(id)) {
        forget(id);  // the mesh dropped it (failed, closed or removed)
        continue;
      }
      if (waitingForAnswer(id) && now - it->second.lastSent >= options.offerRetry)
        retry(id, it->second, "no answer yet");
    }
  }

  void stop() {
    for (auto& [id, link] : links) detach(link);
    links.clear();
    signaling.reset();
  }
};

MeshSignaling::MeshSignaling(MultiplayerMesh& mesh) : impl_(std::make_unique<Impl>(mesh)) {
  mesh.addPollHook(this, [impl = impl_.get()] { impl->tick(); });
}

MeshSignaling::~MeshSignaling() {
  impl_->stop();
  if (!impl_->meshAlive.expired()) impl_->mesh.removePollHook(this);
}

Result MeshSignaling::start(MeshSignalingOptions options) {
  auto& m = *impl_;
  if (m.meshAlive.expired()) return Result::failure("MeshSignaling::start: the mesh is gone");
  if (m.signaling) return Result::failure("MeshSignaling::start: already started");
  if (m.mesh.uniqueId() == 0)
    return Result::failure("MeshSignaling::start: initialize the mesh first (its id is needed)");
  if (m.mesh.runtime().delivery() != Delivery::Poll)
    return Result::failure(
        "MeshSignaling::start: the Runtime must use Delivery::Poll (signaling runs inside "
        "MultiplayerMesh::poll())");
  if (options.unreliableLifetime < 0 || options.unreliableLifetime > 65535)
    return Result::failure("MeshSignaling::start: unreliable lifetime " +
                           std::to_string(options.unreliableLifetime) +
                           " ms is out of range; it must be in 0..65535");
  if (options.offerAttempts < 1)
    return Result::failure("MeshSignaling::start: offerAttempts must be at least 1");
  if (options.offerRetry.count() < 1)
    return Result::failure("MeshSignaling::start: offerRetry must be at least 1 ms");
  m.options = std::move(options);
  m.ownId = m.mesh.uniqueId();
  auto signaling = std::make_unique<PeerJsSignaling>(m.mesh.runtime());
  Impl* impl = impl_.get();
  signaling->onOpen([impl](const std::string&) {
    if (auto cb = impl->onOpen) cb();
  });
  signaling->onError([impl](const PeerJsError& e) { impl->error(0, e.text()); });
  signaling->onMessage([impl](const std::string& type, const std::string& src, const json& p) {
    try {
      impl->onMessage(type, src, p);
    } catch (const std::exception& e) {  // never let an exception out of a callback
      impl->error(impl->peerOf(src), "bad " + type + " from " + src + ": " + e.what());
    }
  });
  PeerJsSignalingOptions o;
  o.server = m.options.server;
  o.id = m.peerJsId(m.ownId);
  if (Result r = signaling->open(std::move(o)); !r)
    return Result::failure("MeshSignaling::start: " + r.error());
  m.signaling = std::move(signaling);
  return {};
}

Result MeshSignaling::connectTo(int peerId) {
  auto& m = *impl_;
  const std::string what = "MeshSignaling::connectTo(" + std::to_string(peerId) + "): ";
  if (!m.signaling) return Result::failure(what + "start() first");
  if (m.meshAlive.expired()) return Result::failure(what + "the mesh is gone");
  if (peerId < 1)
    return Result::failure(what + "peer id out of range; it must be in 1..2147483647");
  if (peerId == m.ownId) return Result::failure(what + "that is this mesh's own id");
  if (m.mesh.hasPeer(peerId)) return Result::failure(what + "the peer is already in the mesh");
  m.forget(peerId);
  if (peerId < m.ownId) {
    // The lower id offers: a link without a connection waits for its offer, which is then taken
    // even with acceptOffers off.
    m.links[peerId] = Impl::Link{};
    return {};
  }
  if (Result r = m.createLink(peerId, true, randomConnectionId()); !r)
    return Result::failure(what + r.error());
  if (Result r = m.links[peerId].connection->createOffer(); !r) {
    (void)m.mesh.removePeer(peerId);
    m.forget(peerId);
    return Result::failure(what + r.error());
  }
  return {};
}

Result MeshSignaling::connectTo(const std::vector<int>& peerIds) {
  Result first;
  for (int id : peerIds) {
    if (id == impl_->ownId) continue;
    Result r = connectTo(id);
    if (!r && first) first = r;
  }
  return first;
}

void MeshSignaling::stop() { impl_->stop(); }

std::string MeshSignaling::peerJsId(int peerId) const { return impl_->peerJsId(peerId); }

PeerJsSignalingState MeshSignaling::signalingState() const {
  return impl_->signaling ? impl_->signaling->state() : PeerJsSignalingState::Idle;
}

void MeshSignaling::onError(std::function<void(int, const std::string&)> callback) {
  impl_->onError = std::move(callback);
}
void MeshSignaling::onOpen(std::function<void()> callback) { impl_->onOpen = std::move(callback); }
void MeshSignaling::onDiagnostic(std::function<void(int, const std::string&)> callback) {
  impl_->onDiagnostic = std::move(callback);
}

}  // namespace claynet
