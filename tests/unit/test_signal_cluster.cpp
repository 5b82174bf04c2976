// The cluster side of claynet-signal without Redis: the router in cluster mode and its
// ClusterCore get Redis's replies and channel messages as inputs, and the commands they emit are
// checked as outputs. (The Lua scripts run against a real redis-server in tests/cluster.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "signaling/signal_router.hpp"

namespace claynet::signaling {
namespace {

using namespace std::chrono_literals;
using Kind = RouterAction::Kind;

const std::string kOpen = R"({"type":"OPEN"})";
const std::string kIdTaken = R"({"type":"ID-TAKEN","payload":{"msg":"ID is taken"}})";

RedisValue value(RedisValue::Kind kind, long long integer, std::string str,
                 std::vector<RedisValue> elements) {
  RedisValue r;
  r.kind = kind;
  r.integer = integer;
  r.str = std::move(str);
  r.elements = std::move(elements);
  return r;
}
RedisValue integer(long long v) { return value(RedisValue::Kind::Integer, v, {}, {}); }
RedisValue string(std::string s) { return value(RedisValue::Kind::String, 0, std::move(s), {}); }
RedisValue array(std::vector<RedisValue> e) {
  return value(RedisValue::Kind::Array, 0, {}, std::move(e));
}
RedisValue error(std::string s) { return value(RedisValue::Kind::Error, 0, std::move(s), {}); }
// The claim script's answers.
RedisValue registered(long long serial, std::vector<std::string> queued = {},
                      std::string prevIid = "", std::string prevSerial = "") {
  std::vector<RedisValue> q;
  for (auto& m : queued) q.push_back(string(std::move(m)));
  return array({integer(1), integer(serial), string(std::move(prevIid)),
                string(std::move(prevSerial)), array(std::move(q))});
}
std::string field(std::string_view s) { return std::to_string(s.size()) + ":" + std::string(s); }
std::string offer(const std::string& dst, const std::string& payload = "1") {
  return R"({"type":"OFFER","dst":")" + dst + R"(","payload":)" + payload + "}";
}
std::string forwarded(const std::string& type, const std::string& src, const std::string& dst,
                      const std::string& payload = "1") {
  return R"({"type":")" + type + R"(","src":")" + src + R"(","dst":")" + dst + R"(","payload":)" +
         payload + "}";
}

struct Cluster {
  explicit Cluster(bool up = true) : router(options()) {
    if (up) {
      router.clusterUp(now);
      take();
      commands();
    }
  }
  static RouterOptions options() {
    RouterOptions o;
    o.cluster = true;
    o.concurrentLimit = 3;
    o.clusterOptions.instanceId = "me";
    o.clusterOptions.prefix = "p:";
    o.clusterOptions.expireTimeout = 5000ms;
    o.clusterOptions.aliveTimeout = 60000ms;
    return o;
  }
  SignalRouter router;
  TimePoint now = TimePoint{} + 1h;

  std::vector<RouterAction> take() {
    std::vector<RouterAction> out;
    out.swap(router.actions());
    return out;
  }
  // The commands, less the instance's liveness renewals (counted in aliveSets and answered).
  std::vector<RedisCommand> commands() {
    std::vector<RedisCommand> all, out;
    all.swap(router.clusterCommands());
    for (auto& c : all) {
      if (c.args.size() == 5 && c.args[0] == "SET" && c.args[1] == "p:alive:me" &&
          c.args[3] == "PX" && c.args[4] == "3000") {
        ++aliveSets;
        router.clusterReply(c.cookie, value(RedisValue::Kind::Status, 0, "OK", {}), now);
      } else
        out.push_back(std::move(c));
    }
    return out;
  }
  int aliveSets = 0;
  std::string script(const RedisCommand& c) {
    for (const auto& s : ClusterCore::scripts())
      if (c.args.size() > 1 && c.args[0] == "EVALSHA" && c.args[1] == s.sha1)
        return std::string(s.name);
    return c.args.empty() ? "" : c.args[0];
  }
  // Connects and answers the claim as registered with `serial`.
  void registerClient(ClientHandle h, const std::string& id, long long serial) {
    router.connect(h, {id, "tok-" + id, "peerjs"}, now);
    auto c = commands();
    ASSERT_EQ(c.size(), 1u);
    ASSERT_EQ(script(c[0]), "claim");
    router.clusterReply(c[0].cookie, registered(serial), now);
    auto a = take();
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].text, kOpen);
  }
};

bool isSend(const RouterAction& a, ClientHandle h, const std::string& text) {
  return a.kind == Kind::Send && a.handle == h && a.text == text;
}

TEST(SignalCluster, RegistrationWaitsForRedisThenSendsOpen) {
  Cluster t;
  t.router.connect(1, {"alice", "tok", "peerjs"}, t.now);
  EXPECT_TRUE(t.take().empty());  // nothing before Redis answers
  auto c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(t.script(c[0]), "claim");
  // EVALSHA sha 0 prefix id token instance alive-ms discovery
  EXPECT_EQ(c[0].args, (std::vector<std::string>{"EVALSHA", c[0].args[1], "0", "p:", "alice", "tok",
                                                 "me", "60000", "0"}));
  EXPECT_FALSE(t.router.isRegistered("alice"));
  t.router.clusterReply(c[0].cookie, registered(7), t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 1, kOpen));
  EXPECT_TRUE(t.router.isRegistered("alice"));
}

// A LAN secret is Local mode's: a cluster still wants a token (and so HEARTBEATs), since its
// claims over Redis trust equal tokens and lapse without HEARTBEAT. (The reviewer of the native
// Local client found that a token-less one could take a live id over through Redis.)
TEST(SignalCluster, ALanSecretDoesNotLetATokenlessClientIn) {
  RouterOptions o = Cluster::options();
  o.secret = "K7QP2MXA";
  SignalRouter router(o);
  const TimePoint now = TimePoint{} + 1h;
  router.clusterUp(now);
  router.actions().clear();
  router.connect(1, {"X", "", ""}, now);
  router.frame(1, R"({"id":"X","secret":"K7QP2MXA"})", now);
  const auto& a = router.actions();
  ASSERT_FALSE(a.empty());
  EXPECT_NE(a[0].text.find("No id, token, or key"), std::string::npos) << a[0].text;
  EXPECT_EQ(a.back().kind, RouterAction::Kind::Close);
  for (const auto& c : router.clusterCommands())
    EXPECT_FALSE(c.args.size() > 1 && c.args[0] == "EVALSHA") << "no claim for a token-less client";
}

TEST(SignalCluster, IdTakenOnAnotherInstanceIsRejected) {
  Cluster t;
  t.router.connect(1, {"alice", "tok", "peerjs"}, t.now);
  auto c = t.commands();
  t.router.clusterReply(c[0].cookie, array({integer(0)}), t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(isSend(a[0], 1, kIdTaken));
  EXPECT_EQ(a[1].kind, Kind::Close);
  EXPECT_EQ(a[1].code, 1005);
  EXPECT_EQ(t.router.connectionCount(), 0u);
}

TEST(SignalCluster, AFailedClaimScriptRefusesTheRegistration) {
  Cluster t;
  t.router.connect(1, {"alice", "tok", "peerjs"}, t.now);
  auto c = t.commands();
  t.router.clusterReply(c[0].cookie, error("NOSCRIPT No matching script"), t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_NE(a[0].text.find("\"type\":\"ERROR\""), std::string::npos);
  EXPECT_FALSE(t.router.isRegistered("alice"));
}

TEST(SignalCluster, SameTokenTakeoverFromAnotherInstanceSendsOpenAndDeliversQueued) {
  Cluster t;
  t.router.connect(1, {"alice", "tok", "peerjs"}, t.now);
  auto c = t.commands();
  t.router.clusterReply(
      c[0].cookie,
      registered(9, {field("bob") + "queued-1", field("bob") + "queued-2"}, "other", "3"), t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 3u);  // OPEN: the other instance may be dead (see ClusterEvent::Moved)
  EXPECT_TRUE(isSend(a[0], 1, kOpen));
  EXPECT_TRUE(isSend(a[1], 1, "queued-1"));
  EXPECT_TRUE(isSend(a[2], 1, "queued-2"));
  EXPECT_EQ(t.router.stats().replaced, 1u);
}

TEST(SignalCluster, TakeoverFromThisInstanceClosesTheOldSocket) {
  Cluster t;
  t.registerClient(1, "alice", 4);
  // A second connection with the same id and token while the first is registered is handled
  // locally; one racing a pending claim goes to Redis, which reports the takeover from "me".
  t.router.connect(2, {"bob", "tok-bob", "peerjs"}, t.now);
  t.router.connect(3, {"bob", "tok-bob", "peerjs"}, t.now);
  auto c = t.commands();
  ASSERT_EQ(c.size(), 2u);
  t.router.clusterReply(c[0].cookie, registered(5), t.now);
  t.router.clusterReply(c[1].cookie, registered(6, {}, "me", "5"), t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(isSend(a[0], 2, kOpen));
  EXPECT_EQ(a[1].kind, Kind::Close);
  EXPECT_EQ(a[1].handle, 2u);
  EXPECT_EQ(a[1].text, "replaced by a new connection with the same id and token");
  t.router.frame(3, offer("alice"), t.now);  // the new socket is bob now
  a = t.take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 1, forwarded("OFFER", "bob", "alice")));
}

TEST(SignalCluster, RegistrationsWaitForTheLinkAndAreRefusedWhenItIsDown) {
  Cluster t(false);
  t.router.connect(1, {"alice", "tok", "peerjs"}, t.now);
  EXPECT_TRUE(t.commands().empty());  // held until the channel is subscribed
  t.router.clusterUp(t.now);
  auto c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(t.script(c[0]), "claim");
  t.router.clusterDown("Connection refused", t.now);  // the claim in flight fails
  auto a = t.take();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_NE(a[0].text.find("Redis"), std::string::npos) << a[0].text;
  EXPECT_NE(a[0].text.find("\"type\":\"ERROR\""), std::string::npos);
  t.router.connect(2, {"bob", "tok", "peerjs"}, t.now);  // down: refused at once
  a = t.take();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_NE(a[0].text.find("unreachable"), std::string::npos);
}

TEST(SignalCluster, HeldRegistrationsGiveUpAfterTheConnectWait) {
  Cluster t(false);
  t.router.connect(1, {"alice", "tok", "peerjs"}, t.now);
  t.now += 2s;
  t.router.tick(t.now);
  EXPECT_TRUE(t.take().empty());
  t.now += 1500ms;
  t.router.tick(t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_NE(a[0].text.find("unreachable"), std::string::npos);
}

TEST(SignalCluster, MessagesForOtherInstancesLeaveInOneBatchInOrder) {
  Cluster t;
  t.registerClient(1, "alice", 1);
  t.router.frame(1, offer("bob", "1"), t.now);
  t.router.frame(1, R"({"type":"CANDIDATE","dst":"bob","payload":2})", t.now);
  t.router.frame(1, R"({"type":"LEAVE","dst":"carol"})", t.now);
  EXPECT_TRUE(t.take().empty());
  EXPECT_TRUE(t.commands().empty());  // batched until the end of the loop iteration
  EXPECT_TRUE(t.router.clusterHasBatch());
  t.router.clusterFlush(t.now);
  auto c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(t.script(c[0]), "route");
  const auto& args = c[0].args;
  // EVALSHA sha 0 prefix expire-ms max-count max-bytes, then dst src text tag per message
  ASSERT_EQ(args.size(), 7u + 3 * 4);
  EXPECT_EQ(args[3], "p:");
  EXPECT_EQ(args[4], "5000");
  EXPECT_EQ(args[7], "bob");
  EXPECT_EQ(args[8], "alice");
  EXPECT_EQ(args[9], forwarded("OFFER", "alice", "bob"));
  EXPECT_EQ(args[10], "M0");
  EXPECT_EQ(args[13], forwarded("CANDIDATE", "alice", "bob", "2"));
  EXPECT_EQ(args[15], "carol");
  EXPECT_EQ(args[18], "N0");  // LEAVE is never queued
}

TEST(SignalCluster, AnIdFoundOnAnInstanceIsThenPublishedToItDirectly) {
  Cluster t;
  t.registerClient(1, "alice", 1);
  t.router.frame(1, offer("bob", "1"), t.now);
  t.router.clusterFlush(t.now);
  auto c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(t.script(c[0]), "route");
  // The script forwarded it and says where bob lives.
  t.router.clusterReply(c[0].cookie, array({array({}), array({string("bob"), string("i2")})}),
                        t.now);
  t.router.frame(1, offer("bob", "2"), t.now);
  t.router.frame(1, offer("carol", "3"), t.now);  // unknown: through the script
  t.router.frame(1, offer("bob", "4"), t.now);
  t.router.clusterFlush(t.now);
  c = t.commands();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(t.script(c[0]), "route");  // the script call first, then the plain PUBLISH
  EXPECT_EQ(c[0].args[7], "carol");
  ASSERT_EQ(c[1].args.size(), 3u);
  EXPECT_EQ(c[1].args[0], "PUBLISH");
  EXPECT_EQ(c[1].args[1], "p:inst:i2");
  const std::string two = forwarded("OFFER", "alice", "bob", "2");
  const std::string four = forwarded("OFFER", "alice", "bob", "4");
  EXPECT_EQ(c[1].args[2], "M0" + field("bob") + field("alice") + field(two) + "M0" + field("bob") +
                              field("alice") + field(four));
  // Nobody listens there any more (the instance died): the messages go through the script.
  t.router.clusterReply(c[1].cookie, integer(0), t.now);
  t.router.clusterFlush(t.now);
  c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(t.script(c[0]), "route");
  ASSERT_EQ(c[0].args.size(), 7u + 2 * 4);
  EXPECT_EQ(c[0].args[9], two);
  EXPECT_EQ(c[0].args[13], four);
  // And the cache forgot that instance.
  t.router.frame(1, offer("bob", "5"), t.now);
  t.router.clusterFlush(t.now);
  c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(t.script(c[0]), "route");
  // Entries age out.
  t.router.clusterReply(c[0].cookie, array({array({}), array({string("bob"), string("i3")})}),
                        t.now);
  t.now += 6s;
  t.router.frame(1, offer("bob", "6"), t.now);
  t.router.clusterFlush(t.now);
  c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(t.script(c[0]), "route");
}

TEST(SignalCluster, QueuedMessagesExpireThroughRedis) {
  Cluster t;
  t.registerClient(1, "alice", 1);
  t.router.frame(1, offer("ghost"), t.now);
  t.router.clusterFlush(t.now);
  auto c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  t.router.clusterReply(c[0].cookie, array({array({integer(0), integer(5000)}), array({})}),
                        t.now);  // queued
  t.now += 4900ms;
  t.router.tick(t.now);
  EXPECT_TRUE(t.commands().empty());
  t.now += 200ms;
  t.router.tick(t.now);
  c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(t.script(c[0]), "expire");
  EXPECT_EQ(c[0].args.back(), "ghost");
  // The script publishes the EXPIRE to the senders' instances: here, this one.
  t.router.clusterReply(c[0].cookie, integer(-1), t.now);
  t.router.clusterMessage("X" + field("ghost") + field("alice"), t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 1, R"({"type":"EXPIRE","src":"ghost","dst":"alice"})"));
  t.now += 10s;
  t.router.tick(t.now);
  EXPECT_TRUE(t.commands().empty());  // nothing watched any more
}

TEST(SignalCluster, FullQueueAnswersExpireAtOnce) {
  Cluster t;
  t.registerClient(1, "alice", 1);
  t.router.frame(1, offer("ghost"), t.now);
  t.router.clusterFlush(t.now);
  auto c = t.commands();
  t.router.clusterReply(c[0].cookie, array({array({integer(0), integer(-1)}), array({})}), t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 1, R"({"type":"EXPIRE","src":"ghost","dst":"alice"})"));
}

TEST(SignalCluster, ChannelRecordsReachLocalClients) {
  Cluster t;
  t.registerClient(1, "alice", 1);
  std::string text = forwarded("ANSWER", "bob", "alice");
  t.router.clusterMessage("M0" + field("alice") + field("bob") + field(text) + "N0" +
                              field("alice") + field("") + field("notice"),
                          t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(isSend(a[0], 1, text));
  EXPECT_TRUE(isSend(a[1], 1, "notice"));
  // A kick for another serial is stale and ignored; for this one it closes the client.
  t.router.clusterMessage("K" + field("alice") + field("2"), t.now);
  EXPECT_TRUE(t.take().empty());
  t.router.clusterMessage("K" + field("alice") + field("1"), t.now);
  a = t.take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::Close);
  EXPECT_FALSE(t.router.isRegistered("alice"));
  EXPECT_TRUE(t.commands().empty());  // the id is someone else's now: no release
  // Malformed records are ignored without harm.
  t.router.clusterMessage("M0" + std::string("99:abc"), t.now);
  t.router.clusterMessage("Z", t.now);
  EXPECT_TRUE(t.take().empty());
}

TEST(SignalCluster, MessagesDuringTheClaimWaitForOpenAndTheQueueGoesFirst) {
  Cluster t;
  t.router.connect(1, {"alice", "tok", "peerjs"}, t.now);
  auto c = t.commands();
  // Published to this instance before the claim's reply arrived on the other connection.
  t.router.clusterMessage("M0" + field("alice") + field("bob") + field("late"), t.now);
  // The client itself sends at once (a PeerJS reconnect flushes its queue on open).
  t.router.frame(1, R"({"type":"HEARTBEAT"})", t.now);
  t.router.frame(1, offer("carol"), t.now);
  EXPECT_TRUE(t.take().empty());
  t.router.clusterReply(c[0].cookie, registered(3, {field("bob") + "early"}), t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 3u);
  EXPECT_TRUE(isSend(a[0], 1, kOpen));
  EXPECT_TRUE(isSend(a[1], 1, "early"));
  EXPECT_TRUE(isSend(a[2], 1, "late"));
  t.router.clusterFlush(t.now);
  c = t.commands();
  ASSERT_EQ(c.size(), 2u);  // the held OFFER for carol, and the HEARTBEAT's refresh
  EXPECT_EQ(t.script(c[0]), "route");
  EXPECT_EQ(c[0].args[7], "carol");
  EXPECT_EQ(t.script(c[1]), "assert");
}

TEST(SignalCluster, HeartbeatsRefreshTheIdAndALostIdIsClosed) {
  Cluster t;
  t.registerClient(1, "alice", 11);
  t.router.frame(1, R"({"type":"HEARTBEAT"})", t.now);
  t.router.frame(1, R"({"type":"HEARTBEAT"})", t.now);
  t.router.clusterFlush(t.now);
  auto c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(t.script(c[0]), "assert");
  // EVALSHA sha 0 prefix instance ttl discovery, then id serial token once
  EXPECT_EQ(c[0].args.size(), 10u);
  EXPECT_EQ(c[0].args[7], "alice");
  EXPECT_EQ(c[0].args[8], "11");
  EXPECT_EQ(c[0].args[9], "tok-alice");
  t.router.clusterReply(c[0].cookie, array({string("alice"), string("11")}), t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::Close);
}

TEST(SignalCluster, LeavingReleasesTheIdInRedis) {
  Cluster t;
  t.registerClient(1, "alice", 5);
  t.registerClient(2, "bob", 6);
  t.router.closed(1);
  auto c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(t.script(c[0]), "release");
  EXPECT_EQ(c[0].args,
            (std::vector<std::string>{"EVALSHA", c[0].args[1], "0", "p:", "alice", "me", "5"}));
  t.router.frame(2, R"({"type":"LEAVE"})", t.now);  // LEAVE without dst unregisters too
  c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].args[4], "bob");
  // A client gone before its claim was answered gives the id back.
  t.router.connect(3, {"carol", "tok", "peerjs"}, t.now);
  c = t.commands();
  t.router.closed(3);
  t.router.clusterReply(c[0].cookie, registered(8), t.now);
  auto r = t.commands();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(t.script(r[0]), "release");
  EXPECT_EQ(r[0].args[6], "8");
  EXPECT_TRUE(t.take().empty());
}

TEST(SignalCluster, AMessageForAnIdThatLeftIsRoutedAgainAFewTimes) {
  Cluster t;
  t.router.clusterMessage("M0" + field("gone") + field("bob") + field("x"), t.now);
  t.router.clusterFlush(t.now);
  auto c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].args[10], "M1");
  t.router.clusterMessage("M3" + field("gone") + field("bob") + field("x"), t.now);
  t.router.clusterFlush(t.now);
  EXPECT_TRUE(t.commands().empty());
}

TEST(SignalCluster, LinkDownRefusesCrossInstanceMessagesWithExpireLocalOnesStillFlow) {
  Cluster t;
  t.registerClient(1, "alice", 1);
  t.registerClient(2, "bob", 2);
  t.router.frame(1, offer("remote"), t.now);
  t.router.clusterFlush(t.now);
  auto inFlight = t.commands();
  ASSERT_EQ(inFlight.size(), 1u);
  t.router.clusterDown("Connection reset by peer", t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 1u);  // the message in flight is lost: its sender hears EXPIRE
  EXPECT_TRUE(isSend(a[0], 1, R"({"type":"EXPIRE","src":"remote","dst":"alice"})"));
  t.router.frame(1, offer("remote"), t.now);
  a = t.take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 1, R"({"type":"EXPIRE","src":"remote","dst":"alice"})"));
  t.router.frame(1, offer("bob"), t.now);  // same instance: as ever
  a = t.take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 2, forwarded("OFFER", "alice", "bob")));
  EXPECT_TRUE(t.commands().empty());
  // Back: every local id is asserted again (Redis may have restarted empty).
  t.router.clusterUp(t.now);
  auto c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(t.script(c[0]), "assert");
  EXPECT_EQ(c[0].args.size(), 7u + 2 * 3);
}

TEST(SignalCluster, ConcurrentLimitCountsClaimsInFlight) {
  Cluster t;  // limit 3
  t.router.connect(1, {"a", "t", "peerjs"}, t.now);
  t.router.connect(2, {"b", "t", "peerjs"}, t.now);
  t.router.connect(3, {"c", "t", "peerjs"}, t.now);
  EXPECT_TRUE(t.take().empty());
  t.router.connect(4, {"d", "t", "peerjs"}, t.now);
  auto a = t.take();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_NE(a[0].text.find("concurrent user limit"), std::string::npos);
}

TEST(SignalCluster, TheInstanceRenewsItsLivenessEverySecondWhileUp) {
  Cluster t(false);
  t.router.clusterUp(t.now);
  t.commands();
  EXPECT_EQ(t.aliveSets, 1);  // first, before anything it asserts
  for (int i = 0; i < 30; ++i) {
    t.now += 100ms;
    t.router.tick(t.now);
  }
  t.commands();
  EXPECT_EQ(t.aliveSets, 4);
  t.router.clusterDown("gone", t.now);
  t.now += 5s;
  t.router.tick(t.now);
  t.commands();
  EXPECT_EQ(t.aliveSets, 4);
}

TEST(SignalCluster, ACommandWithoutAnswerIsNoticed) {
  Cluster t;
  t.registerClient(1, "alice", 1);
  t.router.frame(1, offer("bob"), t.now);
  t.router.clusterFlush(t.now);
  auto c = t.commands();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_FALSE(t.router.cluster()->stalled(t.now + 4900ms));
  EXPECT_TRUE(t.router.cluster()->stalled(t.now + 5s));
  t.router.clusterReply(c[0].cookie, array({array({}), array({})}), t.now + 5s);
  EXPECT_FALSE(t.router.cluster()->stalled(t.now + 10s));
}

TEST(SignalCluster, ScriptsHaveDistinctShas) {
  const auto& s = ClusterCore::scripts();
  ASSERT_EQ(s.size(), 6u);
  for (std::size_t i = 0; i < s.size(); ++i) {
    EXPECT_EQ(s[i].sha1.size(), 40u);
    for (std::size_t j = i + 1; j < s.size(); ++j) EXPECT_NE(s[i].sha1, s[j].sha1);
  }
}

}  // namespace
}  // namespace claynet::signaling
