// NetworkImpl: its signaling: the PeerJS peer it registers, the servers a code names, and the
// Local host's embedded server.
#include "claynet/lan_code.hpp"
#include "network/network_impl.hpp"

namespace claynet::network {

Result NetworkImpl::openPeer(const std::string& id, const PeerJsServer& server) {
  PeerJsOptions o;
  o.server = server;
  o.id = id;
  o.rtc = rtcConfiguration();
  // Clayground's schedule after a signaling loss: 1 s, 2 s, then every 4 s (claynet adds
  // ±25 % so that the nodes of a restarted server do not all come back at once).
  o.reconnectDelayMin = 1000ms;
  o.reconnectDelayMax = 4000ms;
  const std::uint64_t gen = ++peerGen_;
  o.onTransportDiagnostic =
      guarded([gen](NetworkImpl& s, const std::string& remote, const std::string& label,
                    const std::string& phase, const std::string& detail) {
        if (gen == s.peerGen_) s.transportDiagnostic(remote, label, phase, detail);
      });
  auto peer = PeerJsPeer::create(runtime_, o);
  std::weak_ptr<NetworkImpl> w = weak_from_this();
  peer->onOpen([w, gen](const std::string& openedId) {
    if (auto s = w.lock()) {
      Entry e(*s);
      if (gen == s->peerGen_) s->peerOpened(openedId);
    }
  });
  peer->onConnection([w, gen](std::shared_ptr<PeerJsConnection> conn) {
    if (auto s = w.lock()) {
      Entry e(*s);
      if (gen == s->peerGen_) {
        s->incoming(conn);
      } else {
        conn->close();
      }
    }
  });
  peer->onError([w, gen](const PeerJsError& err) {
    if (auto s = w.lock()) {
      Entry e(*s);
      if (gen == s->peerGen_) s->peerError(err);
    }
  });
  peer->onDisconnected([w, gen](const std::string& reason) {
    if (auto s = w.lock()) {
      Entry e(*s);
      if (gen == s->peerGen_) s->signalingLostNow(reason);
    }
  });
  peer_ = peer;
  diag("signaling", "registering with " + serverText(server) + " as " + id);
  if (Result r = peer->open(); !r) {
    peer_.reset();
    ++peerGen_;
    return r;
  }
  return {};
}

// Local host: the embedded signaling server with `secret`, and the LAN code that names it.
void NetworkImpl::startLocalServer(const std::string& secret, NodeActions& out) {
  SignalServerOptions so;
  so.lanSecret = secret;
  const bool chosen = !localAddress_.empty();
  so.host = chosen ? localAddress_ : "0.0.0.0";
  so.port = 0;
  server_ = std::make_unique<SignalServer>(runtime_, so);
  if (Result r = server_->start(); !r) {
    node_.localServerFailed(
        "could not start the embedded signaling server on " + so.host + ": " + r.error(), out);
    return;
  }
  std::uint32_t address = 0;
  const std::string advertised = lanAddress(localAddress_);
  if (!parseIPv4(advertised, address)) {
    node_.localServerFailed("no IPv4 address to put in the LAN code (got \"" + advertised + "\")",
                            out);
    return;
  }
  diag("signaling", "embedded signaling server listening on " + so.host + ":" +
                        std::to_string(server_->port()) + ", advertised as " + advertised);
  localServer_ = lanServer(chosen ? localAddress_ : "127.0.0.1", server_->port(), so.lanSecret);
  node_.localServerStarted(encodeLanCode(address, server_->port(), so.lanSecret), out);
}

// The server a Register goes to: a Local host's own, the one the joiner's code names, or Cloud.
PeerJsServer NetworkImpl::registrationServer() const {
  if (!isHost_) return joinServer_;
  return server_ ? localServer_ : cloudServer();
}

void NetworkImpl::peerOpened(const std::string& id) {
  NodeActions actions;
  node_.signalingOpened(id, Clock::now(), actions);
  execute(actions);
}

// The signaling server went away while in a network: the links go on, a host takes no new
// joiners until the peer has registered again under the same id (it retries by itself).
void NetworkImpl::signalingLostNow(const std::string& reason) {
  NodeActions actions;
  node_.signalingLost(reason, actions);
  execute(actions);
}

void NetworkImpl::syncAcceptingJoins() {
  if (acceptingJoins_ == node_.acceptingJoins()) return;
  acceptingJoins_ = node_.acceptingJoins();
  notify(&Callbacks::acceptingJoinsChanged);
}

void NetworkImpl::peerError(const PeerJsError& err) {
  NodeActions actions;
  node_.signalingError(err, Clock::now(), actions);
  execute(actions);
}

void NetworkImpl::dropPeer() {
  if (peer_) peer_->destroy();
  peer_.reset();
  ++peerGen_;
}

// An embedded signaling server (claynet's or Clayground's) as a LAN code names it.
PeerJsServer NetworkImpl::lanServer(std::string host, std::uint16_t port, std::string secret) {
  PeerJsServer s;
  s.host = std::move(host);
  s.port = port;
  s.secure = false;
  s.path = "/";
  s.key = "peerjs";
  s.lanSecret = std::move(secret);
  return s;
}

PeerJsServer NetworkImpl::cloudServer() const {
  PeerJsServer s = signalingUrl_.empty() ? PeerJsServer{} : signalingServer_;
  s.verifyCertificate = verifySignalingCertificate_;
  return s;
}

}  // namespace claynet::network
