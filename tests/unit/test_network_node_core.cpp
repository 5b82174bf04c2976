// NodeCore alone, fed by hand: rules whose moment is hard to hit in a whole network.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "network/node_core.hpp"

using namespace claynet::network;
using nlohmann::json;
using Kind = NodeAction::Kind;

namespace {

NodeCore::Time at(int ms) { return NodeCore::Time{} + std::chrono::milliseconds(ms); }

const NodeAction* first(const NodeActions& actions, Kind kind) {
  auto it = std::find_if(actions.begin(), actions.end(),
                         [kind](const NodeAction& a) { return a.kind == kind; });
  return it == actions.end() ? nullptr : &*it;
}

// Ids drawn as named: codes "CODE1", "CODE2", ...; joiner ids "me", "me2", ...
NodeIds namedIds() {
  auto codes = std::make_shared<int>(0);
  auto ids = std::make_shared<int>(0);
  NodeIds out;
  out.networkCode = [codes] { return "CODE" + std::to_string(++*codes); };
  out.nodeId = [ids] { return ++*ids == 1 ? std::string("me") : "me" + std::to_string(*ids); };
  out.lanSecret = [] { return std::string("SECRET23"); };
  return out;
}

// A joiner of the network "ABC234" that registered and dialed its host.
void joined(NodeCore& core, const NodeSettings& s, NodeActions& out) {
  core.join("ABC234", "ABC234", s, at(0), out);
  core.signalingOpened("me", at(1), out);
  core.dialing("ABC234", at(0));
}

// A host in its network as HOST.
void hosted(NodeCore& host) {
  NodeActions out;
  host.host({}, false, at(0), out);
  host.signalingOpened("HOST", at(1), out);
}

// A joiner with settings `s` whose host (HOST) opened its channel at 50 ms and welcomed it at
// 100 ms.
NodeCore welcomedJoiner(const NodeSettings& s) {
  NodeCore core(namedIds());
  NodeActions out;
  core.join("HOST", "HOST", s, at(0), out);
  core.dialing("HOST", at(0));
  core.opened("HOST", at(50), out);
  core.received("HOST", makeWelcome("HOST", 1000), Lane::Data, at(100), out);
  return core;
}

// A Mesh joiner welcomed at 100 ms whose roster, at 110 ms, names `others` besides the host: it
// is not in until it links with them.
NodeCore meshJoinerWithRoster(std::vector<std::string> others) {
  NodeSettings s;
  s.mesh = true;
  NodeCore core = welcomedJoiner(s);
  NodeActions out;
  others.insert(others.begin(), "HOST");
  core.received("HOST", envelopeToJson(makeRoster(others)), Lane::Data, at(110), out);
  return core;
}

NodeCore welcomedMeshJoiner() { return meshJoinerWithRoster({"other"}); }

}  // namespace

// The host's goodbye before the join completed ends the session as host-left, never as a failure
// to connect (the review of the NodeCore change found it reported as one).
TEST(NetworkNodeCore, TheHostsGoodbyeWhileJoiningIsHostLeftNotAFailureToConnect) {
  NodeCore core = welcomedMeshJoiner();
  ASSERT_TRUE(core.connecting());
  ASSERT_TRUE(core.dialsQueued());  // the other node still to link with
  NodeActions out;
  core.received("HOST", envelopeToJson(makeGoodbye()), Lane::Data, at(200), out);
  EXPECT_EQ(first(out, Kind::Failed), nullptr);
  const NodeAction* lost = first(out, Kind::HostLost);
  ASSERT_NE(lost, nullptr);
  EXPECT_EQ(lost->loss, Loss::Goodbye);
  EXPECT_EQ(lost->reason, "host-left");
  EXPECT_EQ(lost->text, claynet::Network::kHostLeftMessage);
  EXPECT_EQ(lost->error, claynet::Network::ErrorCode::HostLeft);
  EXPECT_FALSE(core.connecting());
}

// Clayground ends a join whose host goes away during the handshake through loseHost
// (clayground-wire.md §3.3): connection-lost, not a failure to connect. Before the channel opened
// (ICE) it is still one.
TEST(NetworkNodeCore, TheHostLostDuringTheHandshakeIsConnectionLost) {
  NodeCore core(namedIds());
  NodeActions out;
  joined(core, {}, out);
  core.opened("ABC234", at(50), out);  // the hello goes out: phase handshake
  ASSERT_TRUE(core.connecting());
  out.clear();
  core.closed("ABC234", "", at(80), out);
  EXPECT_EQ(first(out, Kind::Failed), nullptr);
  const NodeAction* lost = first(out, Kind::HostLost);
  ASSERT_NE(lost, nullptr);
  EXPECT_EQ(lost->reason, "connection-lost");
  EXPECT_EQ(lost->text, claynet::Network::kHostLostMessage);
  EXPECT_EQ(lost->error, claynet::Network::ErrorCode::HostConnectionLost);
  EXPECT_FALSE(core.connecting());

  NodeCore early(namedIds());
  out.clear();
  joined(early, {}, out);
  out.clear();
  early.closed("ABC234", "", at(80), out);
  EXPECT_EQ(first(out, Kind::HostLost), nullptr);
  const NodeAction* f = first(out, Kind::Failed);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->error, claynet::Network::ErrorCode::CouldNotConnect);
}

// gracePeriod may change in a network: the next tick judges by the new one.
TEST(NetworkNodeCore, AGracePeriodChangedInANetworkCountsAtOnce) {
  NodeSettings s;
  s.gracePeriod = std::chrono::milliseconds(60000);
  NodeCore core = welcomedJoiner(s);
  NodeActions out;
  core.received("HOST", envelopeToJson(makeRoster({"HOST"})), Lane::Data, at(110), out);
  ASSERT_TRUE(core.connected());
  // The host says nothing more; pings go out and are not answered.
  for (int t = 200; t <= 5000; t += 200) core.tick(at(t), out);
  EXPECT_EQ(first(out, Kind::HostLost), nullptr) << "60 s of grace";
  core.setGracePeriod(std::chrono::milliseconds(1000));
  out.clear();
  core.tick(at(5200), out);
  const NodeAction* lost = first(out, Kind::HostLost);
  ASSERT_NE(lost, nullptr) << "silent for 5 s with a grace of 1 s";
  EXPECT_EQ(lost->loss, Loss::Silent);
  EXPECT_EQ(lost->reason, "host-timeout");
  EXPECT_EQ(lost->text, "The host did not answer for 1000 ms");
  EXPECT_EQ(lost->error, claynet::Network::ErrorCode::HostTimeout);
}

// autoRelay may change in a network: a host stops relaying at once.
TEST(NetworkNodeCore, AutoRelayTurnedOffInANetworkStopsTheRelay) {
  NodeCore host;
  hosted(host);
  NodeActions out;
  for (const std::string id : {"a", "b"}) {
    ASSERT_TRUE(host.accepts(id));
    ASSERT_TRUE(host.incoming(id, at(10), out));
    host.opened(id, at(20), out);
    host.received(id, makeHello("", "", ""), Lane::Data, at(30), out);
    ASSERT_TRUE(host.ready(id));
  }
  auto relayedTo = [&](const NodeActions& actions) {
    std::vector<std::string> to;
    for (const auto& a : actions)
      if (a.kind == Kind::Send && a.value.value("t", "") == "m") to = a.peers;
    return to;
  };
  out.clear();
  host.received("a", envelopeToJson(makeMessage({{"x", 1}})), Lane::Data, at(40), out);
  EXPECT_EQ(relayedTo(out), std::vector<std::string>{"b"});
  host.setAutoRelay(false);
  out.clear();
  host.received("a", envelopeToJson(makeMessage({{"x", 2}})), Lane::Data, at(50), out);
  EXPECT_TRUE(relayedTo(out).empty());
  ASSERT_NE(first(out, Kind::Deliver), nullptr) << "the host itself still gets it";
}

// ---- signaling: what the executor does synchronously and reports back ----

std::vector<Kind> kinds(const NodeActions& actions) {
  std::vector<Kind> out;
  for (const auto& a : actions)
    if (a.kind != Kind::Diagnostic) out.push_back(a.kind);
  return out;
}

TEST(NetworkNodeCore, AJoinRegistersARandomIdAndDialsTheHostItsCodeNames) {
  NodeCore core(namedIds());
  NodeActions out;
  core.join("HOST", "L7F000001-1F90-SECRET23", {}, at(0), out);
  ASSERT_EQ(kinds(out), (std::vector<Kind>{Kind::Register, Kind::Dial}));
  EXPECT_EQ(out[0].peer, "me");
  EXPECT_EQ(out[1].peer, "HOST");
  EXPECT_EQ(core.networkId(), "L7F000001-1F90-SECRET23");
  EXPECT_EQ(core.hostId(), "HOST");
  EXPECT_TRUE(core.connecting());
  EXPECT_EQ(core.timeline().phase(), "signaling");
}

TEST(NetworkNodeCore, ARegistrationThatCannotStartEndsTheAttemptWithItsCode) {
  NodeCore joiner(namedIds());
  NodeActions out;
  joiner.join("ABC234", "ABC234", {}, at(0), out);
  out.clear();
  joiner.registerFailed("no route", out);
  const NodeAction* f = first(out, Kind::Failed);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->error, claynet::Network::ErrorCode::SignalingFailed);
  EXPECT_EQ(f->text, "could not register with the signaling server: no route");
  EXPECT_EQ(f->phase, "signaling");

  NodeCore local(namedIds());
  out.clear();
  local.host({}, true, at(0), out);
  ASSERT_EQ(kinds(out), std::vector<Kind>{Kind::StartLocalServer});
  EXPECT_EQ(out[0].text, "SECRET23");
  out.clear();
  local.localServerStarted("L7F000001-1F90-SECRET23", out);
  ASSERT_EQ(kinds(out), std::vector<Kind>{Kind::Register});
  EXPECT_EQ(out[0].peer, "HOST");
  out.clear();
  local.registerFailed("the socket closed", out);
  f = first(out, Kind::Failed);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->error, claynet::Network::ErrorCode::CannotHost) << "a Local host cannot host";
}

TEST(NetworkNodeCore, ADialToTheHostThatCannotStartEndsTheJoinButOneToAnotherNodeDoesNot) {
  NodeCore joiner(namedIds());
  NodeActions out;
  joiner.join("ABC234", "ABC234", {}, at(0), out);
  out.clear();
  joiner.dialFailed("ABC234", at(1), out);
  const NodeAction* f = first(out, Kind::Failed);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->error, claynet::Network::ErrorCode::CouldNotConnect);
  EXPECT_EQ(f->text, "could not open a connection to the host ABC234");

  NodeCore mesh = welcomedMeshJoiner();
  out.clear();
  mesh.dialFailed("other", at(200), out);
  EXPECT_EQ(first(out, Kind::Failed), nullptr);
  EXPECT_TRUE(mesh.connected()) << "the roster settles without the node it could not dial";
}

// A host whose signaling connection dropped before it ever registered: once registered, a later
// loss is still a loss (signalingLost raised, no more joins taken).
TEST(NetworkNodeCore, ASignalingLossBeforeTheFirstRegistrationDoesNotHideTheNextOne) {
  NodeCore host(namedIds());
  NodeActions out;
  host.host({}, false, at(0), out);
  host.signalingLost("socket-closed", out);
  out.clear();
  host.signalingOpened("CODE1", at(1500), out);
  ASSERT_NE(first(out, Kind::Hosted), nullptr);
  EXPECT_TRUE(host.acceptingJoins());
  out.clear();
  host.signalingLost("socket-closed", out);
  EXPECT_NE(first(out, Kind::SignalingLost), nullptr);
  EXPECT_FALSE(host.acceptingJoins());
}

// The host's acceptingJoins turns on with its network, and only for a host.
TEST(NetworkNodeCore, AHostIsInAndTakesJoinsOnceRegisteredAndAJoinerNeverTakesJoins) {
  NodeCore host(namedIds());
  NodeActions out;
  host.host({}, false, at(0), out);
  ASSERT_EQ(kinds(out), std::vector<Kind>{Kind::Register});
  EXPECT_EQ(out[0].peer, "CODE1");
  EXPECT_FALSE(host.acceptingJoins());
  out.clear();
  host.signalingOpened("CODE1", at(40), out);
  ASSERT_EQ(kinds(out), (std::vector<Kind>{Kind::Hosted, Kind::AcceptingJoins}));
  EXPECT_EQ(first(out, Kind::Hosted)->text, "CODE1");
  EXPECT_TRUE(host.connected());
  EXPECT_TRUE(host.acceptingJoins());

  NodeCore joiner(namedIds());
  out.clear();
  joined(joiner, {}, out);
  EXPECT_FALSE(joiner.acceptingJoins());
  EXPECT_NE(first(out, Kind::Registered), nullptr);
  out.clear();
  joiner.signalingLost("socket-closed", out);
  EXPECT_NE(first(out, Kind::SignalingLost), nullptr);
  EXPECT_EQ(first(out, Kind::AcceptingJoins), nullptr);
}

// ---- time: one deadline ----

// Out of a network nothing is due; in one, the tick every kTickInterval; while the clock's burst
// runs, its pings every 50 ms, each only when it is due.
TEST(NetworkNodeCore, TheNextDeadlineIsTheTickOrTheClocksBurstWhicheverComesFirst) {
  NodeCore core(namedIds());
  EXPECT_FALSE(core.nextDeadline());
  NodeSettings s;
  s.gracePeriod = std::chrono::milliseconds(60000);  // the host here answers no ping
  NodeActions out;
  core.join("HOST", "HOST", s, at(0), out);
  ASSERT_TRUE(core.nextDeadline());
  EXPECT_EQ(*core.nextDeadline(), at(200));
  core.dialing("HOST", at(0));
  core.opened("HOST", at(50), out);
  out.clear();
  core.received("HOST", makeWelcome("HOST", 1000), Lane::Data, at(100), out);
  ASSERT_NE(first(out, Kind::StartClockBurst), nullptr);
  EXPECT_EQ(*core.nextDeadline(), at(150)) << "the burst's next ping comes before the tick";
  auto pings = [](const NodeActions& actions) {
    return std::count_if(actions.begin(), actions.end(), [](const NodeAction& a) {
      return a.kind == Kind::Send && a.value.value("t", "") == "p";
    });
  };
  out.clear();
  core.handleTimeout(at(149), out);
  EXPECT_EQ(pings(out), 0) << "not due yet";
  int sent = 0, wakeUps = 0;
  for (auto due = core.nextDeadline(); due && *due < at(10000) && wakeUps < 1000; ++wakeUps) {
    out.clear();
    core.handleTimeout(*due, out);
    sent += static_cast<int>(pings(out));
    due = core.nextDeadline();
  }
  // 64 burst pings in all (the first went with the welcome), besides the tick's own.
  EXPECT_GE(sent, 63);
  EXPECT_LE(sent, 63 + 10000 / 2000 + 1);
  const auto last = core.nextDeadline();
  ASSERT_TRUE(last);
  out.clear();
  core.handleTimeout(*last, out);
  EXPECT_EQ(*core.nextDeadline(), *last + std::chrono::milliseconds(200))
      << "the burst is over: the tick alone";
  (void)core.clear();
  EXPECT_FALSE(core.nextDeadline());
}

// The connection timeout is one of the tick's rules: a joiner that gets nowhere times out when
// its deadline passes, in the phase it is in.
TEST(NetworkNodeCore, AJoinThatGetsNowhereTimesOutAtADeadline) {
  NodeCore core(namedIds());
  NodeSettings s;
  s.connectionTimeout = std::chrono::milliseconds(1000);
  NodeActions out;
  core.join("HOST", "HOST", s, at(0), out);
  const NodeAction* t = nullptr;
  for (int i = 0; i < 20 && !t; ++i) {
    out.clear();
    core.handleTimeout(*core.nextDeadline(), out);
    t = first(out, Kind::TimedOut);
  }
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->text, "Connection timed out after 1000 ms in phase signaling");
  EXPECT_EQ(t->phase, "signaling");
}

namespace {

// What handleTimeout() dials when called at each deadline until none is left before `until`.
std::vector<std::string> dialsUntil(NodeCore& core, NodeCore::Time until) {
  std::vector<std::string> dialed;
  for (int i = 0; i < 100; ++i) {
    const auto due = core.nextDeadline();
    if (!due || *due >= until) break;
    NodeActions out;
    core.handleTimeout(*due, out);
    for (const auto& a : out)
      if (a.kind == Kind::Dial) dialed.push_back(a.peer);
  }
  return dialed;
}

}  // namespace

// Mesh: the nodes a roster names are dialed by handleTimeout(), one per call and due at once, so
// an executor gets back to its event loop between two dials (each waits for the network thread,
// and the pings in between must still be answered).
TEST(NetworkNodeCore, AMeshJoinerDialsTheRosterOneNodePerTimeout) {
  NodeCore core = meshJoinerWithRoster({"a", "b", "c"});
  ASSERT_TRUE(core.nextDeadline());
  EXPECT_EQ(*core.nextDeadline(), at(110)) << "the first dial is due when the roster came";
  for (const std::string expected : {"a", "b", "c"}) {
    ASSERT_EQ(*core.nextDeadline(), at(110)) << "the next dial is due at once";
    NodeActions out;
    core.handleTimeout(at(110), out);
    ASSERT_EQ(kinds(out), std::vector<Kind>{Kind::Dial}) << expected;
    EXPECT_EQ(out[0].peer, expected);
    core.dialing(expected, at(110));
  }
  EXPECT_EQ(*core.nextDeadline(), at(150)) << "every node dialed: the clock's next ping is next";
}

// A node the host says has left before its turn is not dialed, and the join does not wait for it.
TEST(NetworkNodeCore, ANodeThatLeftBeforeItsDialIsNotDialedNorWaitedFor) {
  NodeCore core = meshJoinerWithRoster({"a", "b"});
  NodeActions out;
  core.received("HOST", envelopeToJson(makeNodeLeft("a")), Lane::Data, at(120), out);
  EXPECT_EQ(dialsUntil(core, at(150)), std::vector<std::string>{"b"});
  core.dialing("b", at(120));
  out.clear();
  core.opened("b", at(130), out);
  EXPECT_NE(first(out, Kind::Connected), nullptr) << "joined once the one node left is linked";
}

// The timeout that ends a join dials nobody on its way out (the review of the change to Dial
// actions found an offer sent for a session already over).
TEST(NetworkNodeCore, TheTimeoutThatEndsAJoinDialsNobody) {
  NodeSettings s;
  s.mesh = true;
  s.connectionTimeout = std::chrono::milliseconds(1000);
  NodeCore core = welcomedJoiner(s);
  NodeActions out;
  core.received("HOST", envelopeToJson(makeRoster({"HOST", "a", "b"})), Lane::Data, at(990), out);
  out.clear();
  core.handleTimeout(at(1001), out);
  ASSERT_NE(first(out, Kind::TimedOut), nullptr);
  EXPECT_EQ(first(out, Kind::Dial), nullptr);
}

// The last node still to be dialed leaves while the others are linked: the join completes then,
// not at the timeout.
TEST(NetworkNodeCore, TheLastNodeToDialLeavingCompletesTheJoin) {
  NodeCore core = meshJoinerWithRoster({"a", "b"});
  NodeActions out;
  core.handleTimeout(at(110), out);
  ASSERT_EQ(first(out, Kind::Dial)->peer, "a");
  core.dialing("a", at(110));
  core.opened("a", at(115), out);
  out.clear();
  core.received("HOST", envelopeToJson(makeNodeLeft("b")), Lane::Data, at(120), out);
  EXPECT_NE(first(out, Kind::Connected), nullptr);
  EXPECT_EQ(dialsUntil(core, at(150)), std::vector<std::string>{});
}
