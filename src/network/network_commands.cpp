// NetworkImpl: the application's commands (host, join, leave, send, the settings that take effect
// at once), the session's start and end, and what it reads back (stats, session time).
#include "claynet/lan_code.hpp"
#include "network/network_impl.hpp"

namespace claynet::network {

// These two may change in a network too.
void NetworkImpl::setAutoRelay(bool on) {
  autoRelay_ = on;
  node_.setAutoRelay(on);
}

void NetworkImpl::setGracePeriod(int ms) {
  gracePeriodMs_ = ms;
  node_.setGracePeriod(std::chrono::milliseconds(ms));
}

Result NetworkImpl::configurable(const char* what) const {
  if (inNetwork())
    return Result::failure(std::string("cannot change ") + what +
                           " while in a network; call leave() first");
  return {};
}

bool NetworkImpl::inNetwork() const {
  return status_ == Network::Status::Connecting || status_ == Network::Status::Connected;
}

Result NetworkImpl::host() {
  Entry entry(*this);
  if (inNetwork())
    return Result::failure("host(): already " + std::string(hostOrJoinState()) +
                           "; call leave() first");
  if (Result r = checkRuntime(); !r) return r;
  resetSession();
  NodeActions actions;
  node_.host(settings(), mode_ == Network::SignalingMode::Local, Clock::now(), actions);
  setIsHost(true);
  beginAttempt();
  execute(actions);
  return attemptResult();
}

Result NetworkImpl::join(const std::string& rawCode) {
  Entry entry(*this);
  std::string code = rawCode;
  auto notSpace = [](unsigned char c) { return !std::isspace(c); };
  code.erase(code.begin(), std::find_if(code.begin(), code.end(), notSpace));
  code.erase(std::find_if(code.rbegin(), code.rend(), notSpace).base(), code.end());
  if (code.empty()) return Result::failure("join(): the network code is empty");
  if (inNetwork())
    return Result::failure("join(): already " + std::string(hostOrJoinState()) +
                           "; call leave() first");
  if (Result r = checkRuntime(); !r) return r;
  PeerJsServer server;
  if (isLanCode(code)) {
    std::string address, secret;
    std::uint16_t port = 0;
    if (Result r = decodeLanCode(code, address, port, secret); !r) {
      // Clayground's exact text; what is wrong goes to the diagnostics and join()'s Result.
      diag("signaling", "Invalid LAN code \"" + code + "\": " + r.error());
      error(Network::ErrorCode::InvalidCode, Network::kInvalidLanCodeMessage);
      setStatus(Network::Status::Error);
      return Result::failure("Invalid LAN code \"" + code + "\": " + r.error());
    }
    server = lanServer(address, port, secret);
  } else if (isValidNetworkCode(code)) {
    server = cloudServer();
  } else {
    return refuseCode("Invalid network code \"" + code +
                      "\": a code has 6 characters from ABCDEFGHJKLMNPQRSTUVWXYZ23456789, or "
                      "is a LAN code such as L1HGE14A-6Y0-K7QP2MXA");
  }
  resetSession();
  setIsHost(false);
  const std::string networkId = normalizeNetworkCode(code);
  setNetworkId(networkId);
  // A LAN code with a secret (Clayground's, claynet's since wire version 5) names a host that
  // registered as HOST; claynet's older two-part codes name a host registered as the code.
  const std::string hostId =
      server.lanSecret.empty() ? networkId : std::string(Network::kLocalHostId);
  joinServer_ = server;
  NodeActions actions;
  node_.join(hostId, networkId, settings(), Clock::now(), actions);
  beginAttempt();
  execute(actions);
  return attemptResult();
}

// What host() and join() return: the error when the attempt already ended.
Result NetworkImpl::attemptResult() const {
  if (status_ == Network::Status::Error) return Result::failure(lastError_.message);
  return {};
}

void NetworkImpl::leave() {
  Entry entry(*this);
  if (!inNetwork() && !peer_ && links_.empty()) return;
  sendGoodbyes();
  diag("signaling", "leaving the network");
  teardown(true);
  setStatus(Network::Status::Disconnected);
}

Result NetworkImpl::broadcast(const json& data, bool state) {
  Entry entry(*this);
  if (status_ != Network::Status::Connected)
    return Result::failure(std::string(state ? "broadcastState" : "broadcast") +
                           "(): not connected to a network");
  const auto now = Clock::now();
  Envelope e = state ? node_.state(data, now) : node_.message(data, now);
  Outgoing out;
  if (Result r = prepare(e, out, true); !r) return r;
  sendEach(node_.broadcast(e), state ? Lane::State : Lane::Data, out);
  return {};
}

// Keyed state: queued, the newest per key winning, and sent in batches when the application's
// current turn of the event loop ends (or at flushState()).
Result NetworkImpl::broadcastKeyed(const json& data, const std::string& key) {
  Entry entry(*this);
  if (status_ != Network::Status::Connected)
    return Result::failure("broadcastState(): not connected to a network");
  Envelope probe = makeBatch(0, {{key, data}});
  probe.from = std::string(64, 'x');
  Outgoing out;
  if (Result r = prepare(probe, out, true); !r) return r;
  node_.queueState(key, data);
  if (!flushScheduled_) {
    flushScheduled_ = true;
    std::weak_ptr<NetworkImpl> w = weak_from_this();
    core_->deliver([w] {
      if (auto s = w.lock()) {
        Entry e(*s);
        s->flushScheduled_ = false;
        s->flushState();
      }
    });
  }
  return {};
}

void NetworkImpl::flushState() {
  Entry entry(*this);
  NodeActions actions;
  node_.flushState(Clock::now(), actions);
  execute(actions);
}

Result NetworkImpl::sendTo(const std::string& target, const json& data) {
  Entry entry(*this);
  if (status_ != Network::Status::Connected)
    return Result::failure("sendTo(): not connected to a network");
  std::string why;
  const auto via = node_.route(target, why);
  if (!via) return Result::failure("sendTo(): " + why);
  Envelope e = node_.message(data, Clock::now());
  // Addressed even on a direct link: to a host, a message without `to` is a broadcast to relay.
  e.to = target;
  Outgoing out;
  if (Result r = prepare(e, out, true); !r) return r;
  Link* link = find(*via);
  if (!link) return Result::failure("sendTo(): the link to \"" + *via + "\" is gone");
  return sendOn(link->data, out);
}

const std::map<std::string, std::string>& NetworkImpl::clientTokens() const {
  return node_.admission().clientTokens();
}

double NetworkImpl::transitMs(const std::string& node) {
  SessionClock& clock = node_.clock();
  return node_.inbound().transit().transitMs(node, localMs(),
                                             clock.valid() ? clock.offsetAt(localMs()) : 0);
}

double NetworkImpl::stateAgeMs(const std::string& node,
                               const std::optional<std::string>& key) const {
  return node_.inbound().intake().ageMs(node, key, localMs());
}

json NetworkImpl::peerStats() const {
  json out = json::object();
  for (const auto& id : node_.members().nodes()) {
    const Link* link = find(id);
    Counters c;
    if (link) {
      for (const auto& conn : {link->data, link->state}) {
        if (!conn) continue;
        if (auto ch = conn->dataChannel()) add(c, ch->counters());
      }
      if (link->nativeState) add(c, link->nativeState->counters());
    }
    const auto info = node_.link(id);
    const bool direct = link && info && info->dataOpen;
    // Clayground's stateBacklog: what waits to leave on the channel state goes on.
    std::size_t backlog = 0;
    if (direct) {
      const auto route = link->stateRoute();
      std::shared_ptr<DataChannel> ch = route == Link::StateRoute::InBand ? link->nativeState
                                        : route == Link::StateRoute::Connection
                                            ? link->state->dataChannel()
                                        : link->data ? link->data->dataChannel()
                                                     : nullptr;
      if (ch) backlog = ch->bufferedAmount();
    }
    out[id] = {{"latency", direct ? info->rtt : -1},
               {"msgSent", c.messagesSent},
               {"msgRecv", c.messagesReceived},
               {"bytesSent", c.bytesSent},
               {"bytesRecv", c.bytesReceived},
               {"stateSent", direct ? info->stateSent : 0},
               {"stateRecv", direct ? info->stateRecv : 0},
               {"stateDropped", node_.inbound().intake().droppedFrom(id)},
               {"stateLink", !direct             ? "relayed"
                             : link->stateOpen() ? "unreliable"
                                                 : "fallback"},
               // Clayground's names for the same (a relayed node: as through the host).
               {"stateChannel", direct && !link->stateOpen() ? "fallback" : "unreliable"},
               {"stateBacklog", backlog},
               {"stateOrdered", direct && !link->stateOpen()},
               {"stateMaxRetransmits", direct && !link->stateOpen() ? -1 : 0}};
  }
  return out;
}

void NetworkImpl::shutdown() {
  // The Network is going away: no callback may run any more.
  dead_ = true;
  pending_.clear();
  cb_ = Callbacks{};
  // Nobody will tick any more, so nothing can linger: the goodbyes may not get out, but the
  // others see the links close, which means the same.
  sendGoodbyes();
  teardown(false);
  closeLingering(true);
  status_ = Network::Status::Disconnected;
  stopTimer();
}

void NetworkImpl::sendGoodbyes() {
  NodeActions actions;
  node_.goodbyes(actions);
  execute(actions);
}

void NetworkImpl::add(Counters& into, const Counters& c) {
  into.messagesSent += c.messagesSent;
  into.messagesReceived += c.messagesReceived;
  into.bytesSent += c.bytesSent;
  into.bytesReceived += c.bytesReceived;
}

const char* NetworkImpl::hostOrJoinState() const {
  if (status_ == Network::Status::Connecting) return "connecting";
  return isHost_ ? "hosting a network" : "in a network";
}

Result NetworkImpl::checkRuntime() const {
  if (runtime_.delivery() != Delivery::Poll)
    return Result::failure(
        "claynet::Network needs a Runtime with Delivery::Poll (its callbacks run in poll())");
  return {};
}

Result NetworkImpl::refuseCode(const std::string& message) {
  error(Network::ErrorCode::InvalidCode, message);
  setStatus(Network::Status::Error);
  return Result::failure(message);
}

void NetworkImpl::resetSession() {
  teardown(false);  // also forgets received state, transit times and queued batches
  node_.clock().reset();
  syncSessionTimeSynced();
  setHostLostReason("");
  lastError_ = {};
}

NodeSettings NetworkImpl::settings() const {
  NodeSettings s;
  s.appId = appId_;
  s.password = password_;
  s.clientToken = clientToken_;
  s.maxNodes = maxNodes_;
  s.mesh = topology_ == Network::Topology::Mesh;
  s.autoRelay = autoRelay_;
  s.gracePeriod = std::chrono::milliseconds(gracePeriodMs_);
  s.connectionTimeout = std::chrono::milliseconds(timeoutMs_);
  s.openLimit = openLimit_;
  return s;
}

void NetworkImpl::beginAttempt() {
  setPhaseTiming(json::object());
  syncPhase();
  setStatus(Network::Status::Connecting);
  stalls_.restart(Clock::now());
}

}  // namespace claynet::network
