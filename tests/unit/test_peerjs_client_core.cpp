// The sans-IO PeerJS client: registration, HEARTBEAT, reconnection, early candidates, and the
// description-before-candidates rule. Time is simulated.
#include <gtest/gtest.h>

#include "signaling/peerjs_client_core.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using namespace claynet;
using namespace claynet::signaling;
using Kind = ClientAction::Kind;

namespace {

ClientCoreConfig config() {
  ClientCoreConfig c;
  c.id = "alice";
  c.key = "peerjs";
  c.jitterSeed = 42;
  return c;
}

std::vector<Kind> kinds(const std::vector<ClientAction>& actions) {
  std::vector<Kind> out;
  for (const auto& a : actions) out.push_back(a.kind);
  return out;
}

// Starts, opens the socket and receives OPEN.
void registerCore(ClientCore& core, TimePoint t) {
  core.start(t);
  ASSERT_EQ(kinds(core.takeActions()), std::vector<Kind>{Kind::Connect});
  core.socketOpened(t);
  core.socketText(t, R"({"type":"OPEN"})");
  auto a = core.takeActions();
  ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::Opened});
  EXPECT_EQ(a[0].text, "alice");
  ASSERT_EQ(core.state(), ClientCore::State::Open);
}

}  // namespace

TEST(PeerJsClientCore, RegistersOnOpenAndFlushesQueuedFrames) {
  ClientCore core(config());
  TimePoint t0{};
  EXPECT_TRUE(core.send("early-1"));
  EXPECT_TRUE(core.send("early-2"));
  core.start(t0);
  EXPECT_EQ(kinds(core.takeActions()), std::vector<Kind>{Kind::Connect});
  core.socketOpened(t0);
  EXPECT_TRUE(core.takeActions().empty());
  EXPECT_EQ(core.state(), ClientCore::State::AwaitingOpen);
  core.socketText(t0 + 5ms, R"({"type":"OPEN"})");
  auto a = core.takeActions();
  ASSERT_EQ(kinds(a), (std::vector<Kind>{Kind::Opened, Kind::SendText, Kind::SendText}));
  EXPECT_EQ(a[1].text, "early-1");
  EXPECT_EQ(a[2].text, "early-2");
  EXPECT_TRUE(core.send("now"));
  a = core.takeActions();
  ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::SendText});
  // A second OPEN does not register twice.
  core.socketText(t0 + 6ms, R"({"type":"OPEN"})");
  EXPECT_TRUE(core.takeActions().empty());
}

TEST(PeerJsClientCore, HeartbeatEveryIntervalOnlyWhileConnected) {
  ClientCore core(config());
  TimePoint t0{};
  registerCore(core, t0);
  ASSERT_TRUE(core.nextDeadline());
  EXPECT_EQ(*core.nextDeadline(), t0 + 5000ms);
  int beats = 0;
  for (TimePoint t = t0; t <= t0 + 60s; t += 100ms) {
    core.socketHeard(t);  // the server answers the adapter's pings
    core.timer(t);
    for (const auto& a : core.takeActions()) {
      ASSERT_EQ(a.kind, Kind::SendText);
      EXPECT_EQ(a.text, R"({"type":"HEARTBEAT"})");
      ++beats;
    }
  }
  EXPECT_EQ(beats, 12);  // at 5, 10, ..., 60 s
  core.socketClosed(t0 + 61s, "gone");
  (void)core.takeActions();
  core.timer(t0 + 70s);
  for (const auto& a : core.takeActions()) EXPECT_NE(a.kind, Kind::SendText);
}

TEST(PeerJsClientCore, IdTakenIsFatalWithPeerJsMessage) {
  ClientCore core(config());
  core.start({});
  (void)core.takeActions();
  core.socketOpened({});
  core.socketText({}, R"({"type":"ID-TAKEN","payload":{"msg":"ID is taken"}})");
  auto a = core.takeActions();
  ASSERT_EQ(kinds(a), (std::vector<Kind>{Kind::Error, Kind::CloseSocket}));
  EXPECT_EQ(a[0].error.type, PeerJsErrorType::UnavailableId);
  EXPECT_EQ(a[0].error.text(), "unavailable-id: ID \"alice\" is taken");
  EXPECT_EQ(core.state(), ClientCore::State::Closed);
  core.socketClosed({}, "closed");  // the close that follows is expected
  EXPECT_TRUE(core.takeActions().empty());
  EXPECT_FALSE(core.nextDeadline());
  EXPECT_FALSE(core.send("x"));
}

// After a lost connection the server may still hold our old socket for a while and answer the
// re-registration with ID-TAKEN: the id is ours, so that means "try again", as Clayground takes
// it, not the end of the node's signaling.
TEST(PeerJsClientCore, IdTakenWhileReRegisteringIsRetried) {
  ClientCore core(config());
  TimePoint t0{};
  registerCore(core, t0);
  core.socketClosed(t0 + 1s, "network blip");
  (void)core.takeActions();
  ASSERT_EQ(core.state(), ClientCore::State::WaitingToReconnect);
  ASSERT_TRUE(core.nextDeadline());
  core.timer(*core.nextDeadline());
  ASSERT_EQ(kinds(core.takeActions()), std::vector<Kind>{Kind::Connect});
  core.socketOpened(t0 + 2s);
  core.socketText(t0 + 2s, R"({"type":"ID-TAKEN","payload":{"msg":"ID is taken"}})");
  auto a = core.takeActions();
  ASSERT_EQ(kinds(a), (std::vector<Kind>{Kind::Error, Kind::CloseSocket}));
  EXPECT_EQ(a[0].error.type, PeerJsErrorType::UnavailableId);
  EXPECT_NE(a[0].error.text().find("will retry"), std::string::npos) << a[0].error.text();
  EXPECT_TRUE(a[0].error.willRetry);
  EXPECT_EQ(core.state(), ClientCore::State::WaitingToReconnect);
  core.socketClosed(t0 + 2s, "closed");
  ASSERT_TRUE(core.nextDeadline());
  core.timer(*core.nextDeadline());
  ASSERT_EQ(kinds(core.takeActions()), std::vector<Kind>{Kind::Connect});
  core.socketOpened(t0 + 5s);
  core.socketText(t0 + 5s, R"({"type":"OPEN"})");
  EXPECT_EQ(kinds(core.takeActions()), std::vector<Kind>{Kind::Opened});
  EXPECT_EQ(core.state(), ClientCore::State::Open);
}

TEST(PeerJsClientCore, ServerErrorsBecomeClearErrors) {
  {
    ClientCore core(config());
    core.start({});
    core.socketOpened({});
    (void)core.takeActions();
    core.socketText({}, R"({"type":"ERROR","payload":{"msg":"Invalid key provided"}})");
    auto a = core.takeActions();
    ASSERT_GE(a.size(), 1u);
    EXPECT_EQ(a[0].error.type, PeerJsErrorType::InvalidKey);
    EXPECT_NE(a[0].error.text().find("invalid-key: API KEY \"peerjs\" is invalid"),
              std::string::npos);
    EXPECT_EQ(core.state(), ClientCore::State::Closed);
  }
  {
    ClientCore core(config());
    core.start({});
    core.socketOpened({});
    (void)core.takeActions();
    core.socketText(
        {}, R"({"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}})");
    auto a = core.takeActions();
    ASSERT_GE(a.size(), 1u);
    EXPECT_EQ(a[0].error.text(), "server-error: Server has reached its concurrent user limit");
    EXPECT_EQ(core.state(), ClientCore::State::Closed);  // never registered: fatal, as in PeerJS
  }
  {
    // Garbage from the server is reported but not fatal.
    ClientCore core(config());
    registerCore(core, {});
    core.socketText({}, "not json");
    auto a = core.takeActions();
    ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::Error});
    EXPECT_EQ(a[0].error.type, PeerJsErrorType::ServerError);
    EXPECT_EQ(core.state(), ClientCore::State::Open);
  }
}

TEST(PeerJsClientCore, ForwardsPeerMessages) {
  ClientCore core(config());
  registerCore(core, {});
  core.socketText({}, R"({"type":"EXPIRE","src":"bob","dst":"alice"})");
  core.socketText({}, R"({"type":"HEARTBEAT"})");
  core.socketText({}, R"({"type":"LEAVE","src":"bob","dst":"alice"})");
  auto a = core.takeActions();
  ASSERT_EQ(kinds(a), (std::vector<Kind>{Kind::Message, Kind::Message}));
  EXPECT_EQ(a[0].message.type, ServerMessage::Type::Expire);
  EXPECT_EQ(a[0].message.src, "bob");
  EXPECT_EQ(a[1].message.type, ServerMessage::Type::Leave);
}

TEST(PeerJsClientCore, ReconnectsWithDoublingBackoffAndReregisters) {
  ClientCore core(config());
  TimePoint t{};
  registerCore(core, t);
  EXPECT_TRUE(core.send("before"));  // sent at once
  (void)core.takeActions();
  core.socketClosed(t, "server went away");
  auto a = core.takeActions();
  ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::Disconnected});
  EXPECT_EQ(a[0].text, "server went away");
  EXPECT_EQ(core.state(), ClientCore::State::WaitingToReconnect);
  EXPECT_TRUE(core.send("queued while away"));

  // Failed attempts: each delay within ±25% of 250 ms doubling up to 10 s.
  std::vector<std::chrono::milliseconds> delays;
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto at = core.nextDeadline();
    ASSERT_TRUE(at);
    auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(*at - t);
    delays.push_back(delay);
    auto base = core.baseDelay(static_cast<unsigned>(attempt));
    EXPECT_GE(delay.count(), base.count() * 3 / 4) << attempt;
    EXPECT_LE(delay.count(), std::min<int64_t>(base.count() * 5 / 4 + 1, 10000)) << attempt;
    core.timer(*at - 1ms);
    EXPECT_TRUE(core.takeActions().empty());
    t = *at;
    core.timer(t);
    ASSERT_EQ(kinds(core.takeActions()), std::vector<Kind>{Kind::Connect});
    core.socketFailed(t, "could not connect: refused");
    EXPECT_TRUE(core.takeActions().empty());  // quiet: it was registered before
  }
  EXPECT_EQ(core.baseDelay(0), 250ms);
  EXPECT_EQ(core.baseDelay(1), 500ms);
  EXPECT_EQ(core.baseDelay(6), 10000ms);
  EXPECT_EQ(core.baseDelay(20), 10000ms);

  // Success: re-registers, flushes what was queued, resets the backoff.
  auto at = core.nextDeadline();
  t = *at;
  core.timer(t);
  (void)core.takeActions();
  core.socketOpened(t);
  core.socketText(t, R"({"type":"OPEN"})");
  a = core.takeActions();
  ASSERT_EQ(kinds(a), (std::vector<Kind>{Kind::Opened, Kind::SendText}));
  EXPECT_EQ(a[1].text, "queued while away");
  EXPECT_EQ(core.attempts(), 0u);
}

TEST(PeerJsClientCore, SilentReattachCountsAsRegistered) {
  // The npm server re-attaches an id with the same token without sending OPEN.
  ClientCore core(config());
  TimePoint t{};
  registerCore(core, t);
  core.socketClosed(t, "blip");
  (void)core.takeActions();
  t = *core.nextDeadline();
  core.timer(t);
  (void)core.takeActions();
  core.socketOpened(t);
  core.timer(t + 1000ms);
  EXPECT_TRUE(core.takeActions().empty());
  core.timer(t + 1500ms);
  EXPECT_EQ(kinds(core.takeActions()), std::vector<Kind>{Kind::Opened});
  // A forwarded frame before the grace ends has the same effect.
  ClientCore other(config());
  registerCore(other, t);
  other.socketClosed(t, "blip");
  (void)other.takeActions();
  t = *other.nextDeadline();
  other.timer(t);
  (void)other.takeActions();
  other.socketOpened(t);
  other.socketText(t, R"({"type":"OFFER","src":"bob","payload":{}})");
  EXPECT_EQ(kinds(other.takeActions()), (std::vector<Kind>{Kind::Opened, Kind::Message}));
}

TEST(PeerJsClientCore, FirstConnectFailureIsReportedOnce) {
  ClientCore core(config());
  TimePoint t{};
  core.start(t);
  (void)core.takeActions();
  core.socketFailed(t, "could not connect to ws://127.0.0.1:1/peerjs: Connection refused");
  auto a = core.takeActions();
  ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::Error});
  EXPECT_EQ(a[0].error.type, PeerJsErrorType::Network);
  EXPECT_NE(a[0].error.text().find("network: could not connect to ws://127.0.0.1:1/peerjs: "
                                   "Connection refused"),
            std::string::npos);
  t = *core.nextDeadline();
  core.timer(t);
  (void)core.takeActions();
  core.socketFailed(t, "again");
  EXPECT_TRUE(core.takeActions().empty());

  // Without reconnection, the failure is final; a fatal failure (bad certificate) is too.
  ClientCoreConfig c = config();
  c.reconnect = false;
  ClientCore once(c);
  once.start(t);
  (void)once.takeActions();
  once.socketFailed(t, "refused");
  EXPECT_EQ(kinds(once.takeActions()), std::vector<Kind>{Kind::Error});
  EXPECT_EQ(once.state(), ClientCore::State::Closed);
  ClientCore tls(config());
  tls.start(t);
  (void)tls.takeActions();
  tls.socketFailed(t, "certificate rejected", true);
  EXPECT_EQ(kinds(tls.takeActions()), std::vector<Kind>{Kind::Error});
  EXPECT_EQ(tls.state(), ClientCore::State::Closed);
}

TEST(PeerJsClientCore, LostConnectionWithoutReconnectIsAnError) {
  ClientCoreConfig c = config();
  c.reconnect = false;
  ClientCore core(c);
  registerCore(core, {});
  core.socketClosed({}, "reset");
  auto a = core.takeActions();
  ASSERT_EQ(kinds(a), (std::vector<Kind>{Kind::Disconnected, Kind::Error}));
  EXPECT_EQ(a[1].error.type, PeerJsErrorType::Network);
  EXPECT_EQ(core.state(), ClientCore::State::Closed);
}

TEST(PeerJsClientCore, QueueIsBoundedAndStopIsFinal) {
  ClientCoreConfig c = config();
  c.maxQueued = 3;
  ClientCore core(c);
  EXPECT_TRUE(core.send("1"));
  EXPECT_TRUE(core.send("2"));
  EXPECT_TRUE(core.send("3"));
  Result r = core.send("4");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("queue is full"), std::string::npos);
  core.start({});
  (void)core.takeActions();
  core.socketOpened({});
  core.stop();
  EXPECT_EQ(kinds(core.takeActions()), std::vector<Kind>{Kind::CloseSocket});
  EXPECT_EQ(core.queued(), 0u);
  core.socketText({}, R"({"type":"OPEN"})");
  core.timer(TimePoint{} + 1h);
  EXPECT_TRUE(core.takeActions().empty());
}

TEST(PeerJsEarlyCandidates, HeldUntilTheOfferThenReplayedInOrder) {
  EarlyCandidates held;
  TimePoint t{};
  EXPECT_TRUE(held.hold(t, "bob", "dc_1", json{{"n", 1}}));
  EXPECT_TRUE(held.hold(t, "bob", "dc_1", json{{"n", 2}}));
  EXPECT_TRUE(held.hold(t, "carol", "dc_1", json{{"n", 3}}));
  EXPECT_EQ(held.candidates(), 3u);
  auto got = held.take("bob", "dc_1");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["n"], 1);
  EXPECT_EQ(got[1]["n"], 2);
  EXPECT_TRUE(held.take("bob", "dc_1").empty());
  held.dropPeer("carol");
  EXPECT_EQ(held.connections(), 0u);
}

TEST(PeerJsEarlyCandidates, Bounded) {
  EarlyCandidates held({/*maxPerConnection*/ 2, /*maxConnections*/ 2, /*maxAge*/ 1000ms});
  TimePoint t{};
  EXPECT_TRUE(held.hold(t, "a", "1", 1));
  EXPECT_TRUE(held.hold(t, "a", "1", 2));
  EXPECT_FALSE(held.hold(t, "a", "1", 3));  // full connection
  EXPECT_TRUE(held.hold(t + 1ms, "a", "2", 4));
  EXPECT_TRUE(held.hold(t + 2ms, "a", "3", 5));  // evicts the oldest connection ("1")
  EXPECT_EQ(held.connections(), 2u);
  EXPECT_TRUE(held.take("a", "1").empty());
  held.expire(t + 2000ms);
  EXPECT_EQ(held.connections(), 0u);
}

TEST(PeerJsDescriptionFirst, CandidatesWaitForTheDescription) {
  DescriptionFirst order;
  EXPECT_TRUE(order.candidate(1).empty());
  EXPECT_TRUE(order.candidate(2).empty());
  EXPECT_EQ(order.held(), 2u);
  auto released = order.descriptionSent();
  ASSERT_EQ(released.size(), 2u);
  EXPECT_EQ(released[0], 1);
  EXPECT_EQ(released[1], 2);
  auto now = order.candidate(3);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0], 3);
}

// A server connection that stops answering (the client moved to another network, a NAT forgot
// the TCP connection) looks open to TCP for minutes; pings that get no pong show it.
TEST(PeerJsClientCore, ASilentServerConnectionIsDroppedAndReplaced) {
  auto c = config();
  c.silenceLimit = 6000ms;
  ClientCore core(c);
  TimePoint t0{};
  registerCore(core, t0);
  // Pongs (and frames) keep it alive well past the limit.
  for (int s = 1; s <= 20; ++s) {
    core.socketHeard(t0 + std::chrono::seconds(s));
    core.timer(t0 + std::chrono::seconds(s));
    for (const auto& a : core.takeActions()) ASSERT_EQ(a.kind, Kind::SendText) << "heartbeats only";
  }
  EXPECT_EQ(core.state(), ClientCore::State::Open);
  // Then nothing for the limit: closed, reported, and a reconnection scheduled.
  const TimePoint quiet = t0 + 20s;
  ASSERT_TRUE(core.nextDeadline());
  EXPECT_LE(*core.nextDeadline(), quiet + 6000ms);
  core.timer(quiet + 5999ms);
  for (const auto& a : core.takeActions()) EXPECT_EQ(a.kind, Kind::SendText);
  core.timer(quiet + 6000ms);
  auto a = core.takeActions();
  ASSERT_EQ(kinds(a), (std::vector<Kind>{Kind::CloseSocket, Kind::Disconnected}));
  EXPECT_NE(a[1].text.find("nothing came from the server for 6000 ms"), std::string::npos)
      << a[1].text;
  EXPECT_EQ(core.state(), ClientCore::State::WaitingToReconnect);
  ASSERT_TRUE(core.nextDeadline());
  core.timer(*core.nextDeadline());
  EXPECT_EQ(kinds(core.takeActions()), std::vector<Kind>{Kind::Connect});
}

TEST(PeerJsClientCore, SilenceLimitZeroNeverDropsTheConnection) {
  auto c = config();
  c.silenceLimit = 0ms;
  ClientCore core(c);
  TimePoint t0{};
  registerCore(core, t0);
  for (int s = 1; s <= 120; ++s) {
    core.timer(t0 + std::chrono::seconds(s));
    for (const auto& a : core.takeActions()) ASSERT_EQ(a.kind, Kind::SendText);
  }
  EXPECT_EQ(core.state(), ClientCore::State::Open);
}
