// NetworkImpl: its links: PeerJS connections made and taken, their channels (data, the seeds'
// clay_state connection, the in-band state channel), and what goes out on them.
#include "claynet/serialization.hpp"
#include "network/network_impl.hpp"
#include "signaling/bounded_json.hpp"

namespace claynet::network {

Result prepare(const Envelope& e, Outgoing& out, bool checkSize) {
  out.value = envelopeToJson(e);
  JsonEncodeFailure why = JsonEncodeFailure::None;
  if (Result r = encodeJson(out.value, out.bytes, &why); !r) {
    return Result::failure(std::string(why == JsonEncodeFailure::TooLarge
                                           ? "the data is too large: "
                                           : "the data cannot be sent: ") +
                           r.error());
  }
  if (checkSize && out.bytes.size() > Network::kMaxEnvelopeBytes)
    return Result::failure("the data is too large: the message is " +
                           std::to_string(out.bytes.size()) + " bytes as JSON, at most " +
                           std::to_string(Network::kMaxEnvelopeBytes) +
                           " fit (PeerJS's json serialization refuses 16300 bytes or more, and a "
                           "relay through the host adds the origin's id)");
  return {};
}

Result sendOn(const std::shared_ptr<PeerJsConnection>& conn, Outgoing& out) {
  if (!conn || !conn->isOpen()) return Result::failure("the connection is not open");
  if (conn->serialization() == Serialization::Json) {
    auto ch = conn->dataChannel();
    if (!ch) return Result::failure("the connection is not open");
    return ch->sendBinary(out.bytes.data(), out.bytes.size());
  }
  // The JSON text already says null for NaN and the infinities; BinaryPack would carry them.
  // Made the same once per message, and only when a BinaryPack link sends it (relays too).
  if (!out.valueNulled) {
    nullNonFiniteNumbers(out.value);
    out.valueNulled = true;
  }
  return conn->send(out.value);
}

Link* NetworkImpl::find(const std::string& id) {
  auto it = links_.find(id);
  return it == links_.end() ? nullptr : &it->second;
}

const Link* NetworkImpl::find(const std::string& id) const {
  auto it = links_.find(id);
  return it == links_.end() ? nullptr : &it->second;
}

Link& NetworkImpl::linkFor(const std::string& id) {
  auto [it, inserted] = links_.try_emplace(id);
  if (inserted) it->second.peer = id;
  return it->second;
}

bool NetworkImpl::dial(const std::string& id) {
  if (!peer_) return false;
  PeerJsConnectOptions d;
  d.label = kDataLabel;
  d.serialization = Serialization::Json;
  d.reliable = true;
  d.metadata = json{{"claynet", 1}};
  std::shared_ptr<PeerJsConnection> data;
  if (Result r = peer_->connect(id, d, data); !r) {
    diag("signaling", "could not connect to " + id + ": " + r.error());
    return false;
  }
  Link& link = linkFor(id);
  link.data = data;
  node_.dialing(id, Clock::now());
  wireData(id, data);
  diag("signaling", "connecting to " + id);
  // To the host, the state link waits for the handshake: a current host takes an in-band
  // "state" channel, a seed-era one a second connection.
  if (id != node_.hostId()) openStateConnection(link);
  return true;
}

// The seeds' lossy state link: a second PeerJS connection labelled clay_state.
void NetworkImpl::openStateConnection(Link& link) {
  if (!peer_ || link.state) return;
  PeerJsConnectOptions s;
  s.label = kStateLabel;
  s.serialization = Serialization::Json;
  s.metadata = json{{"claynet", 1}};
  s.reliable = false;
  s.maxRetransmits = 0;  // lossy: a lost state update is never sent again
  std::shared_ptr<PeerJsConnection> state;
  if (Result r = peer_->connect(link.peer, s, state); !r) {
    // State then goes on the data link.
    diag("signaling", "could not open the state connection to " + link.peer + ": " + r.error());
    return;
  }
  link.state = state;
  wireState(link.peer, state);
}

// Wire version 5: the "state" channel on the same peer connection as the data channel.
void NetworkImpl::openStateChannel(Link& link) {
  auto pc = link.data ? link.data->peerConnection() : nullptr;
  if (!pc || link.nativeState) return;
  DataChannelInit init;
  init.ordered = false;
  init.maxRetransmits = 0;
  std::shared_ptr<DataChannel> ch;
  if (Result r = pc->createDataChannel(kNativeStateLabel, init, ch); !r) {
    diag("datachannel", link.peer + ": could not open the state channel: " + r.error());
    return;
  }
  extraChannel(link, std::move(ch));
}

void NetworkImpl::dialOrReport(const std::string& id, NodeActions& out) {
  if (!dial(id)) node_.dialFailed(id, Clock::now(), out);
}

void NetworkImpl::incoming(const std::shared_ptr<PeerJsConnection>& conn) {
  const std::string from = conn->peer();
  const bool isState = conn->label() == kStateLabel;
  diag("signaling", "connection " + conn->label() + " from " + from);
  if (!node_.accepts(from)) {
    diag("signaling", "refused a connection from " + from + ": not accepting connections");
    conn->close();
    return;
  }
  const auto now = Clock::now();
  NodeActions actions;
  if (isState) {
    if (!node_.stateLaneCame(from, now, actions)) {
      conn->close();
      return;
    }
    Link& link = linkFor(from);
    if (link.state) link.state->close();
    link.state = conn;
    wireState(from, conn);
    execute(actions);
    return;
  }
  (void)node_.incoming(from, now, actions);
  Link& link = linkFor(from);
  if (link.data && link.data != conn) {
    // The same node again (it reconnected): the new connection replaces the old one.
    auto old = link.data;
    link.data.reset();
    old->close();
  }
  link.data = conn;
  wireData(from, conn);
  execute(actions);
}

void NetworkImpl::wireData(const std::string& peer, const std::shared_ptr<PeerJsConnection>& conn) {
  PeerJsConnection* raw = conn.get();
  conn->onOpen(guarded([peer, raw](NetworkImpl& s) { s.dataOpened(peer, raw); }));
  conn->onData(guarded([peer, raw](NetworkImpl& s, const json& value) {
    Link* link = s.find(peer);
    if (link && link->data.get() == raw) s.received(peer, value, Lane::Data);
  }));
  conn->onClose(guarded([peer, raw](NetworkImpl& s) {
    // A failure (ICE, DTLS, SCTP) reports an error first; a close without one was asked for.
    Link* link = s.find(peer);
    if (link && link->data.get() == raw) s.linkClosed(peer);
  }));
  conn->onError(guarded([peer, raw](NetworkImpl& s, const PeerJsError& err) {
    s.diag("datachannel", peer + ": " + err.text());
    // Only failures of the connection itself; a message that did not decode is no reason.
    Link* link = s.find(peer);
    const bool fatal =
        err.type == PeerJsErrorType::NegotiationFailed ||
        err.type == PeerJsErrorType::PeerUnavailable || err.type == PeerJsErrorType::PeerRejected ||
        err.type == PeerJsErrorType::Network || err.type == PeerJsErrorType::ConnectionClosed;
    if (link && link->data.get() == raw && fatal) link->lastError = err.text();
  }));
  conn->onStateChange(guarded([peer, raw](NetworkImpl& s, PeerState state) {
    Link* link = s.find(peer);
    if (link && link->data.get() == raw) s.transportState(peer, state);
  }));
  conn->onExtraChannel(guarded([peer, raw](NetworkImpl& s, std::shared_ptr<DataChannel> ch) {
    Link* link = s.find(peer);
    if (link && link->data.get() == raw) {
      s.extraChannel(*link, std::move(ch));
    } else {
      ch->close();
    }
  }));
}

void NetworkImpl::wireState(const std::string& peer,
                            const std::shared_ptr<PeerJsConnection>& conn) {
  PeerJsConnection* raw = conn.get();
  conn->onOpen(
      guarded([peer](NetworkImpl& s) { s.diag("datachannel", peer + ": state channel open"); }));
  conn->onData(guarded([peer, raw](NetworkImpl& s, const json& value) {
    Link* link = s.find(peer);
    if (link && link->state.get() == raw) s.received(peer, value, Lane::State);
  }));
  conn->onClose(guarded([peer, raw](NetworkImpl& s) {
    Link* link = s.find(peer);
    if (link && link->state.get() == raw) {
      link->state.reset();
      s.diag("datachannel", peer + ": state channel closed; state goes on the data channel");
    }
  }));
  conn->onError(guarded([peer](NetworkImpl& s, const PeerJsError& err) {
    s.diag("datachannel", peer + " (state): " + err.text());
  }));
}

void NetworkImpl::extraChannel(Link& link, std::shared_ptr<DataChannel> ch) {
  if (ch->label() != kNativeStateLabel) {
    diag("datachannel", link.peer + ": ignored an extra channel '" + ch->label() + "'");
    ch->close();
    return;
  }
  const std::string peer = link.peer;
  DataChannel* raw = ch.get();
  ch->onMessage(guarded([peer, raw](NetworkImpl& s, Message&& m) {
    Link* l = s.find(peer);
    if (!l || l->nativeState.get() != raw) return;
    json value;
    if (Result r = signaling::parseBoundedJson(m.data, value); !r) {
      s.diag("datachannel", peer + ": ignored a state message: " + r.error());
      return;
    }
    s.received(peer, value, Lane::State);
  }));
  ch->onClose(guarded([peer, raw](NetworkImpl& s) {
    Link* l = s.find(peer);
    if (l && l->nativeState.get() == raw) l->nativeState.reset();
  }));
  link.nativeState = std::move(ch);
  diag("datachannel", peer + ": in-band state channel");
}

// Verbose transport diagnostics, named by the remote node (and the channel when it is not the
// data connection's).
void NetworkImpl::transportDiagnostic(const std::string& peer, const std::string& label,
                                      const std::string& phase, const std::string& detail) {
  if (!verbose_) return;
  std::string text = detail;
  for (const char* which : {"local candidate ", "remote candidate "}) {
    if (detail.rfind(which, 0) == 0)
      text = std::string(which) + describeCandidate(detail.substr(std::strlen(which)));
  }
  const std::string who = label == kDataLabel ? peer : peer + " (" + label + ")";
  diag(phase, who + ": " + text);
}

void NetworkImpl::transportState(const std::string& peer, PeerState state) {
  if (isHost_ || peer != node_.hostId() || status_ != Network::Status::Connecting) return;
  if (state == PeerState::Connecting) node_.timeline().transportConnecting(Clock::now());
  if (state == PeerState::Connected) node_.timeline().transportConnected(Clock::now());
  syncPhase();
}

void NetworkImpl::dataOpened(const std::string& peer, PeerJsConnection* raw) {
  Link* link = find(peer);
  if (!link || link->data.get() != raw) return;
  NodeActions actions;
  node_.opened(peer, Clock::now(), actions);
  execute(actions);
}

void NetworkImpl::received(const std::string& peer, const json& value, Lane lane) {
  NodeActions actions;
  node_.received(peer, value, lane, Clock::now(), actions);
  execute(actions);
}

Result NetworkImpl::sendState(Link& link, Outgoing& out) {
  switch (link.stateRoute()) {
    case Link::StateRoute::Connection:
      return sendOn(link.state, out);
    case Link::StateRoute::InBand:
      return link.nativeState->sendBinary(out.bytes.data(), out.bytes.size());
    case Link::StateRoute::Data:
      break;
  }
  return sendOn(link.data, out);
}

Configuration NetworkImpl::rtcConfiguration() const {
  Configuration c;
  c.iceServers = iceServers_.empty() ? defaultIceServers() : iceServers_;
  c.localAddresses = iceLocalAddresses_;
  c.caFile = iceCaFile_;
  return c;
}

}  // namespace claynet::network
