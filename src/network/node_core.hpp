// One node of a network, sans-IO: Network's rules between the moment a link comes and the moment
// it goes, with time passed in. It is told what happened (a link came, opened, carried a value,
// closed; the tick; the application's commands) and returns Actions (send this value to these
// peers on this lane, close that link, raise this) in the order Clayground raises them. It never
// touches a socket, a thread or a clock, so the virtual lab runs whole networks of NodeCores in
// virtual time, and Network (network.cpp) executes the same actions over PeerJS connections.
//
// Inside, by role: HostAdmission (room, the handshake, clientTokens), Membership (roster,
// announcements, the Mesh dial queue), Inbound (routing, relay, stale state, transit times),
// LinkLiveness and judgeLink (pings, gracePeriod, links that never open), SessionClock and the
// JoinTimeline; and the session's signaling (node_signaling.cpp): which id it registers, a code or
// a random id that is taken, the Local server, a signaling server lost and found again, and the
// connection timeout. The executor does the I/O those actions name and reports back.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "claynet/network.hpp"
#include "claynet/peerjs_signaling.hpp"
#include "network/admission.hpp"
#include "network/envelope.hpp"
#include "network/handshake.hpp"
#include "network/inbound.hpp"
#include "network/join_timeline.hpp"
#include "network/link_supervision.hpp"
#include "network/liveness.hpp"
#include "network/membership.hpp"
#include "network/network_config.hpp"
#include "network/session_clock.hpp"
#include "network/state_batch.hpp"

namespace claynet::network {

/// Which of a link's channels a value goes on: the reliable, ordered one, or the state lane
/// (unordered, no retransmits; the reliable one when the link has none).
enum class Lane { Data, State };

/// Why a link ended.
enum class Loss {
  Goodbye,  ///< the node said so ("bye", or node_left naming itself)
  Closed,   ///< the connection closed or failed without a goodbye
  Silent,   ///< a ping unanswered for gracePeriod
};

/// What a link speaks, as the handshake showed.
enum class Wire {
  Unknown,  ///< not decided yet (host: the joiner is pending; joiner: no reply from the host yet)
  V5,       ///< Clayground's wire version 5: welcomed, or admitted after a hello
  Seed,     ///< the seeds' protocol (no handshake), and Mesh links between joiners
};

/// One thing for the executor to do, in order.
struct NodeAction {
  enum class Kind {
    Send,             ///< send `value` to each of `peers` on `lane` (encoded once)
    Close,            ///< close the link to `peer` (the core has forgotten it)
    OpenStateLane,    ///< open `peer`'s state lane: wire 5's in-band "state" channel when
                      ///< `native`, else the seeds' clay_state connection
    StartClockBurst,  ///< the clock's burst began: clockBurst() every
                      ///< SessionClock::kBurstIntervalMs until it says stop (handleTimeout() does
                      ///< it; nextDeadline() says when)
    NodesChanged,
    NodeJoined,  ///< `peer`
    NodeLeft,    ///< `peer`
    Deliver,     ///< messageReceived or stateReceived: `delivery`
    ClientTokensChanged,
    SessionTimeSyncedChanged,
    StatsChanged,    ///< a pong came: peerStats and syncStats changed
    LatencyChanged,  ///< latency() changed
    PhaseChanged,    ///< timeline().phase() may have changed
    Connected,       ///< the joiner is in: status Connected; `value` is its phaseTiming
    HostLost,        ///< the host is gone (`loss`): hostLost(`reason`, `text`), error `error`; the
                     ///< session ends as Clayground's does
    Refused,        ///< the host turned us away (`refusal`; error `error`; in phase `phase` if set)
    RejectedLater,  ///< the host sent a refusal after its welcome: only reported (`text`)
    Diagnostic,     ///< `text` for the diagnostics, in phase `phase`
    // ---- signaling ----
    StartLocalServer,  ///< Local host: start the embedded signaling server with LAN secret `text`,
                       ///< then report localServerStarted() or localServerFailed()
    Register,    ///< register as `peer` with the session's signaling server (a Local host's own,
                 ///< the joiner's code's, else Cloud); registerFailed() if it cannot even start
    Unregister,  ///< drop the registration and every link made through it
    Dial,        ///< open a link to `peer` (dialing() when it starts, dialFailed() when it cannot):
                 ///< the host, from join(); a Mesh node of the roster, from handleTimeout()
    Hosted,      ///< the host is in: nodeId `peer`, networkId `text`, phaseTiming `value`
    Registered,  ///< a joiner registered as `peer` (its nodeId)
    AcceptingJoins,  ///< acceptingJoins() changed
    SignalingLost,   ///< the signaling server went away while in a network (the links go on)
    Failed,    ///< the attempt ends with `error` and its text `text`; `phase`: the phase it was
               ///< in ("" once in its network)
    TimedOut,  ///< the connection timeout passed: `text`, in phase `phase`
  };
  NodeAction(Kind k) : kind(k) {}  // NOLINT: implicit, so that out.push_back({Kind::X}) reads

  Kind kind;
  std::string peer;
  std::vector<std::string> peers;
  Lane lane = Lane::Data;
  nlohmann::json value;
  InboundDelivery delivery;
  Loss loss = Loss::Closed;
  Refusal refusal;
  bool native = false;
  std::string text, phase, reason;
  Network::ErrorCode error = Network::ErrorCode::None;
};
using NodeActions = std::vector<NodeAction>;

/// The actions after which nothing of the session is left to do: the executor tears it down.
constexpr bool endsTheSession(NodeAction::Kind k) {
  using K = NodeAction::Kind;
  return k == K::HostLost || k == K::Refused || k == K::Failed || k == K::TimedOut;
}

/// What a node is configured with when it hosts or joins.
struct NodeSettings {
  std::string appId, password, clientToken;
  int maxNodes = 8;
  bool mesh = false;
  bool autoRelay = true;
  std::chrono::milliseconds gracePeriod{3000};
  /// While connecting, TimedOut after this long; 0: never.
  std::chrono::milliseconds connectionTimeout{15000};
  /// A link whose channel has not opened this long after it came is given up (kOpenLimit; less
  /// only in tests, through NetworkTesting::setOpenLimit).
  std::chrono::milliseconds openLimit = kOpenLimit;
};

/// Where a session's ids come from (random in a real node; chosen in the virtual lab).
struct NodeIds {
  std::function<std::string()> networkCode;  ///< a Cloud host's code (its id)
  std::function<std::string()> nodeId;       ///< a joiner's id
  std::function<std::string()> lanSecret;    ///< a Local host's LAN secret
};

class NodeCore {
 public:
  using Clock = std::chrono::steady_clock;
  using Time = Clock::time_point;

  explicit NodeCore(NodeIds ids = {});

  // ---- the session and its signaling (node_signaling.cpp) ----

  /// host(): Register a new code (Cloud), or StartLocalServer (`local`).
  void host(const NodeSettings& settings, bool local, Time now, NodeActions& out);
  /// join(): Register a random id and Dial `hostId`, which the code `networkId` names.
  void join(const std::string& hostId, const std::string& networkId, const NodeSettings& settings,
            Time now, NodeActions& out);
  /// The Local server listens; `lanCode` names it (the host's networkId): Register as HOST.
  void localServerStarted(const std::string& lanCode, NodeActions& out);
  void localServerFailed(const std::string& why, NodeActions& out);
  /// A Register could not even start (`why`).
  void registerFailed(const std::string& why, NodeActions& out);
  /// The signaling server took our registration as `id` (the first time, or again after a loss).
  void signalingOpened(const std::string& id, Time now, NodeActions& out);
  /// The signaling server reported `err`: a taken code or id is tried again, a refusal or an
  /// error while connecting ends the attempt, and the rest, once in, ends nothing.
  void signalingError(const PeerJsError& err, Time now, NodeActions& out);
  /// The connection to the signaling server dropped (it reconnects by itself).
  void signalingLost(const std::string& reason, NodeActions& out);
  /// A host takes new joiners: registered and its signaling server reachable.
  bool acceptingJoins() const { return accepting_; }
  /// The code this node is in (a Local host's LAN code; a Cloud host's id; the joiner's code).
  const std::string& networkId() const { return networkId_; }

  /// Out of a network (left, failed, torn down): forgets everything. True if clientTokens()
  /// changed.
  bool clear();
  /// Settings that may change at any time, in a network too.
  void setAutoRelay(bool on) { settings_.autoRelay = on; }
  void setGracePeriod(std::chrono::milliseconds grace) { settings_.gracePeriod = grace; }

  // ---- links ----

  /// Whether a link `peer` offers is taken at all (a host once it is in; a joiner from the nodes
  /// it may link with).
  bool accepts(const std::string& peer) const;
  /// A connection from `peer` came (its reliable channel). Returns false when the host has no
  /// room: the link is kept only to say "Network full" once it opens, then closed.
  bool incoming(const std::string& peer, Time now, NodeActions& out);
  /// We dialed `peer`.
  void dialing(const std::string& peer, Time now);
  /// `peer`'s state lane (a seeds' clay_state connection) came. False: refuse it.
  bool stateLaneCame(const std::string& peer, Time now, NodeActions& out);
  /// `peer`'s reliable channel opened.
  void opened(const std::string& peer, Time now, NodeActions& out);
  /// `value` arrived from `peer` on `lane`.
  void received(const std::string& peer, const nlohmann::json& value, Lane lane, Time now,
                NodeActions& out);
  /// Something arrived from `peer` that the core did not see yet (counted by the transport).
  void heard(const std::string& peer, Time now);
  /// `peer`'s reliable channel closed or failed without a goodbye; `why` is its last error.
  void closed(const std::string& peer, const std::string& why, Time now, NodeActions& out);
  /// A Mesh dial to `peer` could not even start.
  void dialFailed(const std::string& peer, Time now, NodeActions& out);

  // ---- time ----

  /// When handleTimeout() has something to do next: the tick, the clock's burst when it runs, or
  /// (Mesh, joining) a node of the roster still to dial, due at once; nullopt out of a network.
  /// An executor needs only this one timer.
  std::optional<Time> nextDeadline() const;
  /// Time passed: the tick, the clock's burst and one Mesh dial, each if it is due.
  void handleTimeout(Time now, NodeActions& out);

  /// The periodic tick (every kTickInterval): pings, silent links, pending joiners whose time
  /// came, links that never opened, a host that sends no roster.
  void tick(Time now, NodeActions& out);
  /// This node itself did not run for `stall` (it was starved or suspended).
  void stalled(Clock::duration stall, Time now);
  /// Joiner: one ping of the clock's burst. False: the burst is over.
  bool clockBurst(Time now, NodeActions& out);

  // ---- commands ----

  /// A message (sentAt when the clock runs) or an unkeyed state (the next seq; sentAt, -1 without
  /// a clock) to send now.
  Envelope message(nlohmann::json data, Time now);
  Envelope state(nlohmann::json data, Time now);
  /// `env` (made by message() or state(), its size checked by the executor) goes to every node
  /// this node links with: returns those peers (the executor encodes it once for all). A state
  /// takes its seq here.
  std::vector<std::string> broadcast(const Envelope& env);
  /// Where a sendTo(`target`) goes: its direct link, or the host's (Star, or a Mesh link that
  /// could not be made). nullopt with `why` when it cannot go.
  std::optional<std::string> route(const std::string& target, std::string& why) const;
  /// Keyed state: queued, the newest per key winning, until flushState().
  void queueState(const std::string& key, nlohmann::json data);
  void flushState(Time now, NodeActions& out);
  /// Goodbyes to every node, as each link speaks (wire 5's bye, the seeds' node_left).
  void goodbyes(NodeActions& out);
  /// Mesh: nodes of the roster still to dial (handleTimeout() dials them), while joining.
  bool dialsQueued() const { return members_.dialsQueued(); }

  // ---- what it knows ----

  struct LinkInfo {
    bool dataOpen = false;
    bool rejecting = false;  ///< host: refused; closes at rejectDeadline
    Wire wire = Wire::Unknown;
    int rtt = -1;  ///< smoothed round trip, ms; -1 before the first pong
    std::uint64_t stateSent = 0, stateRecv = 0;
  };
  std::optional<LinkInfo> link(const std::string& peer) const;
  /// The peers with a link (open or not).
  std::vector<std::string> linkPeers() const;
  /// In the network and past its handshake: what the network sends goes to it.
  bool ready(const std::string& peer) const;
  const Membership& members() const { return members_; }
  const HostAdmission& admission() const { return admission_; }
  const Inbound& inbound() const { return inbound_; }
  SessionClock& clock() { return clock_; }
  const SessionClock& clock() const { return clock_; }
  JoinTimeline& timeline() { return timeline_; }
  const JoinTimeline& timeline() const { return timeline_; }
  bool isHost() const { return host_; }
  const std::string& self() const { return self_; }
  const std::string& hostId() const { return host_ ? self_ : hostId_; }
  bool connecting() const { return stage_ == Stage::Connecting; }
  bool connected() const { return stage_ == Stage::Connected; }
  /// The lowest round trip of the open links, -1 without one.
  int latency() const { return latency_; }
  /// Local monotonic ms of `t`: what pings carry and the session clock counts from.
  static double ms(Time t);

 private:
  // A node that hosts: the host's id is known once it has registered (registered()).
  void hosting(const NodeSettings& settings, Time now);
  // The host registered as `self`: it is in its network and takes joiners.
  void registered(const std::string& self);
  // A node that joins `hostId`'s network as `self`.
  void joining(const std::string& self, const std::string& hostId, const NodeSettings& settings,
               Time now);

  struct Link {
    std::string peer;
    bool dataOpen = false;
    bool rejecting = false;
    Wire wire = Wire::Unknown;
    Time created, opened, rejectDeadline;
    LinkLiveness liveness;
    bool hasData = false;  // a reliable channel came or was dialed (not only a state lane)
    RttEstimator rtt;
    std::uint64_t stateSent = 0, stateRecv = 0;
    std::vector<nlohmann::json> early;  // Mesh: what came before the host announced the node
    LinkInfo info() const;
  };
  enum class Stage { Idle, Connecting, Connected };

  Link* find(const std::string& peer);
  const Link* find(const std::string& peer) const;
  Link& linkFor(const std::string& peer, Time now);
  bool isReady(const Link& link) const;
  std::vector<std::string> readyPeers() const;

  void decide(const PendingJoiners::Decision& d, Time now, NodeActions& out);
  void hostReplied(Link& link, const nlohmann::json& value, Time now, NodeActions& out);
  void maybeJoined(Time now, NodeActions& out);
  void system(Link& link, const Envelope& env, Time now, NodeActions& out);
  void apply(const Membership::Events& events, Time now, NodeActions& out);
  void lost(std::string peer, Loss loss, const std::string& why, Time now, NodeActions& out);
  void ping(Link& link, Time now, NodeActions& out);
  void pong(Link& link, const nlohmann::json& value, const Envelope& env, Time now,
            NodeActions& out);
  void updateLatency(NodeActions& out);
  void sendValue(const std::string& peer, nlohmann::json value, NodeActions& out);
  void send(std::vector<std::string> peers, const Envelope& env, Lane lane, NodeActions& out);
  void diag(NodeActions& out, std::string text, const char* phase = "datachannel");
  void fail(Network::ErrorCode code, std::string text, NodeActions& out);
  void hostLost(Loss loss, NodeActions& out);
  void refusedBy(Refusal refusal, const char* phase, NodeActions& out);
  void registerAs(std::string id, NodeActions& out);
  void joinAs(const std::string& id, const std::string& hostId, const NodeSettings& settings,
              Time now, NodeActions& out);
  void setAccepting(bool on, NodeActions& out);
  bool timedOut(Time now, NodeActions& out);  // the connection timeout passed: TimedOut

  NodeSettings settings_;
  Stage stage_ = Stage::Idle;
  bool host_ = false;
  std::string self_, hostId_;
  std::map<std::string, Link> links_;
  HostAdmission admission_;
  Membership members_;
  Inbound inbound_;
  SessionClock clock_;
  JoinTimeline timeline_;
  StateBatcher batcher_;
  std::uint32_t stateSeq_ = 0;  // shared by unkeyed state and batches, as Clayground's
  int burstLeft_ = 0;
  int latency_ = -1;
  Time nextTick_{}, nextBurst_{}, dialsDue_{};  // handleTimeout()'s schedule

  // Signaling.
  enum class Role { None, CloudHost, LocalHost, Joiner };
  NodeIds ids_;
  Role role_ = Role::None;
  std::string networkId_;
  bool accepting_ = false;
  bool signalingDown_ = false;  // lost the server while in; the peer registers again by itself
  bool registeredOnce_ = false;
  int hostTries_ = 0, joinerTries_ = 0;
};

}  // namespace claynet::network
