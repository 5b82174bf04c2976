// NetworkImpl, the executor behind claynet::Network: it does what NodeCore decides over PeerJS
// connections, the embedded signaling server and one GLib timer, and tells the application.
// Internal to src/network; its parts live in the network_*.cpp files, one responsibility each.
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
#pragma once

#include <glib.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "claynet/network.hpp"
#include "claynet/peerjs.hpp"
#include "claynet/peerjs_signaling.hpp"
#include "claynet/signal_server.hpp"
#include "network/envelope.hpp"
#include "network/link_supervision.hpp"
#include "network/node_core.hpp"
#include "rtc/runtime_core.hpp"

namespace claynet::network {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// After leave(), goodbyes get this long to leave before the connections close.
inline constexpr auto kLingerTime = 400ms;

inline constexpr const char* kDataLabel = "data";
inline constexpr const char* kStateLabel = "clay_state";
inline constexpr const char* kNativeStateLabel = "state";

// Local monotonic milliseconds: what pings carry and the session clock counts from.
inline double localMs() {
  return static_cast<double>(
             std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
                 .count()) /
         1000.0;
}

inline std::string serverText(const PeerJsServer& s) {
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

Result prepare(const Envelope& e, Outgoing& out, bool checkSize);
Result sendOn(const std::shared_ptr<PeerJsConnection>& conn, Outgoing& out);

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
  bool sessionTimeSynced_ = false;  // as last notified
  Callbacks cb_;

  // ---- public entry points ----

  void setAutoRelay(bool on);
  void setGracePeriod(int ms);
  Result configurable(const char* what) const;
  bool inNetwork() const;
  Result host();
  Result join(const std::string& rawCode);
  Result attemptResult() const;
  void leave();
  Result broadcast(const json& data, bool state);
  Result broadcastKeyed(const json& data, const std::string& key);
  void flushState();
  Result sendTo(const std::string& target, const json& data);

  const std::string& hostId() const { return node_.hostId(); }
  const std::vector<std::string>& nodes() const { return node_.members().nodes(); }
  const std::map<std::string, std::string>& clientTokens() const;

  double sessionTime() { return inNetwork() ? node_.clock().sessionTime(localMs()) : -1; }
  bool sessionTimeSynced() const { return inNetwork() && node_.clock().synced(); }
  double transitMs(const std::string& node);
  double stateAgeMs(const std::string& node, const std::optional<std::string>& key) const;

  json syncStats() const { return node_.inbound().intake().syncStats(localMs()); }

  json peerStats() const;
  void shutdown();
  void sendGoodbyes();

  // ---- test hooks ----

  Result sendRaw(const std::string& target, const json& envelope, bool stateLink);

  std::deque<std::string> forcedCodes_;               // test hook: the codes host() tries first
  std::chrono::milliseconds openLimit_ = kOpenLimit;  // test hook: NodeSettings::openLimit
  NodeIds ids();
  std::string nextCode();
  std::vector<std::string> directLinks() const;

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

  void flush();

  template <typename F>
  void queue(F&& f) {
    if (!dead_) pending_.emplace_back(std::forward<F>(f));
  }

  void notify(std::function<void()> Callbacks::*which);
  void emitText(std::function<void(const std::string&)> Callbacks::*which, std::string text);
  void emitMessage(std::string from, json data, double sentAt);
  void emitState(std::string from, json data, double sentAt, std::string key);
  void diag(const std::string& phase, std::string detail);

  // Every error goes out twice: the text (errorOccurred) and the code with it (onError).
  void error(Network::ErrorCode code, std::string message) { error(code, message, phase_); }
  void error(Network::ErrorCode code, std::string message, std::string phase);

  // ---- property changes ----

  void setStatus(Network::Status s);
  void syncPhase();
  void syncSessionTimeSynced();
  void setIsHost(bool h);
  void setNetworkId(std::string id);
  void setNodeId(std::string id);
  void setLatency(int l);
  void setPhaseTiming(json t);

  // ---- the session ----

  static void add(Counters& into, const Counters& c);
  const char* hostOrJoinState() const;
  Result checkRuntime() const;
  Result refuseCode(const std::string& message);
  static PeerJsServer lanServer(std::string host, std::uint16_t port, std::string secret);
  PeerJsServer cloudServer() const;
  Configuration rtcConfiguration() const;
  void resetSession();
  NodeSettings settings() const;
  void beginAttempt();

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

  Result openPeer(const std::string& id, const PeerJsServer& server);
  void startLocalServer(const std::string& secret, NodeActions& out);
  PeerJsServer registrationServer() const;
  void peerOpened(const std::string& id);
  void signalingLostNow(const std::string& reason);
  void syncAcceptingJoins();
  void peerError(const PeerJsError& err);
  void dropPeer();

  // ---- connections ----

  Link* find(const std::string& id);
  const Link* find(const std::string& id) const;
  Link& linkFor(const std::string& id);
  bool dial(const std::string& id);
  void openStateConnection(Link& link);
  void openStateChannel(Link& link);
  void dialOrReport(const std::string& id, NodeActions& out);
  void incoming(const std::shared_ptr<PeerJsConnection>& conn);
  void wireData(const std::string& peer, const std::shared_ptr<PeerJsConnection>& conn);
  void wireState(const std::string& peer, const std::shared_ptr<PeerJsConnection>& conn);
  void extraChannel(Link& link, std::shared_ptr<DataChannel> ch);

  void transportDiagnostic(const std::string& peer, const std::string& label,
                           const std::string& phase, const std::string& detail);
  void transportState(const std::string& peer, PeerState state);
  void dataOpened(const std::string& peer, PeerJsConnection* raw);
  void received(const std::string& peer, const json& value, Lane lane);

  // ---- executing what the core decided ----

  void execute(NodeActions& actions);
  void sendAction(NodeAction& a);
  void sendEach(const std::vector<std::string>& peers, Lane lane, Outgoing& out);

  // ---- sending ----

  Result sendState(Link& link, Outgoing& out);

  // ---- losing links and nodes ----

  void closeLink(Link& link);
  void linkClosed(const std::string& peer);
  void refused(const NodeAction& a);
  void hostGone(const NodeAction& a);
  void setHostLostReason(std::string reason);
  void fatal(Network::ErrorCode code, const std::string& message, std::string phase);
  void timedOut(std::string message, std::string phase);
  void teardown(bool linger);
  void closeLingering(bool all);

  // ---- the timer: one, set for what comes first, NodeCore's next deadline or a lingering
  // connection's ----

  void armTimer();
  void stopTimer();
  static std::uint64_t receivedOn(const Link& link);
  void timerFired();

  // ---- what it holds ----

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

}  // namespace claynet::network
