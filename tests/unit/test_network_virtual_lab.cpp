// Networks in virtual time: a host and joiners, each a HostAdmission, a Membership and an Inbound
// (the sans-IO rules Network executes), on links with seeded latency and jitter, joining at seeded
// moments, in Star and in Mesh. What goes over a link is JSON, decoded as Network decodes it; the
// reliable lane keeps its order, the state lane loses and reorders.
// - The handshake turns away a wrong app, a wrong password and another wire version with
//   Clayground's reasons and texts; a full network turns away the rest with "Network full" and
//   takes a node again once one has left.
// - Whatever the order in which rosters, announcements and direct links arrive, every node ends
//   with the same network and raises each nodeJoined and nodeLeft once, in Clayground's order; a
//   goodbye, a vanished node and the host leaving reach everyone.
// - Every message reaches every other node once, in order, from its true origin (a spoofed
//   `from` included); a sendTo only its target; state never goes back, per origin and key.
// Rules a node must keep against its peers are also checked alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "network/admission.hpp"
#include "network/envelope.hpp"
#include "network/handshake.hpp"
#include "network/inbound.hpp"
#include "network/membership.hpp"

using namespace claynet::network;
using Kind = Membership::Event::Kind;
using LinkState = Membership::LinkState;

namespace {

const std::string kHost = "HOST";
const std::string kNetworkFull = "Network full";
using nlohmann::json;

// Virtual time in ms; what happens at the same moment happens in the order it was scheduled.
class Clock {
 public:
  void at(double when, std::function<void()> what) {
    queue_.push({when, next_++, std::move(what)});
  }
  // Runs everything due up to `until`; bounded, so a rule that loops cannot hang the test.
  void runUntil(double until) {
    for (int step = 0; step < 100000 && !queue_.empty() && queue_.top().when <= until; ++step) {
      Item item = queue_.top();
      queue_.pop();
      now_ = item.when;
      item.what();
    }
    now_ = std::max(now_, until);
  }
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

struct Node {
  std::string id;
  bool host = false;
  bool inNetwork = true;
  bool welcomed = false;
  bool connected = false;
  bool hostLeft = false;
  Membership m;
  std::set<std::string> open;        // links open at this end
  std::set<std::string> opening;     // dialed, not open yet
  std::vector<std::string> raised;   // "nodesChanged", "joined:x", "left:x", "connected", ...
  std::vector<std::string> members;  // Mesh: links that carry the network's traffic
  Inbound in;
  std::vector<InboundDelivery> got;  // messageReceived and stateReceived, in order
  std::map<std::string, std::vector<Envelope>> early;  // Mesh: from nodes not announced yet
  std::uint32_t stateSeq = 0;
  HostAdmission admission;         // host
  std::set<std::string> refusing;  // host: links it refused
  std::optional<Refusal> refusal;  // joiner: how the host turned it away
};

enum class Lane { Data, State };

class Lab {
 public:
  Lab(std::uint32_t seed, bool mesh, double stateLoss = 0, int maxNodes = 8,
      const std::string& appId = "", const std::string& password = "")
      : rng_(seed), mesh_(mesh), loss_(stateLoss) {
    auto& h = add(kHost);
    h.host = true;
    h.m.hosting();
    h.admission.start(appId, password, maxNodes);
  }

  Node& node(const std::string& id) { return *nodes_.at(id); }
  Clock& clock() { return clock_; }

  // One message's way through a reliable, ordered link: seeded latency with jitter, never
  // overtaking the one before it in the same direction.
  double arrival(const std::string& from, const std::string& to) {
    std::uniform_real_distribution<double> jitter(5, 150);
    double& last = lastArrival_[{from, to}];
    last = std::max(clock_.now() + jitter(rng_), last + 0.001);
    return last;
  }

  // `id` joins with `hello`: its link reaches the host, which takes it if there is room, opens
  // at both ends, and the hello is judged (it arrives as the link opens).
  void join(const std::string& id, double when, json hello = {}) {
    if (hello.is_null()) hello = makeHello("", "", "token-" + id);
    clock_.at(when, [this, id, hello] {
      Node& j = add(id);
      j.m.joining(id, kHost, mesh_);
      j.opening.insert(kHost);
      clock_.at(arrival(id, kHost), [this, id, hello] {
        Node& h = node(kHost);
        int holding = 0;
        for (const auto& peer : h.open)
          if (!h.refusing.count(peer)) ++holding;
        const bool fits = h.admission.fits(holding);
        h.open.insert(id);
        // The channel opens at the joiner before anything the host sends on it arrives.
        clock_.at(arrival(kHost, id), [this, id] {
          Node& jj = node(id);
          jj.opening.erase(kHost);
          jj.open.insert(kHost);
        });
        if (!fits) {
          h.refusing.insert(id);
          sendJson(kHost, id, envelopeToJson(makeReject(kNetworkFull)));
          return;
        }
        (void)h.admission.pending().opened(id, at(clock_.now()));
        decide(h, h.admission.pending().firstMessage(id, hello));
      });
    });
  }

  // The host's part of Network::decide().
  void decide(Node& h, const PendingJoiners::Decision& d) {
    AdmissionStep step = h.admission.decide(d, kHost, clock_.now(), h.m);
    if (!step.reply.is_null()) sendJson(kHost, d.id, step.reply);
    if (step.outcome == AdmissionStep::Outcome::Refused) {
      h.refusing.insert(d.id);
      return;
    }
    apply(h, step.events);
  }

  static PendingJoiners::Clock::time_point at(double ms) {
    return PendingJoiners::Clock::time_point{} +
           std::chrono::microseconds(static_cast<std::int64_t>(ms * 1000));
  }

  // `id` leaves with a goodbye to every node it has a link to; the links close after that.
  void leave(const std::string& id) {
    Node& n = node(id);
    n.inNetwork = false;
    for (const auto& peer : n.open) send(id, peer, makeGoodbye());
  }

  // `id`'s links all close at once, without a goodbye (a crash, a cable pulled).
  void vanish(const std::string& id) {
    Node& n = node(id);
    n.inNetwork = false;
    for (const auto& peer : n.open)
      clock_.at(arrival(id, peer), [this, id, peer] { linkClosed(peer, id); });
    n.open.clear();
  }

  std::vector<std::string> ids() const {
    std::vector<std::string> out;
    for (const auto& [id, n] : nodes_) out.push_back(id);
    return out;
  }

 private:
  Node& add(const std::string& id) {
    auto& slot = nodes_[id];
    if (!slot) slot = std::make_unique<Node>();
    slot->id = id;
    return *slot;
  }

  Membership::LinkStateOf linkState(const Node& n) {
    return [&n](const std::string& id) {
      return n.open.count(id)      ? LinkState::Open
             : n.opening.count(id) ? LinkState::Opening
                                   : LinkState::None;
    };
  }

  // The lossy, unordered state lane: each one lost with the seeded probability, or late by its
  // own jitter (so they overtake each other).
  double stateArrival(const std::string&, const std::string&) {
    std::uniform_real_distribution<double> p(0, 1), jitter(5, 150);
    if (p(rng_) < loss_) return -1;
    return clock_.now() + jitter(rng_);
  }

  void send(const std::string& from, const std::string& to, const Envelope& env,
            Lane lane = Lane::Data) {
    sendJson(from, to, envelopeToJson(env), lane);
  }

  // What goes over a link is JSON, decoded at the other end as Network decodes it.
  void sendJson(const std::string& from, const std::string& to, const json& value,
                Lane lane = Lane::Data) {
    const double when = lane == Lane::Data ? arrival(from, to) : stateArrival(from, to);
    if (when < 0) return;
    clock_.at(when, [this, from, to, value] {
      Node& n = node(to);
      if (!n.inNetwork || !n.open.count(from)) return;  // the link is gone: nothing arrives
      if (!n.host && from == kHost && !n.welcomed) {
        reply(n, value);
        return;
      }
      if (isHandshakeMessage(value)) return;
      Envelope env;
      ASSERT_TRUE(decodeEnvelope(value, env)) << value.dump();
      receive(n, from, env);
    });
  }

  // The joiner's part of Network::hostReplied(): welcomed, or turned away.
  void reply(Node& n, const json& first) {
    Reply r = judgeReply(first, kHost);
    if (r.kind == Reply::Kind::Refused) {
      n.refusal = r.refusal;
      n.inNetwork = false;
      return;
    }
    n.welcomed = true;
    n.m.welcomed();
    settle(n);
  }

  void receive(Node& n, const std::string& from, const Envelope& env) {
    if (env.kind != EnvelopeKind::System) {
      traffic(n, from, env);
      return;
    }
    Membership::Events ev;
    n.m.system(from, env, linkState(n), ev);
    apply(n, ev);
    if (env.sys == "roster") settle(n);
  }

  // A message, state or batch: what Network does with Inbound's outcome.
  void traffic(Node& n, const std::string& from, const Envelope& env) {
    InboundContext ctx;
    ctx.host = n.host;
    ctx.self = n.id;
    ctx.hostId = kHost;
    ctx.relay = !mesh_;
    if (n.host) ctx.readyJoiners = ready(n);
    InboundOutcome out = n.in.take(from, env, ctx, n.m, clock_.now());
    if (out.early) {
      n.early[from].push_back(env);
      return;
    }
    for (auto& d : out.deliveries) n.got.push_back(std::move(d));
    for (const auto& id : out.forwardTo)
      send(n.id, id, out.forwarded, env.kind == EnvelopeKind::Message ? Lane::Data : Lane::State);
  }

  // The links the network's traffic goes on.
  std::vector<std::string> ready(const Node& n) const {
    std::vector<std::string> out;
    for (const auto& peer : n.open)
      if (n.m.contains(peer)) out.push_back(peer);
    return out;
  }

 public:
  // What Network's broadcast, broadcastState and sendTo send.
  void broadcast(const std::string& id, Envelope env) {
    Node& n = node(id);
    const bool state = env.kind != EnvelopeKind::Message;
    if (state) env.seq = ++n.stateSeq;
    for (const auto& peer : ready(n)) send(id, peer, env, state ? Lane::State : Lane::Data);
  }
  void sendTo(const std::string& id, const std::string& target, Envelope env) {
    Node& n = node(id);
    env.to = target;
    const bool direct = n.open.count(target) && n.m.contains(target);
    send(id, direct ? target : kHost, env);
  }

 private:
  // The executor's part: what Network does with each event.
  void apply(Node& n, const Membership::Events& events) {
    for (const auto& e : events) {
      switch (e.kind) {
        case Kind::NodesChanged:
          n.raised.push_back("nodesChanged");
          break;
        case Kind::Joined:
          n.raised.push_back("joined:" + e.id);
          break;
        case Kind::Left:
          n.raised.push_back("left:" + e.id);
          break;
        case Kind::Forget:
          n.in.forget(e.id);
          break;
        case Kind::Member: {
          n.members.push_back(e.id);
          auto early = std::move(n.early[e.id]);
          n.early.erase(e.id);
          for (const auto& env : early) traffic(n, e.id, env);
          break;
        }
        case Kind::Drop:
          dropLink(n, e.id);
          break;
        case Kind::HostLeft:
          n.hostLeft = true;
          n.inNetwork = false;
          n.raised.push_back("hostLeft");
          return;
        case Kind::Connected:
          n.connected = true;
          n.raised.push_back("connected");
          break;
        case Kind::Send:
          if (n.open.count(e.id)) send(n.id, e.id, e.envelope);
          break;
      }
    }
  }

  void dropLink(Node& n, const std::string& peer) {
    n.open.erase(peer);
    n.opening.erase(peer);
    Membership::Events ev;
    if (n.host) {
      n.m.removed(peer, ev);
    } else {
      n.m.linkGone(peer, ev);
    }
    apply(n, ev);
    settle(n);
  }

  void linkClosed(const std::string& at, const std::string& peer) {
    Node& n = node(at);
    if (!n.inNetwork || !(n.open.count(peer) || n.opening.count(peer))) return;
    dropLink(n, peer);
  }

  // A joiner dials what its roster names and is in once everything it waits for is there.
  void settle(Node& n) {
    if (n.host || !n.inNetwork) return;
    while (auto peer = n.m.nextDial()) dial(n, *peer);
    if (!n.connected && n.welcomed && n.m.settled()) {
      Membership::Events ev;
      n.m.connect(ev);
      apply(n, ev);
    }
  }

  // Mesh: a direct link, through signaling: the callee takes it or refuses it.
  void dial(Node& caller, const std::string& callee) {
    caller.opening.insert(callee);
    const std::string from = caller.id;
    clock_.at(arrival(from, callee), [this, from, callee] {
      Node& c = node(callee);
      const bool accepted = c.inNetwork && c.m.acceptsLinkFrom(from);
      if (accepted) {
        c.open.insert(from);
        Membership::Events ev;
        c.m.linkOpened(from, ev);
        apply(c, ev);
      }
      clock_.at(arrival(callee, from), [this, from, callee, accepted] {
        Node& d = node(from);
        if (!d.opening.count(callee)) return;
        if (!accepted) {
          linkClosed(from, callee);
          return;
        }
        d.opening.erase(callee);
        d.open.insert(callee);
        Membership::Events ev;
        d.m.linkOpened(callee, ev);
        apply(d, ev);
        settle(d);
      });
    });
  }

  std::mt19937 rng_;
  bool mesh_;
  double loss_;
  Clock clock_;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  std::map<std::pair<std::string, std::string>, double> lastArrival_;
};

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

long count(const std::vector<std::string>& v, const std::string& what) {
  return std::count(v.begin(), v.end(), what);
}

// Joins `joiners` nodes at seeded moments within `spreadMs` and runs until all is quiet.
void joinAll(Lab& lab, std::mt19937& rng, int joiners, double spreadMs) {
  std::uniform_real_distribution<double> when(0, spreadMs);
  for (int i = 1; i <= joiners; ++i) lab.join("N" + std::to_string(i), when(rng));
  lab.clock().runUntil(spreadMs + 10000);
}

// Every node sees every other exactly once, in Clayground's order.
// The nodes the host did not turn away.
std::vector<std::string> admitted(Lab& lab) {
  std::vector<std::string> out;
  for (const auto& id : lab.ids())
    if (!lab.node(id).refusal) out.push_back(id);
  return out;
}

void expectOneNetwork(Lab& lab, const std::string& context) {
  const auto all = admitted(lab);
  for (const auto& id : all) {
    Node& n = lab.node(id);
    std::vector<std::string> others;
    for (const auto& o : all)
      if (o != id) others.push_back(o);
    EXPECT_EQ(sorted(n.m.nodes()), others) << context << " at " << id;
    for (const auto& o : others)
      EXPECT_EQ(count(n.raised, "joined:" + o), 1) << context << " at " << id << " of " << o;
    if (n.host) continue;
    ASSERT_TRUE(n.connected) << context << " at " << id;
    // The host's nodeJoined comes before Connected, everyone else's after it.
    const auto connectedAt = std::find(n.raised.begin(), n.raised.end(), "connected");
    for (auto it = n.raised.begin(); it != connectedAt; ++it)
      EXPECT_TRUE(it->rfind("joined:", 0) != 0 || *it == "joined:" + kHost)
          << context << " at " << id << ": " << *it << " before connected";
  }
}

void runSeeds(bool mesh) {
  for (std::uint32_t seed = 1; seed <= 150; ++seed) {
    const std::string context =
        std::string(mesh ? "Mesh" : "Star") + " seed " + std::to_string(seed);
    std::mt19937 rng(seed * 7919u);
    Lab lab(seed, mesh);
    // Joins close together (rosters cross announcements and direct links) or spread out.
    joinAll(lab, rng, 6, seed % 2 ? 300 : 3000);
    expectOneNetwork(lab, context);
    if (mesh) {
      for (const auto& id : lab.ids()) {
        if (id == kHost) continue;
        Node& n = lab.node(id);
        EXPECT_EQ(n.open.size(), 6u) << context << " at " << id;  // the host and 5 others
        EXPECT_EQ(n.members.size(), 5u) << context << " at " << id;
      }
    }
    if (::testing::Test::HasFailure()) return;

    // One leaves with a goodbye, one vanishes: each is gone once for everyone left.
    lab.leave("N2");
    lab.clock().runUntil(lab.clock().now() + 2000);
    lab.vanish("N5");
    lab.clock().runUntil(lab.clock().now() + 2000);
    for (const auto& id : lab.ids()) {
      if (id == "N2" || id == "N5") continue;
      Node& n = lab.node(id);
      for (const std::string gone : {"N2", "N5"}) {
        EXPECT_EQ(count(n.raised, "left:" + gone), 1) << context << " at " << id << " of " << gone;
        EXPECT_EQ(count(n.m.nodes(), gone), 0) << context << " at " << id;
      }
      EXPECT_EQ(n.m.nodes().size(), 4u) << context << " at " << id;
    }

    // The host leaves: every joiner hears it, once.
    lab.leave(kHost);
    lab.clock().runUntil(lab.clock().now() + 2000);
    for (const auto& id : lab.ids()) {
      if (id == kHost || id == "N2" || id == "N5") continue;
      EXPECT_EQ(count(lab.node(id).raised, "hostLeft"), 1) << context << " at " << id;
    }
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace

TEST(NetworkVirtualLab, StarNodesAgreeWhateverTheOrderOfArrival) { runSeeds(false); }

TEST(NetworkVirtualLab, MeshNodesLinkToEveryoneWhateverTheOrderOfArrival) { runSeeds(true); }

TEST(NetworkVirtualLab, TheHostAnnouncesAndOnlyItMaySayWhoLeft) {
  Membership j;
  j.joining("me", kHost, false);
  j.welcomed();
  auto none = [](const std::string&) { return LinkState::None; };
  Membership::Events ev;
  j.system(kHost, makeRoster({"a", "b", "me"}), none, ev);
  EXPECT_TRUE(ev.empty()) << "nothing is raised before the joiner is in";
  j.connect(ev);
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0].kind, Kind::NodesChanged);
  EXPECT_EQ(ev[1].kind, Kind::Joined);
  EXPECT_EQ(ev[1].id, kHost);
  EXPECT_EQ(ev[2].kind, Kind::Connected);
  EXPECT_EQ(ev[3].id, "a");
  EXPECT_EQ(ev[4].id, "b");
  EXPECT_EQ(j.nodes(), (std::vector<std::string>{kHost, "a", "b"})) << "not itself";

  // Another node cannot announce, nor say that someone else left.
  ev.clear();
  j.system("a", makeNodeJoined("c"), none, ev);
  j.system("a", makeNodeLeft("b"), none, ev);
  j.system("a", makeRoster({"x"}), none, ev);
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(j.nodes().size(), 3u);
  // It may say that it leaves itself.
  j.system("a", makeNodeLeft("a"), none, ev);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::Drop);
  EXPECT_EQ(ev[0].id, "a");

  // The host says b left; the host naming itself as left is the host leaving.
  ev.clear();
  j.system(kHost, makeNodeLeft("b"), none, ev);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].kind, Kind::Forget);
  EXPECT_EQ(ev[2].kind, Kind::Left);
  ev.clear();
  j.system(kHost, makeNodeLeft(kHost), none, ev);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::HostLeft);
}

TEST(NetworkVirtualLab, TheHostTellsTheOthersAndANodeBackOnANewLinkIsNotNew) {
  Membership h;
  h.hosting();
  Membership::Events ev;
  h.admit("a", ev);
  h.admit("b", ev);
  ev.clear();
  h.admit("a", ev);  // back on a new link
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::Send);
  EXPECT_EQ(ev[0].envelope.sys, "roster");
  EXPECT_EQ(ev[0].envelope.nodes, (std::vector<std::string>{"b"}));

  ev.clear();
  Membership::Events bye;
  auto none = [](const std::string&) { return LinkState::None; };
  h.system("x", makeGoodbye(), none, bye);
  EXPECT_TRUE(bye.empty()) << "a goodbye of no node drops nothing";
  EXPECT_TRUE(h.removed("b", ev));
  EXPECT_FALSE(h.removed("b", ev)) << "gone once";
  std::vector<std::string> told;
  for (const auto& e : ev)
    if (e.kind == Kind::Send) told.push_back(e.id + ":" + e.envelope.sys + ":" + e.envelope.nodeId);
  EXPECT_EQ(told, (std::vector<std::string>{"a:node_left:b"}));
  EXPECT_EQ(ev.back().kind, Kind::Left);
}

namespace {

Envelope message(const std::string& text, int n) {
  Envelope e = makeMessage({{"text", text}, {"n", n}});
  e.sentAt = 0;
  return e;
}

// Every node broadcasts messages, unkeyed and keyed state; N3 claims to be N1; N1 sends to N4
// alone. Checks what each node raised.
void runTraffic(bool mesh) {
  constexpr int kMessages = 20, kStates = 60;
  for (std::uint32_t seed = 1; seed <= 40; ++seed) {
    const std::string context =
        std::string(mesh ? "Mesh" : "Star") + " seed " + std::to_string(seed);
    std::mt19937 rng(seed * 104729u);
    Lab lab(seed, mesh, 0.2);
    joinAll(lab, rng, 5, 500);
    expectOneNetwork(lab, context);
    if (::testing::Test::HasFailure()) return;
    const auto all = lab.ids();
    double t = lab.clock().now();
    for (int i = 0; i < kStates; ++i) {
      lab.clock().runUntil(t += 16);  // 60 Hz
      for (const auto& id : all) {
        if (i < kMessages) {
          Envelope m = message(id, i);
          if (id == "N3") m.from = "N1";  // a lie the receivers must not believe
          lab.broadcast(id, m);
        }
        lab.broadcast(id, makeState(0, {{"n", i}}));
        lab.broadcast(id, makeBatch(0, {{"pos", {{"n", i}}}, {"hp", {{"n", i}}}}));
      }
      if (i == 5) lab.sendTo("N1", "N4", message("for N4", -1));
    }
    lab.clock().runUntil(t + 5000);

    for (const auto& at : all) {
      const Node& n = lab.node(at);
      std::map<std::string, std::vector<int>> messages;
      std::map<std::pair<std::string, std::string>, std::vector<int>> states;
      int private_ = 0;
      for (const auto& d : n.got) {
        const int i = d.data.value("n", -2);
        if (!d.state && d.data.value("text", "") == "for N4") {
          ++private_;
          EXPECT_EQ(d.origin, "N1") << context << " at " << at;
          continue;
        }
        if (!d.state) {
          EXPECT_EQ(d.data.value("text", ""), d.origin)
              << context << " at " << at << ": a message from the wrong origin";
          messages[d.origin].push_back(i);
        } else {
          states[{d.origin, d.key}].push_back(i);
        }
      }
      EXPECT_EQ(private_, at == "N4" ? 1 : 0) << context << " at " << at;
      for (const auto& from : all) {
        if (from == at) continue;
        std::vector<int> expected(kMessages);
        for (int i = 0; i < kMessages; ++i) expected[i] = i;
        EXPECT_EQ(messages[from], expected) << context << " at " << at << " from " << from;
        for (const std::string key : {"", "pos", "hp"}) {
          const auto& seen = states[{from, key}];
          EXPECT_FALSE(seen.empty()) << context << " at " << at << " from " << from;
          EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()) &&
                      std::adjacent_find(seen.begin(), seen.end()) == seen.end())
              << context << " at " << at << " from " << from << " key '" << key
              << "': state went back or came twice";
        }
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
}

}  // namespace

TEST(NetworkVirtualLab, StarRelaysEveryMessageOnceFromItsTrueOriginAndStateNeverGoesBack) {
  runTraffic(false);
}

TEST(NetworkVirtualLab, MeshDeliversEveryMessageOnceFromItsTrueOriginAndStateNeverGoesBack) {
  runTraffic(true);
}

TEST(NetworkVirtualLab, AJoinerTakesFromItsHostOnlyOriginsOfTheRoster) {
  Membership m;
  m.joining("me", kHost, false);
  m.welcomed();
  Membership::Events ev;
  m.system(
      kHost, makeRoster({"a"}), [](const std::string&) { return LinkState::None; }, ev);
  InboundContext ctx;
  ctx.self = "me";
  ctx.hostId = kHost;
  Inbound in;
  Envelope relayed = makeMessage({{"x", 1}});
  relayed.from = "a";
  auto out = in.take(kHost, relayed, ctx, m, 0);
  ASSERT_EQ(out.deliveries.size(), 1u);
  EXPECT_EQ(out.deliveries[0].origin, "a");
  relayed.from = "ghost";
  out = in.take(kHost, relayed, ctx, m, 0);
  EXPECT_TRUE(out.deliveries.empty());
  ASSERT_EQ(out.notes.size(), 1u);
  EXPECT_EQ(out.notes[0], "dropped a message from ghost, which is not in the network");
  // A sendTo the host relayed to everyone (as a Clayground host does) is only its target's.
  Envelope addressed = makeMessage({{"x", 2}});
  addressed.to = "a";
  EXPECT_TRUE(in.take(kHost, addressed, ctx, m, 0).deliveries.empty());
  // Another node cannot relay: its `from` means nothing.
  Envelope direct = makeMessage({{"x", 3}});
  direct.from = "a";
  EXPECT_TRUE(in.take("stranger", direct, ctx, m, 0).early) << "not a node yet: kept";
}

TEST(NetworkVirtualLab, TheHandshakeTurnsAwayEachWrongJoinerWithClaygroundsReason) {
  for (bool mesh : {false, true}) {
    for (std::uint32_t seed = 1; seed <= 30; ++seed) {
      const std::string context =
          std::string(mesh ? "Mesh" : "Star") + " seed " + std::to_string(seed);
      Lab lab(seed, mesh, 0, 8, "duel", "secret");
      json oldVersion = makeHello("duel", "secret", "t");
      oldVersion["v"] = 4;
      lab.join("N1", 0, makeHello("duel", "secret", "t1"));
      lab.join("N2", 40, makeHello("other-game", "secret", "t2"));
      lab.join("N3", 80, makeHello("duel", "guess", "t3"));
      lab.join("N4", 120, oldVersion);
      lab.join("N5", 160, makeHello("duel", "secret", "t5"));
      lab.clock().runUntil(10000);
      EXPECT_FALSE(lab.node("N1").refusal) << context;
      EXPECT_FALSE(lab.node("N5").refusal) << context;
      ASSERT_TRUE(lab.node("N2").refusal) << context;
      EXPECT_EQ(lab.node("N2").refusal->reason, RefusalReason::IncompatibleApp);
      EXPECT_EQ(lab.node("N2").refusal->message,
                "Incompatible app: the joiner is \"other-game\", the host \"duel\"");
      ASSERT_TRUE(lab.node("N3").refusal) << context;
      EXPECT_EQ(lab.node("N3").refusal->reason, RefusalReason::WrongPassword);
      EXPECT_EQ(lab.node("N3").refusal->message, "Wrong password");
      ASSERT_TRUE(lab.node("N4").refusal) << context;
      EXPECT_EQ(lab.node("N4").refusal->reason, RefusalReason::IncompatibleVersion);
      EXPECT_EQ(lab.node("N4").refusal->message,
                "Incompatible version: the joiner speaks wire version 4, the host 5");
      // The refused are nobody's nodes, and the others form one network.
      expectOneNetwork(lab, context);
      EXPECT_EQ(lab.node(kHost).admission.clientTokens(),
                (std::map<std::string, std::string>{{"N1", "t1"}, {"N5", "t5"}}));
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(NetworkVirtualLab, AFullNetworkTurnsAwayTheRestAndTakesANodeAgainWhenOneLeaves) {
  for (bool mesh : {false, true}) {
    for (std::uint32_t seed = 1; seed <= 50; ++seed) {
      const std::string context =
          std::string(mesh ? "Mesh" : "Star") + " seed " + std::to_string(seed);
      std::mt19937 rng(seed);
      Lab lab(seed, mesh, 0, 4);  // the host and three joiners
      joinAll(lab, rng, 7, seed % 2 ? 200 : 2000);
      const auto in = admitted(lab);
      EXPECT_EQ(in.size(), 4u) << context;
      for (const auto& id : lab.ids()) {
        const auto& r = lab.node(id).refusal;
        if (!r) continue;
        EXPECT_EQ(r->reason, RefusalReason::Refused) << context;
        EXPECT_EQ(r->message, kNetworkFull) << context;
      }
      expectOneNetwork(lab, context);
      EXPECT_EQ(count(lab.node(kHost).raised, "nodesChanged"), 3) << context;
      if (::testing::Test::HasFailure()) return;

      // One leaves: the next one fits.
      const std::string leaver = in[0] == kHost ? in[1] : in[0];
      lab.leave(leaver);
      lab.clock().runUntil(lab.clock().now() + 2000);
      lab.join("N9", lab.clock().now());
      lab.clock().runUntil(lab.clock().now() + 10000);
      EXPECT_FALSE(lab.node("N9").refusal) << context;
      EXPECT_TRUE(lab.node("N9").connected) << context;
      EXPECT_EQ(lab.node(kHost).m.nodes().size(), 3u) << context;
      if (::testing::Test::HasFailure()) return;
    }
  }
}
