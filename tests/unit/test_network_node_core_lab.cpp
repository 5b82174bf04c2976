// Whole networks of NodeCores in virtual time: a host and joiners, each a NodeCore whose actions
// the lab executes as Network does (send, close, the clock's burst, raise), on links with seeded
// latency and jitter, joining at seeded moments, in Star and in Mesh. The reliable lane keeps its
// order per direction; the state lane loses and reorders. What goes over a link is JSON text. Each
// node reads its own steady clock (virtual time plus a seeded offset of its own), so the session
// clock has something to agree on. No thread, no socket, no wall clock.
//
// NodeCore holds the rules (HostAdmission, Membership, Inbound and the glue between them); the lab
// drives only NodeCore, so it checks that glue too: the handshake's replies, the pings,
// gracePeriod, the clock's burst, goodbyes and the Mesh dial queue. Each node has one timer, set
// for its core's nextDeadline() after every input, as Network's. A node can also put what it
// likes on a link (a raw value, or its own values changed), as an older or hostile peer would.
// Nodes host and join through a PeerJS-like signaling server of the lab's: an id belongs to its
// first registration (ID-TAKEN to the next), an offer to an id nobody holds expires
// (peer-unavailable), and it can go away from a node and come back.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "claynet/network.hpp"
#include "network/node_core.hpp"

using namespace claynet::network;
using claynet::PeerJsError;
using claynet::PeerJsErrorType;
using nlohmann::json;

namespace claynet::network {
// Readable failures.
void PrintTo(Loss loss, std::ostream* os) {
  *os << (loss == Loss::Goodbye ? "Goodbye" : loss == Loss::Closed ? "Closed" : "Silent");
}
}  // namespace claynet::network

namespace {

const std::string kHost = "HOST";

// Virtual time in ms. What happens at the same moment happens in the order it was scheduled.
class Events {
 public:
  void at(double when, std::function<void()> what) {
    queue_.push({std::max(when, now_), next_++, std::move(what)});
  }
  // Runs everything due up to `until`; bounded, so a rule that loops cannot hang the test.
  void runUntil(double until) {
    for (int step = 0; step < 2'000'000 && !queue_.empty() && queue_.top().when <= until; ++step) {
      Item item = queue_.top();
      queue_.pop();
      now_ = item.when;
      item.what();
    }
    now_ = std::max(now_, until);
  }
  void runFor(double ms) { runUntil(now_ + ms); }
  double now() const { return now_; }

 private:
  struct Item {
    double when;
    std::uint64_t order;
    std::function<void()> what;
    bool operator<(const Item& o) const { return when != o.when ? when > o.when : order > o.order; }
  };
  std::priority_queue<Item> queue_;
  std::uint64_t next_ = 0;
  double now_ = 0;
};

// What a node's core draws as its code or id: `queue` first, then its own name.
NodeIds idsOf(const std::string& id, std::shared_ptr<std::vector<std::string>> queue) {
  auto next = [id, queue] {
    if (queue->empty()) return id;
    std::string front = queue->front();
    queue->erase(queue->begin());
    return front;
  };
  NodeIds ids;
  ids.networkCode = next;
  ids.nodeId = next;
  ids.lanSecret = [] { return std::string("SECRET23"); };
  return ids;
}

struct Node {
  explicit Node(const std::string& name)
      : id(name), draws(std::make_shared<std::vector<std::string>>()), core(idsOf(name, draws)) {}
  std::string id;
  std::shared_ptr<std::vector<std::string>> draws;  // the codes or ids its core draws first
  NodeCore core;
  double localOffset = 0;         // this node's steady clock reads virtual ms + localOffset
  bool frozen = false;            // hung: takes no input and sends nothing; its links stay up
  std::optional<double> timerAt;  // when its timer is set for (virtual ms)
  std::uint64_t timerSession = 0;
  bool ended = false;         // its session is over (left, refused, lost the host)
  std::uint64_t session = 0;  // a new one per hosting()/joining(): stops old timers
  std::map<std::string, std::uint64_t> links;  // peer -> the connection this end has with it
  std::vector<std::string> log;  // "joined:X", "left:X", "nodesChanged", "connected", ...
  std::vector<InboundDelivery> got;
  std::optional<Refusal> refusal;
  claynet::Network::ErrorCode refusalError = claynet::Network::ErrorCode::None;
  std::optional<Loss> hostLoss;
  double hostLostAt = -1;
  // What it puts on the wire, changed before it goes (an older or hostile peer).
  std::function<void(json&)> tamper;
};

struct LabOptions {
  bool mesh = false;
  double latencyMin = 10, latencyMax = 80;  // one way, drawn per link
  double jitter = 10;                       // +- per value
  double stateLoss = 0;
  double signalingMs = 5;         // one way to the signaling server
  bool local = false;             // the host hosts in Local mode (an embedded server of its own)
  bool localServerFails = false;  // ... and that server cannot start
  std::vector<std::string> hostDraws;  // the codes the host draws first
  std::vector<std::string> occupied;   // ids another process holds on the signaling server
  NodeSettings host;
};

// The connection a node has lost touch with for a while: what arrives on it in [from, until) is
// late (the reliable lane, which retransmits) or lost (the state lane).
struct Blip {
  std::string node;
  double from = 0, until = 0;
};

NodeCore::Time timeOf(double ms) {
  return NodeCore::Time{} + std::chrono::microseconds(static_cast<std::int64_t>(ms * 1000));
}

class Lab {
 public:
  Lab(std::uint32_t seed, LabOptions options) : rng_(seed), options_(std::move(options)) {
    Node& h = add(kHost);
    h.session = ++sessions_;
    *h.draws = options_.hostDraws;
    for (const auto& id : options_.occupied) registry_[id] = "ANOTHER PROCESS";
    options_.host.mesh = options_.mesh;  // the host relays in Star only: all must agree
    input(h, [&](NodeActions& out) { h.core.host(options_.host, options_.local, local(h), out); });
    events_.runFor(2 * options_.signalingMs);  // registered before anyone joins
  }

  Node& node(const std::string& id) { return *nodes_.at(id); }
  Events& events() { return events_; }
  double now() const { return events_.now(); }
  NodeCore::Time local(const Node& n) const { return timeOf(now() + n.localOffset); }
  void setBlip(Blip blip) { blip_ = std::move(blip); }

  // `id` joins the host's network at virtual `when` with `settings` (the lab's Mesh setting).
  void join(const std::string& id, double when, NodeSettings settings = {},
            std::vector<std::string> draws = {}) {
    settings.mesh = options_.mesh;
    events_.at(when, [this, id, settings, draws] {
      Node& n = add(id);
      *n.draws = draws;
      start(n, settings);
    });
  }

  // A node that was in the network joins it again under the same id at once, as a new process
  // would: its old links are forgotten at this end only (the far ends learn nothing).
  void restart(const std::string& id) {
    Node& n = node(id);
    NodeSettings settings;
    settings.mesh = options_.mesh;
    n.core.clear();
    n.links.clear();
    n.ended = false;
    n.frozen = false;
    n.log.push_back("restarted");
    start(n, settings);
  }

  // ---- what the application does ----

  void broadcastMessage(const std::string& id, json data) {
    command(id, [&](Node& n, NodeActions&) {
      Envelope env = n.core.message(std::move(data), local(n));
      transmitAll(n, n.core.broadcast(env), envelopeToJson(env), Lane::Data);
    });
  }
  void sendTo(const std::string& id, const std::string& target, json data) {
    command(id, [&](Node& n, NodeActions&) {
      Envelope env = n.core.message(std::move(data), local(n));
      env.to = target;
      std::string why;
      auto via = n.core.route(target, why);
      ASSERT_TRUE(via) << id << " -> " << target << ": " << why;
      transmitAll(n, {*via}, envelopeToJson(env), Lane::Data);
    });
  }
  void broadcastState(const std::string& id, json data) {
    command(id, [&](Node& n, NodeActions&) {
      Envelope env = n.core.state(std::move(data), local(n));
      transmitAll(n, n.core.broadcast(env), envelopeToJson(env), Lane::State);
    });
  }
  void queueState(const std::string& id, const std::string& key, json data) {
    command(id, [&](Node& n, NodeActions&) { n.core.queueState(key, std::move(data)); });
  }
  void flushState(const std::string& id) {
    command(id, [&](Node& n, NodeActions& out) { n.core.flushState(local(n), out); });
  }
  // Goodbyes to everyone, then the node tears down (native Clayground: right after writing).
  void leave(const std::string& id) {
    command(id, [&](Node& n, NodeActions& out) { n.core.goodbyes(out); });
    Node& n = node(id);
    n.log.push_back("left");
    tearDown(n);
  }
  // The node hangs: it neither reads nor writes again; its connections stay up.
  void freeze(const std::string& id) { node(id).frozen = true; }
  // The node is gone without a goodbye (a crash, a cable pulled): its links all close.
  void vanish(const std::string& id) {
    Node& n = node(id);
    n.log.push_back("vanished");
    tearDown(n);
  }

  // ---- what a peer may put on a link that NodeCore never would ----

  // `id` (made now if it does not exist yet) changes each value it sends with `change`.
  void tamper(const std::string& id, std::function<void(json&)> change) {
    add(id).tamper = std::move(change);
  }
  // `from` sends `value` to `to` on their current connection, whatever its core would send.
  void sendRaw(const std::string& from, const std::string& to, const json& value,
               Lane lane = Lane::Data) {
    transmitAll(node(from), {to}, value, lane);
  }
  // `stranger`, a process in no network, links to `target` (a Mesh joiner takes links from any
  // node, since the host may announce it yet).
  void linkFrom(const std::string& stranger, const std::string& target) {
    dial(add(stranger), target);
  }

  // The connection between `a` and `b` fails: each end hears of it after a latency.
  void cut(const std::string& a, const std::string& b) {
    for (const auto& ends : {std::pair{a, b}, std::pair{b, a}}) {
      // Named copies, not a structured binding: clang 14 (the ThreadSanitizer build) cannot
      // capture a binding in a lambda.
      const std::string end = ends.first, peer = ends.second;
      auto it = node(end).links.find(peer);
      if (it == node(end).links.end()) continue;
      const std::uint64_t conn = it->second;
      events_.at(now() + latency(end, peer), [this, end, peer, conn] {
        Node& n = node(end);
        if (!current(n, peer, conn)) return;
        n.links.erase(peer);
        input(n,
              [&](NodeActions& out) { n.core.closed(peer, "connection failed", local(n), out); });
      });
    }
  }

  int sendsWithoutLink() const { return sendsWithoutLink_; }

 private:
  Node& add(const std::string& id) {
    auto& slot = nodes_[id];
    if (!slot) {
      slot = std::make_unique<Node>(id);
      // Each node's steady clock started at its own moment, up to a day before the lab's.
      slot->localOffset = std::uniform_real_distribution<double>(1e3, 86.4e6)(rng_);
    }
    return *slot;
  }

  void start(Node& n, const NodeSettings& settings) {
    n.session = ++sessions_;
    input(n, [&](NodeActions& out) { n.core.join(kHost, kHost, settings, local(n), out); });
  }

  // One way for one value on the link between `from` and `to`: its seeded base and jitter.
  double latency(const std::string& from, const std::string& to) {
    auto key = from < to ? std::pair{from, to} : std::pair{to, from};
    auto [it, fresh] = base_.try_emplace(key, 0.0);
    if (fresh)
      it->second =
          std::uniform_real_distribution<double>(options_.latencyMin, options_.latencyMax)(rng_);
    return std::max(0.1, it->second + std::uniform_real_distribution<double>(
                                          -options_.jitter, options_.jitter)(rng_));
  }

  bool blipped(const std::string& from, const std::string& to, double at) const {
    return blip_ && (blip_->node == from || blip_->node == to) && at >= blip_->from &&
           at < blip_->until;
  }

  // When what `from` sends `to` now on the reliable lane arrives: never before what it sent
  // before, and, across a blip, as soon as the blip is over.
  double reliableArrival(const std::string& from, const std::string& to) {
    double when = now() + latency(from, to);
    if (blipped(from, to, when)) when = blip_->until + latency(from, to);
    double& last = lastArrival_[{from, to}];
    last = std::max(when, last + 0.001);
    return last;
  }

  static bool current(const Node& n, const std::string& peer, std::uint64_t conn) {
    auto it = n.links.find(peer);
    return it != n.links.end() && it->second == conn;
  }

  // Something `from` sends `to` on their current connection: `what` runs at `to` if that
  // connection is still the one `to` has (what was in flight on an old one is gone).
  void deliver(Node& from, const std::string& to, Lane lane, std::function<void(Node&)> what) {
    auto it = from.links.find(to);
    if (it == from.links.end()) {
      ++sendsWithoutLink_;
      return;
    }
    const std::uint64_t conn = it->second;
    double when;
    if (lane == Lane::Data) {
      when = reliableArrival(from.id, to);
    } else {
      when = now() + latency(from.id, to);
      if (std::uniform_real_distribution<double>(0, 1)(rng_) < options_.stateLoss) return;
      if (blipped(from.id, to, when)) return;
    }
    const std::string fromId = from.id;
    events_.at(when, [this, fromId, to, conn, what = std::move(what)] {
      Node& n = node(to);
      if (current(n, fromId, conn)) what(n);
    });
  }

  void transmitAll(Node& from, const std::vector<std::string>& peers, const json& value,
                   Lane lane) {
    // What goes over a link is text: what arrives is what a peer would have parsed.
    std::string text = value.dump();
    if (from.tamper) {
      json changed = value;
      from.tamper(changed);
      text = changed.dump();
    }
    const std::string fromId = from.id;
    for (const auto& peer : peers)
      deliver(from, peer, lane, [this, fromId, text, lane](Node& n) {
        input(n, [&](NodeActions& out) {
          n.core.received(fromId, json::parse(text), lane, local(n), out);
        });
      });
  }

  // `caller` connects to `callee` through signaling: the callee takes it or the dial fails;
  // the callee's end opens first, the caller's when the callee's first bytes could reach it.
  void dial(Node& caller, const std::string& callee) {
    const std::uint64_t conn = ++connections_;
    caller.links[callee] = conn;
    caller.core.dialing(callee, local(caller));
    const std::string from = caller.id;
    // The server passes on no offer from an id another process holds (the caller's registration
    // as it failed, ID-TAKEN); it queues one from a registration still on its way.
    if (auto held = registry_.find(caller.core.self());
        held != registry_.end() && held->second != caller.id)
      return;
    events_.at(now() + latency(from, callee), [this, from, callee, conn] {
      auto holder = registry_.find(callee);
      if (holder == registry_.end()) {  // the server expires the offer
        Node& d = node(from);
        if (!current(d, callee, conn)) return;
        d.links.erase(callee);
        PeerJsError e{PeerJsErrorType::PeerUnavailable, "could not connect to peer " + callee};
        e.peer = callee;
        signalingError(d, e);
        input(d, [&](NodeActions& out) { d.core.closed(callee, e.message, local(d), out); });
        return;
      }
      Node& c = node(holder->second);
      if (c.frozen) return;  // a hung node answers no offer: the dial stays pending
      if (c.ended || !c.core.accepts(from)) {
        events_.at(now() + latency(callee, from), [this, from, callee, conn] {
          Node& d = node(from);
          if (!current(d, callee, conn)) return;
          d.links.erase(callee);
          input(d, [&](NodeActions& out) { d.core.closed(callee, "refused", local(d), out); });
        });
        return;
      }
      c.links[from] = conn;
      input(c, [&](NodeActions& out) { (void)c.core.incoming(from, local(c), out); });
      input(c, [&](NodeActions& out) { c.core.opened(from, local(c), out); });
      deliver(c, from, Lane::Data, [this, callee](Node& d) {
        input(d, [&](NodeActions& out) { d.core.opened(callee, local(d), out); });
      });
    });
  }

  // Calls into a node that runs, does what it said, and sets its timer, as the executor does.
  void input(Node& n, const std::function<void(NodeActions&)>& call) {
    if (n.frozen || n.ended) return;
    NodeActions out;
    call(out);
    execute(n, out);
    arm(n);
  }

  void command(const std::string& id, const std::function<void(Node&, NodeActions&)>& call) {
    Node& n = node(id);
    input(n, [&](NodeActions& out) { call(n, out); });
  }

  void execute(Node& n, NodeActions& actions) {
    bool over = false;
    for (auto& a : actions) {
      if (over) break;
      switch (a.kind) {
        case NodeAction::Kind::Send:
          transmitAll(n, a.peers, a.value, a.lane);
          break;
        case NodeAction::Kind::Close:
          closeLink(n, a.peer);
          break;
        case NodeAction::Kind::NodesChanged:
          n.log.push_back("nodesChanged");
          break;
        case NodeAction::Kind::NodeJoined:
          n.log.push_back("joined:" + a.peer);
          break;
        case NodeAction::Kind::NodeLeft:
          n.log.push_back("left:" + a.peer);
          break;
        case NodeAction::Kind::Deliver:
          n.got.push_back(std::move(a.delivery));
          break;
        case NodeAction::Kind::Connected:
          n.log.push_back("connected");
          break;
        case NodeAction::Kind::HostLost:
          n.log.push_back("hostLost");
          n.hostLoss = a.loss;
          n.hostLostAt = now();
          over = true;
          break;
        case NodeAction::Kind::Refused:
          n.log.push_back("refused");
          n.refusal = a.refusal;
          n.refusalError = a.error;
          over = true;
          break;
        case NodeAction::Kind::RejectedLater:
          n.log.push_back("rejectedLater");
          break;
        case NodeAction::Kind::StartLocalServer:
          n.log.push_back("localServer:" + a.text);
          later(n, 0, [this](Node& m) {
            input(m, [&](NodeActions& out) {
              if (options_.localServerFails) {
                m.core.localServerFailed("the port is taken", out);
              } else {
                m.core.localServerStarted("L7F000001-1F90-SECRET23", out);
              }
            });
          });
          break;
        case NodeAction::Kind::Register:
          registerAs(n, a.peer);
          break;
        case NodeAction::Kind::Unregister:
          n.log.push_back("unregistered");
          unregister(n);
          for (const auto& peer : linkedPeers(n)) closeLink(n, peer);
          break;
        case NodeAction::Kind::Dial:
          dial(n, a.peer);
          break;
        case NodeAction::Kind::Hosted:
          n.log.push_back("hosted:" + a.text);
          break;
        case NodeAction::Kind::Registered:
          n.log.push_back("registered:" + a.peer);
          break;
        case NodeAction::Kind::AcceptingJoins:
          n.log.push_back(std::string("accepting:") + (n.core.acceptingJoins() ? "yes" : "no"));
          break;
        case NodeAction::Kind::SignalingLost:
          n.log.push_back("signalingLost");
          break;
        case NodeAction::Kind::Failed:
          n.log.push_back(std::string("failed:") + toString(a.error) + ":" + a.text);
          over = true;
          break;
        case NodeAction::Kind::TimedOut:
          n.log.push_back("timedOut:" + a.text);
          over = true;
          break;
        default:  // OpenStateLane (state goes over the lane anyway), stats, diagnostics
          break;
      }
    }
    if (over) tearDown(n);
  }

  // The core forgot the link: this end closes it; the far end hears of it after what was sent.
  void closeLink(Node& n, const std::string& peer) {
    if (!n.links.count(peer)) return;
    const std::string self = n.id;
    deliver(n, peer, Lane::Data, [this, self](Node& far) {
      far.links.erase(self);
      input(far, [&](NodeActions& out) { far.core.closed(self, "closed", local(far), out); });
    });
    n.links.erase(peer);
  }

  void tearDown(Node& n) {
    n.ended = true;
    for (const auto& peer : linkedPeers(n)) closeLink(n, peer);
    unregister(n);
    n.core.clear();
  }

  static std::vector<std::string> linkedPeers(const Node& n) {
    std::vector<std::string> peers;
    for (const auto& [peer, conn] : n.links) peers.push_back(peer);
    return peers;
  }

  // ---- the signaling server ----

  // `what` runs at `n` after `trips` round trips to the signaling server, if its session is
  // still the same.
  void later(Node& n, int trips, std::function<void(Node&)> what) {
    const std::string id = n.id;
    const std::uint64_t session = n.session;
    events_.at(now() + (2 * trips + 1) * options_.signalingMs, [this, id, session, what] {
      Node& m = node(id);
      if (m.session == session && !m.ended && !m.frozen) what(m);
    });
  }

  void registerAs(Node& n, const std::string& id) {
    later(n, 0, [this, id](Node& m) {
      auto [it, fresh] = registry_.try_emplace(id, m.id);
      if (!fresh && it->second != m.id) {
        signalingError(m, {PeerJsErrorType::UnavailableId, "ID \"" + id + "\" is taken"});
        return;
      }
      input(m, [&](NodeActions& out) { m.core.signalingOpened(id, local(m), out); });
    });
  }

  void unregister(Node& n) {
    std::erase_if(registry_, [&](const auto& entry) { return entry.second == n.id; });
  }

  void signalingError(Node& n, const PeerJsError& e) {
    input(n, [&](NodeActions& out) { n.core.signalingError(e, local(n), out); });
  }

 public:
  // The signaling server loses `id` (a dropped WebSocket): its registration is gone until
  // signalingBack().
  void signalingDown(const std::string& id) {
    Node& n = node(id);
    for (const auto& [name, holder] : registry_)
      if (holder == id) registered_[id].push_back(name);
    unregister(n);
    input(n, [&](NodeActions& out) { n.core.signalingLost("socket-closed", out); });
  }
  // The node's peer registered again under its ids (PeerJsPeer reconnects by itself).
  void signalingBack(const std::string& id) {
    for (const auto& name : registered_[id]) registerAs(node(id), name);
    registered_.erase(id);
  }
  // `id` registers as `name` first, as another process would: its later tries are ID-TAKEN.
  void occupy(const std::string& name, const std::string& id) { registry_[name] = id; }

 private:
  // The node's one timer, as an executor keeps it: set for its core's nextDeadline(), unless it
  // is set for that or sooner already; handleTimeout() when it fires.
  void arm(Node& n) {
    const auto due = n.core.nextDeadline();
    if (!due || n.ended) return;
    // A microsecond after: local() reads whole microseconds, and a timer may not fire early.
    const double when = std::chrono::duration<double, std::milli>(*due - NodeCore::Time{}).count() -
                        n.localOffset + 0.001;
    if (n.timerAt && n.timerSession == n.session && *n.timerAt <= when) return;
    n.timerAt = when;
    n.timerSession = n.session;
    const std::string id = n.id;
    const std::uint64_t session = n.session;
    events_.at(when, [this, id, session, when] {
      Node& m = node(id);
      if (m.session != session || !m.timerAt || *m.timerAt != when) return;  // set again since
      m.timerAt.reset();
      input(m, [&](NodeActions& out) { m.core.handleTimeout(local(m), out); });
    });
  }

  std::mt19937 rng_;
  LabOptions options_;
  Events events_;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  std::map<std::pair<std::string, std::string>, double> base_, lastArrival_;
  std::optional<Blip> blip_;
  std::uint64_t connections_ = 0, sessions_ = 0;
  int sendsWithoutLink_ = 0;
  std::map<std::string, std::string> registry_;  // the signaling server: id -> the node holding it
  std::map<std::string, std::vector<std::string>> registered_;  // node -> its ids while it is down
};

// ---- checks ----

long count(const std::vector<std::string>& v, const std::string& what) {
  return std::count(v.begin(), v.end(), what);
}

std::set<std::string> asSet(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

std::vector<std::string> joinerIds(int joiners) {
  std::vector<std::string> out;
  for (int i = 1; i <= joiners; ++i) out.push_back("N" + std::to_string(i));
  return out;
}

// Joins `joiners` nodes at seeded moments within `spreadMs` and runs until all is quiet.
void joinAll(Lab& lab, std::mt19937& rng, int joiners, double spreadMs) {
  std::uniform_real_distribution<double> when(0, spreadMs);
  for (const auto& id : joinerIds(joiners)) lab.join(id, lab.now() + when(rng));
  lab.events().runFor(spreadMs + 6000);
}

// Every node of `all` is connected and sees each other one as a node, joined once.
void expectOneNetwork(Lab& lab, const std::vector<std::string>& all, const std::string& context) {
  for (const auto& id : all) {
    Node& n = lab.node(id);
    std::set<std::string> others = asSet(all);
    others.erase(id);
    EXPECT_EQ(asSet(n.core.members().nodes()), others) << context << " at " << id;
    EXPECT_EQ(n.core.members().nodes().size(), others.size()) << context << " at " << id;
    EXPECT_TRUE(n.core.connected()) << context << " at " << id;
    for (const auto& o : others)
      EXPECT_EQ(count(n.log, "joined:" + o), 1) << context << " at " << id << " of " << o;
    if (id == kHost) continue;
    EXPECT_EQ(count(n.log, "connected"), 1) << context << " at " << id;
    // Clayground's order: the host's nodeJoined before connected, everyone else's after it.
    const auto connectedAt = std::find(n.log.begin(), n.log.end(), "connected");
    EXPECT_NE(std::find(n.log.begin(), connectedAt, "joined:" + kHost), connectedAt)
        << context << " at " << id;
    for (auto it = n.log.begin(); it != connectedAt; ++it)
      EXPECT_TRUE(it->rfind("joined:", 0) != 0 || *it == "joined:" + kHost)
          << context << " at " << id << ": " << *it << " before connected";
  }
}

std::vector<std::string> everyone(int joiners) {
  auto all = joinerIds(joiners);
  all.insert(all.begin(), kHost);
  return all;
}

std::string label(bool mesh, std::uint32_t seed) {
  return std::string(mesh ? "Mesh" : "Star") + " seed " + std::to_string(seed);
}

// A lab of a host and `joiners` joined within `spreadMs`, at moments drawn with `joinSeed`,
// checked to be one network; null when it is not (the failures are reported). The state lane
// loses the share `stateLoss` of what goes on it.
std::unique_ptr<Lab> joinedNetwork(std::uint32_t seed, bool mesh, std::uint32_t joinSeed,
                                   int joiners, double spreadMs, const std::string& context,
                                   double stateLoss = 0) {
  LabOptions options;
  options.mesh = mesh;
  options.stateLoss = stateLoss;
  auto lab = std::make_unique<Lab>(seed, options);
  std::mt19937 rng(joinSeed);
  joinAll(*lab, rng, joiners, spreadMs);
  expectOneNetwork(*lab, everyone(joiners), context);
  if (::testing::Test::HasFailure()) return nullptr;
  return lab;
}

// ---- 1. joins ----

// Joins close together also cover the Mesh race: a node admitted just after another dials it
// before that one's roster came, and must be taken.
TEST(NetworkNodeCoreLab, EveryoneJoinsOneNetworkInStarAndMesh) {
  for (bool mesh : {false, true}) {
    for (std::uint32_t seed = 1; seed <= 150; ++seed) {
      const std::string context = label(mesh, seed);
      std::mt19937 rng(seed * 7919u);
      LabOptions options;
      options.mesh = mesh;
      Lab lab(seed, options);
      const int joiners = 3 + static_cast<int>(seed % 5);  // 3 to 7
      // Joins close together (rosters cross announcements and dials) or spread out.
      joinAll(lab, rng, joiners, seed % 2 ? 300 : 3000);
      expectOneNetwork(lab, everyone(joiners), context);
      if (mesh) {
        for (const auto& id : joinerIds(joiners)) {
          EXPECT_EQ(lab.node(id).core.linkPeers().size(), static_cast<std::size_t>(joiners))
              << context << " at " << id << ": the host and every other joiner";
        }
      }
      EXPECT_EQ(lab.sendsWithoutLink(), 0) << context;
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// ---- 2. traffic ----

// Every node broadcasts messages, unkeyed and keyed state at 60 Hz; N3 claims to be N1 on each
// of its messages; N1 sends to N4 alone.
void runTraffic(bool mesh) {
  constexpr int kMessages = 20, kStates = 60, kJoiners = 5;
  for (std::uint32_t seed = 1; seed <= 25; ++seed) {
    const std::string context = label(mesh, seed);
    auto network = joinedNetwork(seed, mesh, seed * 104729u, kJoiners, 500, context, 0.2);
    if (!network) return;
    Lab& lab = *network;
    const auto all = everyone(kJoiners);
    // A lie the others must not believe: in Star the host sets `from` itself, in Mesh a `from`
    // counts only from the host.
    lab.tamper("N3", [](json& value) {
      if (value.value("t", "") == "m") value["from"] = "N1";
    });

    for (int i = 0; i < kStates; ++i) {
      lab.events().runFor(16);
      for (const auto& id : all) {
        if (i < kMessages) lab.broadcastMessage(id, {{"text", id}, {"n", i}});
        lab.broadcastState(id, {{"n", i}});
        lab.queueState(id, "pos", {{"n", i}});
        lab.queueState(id, "hp", {{"n", i}});
        lab.flushState(id);
      }
      if (i == 5) lab.sendTo("N1", "N4", {{"text", "for N4"}});
    }
    lab.events().runFor(3000);

    for (const auto& at : all) {
      const Node& n = lab.node(at);
      std::map<std::string, std::vector<int>> messages;
      std::map<std::pair<std::string, std::string>, std::vector<int>> states;
      int private_ = 0;
      for (const auto& d : n.got) {
        const int i = d.data.value("n", -1);
        if (d.state) {
          states[{d.origin, d.key}].push_back(i);
        } else if (d.data.value("text", "") == "for N4") {
          ++private_;
          EXPECT_EQ(d.origin, "N1") << context << " at " << at;
        } else {
          EXPECT_EQ(d.data.value("text", ""), d.origin)
              << context << " at " << at << ": a message from the wrong origin";
          messages[d.origin].push_back(i);
        }
      }
      EXPECT_EQ(private_, at == "N4" ? 1 : 0) << context << " at " << at;
      std::vector<int> expected(kMessages);
      for (int i = 0; i < kMessages; ++i) expected[i] = i;
      for (const auto& from : all) {
        if (from == at) continue;
        EXPECT_EQ(messages[from], expected) << context << " at " << at << " from " << from;
        for (const std::string key : {"", "pos", "hp"}) {
          const auto& seen = states[{from, key}];
          // With a fifth lost, dozens still arrive; none may be older than one before it.
          EXPECT_GE(seen.size(), 10u)
              << context << " at " << at << " from " << from << " key '" << key << "'";
          EXPECT_TRUE(std::adjacent_find(seen.begin(), seen.end(), std::greater_equal<>()) ==
                      seen.end())
              << context << " at " << at << " from " << from << " key '" << key
              << "': state went back or came twice";
        }
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(NetworkNodeCoreLab, StarDeliversEveryMessageOnceInOrderAndStateNeverGoesBack) {
  runTraffic(false);
}

TEST(NetworkNodeCoreLab, MeshDeliversEveryMessageOnceInOrderAndStateNeverGoesBack) {
  runTraffic(true);
}

// ---- 3. a silent host ----

TEST(NetworkNodeCoreLab, AHostThatFallsSilentIsLostWithinGracePeriod) {
  double latest = 0;  // the longest detection beyond gracePeriod, for the log
  for (int graceMs : {3000, 1500, 5000}) {
    for (bool mesh : {false, true}) {
      for (std::uint32_t seed = 1; seed <= 15; ++seed) {
        const std::string context = label(mesh, seed) + " grace " + std::to_string(graceMs);
        std::mt19937 rng(seed);
        LabOptions options;
        options.mesh = mesh;
        options.latencyMin = 10;
        options.latencyMax = 80;
        options.host.gracePeriod = std::chrono::milliseconds(graceMs);
        Lab lab(seed, options);
        const int joiners = 3 + static_cast<int>(seed % 3);
        for (const auto& id : joinerIds(joiners)) {
          NodeSettings s;
          s.gracePeriod = std::chrono::milliseconds(graceMs);
          lab.join(id, std::uniform_real_distribution<double>(0, 500)(rng), s);
        }
        lab.events().runFor(6000);
        expectOneNetwork(lab, everyone(joiners), context);
        // Some steady state first, then the host hangs at a seeded moment.
        lab.events().runFor(std::uniform_real_distribution<double>(0, 2000)(rng));
        const double frozeAt = lab.now();
        lab.freeze(kHost);
        lab.events().runFor(graceMs + 3000);
        for (const auto& id : joinerIds(joiners)) {
          const Node& n = lab.node(id);
          ASSERT_TRUE(n.hostLoss) << context << " at " << id;
          EXPECT_EQ(*n.hostLoss, Loss::Silent) << context << " at " << id;
          // The deadline runs from a ping the host did not answer: one sent at most a latency
          // before it froze, or a quiet probe 0.5 s after the last thing it heard.
          EXPECT_LE(n.hostLostAt - frozeAt, graceMs + 1000) << context << " at " << id;
          latest = std::max(latest, n.hostLostAt - frozeAt - graceMs);
          EXPECT_GE(n.hostLostAt - frozeAt, graceMs - 300) << context << " at " << id;
          EXPECT_EQ(count(n.log, "hostLost"), 1) << context << " at " << id;
        }
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
  std::printf("[ liveness ] a silent host was lost at most %.0f ms after gracePeriod\n", latest);
}

// ---- 4. a blip ----

TEST(NetworkNodeCoreLab, ABlipShorterThanGracePeriodLosesNobodyAndNoMessage) {
  for (int graceMs : {3000, 5000}) {
    for (bool mesh : {false, true}) {
      for (std::uint32_t seed = 1; seed <= 15; ++seed) {
        const std::string context = label(mesh, seed) + " grace " + std::to_string(graceMs);
        std::mt19937 rng(seed * 31u);
        LabOptions options;
        options.mesh = mesh;
        options.stateLoss = 0.1;
        options.host.gracePeriod = std::chrono::milliseconds(graceMs);
        Lab lab(seed, options);
        constexpr int kJoiners = 4;
        for (const auto& id : joinerIds(kJoiners)) {
          NodeSettings s;
          s.gracePeriod = std::chrono::milliseconds(graceMs);
          lab.join(id, std::uniform_real_distribution<double>(0, 500)(rng), s);
        }
        lab.events().runFor(6000);
        const auto all = everyone(kJoiners);
        expectOneNetwork(lab, all, context);
        if (::testing::Test::HasFailure()) return;

        // N2 loses touch with everyone for gracePeriod - 1 s, while everyone keeps talking.
        const double from = lab.now() + std::uniform_real_distribution<double>(0, 2000)(rng);
        lab.setBlip({"N2", from, from + graceMs - 1000});
        constexpr int kMessages = 60;
        for (int i = 0; i < kMessages; ++i) {
          lab.events().runFor(100);
          for (const auto& id : all) {
            lab.broadcastMessage(id, {{"text", id}, {"n", i}});
            lab.broadcastState(id, {{"n", i}});
          }
        }
        lab.events().runFor(graceMs + 2000);

        for (const auto& at : all) {
          const Node& n = lab.node(at);
          EXPECT_FALSE(n.hostLoss) << context << " at " << at;
          for (const auto& entry : n.log)
            EXPECT_NE(entry.rfind("left:", 0), 0u) << context << " at " << at << ": " << entry;
          EXPECT_TRUE(n.core.connected()) << context << " at " << at;
          EXPECT_EQ(n.core.members().nodes().size(), all.size() - 1) << context << " at " << at;
          std::map<std::string, std::vector<int>> messages;
          for (const auto& d : n.got)
            if (!d.state) messages[d.origin].push_back(d.data.value("n", -1));
          std::vector<int> expected(kMessages);
          for (int i = 0; i < kMessages; ++i) expected[i] = i;
          for (const auto& o : all) {
            if (o != at) {
              EXPECT_EQ(messages[o], expected) << context << " at " << at << " from " << o;
            }
          }
        }
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
}

// ---- 5. the session clock ----

// The largest disagreement between a joiner's session time and the host's, sampled every 250 ms
// for `spanMs` after the joins and `settleMs`, across `seeds`.
double worstClockDisagreement(double jitter, std::uint32_t seeds, bool& allSynced,
                              std::string& where) {
  double worst = 0;
  allSynced = true;
  for (std::uint32_t seed = 1; seed <= seeds; ++seed) {
    std::mt19937 rng(seed * 17u);
    LabOptions options;
    options.latencyMin = options.latencyMax = 50;  // one way 50 ms +- jitter: RTT 100 +- 2 jitter
    options.jitter = jitter;
    Lab lab(seed, options);
    constexpr int kJoiners = 4;
    joinAll(lab, rng, kJoiners, 1000);
    // The burst is 64 pings 50 ms apart (3.2 s); then some seconds of the regular pings.
    lab.events().runFor(5000);
    for (int sample = 0; sample < 40; ++sample) {
      lab.events().runFor(250);
      Node& h = lab.node(kHost);
      const double hostTime = h.core.clock().sessionTime(NodeCore::ms(lab.local(h)));
      for (const auto& id : joinerIds(kJoiners)) {
        Node& n = lab.node(id);
        if (!n.core.clock().synced()) {
          allSynced = false;
          where = "seed " + std::to_string(seed) + " at " + id + ": not synced";
        }
        const double d =
            std::abs(n.core.clock().sessionTime(NodeCore::ms(lab.local(n))) - hostTime);
        if (d > worst) {
          worst = d;
          where = "seed " + std::to_string(seed) + " at " + id;
        }
      }
    }
  }
  return worst;
}

TEST(NetworkNodeCoreLab, JoinersAgreeWithTheHostsSessionClockWithin10Ms) {
  for (double jitter : {10.0, 20.0}) {
    bool synced = false;
    std::string where;
    const double worst = worstClockDisagreement(jitter, 30, synced, where);
    EXPECT_TRUE(synced) << "jitter " << jitter << ": " << where;
    // Clayground's own check: within 10 ms.
    EXPECT_LE(worst, 10.0) << "jitter " << jitter << ": worst at " << where;
    std::printf("[ clock    ] one way 50 +- %.0f ms: worst disagreement %.3f ms (%s)\n", jitter,
                worst, where.c_str());
  }
}

// ---- 6. refusals ----

// The refused are nobody's nodes: nobody raised them, they are not in, the host closed their link.
void expectTurnedAway(Lab& lab, const std::vector<std::string>& refused,
                      const std::vector<std::string>& in, const std::string& context) {
  for (const auto& r : refused) {
    EXPECT_FALSE(lab.node(r).core.connected()) << context << " at " << r;
    EXPECT_FALSE(lab.node(kHost).core.link(r)) << context << ": the host closed " << r << "'s link";
    for (const auto& id : in)
      EXPECT_EQ(count(lab.node(id).log, "joined:" + r), 0) << context << " at " << id;
  }
}

TEST(NetworkNodeCoreLab, TheHandshakeTurnsAwayAWrongAppAWrongPasswordAndAnotherWireVersion) {
  for (bool mesh : {false, true}) {
    for (std::uint32_t seed = 1; seed <= 20; ++seed) {
      const std::string context = label(mesh, seed);
      LabOptions options;
      options.mesh = mesh;
      options.host.appId = "duel";
      options.host.password = "secret";
      Lab lab(seed, options);
      auto settings = [](std::string app, std::string pw, std::string token) {
        NodeSettings s;
        s.appId = std::move(app);
        s.password = std::move(pw);
        s.clientToken = std::move(token);
        return s;
      };
      // An older Clayground: its hello says wire version 4.
      lab.tamper("OLDWIRE", [](json& value) {
        if (value.value("t", "") == "h") value["v"] = 4;
      });
      // At close moments, the wrong ones between the right ones.
      lab.join("N1", 0, settings("duel", "secret", "t1"));
      lab.join("WRONGAPP", 40, settings("other-game", "secret", "ta"));
      lab.join("WRONGPW", 80, settings("duel", "guess", "tp"));
      lab.join("OLDWIRE", 120, settings("duel", "secret", "tv"));
      lab.join("N2", 160, settings("duel", "secret", "t2"));
      lab.events().runFor(6000);

      const struct {
        std::string id;
        RefusalReason reason;
        std::string code, text;
      } expected[] = {
          {"WRONGAPP", RefusalReason::IncompatibleApp, "incompatible-app",
           "Incompatible app: the joiner is \"other-game\", the host \"duel\""},
          {"WRONGPW", RefusalReason::WrongPassword, "wrong-password", "Wrong password"},
          {"OLDWIRE", RefusalReason::IncompatibleVersion, "incompatible-version",
           "Incompatible version: the joiner speaks wire version 4, the host 5"},
      };
      for (const auto& e : expected) {
        const auto& r = lab.node(e.id).refusal;
        ASSERT_TRUE(r) << context << " at " << e.id;
        EXPECT_EQ(r->reason, e.reason) << context << " at " << e.id;
        EXPECT_EQ(toString(r->reason), e.code) << context << " at " << e.id;
        EXPECT_EQ(r->message, e.text) << context << " at " << e.id;
        EXPECT_EQ(lab.node(e.id).refusalError, claynet::Network::ErrorCode::JoinRefused)
            << context << " at " << e.id;
      }
      const std::vector<std::string> in = {kHost, "N1", "N2"};
      expectOneNetwork(lab, in, context);
      expectTurnedAway(lab, {"WRONGAPP", "WRONGPW", "OLDWIRE"}, in, context);
      // clientTokens are those of the admitted only.
      EXPECT_EQ(lab.node(kHost).core.admission().clientTokens(),
                (std::map<std::string, std::string>{{"N1", "t1"}, {"N2", "t2"}}))
          << context;
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(NetworkNodeCoreLab, AFullNetworkTurnsAwayTheRestAndTakesANodeAgainWhenOneLeaves) {
  for (bool mesh : {false, true}) {
    for (std::uint32_t seed = 1; seed <= 30; ++seed) {
      const std::string context = label(mesh, seed);
      std::mt19937 rng(seed);
      LabOptions options;
      options.mesh = mesh;
      options.host.maxNodes = 4;  // the host and three joiners
      Lab lab(seed, options);
      // Seven at close or spread moments: the first three to reach the host are in.
      joinAll(lab, rng, 7, seed % 2 ? 200 : 2000);
      std::vector<std::string> in = {kHost}, refused;
      for (const auto& id : joinerIds(7)) (lab.node(id).refusal ? refused : in).push_back(id);
      ASSERT_EQ(in.size(), 4u) << context;
      for (const auto& id : refused) {
        EXPECT_EQ(lab.node(id).refusal->reason, RefusalReason::Refused) << context << " at " << id;
        EXPECT_EQ(lab.node(id).refusalError, claynet::Network::ErrorCode::NetworkFull)
            << context << " at " << id;
        EXPECT_EQ(lab.node(id).refusal->message, claynet::Network::kNetworkFullMessage)
            << context << " at " << id;
      }
      expectOneNetwork(lab, in, context);
      expectTurnedAway(lab, refused, in, context);
      EXPECT_EQ(count(lab.node(kHost).log, "nodesChanged"), 3) << context;
      EXPECT_EQ(lab.node(kHost).core.admission().clientTokens().size(), 3u) << context;
      if (::testing::Test::HasFailure()) return;

      // One leaves: the next one fits.
      const std::string leaver = in[1];
      lab.leave(leaver);
      lab.events().runFor(2000);
      lab.join("N9", lab.now());
      lab.events().runFor(5000);
      EXPECT_FALSE(lab.node("N9").refusal) << context;
      in.erase(std::find(in.begin(), in.end(), leaver));
      in.push_back("N9");
      expectOneNetwork(lab, in, context);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// ---- 7. coming back ----

// The rule a game expects: a node whose link closed has left (nodeLeft everywhere, once); when it
// joins again under the same id it is a new arrival (nodeJoined everywhere, once more).
TEST(NetworkNodeCoreLab, ANodeWhoseLinkClosedLeftAndIsNewWhenItJoinsAgain) {
  for (bool mesh : {false, true}) {
    for (std::uint32_t seed = 1; seed <= 20; ++seed) {
      const std::string context = label(mesh, seed);
      constexpr int kJoiners = 4;
      auto network = joinedNetwork(seed, mesh, seed * 13u, kJoiners, 500, context);
      if (!network) return;
      Lab& lab = *network;
      const auto all = everyone(kJoiners);

      lab.cut("N2", kHost);
      lab.events().runFor(2000);
      ASSERT_TRUE(lab.node("N2").hostLoss) << context;
      EXPECT_EQ(*lab.node("N2").hostLoss, Loss::Closed) << context;
      for (const auto& id : all) {
        if (id != "N2") {
          EXPECT_EQ(count(lab.node(id).log, "left:N2"), 1) << context << " at " << id;
        }
      }

      lab.restart("N2");
      lab.events().runFor(5000);
      for (const auto& id : all) {
        if (id == "N2") continue;
        EXPECT_EQ(count(lab.node(id).log, "joined:N2"), 2) << context << " at " << id;
        EXPECT_EQ(count(lab.node(id).log, "left:N2"), 1) << context << " at " << id;
        EXPECT_EQ(asSet(lab.node(id).core.members().nodes()).size(), all.size() - 1)
            << context << " at " << id;
      }
      EXPECT_TRUE(lab.node("N2").core.connected()) << context;
      EXPECT_EQ(asSet(lab.node("N2").core.members().nodes()).size(), all.size() - 1) << context;
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// A node back on a new link before its old one closed (a quick reconnect, or a new process under
// the same id): the host gives it its roster again and tells nobody; it is not new. (Its state is
// not checked: its sequence starts over at 1, and the others drop that as stale for now.)
TEST(NetworkNodeCoreLab, ANodeBackOnANewLinkBeforeItsOldOneClosedIsNotNew) {
  for (bool mesh : {false, true}) {
    for (std::uint32_t seed = 1; seed <= 20; ++seed) {
      const std::string context = label(mesh, seed);
      constexpr int kJoiners = 4;
      auto network = joinedNetwork(seed, mesh, seed * 17u, kJoiners, 500, context);
      if (!network) return;
      Lab& lab = *network;
      const auto all = everyone(kJoiners);

      lab.restart("N2");
      lab.events().runFor(5000);
      for (const auto& id : all) {
        const Node& n = lab.node(id);
        std::set<std::string> others = asSet(all);
        others.erase(id);
        EXPECT_EQ(asSet(n.core.members().nodes()), others) << context << " at " << id;
        EXPECT_TRUE(n.core.connected()) << context << " at " << id;
        if (id == "N2") continue;
        EXPECT_EQ(count(n.log, "joined:N2"), 1) << context << " at " << id;
        EXPECT_EQ(count(n.log, "left:N2"), 0) << context << " at " << id;
      }
      // N2 itself is in again, and raised each node once since.
      const Node& back = lab.node("N2");
      const std::vector<std::string> since(std::find(back.log.begin(), back.log.end(), "restarted"),
                                           back.log.end());
      EXPECT_EQ(count(since, "connected"), 1) << context;
      for (const auto& id : all) {
        if (id != "N2") {
          EXPECT_EQ(count(since, "joined:" + id), 1) << context << " of " << id;
        }
      }

      // Messages go both ways on the new links.
      for (const auto& id : all) lab.broadcastMessage(id, {{"text", id}});
      lab.events().runFor(2000);
      for (const auto& at : all) {
        std::multiset<std::string> from;
        for (const auto& d : lab.node(at).got) from.insert(d.origin);
        for (const auto& id : all) {
          if (id != at) {
            EXPECT_EQ(from.count(id), 1u) << context << " at " << at << " from " << id;
          }
        }
      }
      EXPECT_EQ(lab.sendsWithoutLink(), 0) << context;
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// ---- 8. leaving ----

TEST(NetworkNodeCoreLab, ANodeThatSaysGoodbyeOrVanishesIsGoneOnceForAllAndTheHostsGoodbyeEndsIt) {
  for (bool mesh : {false, true}) {
    for (std::uint32_t seed = 1; seed <= 30; ++seed) {
      const std::string context = label(mesh, seed);
      constexpr int kJoiners = 5;
      auto network =
          joinedNetwork(seed, mesh, seed * 101u, kJoiners, seed % 2 ? 300 : 2000, context);
      if (!network) return;
      Lab& lab = *network;
      const auto all = everyone(kJoiners);

      lab.leave("N3");
      lab.events().runFor(2000);
      for (const auto& id : all) {
        if (id == "N3") continue;
        const Node& n = lab.node(id);
        EXPECT_EQ(count(n.log, "left:N3"), 1) << context << " at " << id;
        EXPECT_EQ(n.core.members().nodes().size(), all.size() - 2) << context << " at " << id;
        EXPECT_FALSE(n.hostLoss) << context << " at " << id;
      }

      // N5's links all close at once, without a goodbye.
      lab.vanish("N5");
      lab.events().runFor(2000);
      for (const auto& id : all) {
        if (id == "N3" || id == "N5") continue;
        const Node& n = lab.node(id);
        EXPECT_EQ(count(n.log, "left:N5"), 1) << context << " at " << id;
        EXPECT_EQ(n.core.members().nodes().size(), all.size() - 3) << context << " at " << id;
        EXPECT_FALSE(n.hostLoss) << context << " at " << id;
      }

      lab.leave(kHost);
      lab.events().runFor(2000);
      for (const auto& id : joinerIds(kJoiners)) {
        if (id == "N3" || id == "N5") continue;
        const Node& n = lab.node(id);
        ASSERT_TRUE(n.hostLoss) << context << " at " << id;
        EXPECT_EQ(*n.hostLoss, Loss::Goodbye) << context << " at " << id;
        EXPECT_EQ(count(n.log, "hostLost"), 1) << context << " at " << id;
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// ---- 9. hostile peers ----

// Only the host says who is in and who left; a node may say only that it leaves itself.
TEST(NetworkNodeCoreLab, OnlyTheHostMaySayWhoLeftAndANodeMaySayItLeavesItself) {
  for (bool mesh : {false, true}) {
    for (std::uint32_t seed = 1; seed <= 10; ++seed) {
      const std::string context = label(mesh, seed);
      constexpr int kJoiners = 4;
      auto network = joinedNetwork(seed, mesh, seed * 29u, kJoiners, 300, context);
      if (!network) return;
      Lab& lab = *network;
      const auto all = everyone(kJoiners);

      // N1 tells everyone it links with (Star: the host; Mesh: everyone) what only a host may.
      auto toAllOfN1 = [&](const Envelope& env) {
        for (const auto& peer : lab.node("N1").core.linkPeers())
          lab.sendRaw("N1", peer, envelopeToJson(env));
      };
      toAllOfN1(makeNodeLeft("N2"));
      toAllOfN1(makeNodeJoined("GHOST"));
      toAllOfN1(makeRoster({"GHOST"}));
      lab.events().runFor(2000);
      expectOneNetwork(lab, all, context);  // nobody left, nobody new
      for (const auto& id : all)
        for (const auto& entry : lab.node(id).log)
          EXPECT_NE(entry.rfind("left:", 0), 0u) << context << " at " << id << ": " << entry;
      if (::testing::Test::HasFailure()) return;

      // N1 says that it leaves itself, as the seeds' protocol does: it is gone, once for each.
      toAllOfN1(makeNodeLeft("N1"));
      lab.events().runFor(2000);
      for (const auto& id : all) {
        if (id == "N1") continue;
        const Node& n = lab.node(id);
        EXPECT_EQ(count(n.log, "left:N1"), 1) << context << " at " << id;
        EXPECT_EQ(n.core.members().nodes().size(), all.size() - 2) << context << " at " << id;
      }

      // The host naming itself as left is the host leaving.
      for (const auto& id : joinerIds(kJoiners))
        if (id != "N1") lab.sendRaw(kHost, id, envelopeToJson(makeNodeLeft(kHost)));
      lab.events().runFor(2000);
      for (const auto& id : joinerIds(kJoiners)) {
        if (id == "N1") continue;
        const Node& n = lab.node(id);
        ASSERT_TRUE(n.hostLoss) << context << " at " << id;
        EXPECT_EQ(*n.hostLoss, Loss::Goodbye) << context << " at " << id;
        EXPECT_EQ(count(n.log, "hostLost"), 1) << context << " at " << id;
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// A joiner believes another origin only from its host, and only one of the roster; a sendTo the
// host relays to everyone (as a Clayground host does) is only its target's.
TEST(NetworkNodeCoreLab, AJoinerTakesFromItsHostOnlyOriginsOfTheRoster) {
  auto message = [](const std::string& from, const std::string& to, int n) {
    Envelope env = makeMessage({{"n", n}});
    env.from = from;
    if (!to.empty()) env.to = to;
    return envelopeToJson(env);
  };
  for (bool mesh : {false, true}) {
    for (std::uint32_t seed = 1; seed <= 10; ++seed) {
      const std::string context = label(mesh, seed);
      constexpr int kJoiners = 3;
      auto network = joinedNetwork(seed, mesh, seed * 37u, kJoiners, 300, context);
      if (!network) return;
      Lab& lab = *network;
      const auto all = everyone(kJoiners);

      lab.sendRaw(kHost, "N1", message("N2", "", 1));     // relayed from N2: N2's
      lab.sendRaw(kHost, "N1", message("GHOST", "", 2));  // no such node: dropped
      lab.sendRaw(kHost, "N1", message("N2", "N3", 3));   // N3's, not N1's
      lab.sendRaw(kHost, "N3", message("N2", "N3", 4));   // N3's: N2's
      if (mesh) {
        // Another node cannot relay: its `from` means nothing.
        lab.sendRaw("N2", "N1", message("N3", "", 5));
        // A process in no network links to N1: it is nobody. What it sends is never raised,
        // and its word about others, even its goodbye, drops nobody.
        lab.linkFrom("STRANGER", "N1");
        lab.events().runFor(500);
        lab.sendRaw("STRANGER", "N1", message("N2", "", 6));
        lab.sendRaw("STRANGER", "N1", envelopeToJson(makeNodeLeft("N2")));
        lab.sendRaw("STRANGER", "N1", envelopeToJson(makeGoodbye()));
      }
      lab.events().runFor(3000);

      auto got = [&](const std::string& at) {
        std::vector<std::string> out;
        for (const auto& d : lab.node(at).got)
          out.push_back(d.origin + ":" + std::to_string(d.data.value("n", -1)));
        std::sort(out.begin(), out.end());  // two links: no order between them
        return out;
      };
      EXPECT_EQ(got("N1"), mesh ? (std::vector<std::string>{"N2:1", "N2:5"})
                                : (std::vector<std::string>{"N2:1"}))
          << context;
      EXPECT_EQ(got("N3"), (std::vector<std::string>{"N2:4"})) << context;
      EXPECT_TRUE(got("N2").empty()) << context;
      expectOneNetwork(lab, all, context);
      for (const auto& id : all)
        for (const auto& entry : lab.node(id).log)
          EXPECT_NE(entry.rfind("left:", 0), 0u) << context << " at " << id << ": " << entry;
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// ---- 8. signaling: codes, ids, the Local server, a server that goes away, the timeout ----

bool logged(const Node& n, const std::string& entry) {
  return std::find(n.log.begin(), n.log.end(), entry) != n.log.end();
}
bool loggedAny(const Node& n, const std::string& prefix) {
  return std::any_of(n.log.begin(), n.log.end(),
                     [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
}

// The host draws its code; one that another process holds is ID-TAKEN, and it draws the next.
// A joiner whose random id is taken draws another and dials again; the network forms under the
// new ones, and nobody ever hears of the taken ones.
TEST(NetworkNodeCoreLab, ATakenCodeOrIdIsDrawnAgainAndTheNetworkFormsUnderTheNewOnes) {
  for (bool mesh : {false, true}) {
    for (std::uint32_t seed = 1; seed <= 10; ++seed) {
      const std::string context = label(mesh, seed);
      LabOptions options;
      options.mesh = mesh;
      options.hostDraws = {"USED", "ALSO", "HOST"};
      options.occupied = {"USED", "ALSO", "N1"};
      Lab lab(seed, options);
      lab.events().runFor(100);
      Node& h = lab.node(kHost);
      EXPECT_EQ(count(h.log, "unregistered"), 2) << context;
      EXPECT_TRUE(logged(h, "hosted:HOST")) << context;
      EXPECT_EQ(h.core.networkId(), "HOST") << context;
      EXPECT_TRUE(h.core.acceptingJoins()) << context;
      lab.join("N2", lab.now(), {}, {"N1"});  // draws N1 (taken), then its name
      lab.join("N3", lab.now() + 30);
      lab.events().runFor(6000);
      expectOneNetwork(lab, {kHost, "N2", "N3"}, context);
      Node& a = lab.node("N2");
      EXPECT_EQ(a.core.self(), "N2") << context;
      EXPECT_EQ(count(a.log, "unregistered"), 1) << context;
      EXPECT_TRUE(logged(a, "registered:N2")) << context;
      EXPECT_FALSE(logged(a, "registered:N1")) << context;
      for (const auto& id : {kHost, std::string("N3")})
        EXPECT_FALSE(logged(lab.node(id), "joined:N1")) << context << " at " << id;
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// Eight taken codes and the host gives up with CannotHost; three taken ids and the joiner gives
// up with SignalingFailed. Neither was ever in a network.
TEST(NetworkNodeCoreLab, TooManyTakenCodesOrIdsEndTheAttemptWithItsError) {
  LabOptions options;
  for (int i = 0; i < 8; ++i) options.hostDraws.push_back("C" + std::to_string(i));
  options.occupied = options.hostDraws;
  Lab lab(1, options);
  lab.events().runFor(500);
  const Node& h = lab.node(kHost);
  EXPECT_TRUE(h.ended);
  EXPECT_EQ(count(h.log, "unregistered"), 7);
  EXPECT_TRUE(logged(h,
                     "failed:cannot-host:could not find a free network code on the signaling "
                     "server after 8 tries"))
      << ::testing::PrintToString(h.log);

  Lab lab2(2, LabOptions{});
  lab2.occupy("X1", "SOMEONE");
  lab2.occupy("X2", "SOMEONE");
  lab2.occupy("X3", "SOMEONE");
  lab2.join("J", lab2.now(), {}, {"X1", "X2", "X3"});
  lab2.events().runFor(1000);
  const Node& j = lab2.node("J");
  EXPECT_TRUE(j.ended);
  EXPECT_TRUE(logged(j,
                     "failed:signaling-failed:Signaling failed: unavailable-id: ID \"X3\" is "
                     "taken"))
      << ::testing::PrintToString(j.log);
  EXPECT_FALSE(logged(lab2.node(kHost), "joined:X1"));
}

// A code nobody hosts: the server expires the offer, and the joiner says which code.
TEST(NetworkNodeCoreLab, ACodeNobodyHostsIsNoSuchNetwork) {
  Lab lab(3, LabOptions{});
  lab.vanish(kHost);
  lab.join("J", lab.now());
  lab.events().runFor(1000);
  const Node& j = lab.node("J");
  EXPECT_TRUE(j.ended);
  EXPECT_TRUE(logged(j,
                     "failed:no-such-network:No network with code HOST: the host did not answer "
                     "(could not connect to peer HOST)"))
      << ::testing::PrintToString(j.log);
}

// A Mesh joiner dials every node of the roster while it joins. One that vanished (the host has
// not noticed yet) is gone from the signaling server too: that dial fails, the join goes on, and
// the host's news of the departure settles the roster.
TEST(NetworkNodeCoreLab, AMeshJoinerIsInEvenWhenANodeOfTheRosterIsGoneFromSignaling) {
  for (std::uint32_t seed = 1; seed <= 10; ++seed) {
    const std::string context = label(true, seed);
    auto lab = joinedNetwork(seed, true, seed, 2, 200, context);
    if (!lab) return;
    lab->freeze("N2");         // hung, its links up: the host notices only after gracePeriod
    lab->signalingDown("N2");  // and its registration is gone
    lab->join("N3", lab->now() + 10);
    lab->events().runFor(8000);
    expectOneNetwork(*lab, {kHost, "N1", "N3"}, context);
    EXPECT_FALSE(loggedAny(lab->node("N3"), "failed:")) << context;
    if (::testing::Test::HasFailure()) return;
  }
}

// The host's signaling server goes away (its peer reconnects by itself): signalingLost once,
// acceptingJoins off, the network goes on; a node trying to join meanwhile finds nobody. When the
// peer is registered again under the same id, joins are taken again.
TEST(NetworkNodeCoreLab, AHostThatLostItsSignalingServerGoesOnAndTakesJoinsWhenItIsBack) {
  for (bool mesh : {false, true}) {
    for (std::uint32_t seed = 1; seed <= 10; ++seed) {
      const std::string context = label(mesh, seed);
      auto lab = joinedNetwork(seed, mesh, seed, 2, 200, context);
      if (!lab) return;
      Node& h = lab->node(kHost);
      lab->signalingDown(kHost);
      lab->signalingDown(kHost);  // a second report of the same loss changes nothing
      EXPECT_EQ(count(h.log, "signalingLost"), 1) << context;
      EXPECT_FALSE(h.core.acceptingJoins()) << context;
      EXPECT_EQ(h.log.back(), "signalingLost") << context;
      lab->broadcastMessage("N1", {{"n", 1}});
      lab->join("LATE", lab->now() + 5);
      lab->events().runFor(1000);
      EXPECT_EQ(lab->node("N2").got.size(), 1u) << context << ": the links went on";
      EXPECT_TRUE(logged(lab->node("LATE"),
                         "failed:no-such-network:No network with code HOST: the "
                         "host did not answer (could not connect to peer "
                         "HOST)"))
          << context;
      lab->signalingBack(kHost);
      lab->events().runFor(100);
      EXPECT_TRUE(h.core.acceptingJoins()) << context;
      EXPECT_EQ(count(h.log, "accepting:yes"), 2) << context;
      EXPECT_EQ(count(h.log, "hosted:HOST"), 1) << context << ": registered again, not hosted";
      lab->join("N3", lab->now());
      lab->events().runFor(6000);
      expectOneNetwork(*lab, everyone(3), context);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// A joiner that loses its signaling server is still in; it registers again quietly.
TEST(NetworkNodeCoreLab, AJoinerThatLostItsSignalingServerStaysIn) {
  auto lab = joinedNetwork(4, false, 4, 2, 200, "Star seed 4");
  ASSERT_TRUE(lab);
  lab->signalingDown("N1");
  lab->signalingBack("N1");
  lab->events().runFor(200);
  const Node& n = lab->node("N1");
  EXPECT_EQ(count(n.log, "signalingLost"), 1);
  EXPECT_FALSE(logged(n, "accepting:yes"));
  EXPECT_EQ(count(n.log, "registered:N1"), 1);
  lab->broadcastMessage(kHost, {{"n", 1}});
  lab->events().runFor(500);
  EXPECT_EQ(n.got.size(), 1u);
  expectOneNetwork(*lab, everyone(2), "after the loss");
}

// Local mode: the embedded server starts, its LAN code names the network, the host registers as
// HOST on it. A server that cannot start ends the attempt with CannotHost and what went wrong.
TEST(NetworkNodeCoreLab, ALocalHostRegistersAsHostOnItsOwnServerUnderItsLanCode) {
  LabOptions options;
  options.local = true;
  Lab lab(5, options);
  lab.events().runFor(100);
  const Node& h = lab.node(kHost);
  EXPECT_TRUE(logged(h, "localServer:SECRET23")) << ::testing::PrintToString(h.log);
  EXPECT_TRUE(logged(h, "hosted:L7F000001-1F90-SECRET23")) << ::testing::PrintToString(h.log);
  EXPECT_EQ(h.core.networkId(), "L7F000001-1F90-SECRET23");
  EXPECT_EQ(h.core.hostId(), kHost);
  lab.join("N1", lab.now());
  lab.events().runFor(6000);
  expectOneNetwork(lab, everyone(1), "Local");

  LabOptions failing;
  failing.local = true;
  failing.localServerFails = true;
  Lab broken(6, failing);
  const Node& b = broken.node(kHost);
  EXPECT_TRUE(b.ended);
  EXPECT_TRUE(logged(b, "failed:cannot-host:the port is taken")) << ::testing::PrintToString(b.log);
  EXPECT_FALSE(b.core.acceptingJoins());
}

// A joiner whose host never answers (hung) times out after connectionTimeout in the phase it was
// in; one that is in never times out.
TEST(NetworkNodeCoreLab, AJoinerThatGetsNoAnswerTimesOutInItsPhase) {
  Lab lab(7, LabOptions{});
  lab.freeze(kHost);
  NodeSettings s;
  s.connectionTimeout = std::chrono::milliseconds(2000);
  lab.join("J", lab.now(), s);
  lab.events().runFor(1500);
  EXPECT_FALSE(lab.node("J").ended);
  lab.events().runFor(1000);
  const Node& j = lab.node("J");
  EXPECT_TRUE(j.ended);
  EXPECT_TRUE(logged(j, "timedOut:Connection timed out after 2000 ms in phase signaling"))
      << ::testing::PrintToString(j.log);

  Lab in(8, LabOptions{});
  in.join("N1", in.now(), s);
  in.events().runFor(30000);
  EXPECT_TRUE(in.node("N1").core.connected());
  EXPECT_FALSE(loggedAny(in.node("N1"), "timedOut:"));
}

}  // namespace
