#include "network/node_core.hpp"

#include <algorithm>
#include <cmath>

#include "claynet/network.hpp"
#include "network/link_supervision.hpp"

namespace claynet::network {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A refused joiner ("Network full") gets this long to read the refusal before its link closes.
constexpr auto kRejectCloseDelay = 1500ms;
// A host that is not claynet (an older Clayground) might send no roster: then the join completes
// without it after this long.
constexpr auto kRosterWait = 3000ms;
// Mesh: what a node may send before the host announced it, kept at most.
constexpr std::size_t kEarlyMessageLimit = 256;
constexpr auto kBurstInterval =
    std::chrono::milliseconds(static_cast<int>(SessionClock::kBurstIntervalMs));

}  // namespace

double NodeCore::ms(Time t) {
  return static_cast<double>(
             std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count()) /
         1000.0;
}

// ---- the session ----

void NodeCore::hosting(const NodeSettings& settings, Time now) {
  clear();
  settings_ = settings;
  host_ = true;
  stage_ = Stage::Connecting;
  stateSeq_ = 0;
  clock_.start(ms(now));
  members_.hosting();
  admission_.start(settings.appId, settings.password, settings.maxNodes);
}

void NodeCore::registered(const std::string& self) {
  self_ = self;
  stage_ = Stage::Connected;
}

void NodeCore::joining(const std::string& self, const std::string& hostId,
                       const NodeSettings& settings, Time) {
  links_.clear();  // a retry under another id starts over
  settings_ = settings;
  host_ = false;
  stage_ = Stage::Connecting;
  stateSeq_ = 0;
  self_ = self;
  hostId_ = hostId;
  members_.joining(self, hostId, settings.mesh);
}

bool NodeCore::clear() {
  links_.clear();
  const bool tokens = admission_.clear();
  members_.clear();
  inbound_.clear();
  batcher_.clear();
  timeline_.end();
  stage_ = Stage::Idle;
  host_ = false;
  self_.clear();
  hostId_.clear();
  burstLeft_ = 0;
  latency_ = -1;
  role_ = Role::None;
  networkId_.clear();
  accepting_ = signalingDown_ = registeredOnce_ = false;
  hostTries_ = joinerTries_ = 0;
  return tokens;
}

// ---- links ----

NodeCore::Link* NodeCore::find(const std::string& peer) {
  auto it = links_.find(peer);
  return it == links_.end() ? nullptr : &it->second;
}
const NodeCore::Link* NodeCore::find(const std::string& peer) const {
  auto it = links_.find(peer);
  return it == links_.end() ? nullptr : &it->second;
}

NodeCore::Link& NodeCore::linkFor(const std::string& peer, Time now) {
  auto [it, inserted] = links_.try_emplace(peer);
  if (inserted) {
    it->second.peer = peer;
    it->second.created = now;
  }
  return it->second;
}

bool NodeCore::accepts(const std::string& peer) const {
  if (host_) return stage_ == Stage::Connected;
  // Mesh: nodes that join after us dial us; so does anyone the roster names while we join.
  return stage_ != Stage::Idle && members_.acceptsLinkFrom(peer);
}

bool NodeCore::incoming(const std::string& peer, Time now, NodeActions& out) {
  const Link* existing = find(peer);
  bool reject = false;
  if (host_ && !(existing && members_.contains(peer))) {
    int holding = 0;
    for (const auto& [id, l] : links_)
      if (id != peer && l.hasData && !l.rejecting) ++holding;
    reject = !admission_.fits(holding);
  }
  Link& link = linkFor(peer, now);
  link.dataOpen = false;  // a node that connects again: the new connection replaces the old
  link.hasData = true;
  link.created = now;  // kOpenLimit counts from this connection, not an older one
  link.rejecting = reject;
  // A joiner's links from other joiners (Mesh) have no handshake.
  link.wire = host_ ? Wire::Unknown : Wire::Seed;
  if (reject) diag(out, "refusing " + peer + ": the network is full", "signaling");
  return !reject;
}

void NodeCore::dialing(const std::string& peer, Time now) {
  Link& link = linkFor(peer, now);
  link.hasData = true;
  // To the host, the handshake decides; the others (Mesh) have none.
  if (peer != hostId_) link.wire = Wire::Seed;
}

bool NodeCore::stateLaneCame(const std::string& peer, Time now, NodeActions& out) {
  Link& link = linkFor(peer, now);
  if (link.rejecting) return false;
  // Only a seed-era node opens a clay_state connection.
  if (host_ && !members_.contains(peer))
    if (auto d = admission_.pending().legacySign(peer)) decide(*d, now, out);
  return true;
}

void NodeCore::opened(const std::string& peer, Time now, NodeActions& out) {
  Link* link = find(peer);
  if (!link || stage_ == Stage::Idle) return;
  link->dataOpen = true;
  link->opened = now;
  link->liveness = LinkLiveness(now);
  diag(out, peer + ": data channel open");
  if (host_) {
    if (link->rejecting) {
      sendValue(peer, envelopeToJson(makeReject(Network::kNetworkFullMessage)), out);
      link->rejectDeadline = now + kRejectCloseDelay;
      return;
    }
    // Nothing goes to a joiner before the handshake decided about it.
    if (auto d = admission_.pending().opened(peer, now)) decide(*d, now, out);
    return;
  }
  if (peer == hostId_) {
    if (stage_ == Stage::Connecting && timeline_.channelOpen(now))
      out.push_back({NodeAction::Kind::PhaseChanged});
    // The hello goes first: a current host judges the first message it gets.
    sendValue(peer, makeHello(settings_.appId, settings_.password, settings_.clientToken), out);
    return;
  }
  ping(*link, now, out);
  // Mesh: another node.
  Membership::Events events;
  members_.linkOpened(peer, events);
  apply(events, now, out);
  maybeJoined(now, out);
}

void NodeCore::heard(const std::string& peer, Time now) {
  if (Link* link = find(peer)) link->liveness.heard(now);
}

void NodeCore::closed(const std::string& peer, const std::string& why, Time now, NodeActions& out) {
  lost(peer, Loss::Closed, why, now, out);
}

void NodeCore::dialFailed(const std::string& peer, Time now, NodeActions& out) {
  if (!host_ && stage_ == Stage::Connecting && peer == hostId_) {
    fail(Network::ErrorCode::CouldNotConnect,
         "could not open a connection to the host " + networkId_, out);
    return;
  }
  Membership::Events events;
  (void)members_.linkGone(peer, events);
  apply(events, now, out);
  maybeJoined(now, out);
}

// ---- the handshake and the join ----

// Host: what the handshake decided about a pending joiner.
void NodeCore::decide(const PendingJoiners::Decision& d, Time now, NodeActions& out) {
  Link* link = find(d.id);
  if (!link || !link->dataOpen) return;
  AdmissionStep step = admission_.decide(d, self_, clock_.sessionTime(ms(now)), members_);
  for (auto& note : step.notes) diag(out, std::move(note));
  if (!step.reply.is_null()) sendValue(d.id, step.reply, out);
  if (step.outcome == AdmissionStep::Outcome::Refused) {
    link->rejecting = true;
    link->rejectDeadline = now + kRefusalCloseDelay;
    if (step.wasMember) lost(d.id, Loss::Goodbye, "", now, out);  // it was in, on another link
    return;
  }
  link->wire = step.outcome == AdmissionStep::Outcome::Welcomed ? Wire::V5 : Wire::Seed;
  if (step.tokensChanged) out.push_back({NodeAction::Kind::ClientTokensChanged});
  ping(*link, now, out);
  apply(step.events, now, out);
}

// Joiner: the host's first message on the data channel.
void NodeCore::hostReplied(Link& link, const json& value, Time now, NodeActions& out) {
  Reply reply = judgeReply(value, hostId_);
  if (reply.kind == Reply::Kind::Refused) {
    refusedBy(std::move(reply.refusal), "", out);
    return;
  }
  const bool current = reply.kind == Reply::Kind::Welcome;
  link.wire = current ? Wire::V5 : Wire::Seed;
  diag(out, current ? "welcomed by " + hostId_
                    : "the host sent no welcome: a host of the seeds' protocol");
  NodeAction lane{NodeAction::Kind::OpenStateLane};
  lane.peer = link.peer;
  lane.native = current;
  out.push_back(std::move(lane));
  if (current) {
    if (reply.sessionMs >= 0) clock_.seed(reply.sessionMs, ms(now));
    // The clock's burst: 64 pings 50 ms apart, the first now.
    burstLeft_ = static_cast<int>(SessionClock::kWindow);
    (void)clockBurst(now, out);
    nextBurst_ = now + kBurstInterval;
    out.push_back({NodeAction::Kind::StartClockBurst});
  } else {
    ping(link, now, out);
  }
  members_.welcomed();
  if (!current) received(hostId_, value, Lane::Data, now, out);  // its first message counts too
  maybeJoined(now, out);
}

void NodeCore::maybeJoined(Time now, NodeActions& out) {
  if (host_ || stage_ != Stage::Connecting) return;
  const Link* hostLink = find(hostId_);
  if (!hostLink || !hostLink->dataOpen || hostLink->wire == Wire::Unknown || !members_.settled())
    return;
  json timing = timeline_.joined(now);
  diag(out, "joined " + hostId_ + " in " + timing["total"].dump() + " ms (" + timing.dump() + ")");
  NodeAction phase{NodeAction::Kind::PhaseChanged};
  phase.value = std::move(timing);
  out.push_back(std::move(phase));
  Membership::Events events;
  members_.connect(events);
  apply(events, now, out);
}

std::optional<NodeCore::Time> NodeCore::nextDeadline() const {
  if (stage_ == Stage::Idle) return std::nullopt;
  Time due = burstLeft_ > 0 ? std::min(nextTick_, nextBurst_) : nextTick_;
  if (members_.dialsQueued()) due = std::min(due, dialsDue_);
  return due;
}

void NodeCore::handleTimeout(Time now, NodeActions& out) {
  const std::size_t first = out.size();
  if (burstLeft_ > 0 && now >= nextBurst_ && clockBurst(now, out))
    nextBurst_ = now + kBurstInterval;
  if (stage_ != Stage::Idle && now >= nextTick_) {
    nextTick_ = now + kTickInterval;
    tick(now, out);
  }
  // Mesh: one dial per call, the next due at once. Each dial waits for the network thread, and
  // an executor's event loop must still answer the pings in between. Last, so that a tick that
  // ended the join (timed out, the host silent) sends no offer for it.
  if (stage_ != Stage::Connecting || !members_.dialsQueued() || now < dialsDue_) return;
  const bool ended = std::any_of(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                                 [](const NodeAction& a) { return endsTheSession(a.kind); });
  if (ended) return;
  if (auto id = members_.nextDial()) {
    NodeAction dial{NodeAction::Kind::Dial};
    dial.peer = std::move(*id);
    out.push_back(std::move(dial));
  }
}

bool NodeCore::clockBurst(Time now, NodeActions& out) {
  Link* h = host_ ? nullptr : find(hostId_);
  if (burstLeft_ <= 0 || !h || !h->dataOpen || stage_ == Stage::Idle) {
    burstLeft_ = 0;
    return false;
  }
  --burstLeft_;
  ping(*h, now, out);
  return true;
}

// ---- receiving ----

void NodeCore::received(const std::string& peer, const json& value, Lane lane, Time now,
                        NodeActions& out) {
  Link* link = find(peer);
  if (!link || stage_ == Stage::Idle) return;
  const bool viaState = lane == Lane::State;
  link->liveness.heard(now);  // anything heard answers the ping
  if (link->wire == Wire::Unknown) {
    if (viaState) return;  // nothing counts before the handshake
    if (!host_) {
      if (peer == hostId_) hostReplied(*link, value, now, out);
      return;
    }
    // Refused, or its channel is not open.
    if (!admission_.pending().pending(peer)) return;
    const PendingJoiners::Decision d = admission_.pending().firstMessage(peer, value);
    decide(d, now, out);
    // A seed-era node's first message is one of the network's.
    if (d.kind != PendingJoiners::Decision::Kind::AdmitLegacy) return;
    link = find(peer);
    if (!link) return;
  }
  if (isHandshakeMessage(value)) {
    // Clayground: a refusal after the welcome is only reported.
    if (!host_ && peer == hostId_ && value.value("t", "") == "R") {
      auto r = value.find("r");
      NodeAction a{NodeAction::Kind::RejectedLater};
      a.text = r != value.end() && r->is_string() && !r->get<std::string>().empty()
                   ? r->get<std::string>()
                   : std::string("Connection rejected");
      out.push_back(std::move(a));
    }
    return;
  }
  Envelope env;
  if (Result r = decodeEnvelope(value, env); !r) {
    diag(out, "ignored a message from " + peer + ": " + r.error());
    return;
  }
  switch (env.kind) {
    case EnvelopeKind::Ping: {
      json reply = {{"t", "P"}, {"ts", value.at("ts")}};
      // Clayground's session time: a joiner's clock follows the host's pongs.
      if (clock_.valid()) reply["st"] = clock_.sessionTime(ms(now));
      sendValue(peer, std::move(reply), out);
      return;
    }
    case EnvelopeKind::Pong:
      pong(*link, value, env, now, out);
      return;
    case EnvelopeKind::Reject:
      return;  // handled with the handshake above
    case EnvelopeKind::System:
      system(*link, env, now, out);
      return;
    case EnvelopeKind::Message:
    case EnvelopeKind::State:
    case EnvelopeKind::Batch:
      break;
  }
  if (viaState || env.kind != EnvelopeKind::Message) ++link->stateRecv;
  InboundContext ctx;
  ctx.host = host_;
  ctx.self = self_;
  ctx.hostId = hostId_;
  ctx.relay = settings_.autoRelay && !settings_.mesh;
  if (host_) ctx.readyJoiners = readyPeers();
  InboundOutcome in = inbound_.take(peer, env, ctx, members_, ms(now));
  for (auto& note : in.notes) diag(out, std::move(note));
  if (in.early) {
    if (link->early.size() < kEarlyMessageLimit) link->early.push_back(value);
    return;
  }
  for (auto& d : in.deliveries) {
    NodeAction a{NodeAction::Kind::Deliver};
    a.delivery = std::move(d);
    out.push_back(std::move(a));
  }
  // Host: a joiner's message or state, on to the others.
  std::vector<std::string> targets;
  for (const auto& id : in.forwardTo)
    if (const Link* t = find(id); t && t->dataOpen) targets.push_back(id);
  send(std::move(targets), in.forwarded,
       env.kind == EnvelopeKind::Message ? Lane::Data : Lane::State, out);
}

void NodeCore::pong(Link& link, const json& value, const Envelope& env, Time now,
                    NodeActions& out) {
  const double nowMs = ms(now);
  const double sent = value.at("ts").get<double>();
  const double rtt = nowMs - sent;
  if (rtt < 0 || rtt > 60000) return;  // not one of ours
  link.rtt.sample(rtt);
  if (!host_ && link.peer == hostId_ && link.wire == Wire::V5 && env.sessionMs) {
    const bool wasSynced = clock_.synced();
    clock_.sample(sent, nowMs, *env.sessionMs);
    if (clock_.synced() != wasSynced) out.push_back({NodeAction::Kind::SessionTimeSyncedChanged});
  }
  updateLatency(out);
  // Clayground refreshes both with the pongs.
  out.push_back({NodeAction::Kind::StatsChanged});
}

void NodeCore::system(Link& link, const Envelope& env, Time now, NodeActions& out) {
  Membership::Events events;
  members_.system(
      link.peer, env,
      [this](const std::string& id) {
        const Link* l = find(id);
        return !l            ? Membership::LinkState::None
               : l->dataOpen ? Membership::LinkState::Open
                             : Membership::LinkState::Opening;
      },
      events);
  if (env.sys == "roster" && members_.dialsQueued()) dialsDue_ = now;
  apply(events, now, out);
  maybeJoined(now, out);  // a roster, or a node_left of the last node still to be dialed
}

// Does what the membership says, in its order.
void NodeCore::apply(const Membership::Events& events, Time now, NodeActions& out) {
  using Kind = Membership::Event::Kind;
  for (const auto& e : events) {
    if (stage_ == Stage::Idle) return;  // the session ended on the way
    switch (e.kind) {
      case Kind::NodesChanged:
        out.push_back({NodeAction::Kind::NodesChanged});
        break;
      case Kind::Joined:
      case Kind::Left: {
        NodeAction a{e.kind == Kind::Joined ? NodeAction::Kind::NodeJoined
                                            : NodeAction::Kind::NodeLeft};
        a.peer = e.id;
        out.push_back(std::move(a));
        break;
      }
      case Kind::Forget:
        inbound_.forget(e.id);
        break;
      case Kind::Member:
        // What it sent before the host announced it counts now.
        if (Link* l = find(e.id)) {
          auto early = std::move(l->early);
          l->early.clear();
          for (const auto& value : early) received(e.id, value, Lane::Data, now, out);
        }
        break;
      case Kind::Drop:
        lost(e.id, Loss::Goodbye, "", now, out);
        break;
      case Kind::HostLeft: {
        // The host's goodbye ends the session whether the join completed or not (Clayground's
        // host-left, never a failure to connect).
        hostLost(Loss::Goodbye, out);
        return;
      }
      case Kind::Connected:
        stage_ = Stage::Connected;
        out.push_back({NodeAction::Kind::Connected});
        break;
      case Kind::Send:
        if (ready(e.id)) send({e.id}, e.envelope, Lane::Data, out);
        break;
    }
  }
}

bool NodeCore::isReady(const Link& link) const {
  return link.dataOpen && link.wire != Wire::Unknown && members_.contains(link.peer);
}

bool NodeCore::ready(const std::string& peer) const {
  const Link* l = find(peer);
  return l && isReady(*l);
}

std::vector<std::string> NodeCore::readyPeers() const {
  std::vector<std::string> out;
  for (const auto& [id, l] : links_)
    if (isReady(l)) out.push_back(id);
  return out;
}

// ---- losing links and nodes ----

// By value: callers may pass a link's own name, and the link goes away in here.
void NodeCore::lost(std::string peer, Loss loss, const std::string& why, Time now,
                    NodeActions& out) {
  if (!find(peer)) return;
  if (!host_ && peer == hostId_) {
    // Once the channel is open (the hello sent), Clayground ends a join through loseHost too
    // (clayground-wire.md §3.3); before that, the host was never reached.
    if (stage_ == Stage::Connecting && timeline_.connectingPhase() != "handshake") {
      std::string because = ": " + why;
      if (why.empty())
        because = loss == Loss::Silent ? ": it did not answer for " +
                                             std::to_string(settings_.gracePeriod.count()) + " ms"
                                       : ": the connection closed";
      fail(Network::ErrorCode::CouldNotConnect,
           "Could not connect to the host " + networkId_ + " in phase " +
               timeline_.connectingPhase() + because,
           out);
      stage_ = Stage::Idle;
    } else if (stage_ == Stage::Connecting || stage_ == Stage::Connected) {
      hostLost(loss, out);
    }
    return;
  }
  links_.erase(peer);
  NodeAction close{NodeAction::Kind::Close};
  close.peer = peer;
  out.push_back(std::move(close));
  const bool tokensChanged = admission_.forget(peer);
  diag(out, peer + (loss == Loss::Goodbye ? ": said goodbye"
                    : loss == Loss::Closed
                        ? ": link closed"
                        : ": did not answer for " + std::to_string(settings_.gracePeriod.count()) +
                              " ms; dropped"));
  Membership::Events events;
  if (host_) {
    if (!members_.removed(peer, events)) return;
    if (tokensChanged) out.push_back({NodeAction::Kind::ClientTokensChanged});
    apply(events, now, out);
    updateLatency(out);
    return;
  }
  // Mesh: another node.
  const bool waited = members_.linkGone(peer, events);
  if (waited) diag(out, "could not link to " + peer + (why.empty() ? "" : ": " + why));
  apply(events, now, out);
  if (waited) maybeJoined(now, out);
  updateLatency(out);
}

// ---- time ----

void NodeCore::stalled(Clock::duration stall, Time now) {
  for (auto& [id, link] : links_) link.liveness.stalled(stall, now);
}

void NodeCore::tick(Time now, NodeActions& out) {
  if (stage_ == Stage::Idle || timedOut(now, out)) return;
  std::vector<std::string> silent, unwanted, neverOpened;
  for (auto& [id, link] : links_) {
    LinkFacts facts;
    facts.dataOpen = link.dataOpen;
    facts.rejecting = link.rejecting;
    facts.handshakeDone = link.wire != Wire::Unknown;
    facts.member = members_.contains(id);
    facts.weAreHost = host_;
    facts.toHost = !host_ && id == hostId_;
    facts.created = link.created;
    facts.rejectDeadline = link.rejectDeadline;
    facts.openLimit = settings_.openLimit;
    switch (judgeLink(facts, link.liveness, now, settings_.gracePeriod)) {
      case LinkVerdict::Keep:
        break;
      case LinkVerdict::Ping:
        ping(link, now, out);
        break;
      case LinkVerdict::Silent:
        if (host_ && !facts.handshakeDone) admission_.pending().forget(id);
        silent.push_back(id);
        break;
      case LinkVerdict::Unwanted:
        unwanted.push_back(id);
        break;
      case LinkVerdict::NeverOpened:
        neverOpened.push_back(id);
        break;
    }
  }
  if (host_)
    for (const auto& d : admission_.pending().due(now)) decide(d, now, out);
  for (const auto& id : unwanted) {
    if (links_.erase(id)) {
      NodeAction close{NodeAction::Kind::Close};
      close.peer = id;
      out.push_back(std::move(close));
    }
    admission_.pending().forget(id);
  }
  for (const auto& id : silent) {
    if (stage_ == Stage::Idle) return;  // gone with the host
    lost(id, Loss::Silent, "", now, out);
  }
  for (const auto& id : neverOpened) {
    if (stage_ == Stage::Idle) return;
    lost(id, Loss::Closed,
         "its channel did not open within " + std::to_string(settings_.openLimit.count()) + " ms",
         now, out);  // forgets it in the admission too
  }
  // A host that sends no roster (not claynet): the join completes without it.
  if (!host_ && stage_ == Stage::Connecting && !members_.rosterReceived()) {
    const Link* h = find(hostId_);
    if (h && h->dataOpen && h->wire != Wire::Unknown && now - h->opened >= kRosterWait) {
      diag(out, "the host sent no roster; going on without it");
      members_.rosterMissing();
      maybeJoined(now, out);
    }
  }
}

// ---- sending ----

void NodeCore::ping(Link& link, Time now, NodeActions& out) {
  link.liveness.pinged(now);
  // Local monotonic ms, to the microsecond: only this node reads it back (RTT, clock samples).
  sendValue(link.peer, {{"t", "p"}, {"ts", std::round(ms(now) * 1000) / 1000}}, out);
}

void NodeCore::updateLatency(NodeActions& out) {
  int best = -1;
  for (const auto& [id, l] : links_) {
    const int r = l.rtt.rounded();
    if (l.dataOpen && r >= 0 && (best < 0 || r < best)) best = r;
  }
  if (best == latency_) return;
  latency_ = best;
  out.push_back({NodeAction::Kind::LatencyChanged});
}

void NodeCore::sendValue(const std::string& peer, json value, NodeActions& out) {
  NodeAction a{NodeAction::Kind::Send};
  a.peers = {peer};
  a.value = std::move(value);
  out.push_back(std::move(a));
}

void NodeCore::send(std::vector<std::string> peers, const Envelope& env, Lane lane,
                    NodeActions& out) {
  if (peers.empty()) return;
  if (lane == Lane::State)
    for (const auto& p : peers)
      if (Link* l = find(p)) ++l->stateSent;
  NodeAction a{NodeAction::Kind::Send};
  a.peers = std::move(peers);
  a.lane = lane;
  a.value = envelopeToJson(env);
  out.push_back(std::move(a));
}

// Clayground's host loss (#376): its reason and text per cause.
void NodeCore::hostLost(Loss loss, NodeActions& out) {
  stage_ = Stage::Idle;
  NodeAction a{NodeAction::Kind::HostLost};
  a.loss = loss;
  switch (loss) {
    case Loss::Goodbye:
      a.reason = "host-left";
      a.text = Network::kHostLeftMessage;
      a.error = Network::ErrorCode::HostLeft;
      break;
    case Loss::Silent:
      a.reason = "host-timeout";
      a.text =
          "The host did not answer for " + std::to_string(settings_.gracePeriod.count()) + " ms";
      a.error = Network::ErrorCode::HostTimeout;
      break;
    case Loss::Closed:
      a.reason = "connection-lost";
      a.text = Network::kHostLostMessage;
      a.error = Network::ErrorCode::HostConnectionLost;
      break;
  }
  out.push_back(std::move(a));
}

// Joiner: the host turned us away; "Network full" is a code of its own.
void NodeCore::refusedBy(Refusal refusal, const char* phase, NodeActions& out) {
  stage_ = Stage::Idle;
  NodeAction a{NodeAction::Kind::Refused};
  a.error = refusal.message == Network::kNetworkFullMessage ? Network::ErrorCode::NetworkFull
                                                            : Network::ErrorCode::JoinRefused;
  a.refusal = std::move(refusal);
  a.phase = phase;
  out.push_back(std::move(a));
}

void NodeCore::diag(NodeActions& out, std::string text, const char* phase) {
  NodeAction a{NodeAction::Kind::Diagnostic};
  a.text = std::move(text);
  a.phase = phase;
  out.push_back(std::move(a));
}

// ---- commands ----

Envelope NodeCore::message(json data, Time now) {
  Envelope e = makeMessage(std::move(data));
  // Clayground: a message says when it was sent only with a clock.
  if (clock_.valid()) e.sentAt = clock_.sessionTime(ms(now));
  return e;
}

Envelope NodeCore::state(json data, Time now) {
  Envelope e = makeState(stateSeq_ + 1, std::move(data));
  // A state always says when it was sent: -1 without a clock.
  e.sentAt = clock_.sessionTime(ms(now));
  return e;
}

std::vector<std::string> NodeCore::broadcast(const Envelope& env) {
  const bool state = env.kind != EnvelopeKind::Message;
  if (state) ++stateSeq_;
  std::vector<std::string> peers = readyPeers();
  if (state)
    for (const auto& p : peers) ++links_.at(p).stateSent;
  return peers;
}

std::optional<std::string> NodeCore::route(const std::string& target, std::string& why) const {
  if (target == self_) {
    why = "\"" + target + "\" is this node";
    return std::nullopt;
  }
  if (!members_.contains(target)) {
    why = "unknown node \"" + target + "\" (not in nodes; it may have left)";
    return std::nullopt;
  }
  if (const Link* direct = find(target); direct && direct->dataOpen) return target;
  const Link* hostLink = host_ ? nullptr : find(hostId_);
  if (!hostLink || !hostLink->dataOpen) {
    why = "no link to \"" + target + "\" and none to the host";
    return std::nullopt;
  }
  return hostId_;
}

void NodeCore::queueState(const std::string& key, json data) {
  const std::size_t bytes = StateBatcher::entryBytes(key, data);
  batcher_.queue(key, std::move(data), bytes);
}

void NodeCore::flushState(Time now, NodeActions& out) {
  if (batcher_.empty()) return;
  if (stage_ != Stage::Connected) {
    batcher_.clear();
    return;
  }
  for (auto& batch : batcher_.flush(stateSeq_, clock_.sessionTime(ms(now))))
    send(readyPeers(), batch, Lane::State, out);
}

void NodeCore::goodbyes(NodeActions& out) {
  if (self_.empty()) return;
  std::vector<std::string> current, seed;
  for (const auto& [id, l] : links_) {
    if (!l.dataOpen || l.rejecting || l.wire == Wire::Unknown) continue;
    (l.wire == Wire::V5 ? current : seed).push_back(id);
  }
  send(std::move(current), makeGoodbye(), Lane::Data, out);
  send(std::move(seed), makeNodeLeft(self_), Lane::Data, out);
}

// ---- what it knows ----

NodeCore::LinkInfo NodeCore::Link::info() const {
  LinkInfo i;
  i.dataOpen = dataOpen;
  i.rejecting = rejecting;
  i.wire = wire;
  i.rtt = rtt.rounded();
  i.stateSent = stateSent;
  i.stateRecv = stateRecv;
  return i;
}

std::optional<NodeCore::LinkInfo> NodeCore::link(const std::string& peer) const {
  const Link* l = find(peer);
  if (!l) return std::nullopt;
  return l->info();
}

std::vector<std::string> NodeCore::linkPeers() const {
  std::vector<std::string> out;
  for (const auto& [id, l] : links_) out.push_back(id);
  return out;
}

}  // namespace claynet::network
