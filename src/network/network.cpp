// claynet::Network: Clayground.Network's semantics over PeerJS DataConnections.
//
// Threads: everything here runs on the application's thread, inside Runtime::poll() (PeerJsPeer,
// PeerJsConnection and timer callbacks are all delivered there) or inside the public methods the
// application calls from that same thread. So there are no locks. The one timer is a GLib
// timeout on the network thread, set for NodeCore's next deadline (or a lingering connection's),
// that hands handleTimeout() to poll().
//
// Re-entrancy: the application's callbacks may call back into the Network (leave() inside
// onNodeJoined, ...). So handlers never call them directly: they update the whole state first and
// queue the callbacks, which run when the outermost handler returns (see Entry).
#include "claynet/network.hpp"

#include <glib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>

#include "claynet/lan_code.hpp"
#include "claynet/peerjs.hpp"
#include "claynet/serialization.hpp"
#include "claynet/signal_server.hpp"
#include "network/envelope.hpp"
#include "network/handshake.hpp"
#include "network/link_supervision.hpp"
#include "network/network_config.hpp"
#include "network/network_testing.hpp"
#include "network/node_core.hpp"
#include "network/session_clock.hpp"
#include "rtc/runtime_core.hpp"
#include "signaling/bounded_json.hpp"

namespace claynet {

using nlohmann::json;
using namespace std::chrono_literals;

namespace network {

namespace {

using Clock = std::chrono::steady_clock;

// After leave(), goodbyes get this long to leave before the connections close.
constexpr auto kLingerTime = 400ms;

constexpr const char* kDataLabel = "data";
constexpr const char* kStateLabel = "clay_state";
constexpr const char* kNativeStateLabel = "state";

// Local monotonic milliseconds: what pings carry and the session clock counts from.
double localMs() {
  return static_cast<double>(
             std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
                 .count()) /
         1000.0;
}

std::string serverText(const PeerJsServer& s) {
  return std::string(s.secure ? "wss://" : "ws://") + s.host + ":" + std::to_string(s.port) +
         s.path + "peerjs";
}

// A message prepared once and sent to many: its JSON value, and its bytes for json-serialized
// connections (sent straight on the channel, as PeerJS's json serialization would).
struct Outgoing {
  json value;
  std::vector<std::uint8_t> bytes;
  bool valueNulled = false;  // value's NaN/infinities already null (see sendOn)
};

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

// A link's connections (what it speaks and how it stands is NodeCore's).
struct Link {
  std::string peer;
  std::shared_ptr<PeerJsConnection> data;
  std::shared_ptr<PeerJsConnection> state;   // a clay_state DataConnection (browser, claynet)
  std::shared_ptr<DataChannel> nativeState;  // an in-band "state" channel (native Clayground)
  std::string lastError;
  std::uint64_t receivedAtTick = 0;

  // Which channel state goes on: a clay_state connection, else the in-band channel, else the
  // data channel (the fallback).
  enum class StateRoute { Connection, InBand, Data };
  StateRoute stateRoute() const {
    if (state && state->isOpen()) return StateRoute::Connection;
    if (nativeState && nativeState->isOpen()) return StateRoute::InBand;
    return StateRoute::Data;
  }
  bool stateOpen() const { return stateRoute() != StateRoute::Data; }
};

struct Lingering {
  std::vector<std::shared_ptr<PeerJsConnection>> connections;
  std::shared_ptr<PeerJsPeer> peer;
  Clock::time_point deadline;
};

struct Callbacks {
  std::function<void(const std::string&)> networkCreated, nodeJoined, nodeLeft, errorOccurred;
  std::function<void(const Network::Error&)> typedError;
  std::function<void(const std::string&, const json&, double)> messageReceived;
  std::function<void(const std::string&, const json&, double, const std::string&)> stateReceived;
  std::function<void(const std::string&, const std::string&)> diagnosticMessage, joinRefused,
      hostLost;
  std::function<void()> connectionTimedOut, statusChanged, connectionPhaseChanged,
      phaseTimingChanged, isHostChanged, networkIdChanged, nodeIdChanged, nodesChanged,
      latencyChanged, peerStatsChanged, clientTokensChanged, sessionTimeSyncedChanged,
      hostLostReasonChanged, signalingLost, acceptingJoinsChanged, syncStatsChanged;
};

}  // namespace

class NetworkImpl : public std::enable_shared_from_this<NetworkImpl> {
 public:
  explicit NetworkImpl(Runtime& runtime) : runtime_(runtime), core_(runtime.core()), node_(ids()) {}
  ~NetworkImpl() { stopTimer(); }

  // ---- configuration ----
  bool autoRelay_ = true;
  int timeoutMs_ = Network::kDefaultConnectionTimeoutMs;
  std::vector<IceServer> iceServers_;
  int maxNodes_ = Network::kDefaultMaxNodes;
  Network::SignalingMode mode_ = Network::SignalingMode::Cloud;
  std::string signalingUrl_;
  PeerJsServer signalingServer_;  // parsed signalingUrl_ (valid when the URL is not empty)
  Network::Topology topology_ = Network::Topology::Star;
  bool verbose_ = false;
  std::string localAddress_;
  std::vector<std::string> iceLocalAddresses_;
  std::string iceCaFile_;
  bool verifySignalingCertificate_ = true;
  std::string appId_, password_, clientToken_;
  int gracePeriodMs_ = Network::kDefaultGracePeriodMs;

  // ---- state ----
  Network::Status status_ = Network::Status::Disconnected;
  std::string phase_;
  json phaseTiming_ = json::object();
  bool isHost_ = false;
  std::string networkId_, nodeId_;
  int latency_ = -1;
  std::string hostLostReason_;
  Network::Error lastError_;
  bool acceptingJoins_ = false;

  Callbacks cb_;

  // ---- public entry points ----

  // These two may change in a network too.
  void setAutoRelay(bool on) {
    autoRelay_ = on;
    node_.setAutoRelay(on);
  }
  void setGracePeriod(int ms) {
    gracePeriodMs_ = ms;
    node_.setGracePeriod(std::chrono::milliseconds(ms));
  }

  Result configurable(const char* what) const {
    if (inNetwork())
      return Result::failure(std::string("cannot change ") + what +
                             " while in a network; call leave() first");
    return {};
  }

  bool inNetwork() const {
    return status_ == Network::Status::Connecting || status_ == Network::Status::Connected;
  }

  Result host() {
    Entry entry(*this);
    if (inNetwork())
      return Result::failure("host(): already " + std::string(hostOrJoinState()) +
                             "; call leave() first");
    if (Result r = checkRuntime(); !r) return r;
    resetSession();
    NodeActions actions;
    node_.host(settings(), mode_ == Network::SignalingMode::Local, Clock::now(), actions);
    notify(&Callbacks::sessionTimeSyncedChanged);
    setIsHost(true);
    beginAttempt();
    execute(actions);
    return attemptResult();
  }

  Result join(const std::string& rawCode) {
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
  Result attemptResult() const {
    if (status_ == Network::Status::Error) return Result::failure(lastError_.message);
    return {};
  }

  void leave() {
    Entry entry(*this);
    if (!inNetwork() && !peer_ && links_.empty()) return;
    sendGoodbyes();
    diag("signaling", "leaving the network");
    teardown(true);
    setStatus(Network::Status::Disconnected);
  }

  Result broadcast(const json& data, bool state) {
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
  Result broadcastKeyed(const json& data, const std::string& key) {
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

  void flushState() {
    Entry entry(*this);
    NodeActions actions;
    node_.flushState(Clock::now(), actions);
    execute(actions);
  }

  Result sendTo(const std::string& target, const json& data) {
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

  const std::string& hostId() const { return node_.hostId(); }
  const std::vector<std::string>& nodes() const { return node_.members().nodes(); }
  const std::map<std::string, std::string>& clientTokens() const {
    return node_.admission().clientTokens();
  }

  double sessionTime() { return inNetwork() ? node_.clock().sessionTime(localMs()) : -1; }
  bool sessionTimeSynced() const { return inNetwork() && node_.clock().synced(); }
  double transitMs(const std::string& node) {
    SessionClock& clock = node_.clock();
    return node_.inbound().transit().transitMs(node, localMs(),
                                               clock.valid() ? clock.offsetAt(localMs()) : 0);
  }
  double stateAgeMs(const std::string& node, const std::optional<std::string>& key) const {
    return node_.inbound().intake().ageMs(node, key, localMs());
  }

  json syncStats() const { return node_.inbound().intake().syncStats(localMs()); }

  json peerStats() const {
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

  void shutdown() {
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

  void sendGoodbyes() {
    NodeActions actions;
    node_.goodbyes(actions);
    execute(actions);
  }

  // ---- test hooks ----

  Result sendRaw(const std::string& target, const json& envelope, bool stateLink) {
    Entry entry(*this);
    Link* link = find(target);
    const auto info = node_.link(target);
    if (!link || !info || !info->dataOpen)
      return Result::failure("no open link to \"" + target + "\"");
    Outgoing out;
    out.value = envelope;
    if (Result r = encodeJson(envelope, out.bytes); !r) return r;
    if (stateLink && link->stateOpen()) return sendState(*link, out);
    return sendOn(link->data, out);
  }

  std::deque<std::string> forcedCodes_;               // test hook: the codes host() tries first
  std::chrono::milliseconds openLimit_ = kOpenLimit;  // test hook: NodeSettings::openLimit
  NodeIds ids() {
    NodeIds ids;
    ids.networkCode = [this] { return nextCode(); };
    return ids;
  }
  std::string nextCode() {
    if (forcedCodes_.empty()) return generateNetworkCode();
    std::string code = std::move(forcedCodes_.front());
    forcedCodes_.pop_front();
    return code;
  }

  std::vector<std::string> directLinks() const {
    std::vector<std::string> out;
    for (const auto& id : node_.linkPeers())
      if (node_.link(id)->dataOpen && node_.members().contains(id)) out.push_back(id);
    return out;
  }

 private:
  // Marks a handler: the application's callbacks queued meanwhile run when the outermost one
  // returns, with the state already complete. Holds the object alive meanwhile.
  struct Entry {
    explicit Entry(NetworkImpl& n) : self(n), keep(n.shared_from_this()) { ++n.depth_; }
    ~Entry() {
      if (--self.depth_ == 0 && !self.flushing_) {
        self.flush();
        self.armTimer();  // what happened may have brought a deadline closer
      }
    }
    NetworkImpl& self;
    std::shared_ptr<NetworkImpl> keep;
  };

  void flush() {
    flushing_ = true;
    while (!pending_.empty() && !dead_) {
      auto f = std::move(pending_.front());
      pending_.pop_front();
      f();
    }
    flushing_ = false;
  }

  template <typename F>
  void queue(F&& f) {
    if (!dead_) pending_.emplace_back(std::forward<F>(f));
  }

  void notify(std::function<void()> Callbacks::*which) {
    queue([this, which] {
      auto f = cb_.*which;
      if (f) f();
    });
  }

  void emitText(std::function<void(const std::string&)> Callbacks::*which, std::string text) {
    queue([this, which, text = std::move(text)] {
      auto f = cb_.*which;
      if (f) f(text);
    });
  }

  void emitMessage(std::string from, json data, double sentAt) {
    queue([this, from = std::move(from), data = std::move(data), sentAt] {
      auto f = cb_.messageReceived;
      if (f) f(from, data, sentAt);
    });
  }

  void emitState(std::string from, json data, double sentAt, std::string key) {
    queue([this, from = std::move(from), data = std::move(data), sentAt, key = std::move(key)] {
      auto f = cb_.stateReceived;
      if (f) f(from, data, sentAt, key);
    });
  }

  void diag(const std::string& phase, std::string detail) {
    if (!verbose_) return;
    queue([this, phase, detail = std::move(detail)] {
      auto f = cb_.diagnosticMessage;
      if (f) f(phase, detail);
    });
  }

  // Every error goes out twice: the text (errorOccurred) and the code with it (onError).
  void error(Network::ErrorCode code, std::string message) { error(code, message, phase_); }
  void error(Network::ErrorCode code, std::string message, std::string phase) {
    lastError_ = {code, std::move(message), std::move(phase)};
    queue([this, e = lastError_] {
      if (auto f = cb_.errorOccurred) f(e.message);
      if (auto f = cb_.typedError) f(e);
    });
  }

  // ---- property changes ----

  void setStatus(Network::Status s) {
    if (status_ == s) return;
    status_ = s;
    notify(&Callbacks::statusChanged);
  }
  // connectionPhase follows the timeline, notifying only on a change.
  void syncPhase() {
    const std::string& p = node_.timeline().phase();
    if (phase_ == p) return;
    phase_ = p;
    notify(&Callbacks::connectionPhaseChanged);
  }
  void setIsHost(bool h) {
    if (isHost_ == h) return;
    isHost_ = h;
    notify(&Callbacks::isHostChanged);
  }
  void setNetworkId(std::string id) {
    if (networkId_ == id) return;
    networkId_ = std::move(id);
    notify(&Callbacks::networkIdChanged);
  }
  void setNodeId(std::string id) {
    if (nodeId_ == id) return;
    nodeId_ = std::move(id);
    notify(&Callbacks::nodeIdChanged);
  }
  void setLatency(int l) {
    if (latency_ == l) return;
    latency_ = l;
    notify(&Callbacks::latencyChanged);
  }
  void setPhaseTiming(json t) {
    if (phaseTiming_ == t) return;
    phaseTiming_ = std::move(t);
    notify(&Callbacks::phaseTimingChanged);
  }

  static void add(Counters& into, const Counters& c) {
    into.messagesSent += c.messagesSent;
    into.messagesReceived += c.messagesReceived;
    into.bytesSent += c.bytesSent;
    into.bytesReceived += c.bytesReceived;
  }

  const char* hostOrJoinState() const {
    if (status_ == Network::Status::Connecting) return "connecting";
    return isHost_ ? "hosting a network" : "in a network";
  }

  Result checkRuntime() const {
    if (runtime_.delivery() != Delivery::Poll)
      return Result::failure(
          "claynet::Network needs a Runtime with Delivery::Poll (its callbacks run in poll())");
    return {};
  }

  Result refuseCode(const std::string& message) {
    error(Network::ErrorCode::InvalidCode, message);
    setStatus(Network::Status::Error);
    return Result::failure(message);
  }

  // An embedded signaling server (claynet's or Clayground's) as a LAN code names it.
  static PeerJsServer lanServer(std::string host, std::uint16_t port, std::string secret) {
    PeerJsServer s;
    s.host = std::move(host);
    s.port = port;
    s.secure = false;
    s.path = "/";
    s.key = "peerjs";
    s.lanSecret = std::move(secret);
    return s;
  }

  PeerJsServer cloudServer() const {
    PeerJsServer s = signalingUrl_.empty() ? PeerJsServer{} : signalingServer_;
    s.verifyCertificate = verifySignalingCertificate_;
    return s;
  }

  Configuration rtcConfiguration() const {
    Configuration c;
    c.iceServers = iceServers_.empty() ? defaultIceServers() : iceServers_;
    c.localAddresses = iceLocalAddresses_;
    c.caFile = iceCaFile_;
    return c;
  }

  void resetSession() {
    teardown(false);  // also forgets received state, transit times and queued batches
    if (node_.clock().synced()) notify(&Callbacks::sessionTimeSyncedChanged);
    node_.clock().reset();
    setHostLostReason("");
    lastError_ = {};
  }

  NodeSettings settings() const {
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

  void beginAttempt() {
    setPhaseTiming(json::object());
    syncPhase();
    setStatus(Network::Status::Connecting);
    stalls_.restart(Clock::now());
  }

  // ---- signaling ----

  // A callback that runs `f` with the Network, inside its re-entrancy guard, only while the
  // Network still exists.
  template <typename F>
  auto guarded(F&& f) {
    std::weak_ptr<NetworkImpl> w = weak_from_this();
    return [w, f = std::forward<F>(f)](auto&&... args) {
      if (auto s = w.lock()) {
        Entry e(*s);
        f(*s, std::forward<decltype(args)>(args)...);
      }
    };
  }

  Result openPeer(const std::string& id, const PeerJsServer& server) {
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
  void startLocalServer(const std::string& secret, NodeActions& out) {
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
  PeerJsServer registrationServer() const {
    if (!isHost_) return joinServer_;
    return server_ ? localServer_ : cloudServer();
  }

  void peerOpened(const std::string& id) {
    NodeActions actions;
    node_.signalingOpened(id, Clock::now(), actions);
    execute(actions);
  }

  // The signaling server went away while in a network: the links go on, a host takes no new
  // joiners until the peer has registered again under the same id (it retries by itself).
  void signalingLostNow(const std::string& reason) {
    NodeActions actions;
    node_.signalingLost(reason, actions);
    execute(actions);
  }

  void syncAcceptingJoins() {
    if (acceptingJoins_ == node_.acceptingJoins()) return;
    acceptingJoins_ = node_.acceptingJoins();
    notify(&Callbacks::acceptingJoinsChanged);
  }

  void peerError(const PeerJsError& err) {
    NodeActions actions;
    node_.signalingError(err, Clock::now(), actions);
    execute(actions);
  }

  void dropPeer() {
    if (peer_) peer_->destroy();
    peer_.reset();
    ++peerGen_;
  }

  // ---- connections ----

  Link* find(const std::string& id) {
    auto it = links_.find(id);
    return it == links_.end() ? nullptr : &it->second;
  }
  const Link* find(const std::string& id) const {
    auto it = links_.find(id);
    return it == links_.end() ? nullptr : &it->second;
  }

  Link& linkFor(const std::string& id) {
    auto [it, inserted] = links_.try_emplace(id);
    if (inserted) it->second.peer = id;
    return it->second;
  }

  bool dial(const std::string& id) {
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
  void openStateConnection(Link& link) {
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
  void openStateChannel(Link& link) {
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

  void dialOrReport(const std::string& id, NodeActions& out) {
    if (!dial(id)) node_.dialFailed(id, Clock::now(), out);
  }

  void incoming(const std::shared_ptr<PeerJsConnection>& conn) {
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

  void wireData(const std::string& peer, const std::shared_ptr<PeerJsConnection>& conn) {
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
      const bool fatal = err.type == PeerJsErrorType::NegotiationFailed ||
                         err.type == PeerJsErrorType::PeerUnavailable ||
                         err.type == PeerJsErrorType::PeerRejected ||
                         err.type == PeerJsErrorType::Network ||
                         err.type == PeerJsErrorType::ConnectionClosed;
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

  void wireState(const std::string& peer, const std::shared_ptr<PeerJsConnection>& conn) {
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

  void extraChannel(Link& link, std::shared_ptr<DataChannel> ch) {
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
  void transportDiagnostic(const std::string& peer, const std::string& label,
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

  void transportState(const std::string& peer, PeerState state) {
    if (isHost_ || peer != node_.hostId() || status_ != Network::Status::Connecting) return;
    if (state == PeerState::Connecting) node_.timeline().transportConnecting(Clock::now());
    if (state == PeerState::Connected) node_.timeline().transportConnected(Clock::now());
    syncPhase();
  }

  void dataOpened(const std::string& peer, PeerJsConnection* raw) {
    Link* link = find(peer);
    if (!link || link->data.get() != raw) return;
    NodeActions actions;
    node_.opened(peer, Clock::now(), actions);
    execute(actions);
  }

  void received(const std::string& peer, const json& value, Lane lane) {
    NodeActions actions;
    node_.received(peer, value, lane, Clock::now(), actions);
    execute(actions);
  }

  // ---- executing what the core decided ----

  // What an action makes the core say next runs after the actions already there.
  void execute(NodeActions& actions) {
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
          notify(&Callbacks::sessionTimeSyncedChanged);
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
  void sendAction(NodeAction& a) {
    Outgoing out;
    out.value = std::move(a.value);  // the action is spent: no copy per send
    if (Result r = encodeJson(out.value, out.bytes); !r) {
      diag("datachannel", "could not encode a message: " + r.error());
      return;
    }
    sendEach(a.peers, a.lane, out);
  }

  void sendEach(const std::vector<std::string>& peers, Lane lane, Outgoing& out) {
    std::string failures;
    for (const auto& id : peers) {
      Link* link = find(id);
      if (!link) continue;
      if (Result r = lane == Lane::State ? sendState(*link, out) : sendOn(link->data, out); !r)
        failures += (failures.empty() ? "" : "; ") + id + ": " + r.error();
    }
    if (!failures.empty()) diag("datachannel", "could not send to " + failures);
  }

  // ---- sending ----

  Result sendState(Link& link, Outgoing& out) {
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

  // ---- losing links and nodes ----

  void closeLink(Link& link) {
    for (auto& conn : {link.data, link.state})
      if (conn) conn->close();
    if (link.nativeState) link.nativeState->close();
  }

  // The data link to `peer` closed or failed.
  void linkClosed(const std::string& peer) {
    Link* link = find(peer);
    if (!link) return;
    NodeActions actions;
    node_.closed(peer, link->lastError, Clock::now(), actions);
    execute(actions);
  }

  // Joiner: the host turned us away, in its handshake or (a full native Clayground host) at
  // signaling.
  void refused(const NodeAction& a) {
    const Refusal& refusal = a.refusal;
    diag(a.phase.empty() ? "datachannel" : a.phase,
         "the host refused us: " + std::string(toString(refusal.reason)) + ": " + refusal.message);
    std::string phase = phase_;
    // Clayground's order: torn down with status Error, then joinRefused, then errorOccurred.
    teardown(false);
    setStatus(Network::Status::Error);
    queue([this, refusal] {
      auto f = cb_.joinRefused;
      if (f) f(toString(refusal.reason), refusal.message);
    });
    error(a.error, refusal.message, std::move(phase));
  }

  // Clayground's host loss (#376): the reason first, then the teardown (Disconnected), nodeLeft
  // for every node, hostLost and errorOccurred.
  void hostGone(const NodeAction& a) {
    std::vector<std::string> gone = node_.members().nodes();
    const bool wasConnected = status_ == Network::Status::Connected;
    setHostLostReason(a.reason);
    teardown(false);
    setStatus(Network::Status::Disconnected);
    if (wasConnected)
      for (const auto& id : gone) emitText(&Callbacks::nodeLeft, id);
    queue([this, reason = a.reason, message = a.text] {
      auto f = cb_.hostLost;
      if (f) f(reason, message);
    });
    error(a.error, a.text);
  }

  void setHostLostReason(std::string reason) {
    if (hostLostReason_ == reason) return;
    hostLostReason_ = std::move(reason);
    notify(&Callbacks::hostLostReasonChanged);
  }

  // `phase`: the one it failed in, as the core saw it before the teardown.
  void fatal(Network::ErrorCode code, const std::string& message, std::string phase) {
    teardown(false);
    error(code, message, std::move(phase));
    setStatus(Network::Status::Error);
  }

  void timedOut(std::string message, std::string phase) {
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
  void teardown(bool linger) {
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

  void closeLingering(bool all) {
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

  // ---- the timer: one, set for what comes first, NodeCore's next deadline or a lingering
  // connection's ----

  struct TimerSource {
    std::weak_ptr<NetworkImpl> network;
    std::weak_ptr<impl::RuntimeCore> core;
  };

  // On the network thread: what is due runs inside poll().
  static gboolean onTimer(gpointer data) {
    auto* t = static_cast<TimerSource*>(data);
    if (auto core = t->core.lock())
      core->deliver([w = t->network] {
        if (auto s = w.lock()) {
          Entry e(*s);
          s->timerFired();
        }
      });
    return G_SOURCE_REMOVE;
  }

  // Sets the timer for the earliest deadline, unless it is set for that or sooner already (or
  // has fired and is about to run). Called when the outermost entry returns.
  void armTimer() {
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
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*due - Clock::now()).count();
    timer_ = g_timeout_source_new(static_cast<guint>(std::max<std::int64_t>(0, wait)));
    g_source_set_callback(timer_, &NetworkImpl::onTimer, new TimerSource{weak_from_this(), core_},
                          [](gpointer p) { delete static_cast<TimerSource*>(p); });
    g_source_attach(timer_, core_->context());
  }

  void stopTimer() {
    if (!timer_) return;
    g_source_destroy(timer_);
    g_source_unref(timer_);
    timer_ = nullptr;
  }

  // What the transport has received on a link (counted on the network thread, so it also
  // covers messages still waiting in the application's queue).
  static std::uint64_t receivedOn(const Link& link) {
    std::uint64_t n = 0;
    for (const auto& conn : {link.data, link.state})
      if (conn)
        if (auto ch = conn->dataChannel()) n += ch->counters().messagesReceived;
    if (link.nativeState) n += link.nativeState->counters().messagesReceived;
    return n;
  }

  void timerFired() {
    stopTimer();
    const auto now = Clock::now();
    if (inNetwork()) {
      // A late timer means this process did not run (starved or suspended): the others were not
      // silent meanwhile, we were deaf. That time does not count against them.
      if (const auto stall = stalls_.tick(now)) {
        diag("datachannel",
             "this node did not run for " +
                 std::to_string(
                     std::chrono::duration_cast<std::chrono::milliseconds>(*stall + kTickInterval)
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
  Runtime& runtime_;
  std::shared_ptr<impl::RuntimeCore> core_;

  std::deque<std::function<void()>> pending_;
  int depth_ = 0;
  bool flushing_ = false;
  bool dead_ = false;

  std::shared_ptr<PeerJsPeer> peer_;
  std::uint64_t peerGen_ = 0;
  std::unique_ptr<SignalServer> server_;
  std::map<std::string, Link> links_;
  std::vector<Lingering> lingering_;
  GSource* timer_ = nullptr;
  Clock::time_point timerDue_;

  PeerJsServer joinServer_;   // joiner: the server its code names
  PeerJsServer localServer_;  // Local host: its embedded server, as it registers with it
  StallDetector stalls_;
  bool flushScheduled_ = false;
  NodeCore node_;  // the rules: what this node does with what happens to it
};

// ---- test hooks ----

Result NetworkTesting::sendRaw(Network& network, const std::string& nodeId, const json& envelope,
                               bool stateLink) {
  return network.impl_->sendRaw(nodeId, envelope, stateLink);
}

std::vector<std::string> NetworkTesting::directLinks(const Network& network) {
  return network.impl_->directLinks();
}

void NetworkTesting::forceCodes(Network& network, std::vector<std::string> codes) {
  network.impl_->forcedCodes_.assign(codes.begin(), codes.end());
}

void NetworkTesting::setOpenLimit(Network& network, std::chrono::milliseconds limit) {
  network.impl_->openLimit_ = limit;
}

}  // namespace network

// ---- Network ----

Network::Network(Runtime& runtime) : impl_(std::make_shared<network::NetworkImpl>(runtime)) {}
Network::~Network() { impl_->shutdown(); }

bool Network::autoRelay() const { return impl_->autoRelay_; }
void Network::setAutoRelay(bool on) { impl_->setAutoRelay(on); }

int Network::connectionTimeout() const { return impl_->timeoutMs_; }
Result Network::setConnectionTimeout(int ms) {
  if (ms < 0)
    return Result::failure(
        "connectionTimeout must be 0 (no timeout) or a positive number of ms, "
        "not " +
        std::to_string(ms));
  impl_->timeoutMs_ = ms;
  return {};
}

const std::vector<IceServer>& Network::iceServers() const { return impl_->iceServers_; }
Result Network::setIceServers(std::vector<IceServer> servers) {
  if (Result r = impl_->configurable("iceServers"); !r) return r;
  if (Result r = network::validateIceServers(servers); !r) return r;
  impl_->iceServers_ = std::move(servers);
  return {};
}
Result Network::setIceServers(const json& servers) {
  if (Result r = impl_->configurable("iceServers"); !r) return r;
  std::vector<IceServer> list;
  if (Result r = network::parseIceServers(servers, list); !r) return r;
  impl_->iceServers_ = std::move(list);
  return {};
}
json Network::iceServersJson() const { return network::iceServersToJson(impl_->iceServers_); }

int Network::maxNodes() const { return impl_->maxNodes_; }
Result Network::setMaxNodes(int n) {
  if (n < kMinNodes || n > kMaxNodes) return Result::failure("maxNodes must be between 2 and 8");
  if (Result r = impl_->configurable("maxNodes"); !r) return r;
  impl_->maxNodes_ = n;
  return {};
}

Network::SignalingMode Network::signalingMode() const { return impl_->mode_; }
Result Network::setSignalingMode(SignalingMode mode) {
  if (Result r = impl_->configurable("signalingMode"); !r) return r;
  impl_->mode_ = mode;
  return {};
}

const std::string& Network::signalingUrl() const { return impl_->signalingUrl_; }
Result Network::setSignalingUrl(std::string url) {
  if (Result r = impl_->configurable("signalingUrl"); !r) return r;
  if (url.empty()) {
    impl_->signalingUrl_.clear();
    impl_->signalingServer_ = PeerJsServer{};
    return {};
  }
  PeerJsServer server;
  if (Result r = network::parseSignalingUrl(url, server); !r) return r;
  impl_->signalingUrl_ = std::move(url);
  impl_->signalingServer_ = std::move(server);
  return {};
}

Network::Topology Network::topology() const { return impl_->topology_; }
Result Network::setTopology(Topology topology) {
  if (Result r = impl_->configurable("topology"); !r) return r;
  impl_->topology_ = topology;
  return {};
}

bool Network::verbose() const { return impl_->verbose_; }
void Network::setVerbose(bool on) { impl_->verbose_ = on; }

const std::string& Network::localAddress() const { return impl_->localAddress_; }
Result Network::setLocalAddress(std::string address) {
  if (Result r = impl_->configurable("localAddress"); !r) return r;
  if (!address.empty() && !isIPv4Literal(address))
    return Result::failure("localAddress must be an IPv4 address such as 192.168.1.20, not \"" +
                           address + "\"");
  impl_->localAddress_ = std::move(address);
  return {};
}

const std::vector<std::string>& Network::iceLocalAddresses() const {
  return impl_->iceLocalAddresses_;
}
Result Network::setIceLocalAddresses(std::vector<std::string> addresses) {
  if (Result r = impl_->configurable("iceLocalAddresses"); !r) return r;
  impl_->iceLocalAddresses_ = std::move(addresses);
  return {};
}

const std::string& Network::iceCaFile() const { return impl_->iceCaFile_; }
Result Network::setIceCaFile(std::string path) {
  if (Result r = impl_->configurable("iceCaFile"); !r) return r;
  impl_->iceCaFile_ = std::move(path);
  return {};
}

bool Network::verifySignalingCertificate() const { return impl_->verifySignalingCertificate_; }
Result Network::setVerifySignalingCertificate(bool on) {
  if (Result r = impl_->configurable("verifySignalingCertificate"); !r) return r;
  impl_->verifySignalingCertificate_ = on;
  return {};
}

Network::Status Network::status() const { return impl_->status_; }
bool Network::connected() const { return impl_->status_ == Status::Connected; }
const std::string& Network::connectionPhase() const { return impl_->phase_; }
const std::string& Network::hostId() const { return impl_->hostId(); }
double Network::sessionTime() const { return impl_->sessionTime(); }
bool Network::sessionTimeSynced() const { return impl_->sessionTimeSynced(); }
double Network::transitMs(const std::string& nodeId) const { return impl_->transitMs(nodeId); }
double Network::stateAgeMs(const std::string& nodeId) const {
  return impl_->stateAgeMs(nodeId, std::nullopt);
}
double Network::stateAgeMs(const std::string& nodeId, const std::string& key) const {
  return impl_->stateAgeMs(nodeId, key);
}
Result Network::broadcastState(const json& data, const std::string& key) {
  return impl_->broadcastKeyed(data, key);
}
void Network::flushState() { impl_->flushState(); }
const std::map<std::string, std::string>& Network::clientTokens() const {
  return impl_->clientTokens();
}
int Network::gracePeriod() const { return impl_->gracePeriodMs_; }
Result Network::setGracePeriod(int ms) {
  if (ms < 0)
    return Result::failure(
        "gracePeriod must be 0 (no silence check) or a positive number of ms, "
        "not " +
        std::to_string(ms));
  impl_->setGracePeriod(ms);
  return {};
}
const std::string& Network::hostLostReason() const { return impl_->hostLostReason_; }
bool Network::acceptingJoins() const { return impl_->acceptingJoins_; }
json Network::syncStats() const { return impl_->syncStats(); }
void Network::onSyncStatsChanged(std::function<void()> cb) {
  impl_->cb_.syncStatsChanged = std::move(cb);
}
void Network::onSignalingLost(std::function<void()> cb) {
  impl_->cb_.signalingLost = std::move(cb);
}
void Network::onAcceptingJoinsChanged(std::function<void()> cb) {
  impl_->cb_.acceptingJoinsChanged = std::move(cb);
}
void Network::onHostLost(std::function<void(const std::string&, const std::string&)> cb) {
  impl_->cb_.hostLost = std::move(cb);
}
void Network::onHostLostReasonChanged(std::function<void()> cb) {
  impl_->cb_.hostLostReasonChanged = std::move(cb);
}
const std::string& Network::appId() const { return impl_->appId_; }
Result Network::setAppId(std::string appId) {
  if (Result r = impl_->configurable("appId"); !r) return r;
  impl_->appId_ = std::move(appId);
  return {};
}
const std::string& Network::password() const { return impl_->password_; }
Result Network::setPassword(std::string password) {
  if (Result r = impl_->configurable("password"); !r) return r;
  impl_->password_ = std::move(password);
  return {};
}
const std::string& Network::clientToken() const { return impl_->clientToken_; }
Result Network::setClientToken(std::string token) {
  if (Result r = impl_->configurable("clientToken"); !r) return r;
  impl_->clientToken_ = std::move(token);
  return {};
}
const json& Network::phaseTiming() const { return impl_->phaseTiming_; }
bool Network::isHost() const { return impl_->isHost_; }
const std::string& Network::networkId() const { return impl_->networkId_; }
const std::string& Network::nodeId() const { return impl_->nodeId_; }
const std::vector<std::string>& Network::nodes() const { return impl_->nodes(); }
int Network::nodeCount() const {
  return connected() ? static_cast<int>(impl_->nodes().size()) + 1 : 0;
}
int Network::latency() const { return impl_->latency_; }
json Network::peerStats() const { return impl_->peerStats(); }

Result Network::host() { return impl_->host(); }
Result Network::join(const std::string& code) { return impl_->join(code); }
void Network::leave() { impl_->leave(); }
Result Network::broadcast(const json& data) { return impl_->broadcast(data, false); }
Result Network::broadcastState(const json& data) { return impl_->broadcast(data, true); }
Result Network::sendTo(const std::string& nodeId, const json& data) {
  return impl_->sendTo(nodeId, data);
}

void Network::onNetworkCreated(std::function<void(const std::string&)> cb) {
  impl_->cb_.networkCreated = std::move(cb);
}
void Network::onNodeJoined(std::function<void(const std::string&)> cb) {
  impl_->cb_.nodeJoined = std::move(cb);
}
void Network::onNodeLeft(std::function<void(const std::string&)> cb) {
  impl_->cb_.nodeLeft = std::move(cb);
}
void Network::onMessageReceived(std::function<void(const std::string&, const json&)> cb) {
  if (!cb) return onMessageReceived(MessageCallback{});
  onMessageReceived(
      [cb = std::move(cb)](const std::string& from, const json& data, double) { cb(from, data); });
}
void Network::onMessageReceived(MessageCallback cb) { impl_->cb_.messageReceived = std::move(cb); }
void Network::onStateReceived(std::function<void(const std::string&, const json&)> cb) {
  if (!cb) return onStateReceived(StateCallback{});
  onStateReceived([cb = std::move(cb)](const std::string& from, const json& data, double,
                                       const std::string&) { cb(from, data); });
}
void Network::onStateReceived(StateCallback cb) { impl_->cb_.stateReceived = std::move(cb); }
void Network::onSessionTimeSyncedChanged(std::function<void()> cb) {
  impl_->cb_.sessionTimeSyncedChanged = std::move(cb);
}
void Network::onErrorOccurred(std::function<void(const std::string&)> cb) {
  impl_->cb_.errorOccurred = std::move(cb);
}
void Network::onDiagnosticMessage(std::function<void(const std::string&, const std::string&)> cb) {
  impl_->cb_.diagnosticMessage = std::move(cb);
}
void Network::onJoinRefused(std::function<void(const std::string&, const std::string&)> cb) {
  impl_->cb_.joinRefused = std::move(cb);
}
void Network::onClientTokensChanged(std::function<void()> cb) {
  impl_->cb_.clientTokensChanged = std::move(cb);
}
void Network::onError(std::function<void(const Error&)> cb) {
  impl_->cb_.typedError = std::move(cb);
}
const Network::Error& Network::lastError() const { return impl_->lastError_; }
void Network::onConnectionTimedOut(std::function<void()> cb) {
  impl_->cb_.connectionTimedOut = std::move(cb);
}
void Network::onStatusChanged(std::function<void()> cb) {
  impl_->cb_.statusChanged = std::move(cb);
}
void Network::onConnectionPhaseChanged(std::function<void()> cb) {
  impl_->cb_.connectionPhaseChanged = std::move(cb);
}
void Network::onPhaseTimingChanged(std::function<void()> cb) {
  impl_->cb_.phaseTimingChanged = std::move(cb);
}
void Network::onIsHostChanged(std::function<void()> cb) {
  impl_->cb_.isHostChanged = std::move(cb);
}
void Network::onNetworkIdChanged(std::function<void()> cb) {
  impl_->cb_.networkIdChanged = std::move(cb);
}
void Network::onNodeIdChanged(std::function<void()> cb) {
  impl_->cb_.nodeIdChanged = std::move(cb);
}
void Network::onNodesChanged(std::function<void()> cb) { impl_->cb_.nodesChanged = std::move(cb); }
void Network::onLatencyChanged(std::function<void()> cb) {
  impl_->cb_.latencyChanged = std::move(cb);
}
void Network::onPeerStatsChanged(std::function<void()> cb) {
  impl_->cb_.peerStatsChanged = std::move(cb);
}

const char* toString(Network::Topology t) { return t == Network::Topology::Mesh ? "Mesh" : "Star"; }
const char* toString(Network::SignalingMode m) {
  return m == Network::SignalingMode::Local ? "Local" : "Cloud";
}
const char* toString(Network::ErrorCode code) {
  switch (code) {
    case Network::ErrorCode::None:
      return "none";
    case Network::ErrorCode::InvalidCode:
      return "invalid-code";
    case Network::ErrorCode::WrongLanCode:
      return "wrong-lan-code";
    case Network::ErrorCode::NoSuchNetwork:
      return "no-such-network";
    case Network::ErrorCode::SignalingFailed:
      return "signaling-failed";
    case Network::ErrorCode::CannotHost:
      return "cannot-host";
    case Network::ErrorCode::TimedOut:
      return "timed-out";
    case Network::ErrorCode::CouldNotConnect:
      return "could-not-connect";
    case Network::ErrorCode::NetworkFull:
      return "network-full";
    case Network::ErrorCode::JoinRefused:
      return "join-refused";
    case Network::ErrorCode::Rejected:
      return "rejected";
    case Network::ErrorCode::HostLeft:
      return "host-left";
    case Network::ErrorCode::HostTimeout:
      return "host-timeout";
    case Network::ErrorCode::HostConnectionLost:
      return "connection-lost";
  }
  return "none";
}

const char* toString(Network::Status s) {
  switch (s) {
    case Network::Status::Disconnected:
      return "Disconnected";
    case Network::Status::Connecting:
      return "Connecting";
    case Network::Status::Connected:
      return "Connected";
    case Network::Status::Error:
      return "Error";
  }
  return "?";
}

}  // namespace claynet
