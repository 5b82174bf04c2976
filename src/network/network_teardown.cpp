// NetworkImpl: losing links and nodes, and ending a session: goodbyes, lingering connections,
// teardown.
#include "network/network_impl.hpp"

namespace claynet::network {

void NetworkImpl::closeLink(Link& link) {
  for (auto& conn : {link.data, link.state})
    if (conn) conn->close();
  if (link.nativeState) link.nativeState->close();
}

// The data link to `peer` closed or failed.
void NetworkImpl::linkClosed(const std::string& peer) {
  Link* link = find(peer);
  if (!link) return;
  NodeActions actions;
  node_.closed(peer, link->lastError, Clock::now(), actions);
  execute(actions);
}

// Joiner: the host turned us away, in its handshake or (a full native Clayground host) at
// signaling.
void NetworkImpl::refused(const NodeAction& a) {
  const Refusal& refusal = a.refusal;
  diag(a.phase.empty() ? "datachannel" : a.phase,
       "the host refused us: " + reasonCode(refusal) + ": " + refusal.message);
  std::string phase = phase_;
  // Clayground's order: torn down with status Error, then joinRefused, then errorOccurred.
  teardown(false);
  setStatus(Network::Status::Error);
  queue([this, refusal] {
    auto f = cb_.joinRefused;
    if (f) f(reasonCode(refusal), refusal.message);
  });
  error(a.error, refusal.message, std::move(phase));
}

// Clayground's host loss (#376): the reason first, then the teardown (Disconnected), nodeLeft
// for every node, hostLost and errorOccurred.
void NetworkImpl::hostGone(const NodeAction& a) {
  std::vector<std::string> gone = node_.members().nodes();
  const bool wasConnected = status_ == Network::Status::Connected;
  std::string phase = phase_;  // lost while joining: the error says in which phase
  setHostLostReason(a.reason);
  teardown(false);
  setStatus(Network::Status::Disconnected);
  if (wasConnected)
    for (const auto& id : gone) emitText(&Callbacks::nodeLeft, id);
  queue([this, reason = a.reason, message = a.text] {
    auto f = cb_.hostLost;
    if (f) f(reason, message);
  });
  error(a.error, a.text, std::move(phase));
}

void NetworkImpl::setHostLostReason(std::string reason) {
  if (hostLostReason_ == reason) return;
  hostLostReason_ = std::move(reason);
  notify(&Callbacks::hostLostReasonChanged);
}

// `phase`: the one it failed in, as the core saw it before the teardown.
void NetworkImpl::fatal(Network::ErrorCode code, const std::string& message, std::string phase) {
  teardown(false);
  error(code, message, std::move(phase));
  setStatus(Network::Status::Error);
}

void NetworkImpl::timedOut(std::string message, std::string phase) {
  // Stuck looking for a path to the host: say what ICE tried and what would help.
  if (!isHost_ && phase_ == "ice")
    if (Link* link = find(node_.hostId()); link && link->data)
      if (auto pc = link->data->peerConnection())
        message += ": no path formed " + explainIceFailure(pc->iceStats());
  notify(&Callbacks::connectionTimedOut);
  fatal(Network::ErrorCode::TimedOut, message, std::move(phase));
}

// Closes everything of the current session; the status is the caller's to set. With `linger`,
// open data links stay a moment so that goodbyes sent just before can leave.
void NetworkImpl::teardown(bool linger) {
  Lingering later;
  later.deadline = Clock::now() + kLingerTime;
  for (auto& [id, link] : links_) {
    const auto info = node_.link(id);
    if (linger && info && info->dataOpen) {
      for (auto& conn : {link.data, link.state})
        if (conn) later.connections.push_back(conn);
      if (link.nativeState) link.nativeState->close();
    } else {
      closeLink(link);
    }
  }
  links_.clear();
  if (peer_) {
    if (!later.connections.empty()) {
      peer_->disconnect();  // the code is free again at once; the connections stay a moment
      later.peer = peer_;
    } else {
      peer_->destroy();
    }
    peer_.reset();
    ++peerGen_;
  }
  if (!later.connections.empty()) lingering_.push_back(std::move(later));
  if (server_) {
    server_->stop();
    server_.reset();
  }
  const bool hadNodes = !node_.members().nodes().empty();
  if (node_.clear()) notify(&Callbacks::clientTokensChanged);
  syncAcceptingJoins();
  if (hadNodes) {
    notify(&Callbacks::nodesChanged);
  }
  syncPhase();
  setNetworkId("");
  setNodeId("");
  setIsHost(false);
  setLatency(-1);
  if (verbose_) notify(&Callbacks::peerStatsChanged);
}

void NetworkImpl::closeLingering(bool all) {
  const auto now = Clock::now();
  for (auto it = lingering_.begin(); it != lingering_.end();) {
    if (all || now >= it->deadline) {
      for (auto& conn : it->connections) conn->close();
      if (it->peer) it->peer->destroy();
      it = lingering_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace claynet::network
