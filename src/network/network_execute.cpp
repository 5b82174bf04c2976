// NetworkImpl: doing what NodeCore decided (execute()), and its one timer, set for NodeCore's
// next deadline or a lingering connection's.
#include "network/network_impl.hpp"

namespace claynet::network {

// What an action makes the core say next runs after the actions already there.
void NetworkImpl::execute(NodeActions& actions) {
  using Kind = NodeAction::Kind;
  for (std::size_t i = 0; i < actions.size(); ++i) {
    NodeActions more;
    NodeAction& a = actions[i];
    switch (a.kind) {
      case Kind::Send:
        sendAction(a);
        break;
      case Kind::Close:
        if (Link* l = find(a.peer)) {
          closeLink(*l);
          links_.erase(a.peer);
        }
        break;
      case Kind::OpenStateLane:
        if (Link* l = find(a.peer)) {
          if (a.native) {
            openStateChannel(*l);
          } else {
            openStateConnection(*l);
          }
        }
        break;
      case Kind::StartClockBurst:  // nextDeadline() has it
        break;
      case Kind::NodesChanged:
        notify(&Callbacks::nodesChanged);
        break;
      case Kind::NodeJoined:
        emitText(&Callbacks::nodeJoined, std::move(a.peer));
        break;
      case Kind::NodeLeft:
        emitText(&Callbacks::nodeLeft, std::move(a.peer));
        break;
      case Kind::Deliver: {
        auto& d = a.delivery;
        if (d.state) {
          emitState(std::move(d.origin), std::move(d.data), d.sentAt, std::move(d.key));
        } else {
          emitMessage(std::move(d.origin), std::move(d.data), d.sentAt);
        }
        break;
      }
      case Kind::ClientTokensChanged:
        notify(&Callbacks::clientTokensChanged);
        break;
      case Kind::SessionTimeSyncedChanged:
        syncSessionTimeSynced();
        break;
      case Kind::StatsChanged:
        notify(&Callbacks::peerStatsChanged);
        notify(&Callbacks::syncStatsChanged);
        break;
      case Kind::LatencyChanged:
        setLatency(node_.latency());
        break;
      case Kind::PhaseChanged:
        if (!a.value.is_null()) setPhaseTiming(std::move(a.value));
        syncPhase();
        break;
      case Kind::Connected:
        setStatus(Network::Status::Connected);
        break;
      case Kind::HostLost:
        hostGone(a);
        return;  // the session is over
      case Kind::Refused:
        refused(a);
        return;
      case Kind::RejectedLater:
        error(Network::ErrorCode::Rejected, std::move(a.text));
        break;
      case Kind::Diagnostic:
        diag(a.phase, std::move(a.text));
        break;
      case Kind::StartLocalServer:
        startLocalServer(a.text, more);
        break;
      case Kind::Register:
        if (Result r = openPeer(a.peer, registrationServer()); !r)
          node_.registerFailed(r.error(), more);
        break;
      case Kind::Unregister:
        dropPeer();
        for (auto& [id, link] : links_) closeLink(link);
        links_.clear();
        break;
      case Kind::Dial:
        dialOrReport(a.peer, more);
        break;
      case Kind::Hosted:
        setNodeId(a.peer);
        setNetworkId(a.text);
        setPhaseTiming(std::move(a.value));
        syncPhase();
        setStatus(Network::Status::Connected);
        // Clayground's order: status, acceptingJoins, then networkCreated.
        syncAcceptingJoins();
        emitText(&Callbacks::networkCreated, std::move(a.text));
        break;
      case Kind::Registered:
        setNodeId(a.peer);
        break;
      case Kind::AcceptingJoins:
        syncAcceptingJoins();
        break;
      case Kind::SignalingLost:
        notify(&Callbacks::signalingLost);
        break;
      case Kind::Failed:
        fatal(a.error, a.text, a.phase);
        return;
      case Kind::TimedOut:
        timedOut(std::move(a.text), std::move(a.phase));
        return;
    }
    actions.insert(actions.end(), std::make_move_iterator(more.begin()),
                   std::make_move_iterator(more.end()));
  }
}

// One value to one or more links, encoded once.
void NetworkImpl::sendAction(NodeAction& a) {
  Outgoing out;
  out.value = std::move(a.value);  // the action is spent: no copy per send
  if (Result r = encodeJson(out.value, out.bytes); !r) {
    diag("datachannel", "could not encode a message: " + r.error());
    return;
  }
  sendEach(a.peers, a.lane, out);
}

void NetworkImpl::sendEach(const std::vector<std::string>& peers, Lane lane, Outgoing& out) {
  std::string failures;
  for (const auto& id : peers) {
    Link* link = find(id);
    if (!link) continue;
    if (Result r = lane == Lane::State ? sendState(*link, out) : sendOn(link->data, out); !r)
      failures += (failures.empty() ? "" : "; ") + id + ": " + r.error();
  }
  if (!failures.empty()) diag("datachannel", "could not send to " + failures);
}

// Sets the timer for the earliest deadline, unless it is set for that or sooner already (or
// has fired and is about to run). Called when the outermost entry returns. The timer fires on the
// network thread; what is due runs inside poll(), on the application's thread.
void NetworkImpl::armTimer() {
  if (dead_) return;
  std::optional<Clock::time_point> due = node_.nextDeadline();
  for (const auto& l : lingering_)
    if (!due || l.deadline < *due) due = l.deadline;
  if (!due) {
    stopTimer();
    return;
  }
  if (timer_ && timerDue_ <= *due) return;
  stopTimer();
  timerDue_ = *due;
  timer_ = core_->postAfter(std::chrono::ceil<std::chrono::milliseconds>(*due - Clock::now()),
                            [network = weak_from_this(), core = std::weak_ptr(core_)] {
                              if (auto c = core.lock())
                                c->deliver([network] {
                                  if (auto s = network.lock()) {
                                    Entry e(*s);
                                    s->timerFired();
                                  }
                                });
                            });
}

void NetworkImpl::stopTimer() {
  if (!timer_) return;
  g_source_destroy(timer_);
  g_source_unref(timer_);
  timer_ = nullptr;
}

// What the transport has received on a link (counted on the network thread, so it also
// covers messages still waiting in the application's queue).
std::uint64_t NetworkImpl::receivedOn(const Link& link) {
  std::uint64_t n = 0;
  for (const auto& conn : {link.data, link.state})
    if (conn)
      if (auto ch = conn->dataChannel()) n += ch->counters().messagesReceived;
  if (link.nativeState) n += link.nativeState->counters().messagesReceived;
  return n;
}

void NetworkImpl::timerFired() {
  stopTimer();
  const auto now = Clock::now();
  if (inNetwork()) {
    // A late timer means this process did not run (starved or suspended): the others were not
    // silent meanwhile, we were deaf. That time does not count against them.
    if (const auto stall = stalls_.tick(now)) {
      diag("datachannel", "this node did not run for " +
                              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 *stall + kTickInterval)
                                                 .count()) +
                              " ms; not counted as silence of the others");
      node_.stalled(*stall, now);
    }
    for (auto& [id, link] : links_) {
      const std::uint64_t received = receivedOn(link);
      if (received != link.receivedAtTick) {
        link.receivedAtTick = received;
        node_.heard(id, now);
      }
    }
  }
  closeLingering(false);
  NodeActions actions;
  node_.handleTimeout(now, actions);
  execute(actions);
}

}  // namespace claynet::network
