// The routing core of claynet-signal against the table and rules of protocols.md §1 (as npm
// `peer` 1.0.2 behaves), plus claynet's own defences. No sockets: time and input are injected.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "signaling/signal_router.hpp"

namespace claynet::signaling {
namespace {

using namespace std::chrono_literals;
using Kind = RouterAction::Kind;

const std::string kOpen = R"({"type":"OPEN"})";
const std::string kNoParams =
    R"({"type":"ERROR","payload":{"msg":"No id, token, or key supplied to websocket server"}})";
const std::string kInvalidKey = R"({"type":"ERROR","payload":{"msg":"Invalid key provided"}})";
const std::string kIdTaken = R"({"type":"ID-TAKEN","payload":{"msg":"ID is taken"}})";
const std::string kLimit =
    R"({"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}})";

struct Harness {
  explicit Harness(RouterOptions o = {}) : router(std::move(o)) {}
  SignalRouter router;
  TimePoint now = TimePoint{} + 1h;

  std::vector<RouterAction> take() {
    std::vector<RouterAction> out;
    out.swap(router.actions());
    return out;
  }
  std::vector<RouterAction> connect(ClientHandle h, std::string id, std::string token = "tok",
                                    std::string key = "peerjs") {
    router.connect(h, {std::move(id), std::move(token), std::move(key)}, now);
    return take();
  }
  std::vector<RouterAction> frame(ClientHandle h, std::string_view text) {
    router.frame(h, text, now);
    return take();
  }
  std::vector<RouterAction> advance(std::chrono::milliseconds d) {
    now += d;
    router.tick(now);
    return take();
  }
};

bool isSend(const RouterAction& a, ClientHandle h, const std::string& text) {
  return a.kind == Kind::Send && a.handle == h && a.text == text;
}

void expectRejected(const std::vector<RouterAction>& a, ClientHandle h, const std::string& text) {
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(isSend(a[0], h, text)) << a[0].text;
  EXPECT_EQ(a[1].kind, Kind::Close);
  EXPECT_EQ(a[1].handle, h);
  EXPECT_EQ(a[1].code, 1005);  // an empty close frame, as npm `peer` sends
}

// ---- registration: every row of the table, in its order ----

TEST(SignalRouter, RegistrationSendsOpen) {
  Harness t;
  auto a = t.connect(1, "alice");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 1, kOpen));
  EXPECT_TRUE(t.router.isRegistered("alice"));
  EXPECT_EQ(t.router.clientCount(), 1u);
}

// Clayground's Local mode: nothing is registered before the first frame shows the LAN code's
// secret; a wrong one is "Wrong LAN code"; the id still belongs to its first registration.
TEST(SignalRouter, ALanSecretIsShownInTheFirstFrame) {
  RouterOptions o;
  o.secret = "K7QP2MXA";
  Harness t(o);
  const std::string wrong = R"({"type":"ERROR","payload":{"msg":"Wrong LAN code"}})";
  EXPECT_TRUE(t.connect(1, "alice").empty());
  EXPECT_FALSE(t.router.isRegistered("alice"));
  auto a = t.frame(1, R"({"id":"alice","secret":"K7QP2MXA"})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 1, kOpen));
  EXPECT_TRUE(t.router.isRegistered("alice"));

  EXPECT_TRUE(t.connect(2, "bob").empty());
  expectRejected(t.frame(2, R"({"id":"bob","secret":"K7QP2MXB"})"), 2, wrong);
  EXPECT_TRUE(t.connect(3, "carol").empty());
  expectRejected(t.frame(3, R"({"type":"HEARTBEAT"})"), 3, wrong);
  EXPECT_TRUE(t.connect(4, "dave").empty());
  expectRejected(t.frame(4, "not json"), 4, wrong);
  EXPECT_FALSE(t.router.isRegistered("bob"));
  EXPECT_FALSE(t.router.isRegistered("carol"));

  // The right secret does not take an id that is already registered.
  EXPECT_TRUE(t.connect(5, "alice", "other").empty());
  expectRejected(t.frame(5, R"({"id":"alice","secret":"K7QP2MXA"})"), 5, kIdTaken);
  // One that never says anything is closed after aliveTimeout; one that went away is forgotten.
  EXPECT_TRUE(t.connect(6, "erin").empty());
  EXPECT_TRUE(t.connect(7, "frank").empty());
  t.router.closed(7);
  a = t.advance(o.aliveTimeout);
  bool closed6 = false;
  for (const auto& x : a) {
    EXPECT_NE(x.handle, 7u);
    if (x.kind == Kind::Close && x.handle == 6) closed6 = true;
  }
  EXPECT_TRUE(closed6);
}

// A native Clayground Local client connects with `?id=<id>` alone (no token, no key), shows the
// secret in its first frame, and never sends HEARTBEAT (clayground-wire.md §4.3): behind a LAN
// secret it is registered, and stays until its socket closes. Without a token it cannot take an
// id over: a second socket for a live id gets Clayground's ID-TAKEN.
TEST(SignalRouter, ANativeClaygroundLanClientNeedsNoTokenKeyOrHeartbeat) {
  RouterOptions o;
  o.secret = "K7QP2MXA";
  Harness t(o);
  EXPECT_TRUE(t.connect(1, "3f9a0c1b2d4e5f60", "", "").empty());
  auto a = t.frame(1, R"({"id":"3f9a0c1b2d4e5f60","secret":"K7QP2MXA"})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 1, kOpen)) << a[0].text;
  EXPECT_TRUE(t.router.isRegistered("3f9a0c1b2d4e5f60"));

  EXPECT_TRUE(t.connect(2, "3f9a0c1b2d4e5f60", "", "").empty());
  expectRejected(t.frame(2, R"({"id":"3f9a0c1b2d4e5f60","secret":"K7QP2MXA"})"), 2,
                 R"({"type":"ID-TAKEN","payload":{"msg":"ID \"3f9a0c1b2d4e5f60\" is taken"}})");
  // A key, when one is given, must still be the server's.
  EXPECT_TRUE(t.connect(3, "carol", "", "nope").empty());
  expectRejected(t.frame(3, R"({"id":"carol","secret":"K7QP2MXA"})"), 3, kInvalidKey);

  // Silent for three alive timeouts, still there; routed to as any client.
  for (int i = 0; i < 3; ++i)
    for (const auto& x : t.advance(o.aliveTimeout)) EXPECT_NE(x.handle, 1u) << x.text;
  EXPECT_TRUE(t.router.isRegistered("3f9a0c1b2d4e5f60"));
  EXPECT_TRUE(t.connect(4, "HOST", "tok").empty());
  ASSERT_EQ(t.frame(4, R"({"id":"HOST","secret":"K7QP2MXA"})").size(), 1u);
  a = t.frame(4, R"({"type":"ANSWER","dst":"3f9a0c1b2d4e5f60","payload":{}})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].handle, 1u);
  // A client with a token still has to send HEARTBEAT (claynet's own, and PeerJS).
  bool hostClosed = false;
  for (const auto& x : t.advance(o.aliveTimeout))
    if (x.kind == Kind::Close && x.handle == 4) hostClosed = true;
  EXPECT_TRUE(hostClosed);
  t.router.closed(1);
  EXPECT_FALSE(t.router.isRegistered("3f9a0c1b2d4e5f60"));
}

// Without a LAN secret (Cloud, npm `peer`'s rules) a token and a key are still required.
TEST(SignalRouter, MissingIdTokenOrKeyIsRejected) {
  Harness t;
  expectRejected(t.connect(1, "", "tok"), 1, kNoParams);
  expectRejected(t.connect(2, "alice", ""), 2, kNoParams);
  expectRejected(t.connect(3, "alice", "tok", ""), 3, kNoParams);
  EXPECT_EQ(t.router.clientCount(), 0u);
  EXPECT_EQ(t.router.connectionCount(), 0u);
}

TEST(SignalRouter, WrongKeyIsRejected) {
  Harness t;
  expectRejected(t.connect(1, "alice", "tok", "nope"), 1, kInvalidKey);
  EXPECT_FALSE(t.router.isRegistered("alice"));
}

TEST(SignalRouter, MissingParamsIsCheckedBeforeTheKey) {
  Harness t;
  expectRejected(t.connect(1, "", "tok", "nope"), 1, kNoParams);
}

TEST(SignalRouter, IdWithAnotherTokenIsTaken) {
  Harness t;
  t.connect(1, "alice", "one");
  expectRejected(t.connect(2, "alice", "two"), 2, kIdTaken);
  // The first one is untouched and still reachable.
  t.connect(3, "bob");
  auto a = t.frame(3, R"({"type":"OFFER","dst":"alice","payload":1})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].handle, 1u);
}

TEST(SignalRouter, KeyIsCheckedBeforeIdTaken) {
  Harness t;
  t.connect(1, "alice", "one");
  expectRejected(t.connect(2, "alice", "two", "wrong"), 2, kInvalidKey);
}

TEST(SignalRouter, SameTokenReplacesSilentlyWithoutOpen) {
  Harness t;
  t.connect(1, "alice", "tok");
  t.connect(2, "bob");
  auto a = t.connect(3, "alice", "tok");
  // No OPEN to the new socket; the old one is closed (npm `peer` would leave it open).
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::Close);
  EXPECT_EQ(a[0].handle, 1u);
  EXPECT_EQ(t.router.clientCount(), 2u);
  // Messages for alice now reach the new socket, and the new socket speaks as alice.
  a = t.frame(2, R"({"type":"OFFER","dst":"alice","payload":"x"})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 3, R"({"type":"OFFER","src":"bob","dst":"alice","payload":"x"})"));
  a = t.frame(3, R"({"type":"ANSWER","dst":"bob","payload":"y"})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 2, R"({"type":"ANSWER","src":"alice","dst":"bob","payload":"y"})"));
  // The old socket is forgotten: its frames go nowhere, its close unregisters nobody.
  EXPECT_TRUE(t.frame(1, R"({"type":"OFFER","dst":"bob"})").empty());
  t.router.closed(1);
  EXPECT_TRUE(t.router.isRegistered("alice"));
}

TEST(SignalRouter, ConcurrentLimit) {
  RouterOptions o;
  o.concurrentLimit = 2;
  Harness t(o);
  t.connect(1, "a");
  t.connect(2, "b");
  expectRejected(t.connect(3, "c"), 3, kLimit);
  // ID-TAKEN comes before the limit; a same-token reconnect still works at the limit.
  expectRejected(t.connect(4, "a", "other"), 4, kIdTaken);
  EXPECT_EQ(t.connect(5, "a", "tok").size(), 1u);  // just the old socket's close
  t.router.closed(2);
  auto a = t.connect(6, "c");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 6, kOpen));
}

TEST(SignalRouter, IdsAreMadeValidUtf8) {
  Harness t;
  t.connect(1, std::string("x\xff", 2));
  t.connect(2, "b");
  auto a = t.frame(1, R"({"type":"OFFER","dst":"b"})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].text, "{\"type\":\"OFFER\",\"src\":\"x\xEF\xBF\xBD\",\"dst\":\"b\"}");
}

// ---- forwarding ----

TEST(SignalRouter, ForwardsExactlyTypeSrcDstPayload) {
  Harness t;
  t.connect(1, "alice");
  t.connect(2, "bob");
  for (const char* type : {"OFFER", "ANSWER", "CANDIDATE", "LEAVE", "EXPIRE"}) {
    std::string in =
        std::string(R"({"extra":1,"payload":{"sdp":"v=0","n":[1,2]},"src":"mallory",)") +
        R"("type":")" + type + R"(","dst":"bob","more":{"x":true}})";
    auto a = t.frame(1, in);
    ASSERT_EQ(a.size(), 1u) << type;
    EXPECT_TRUE(isSend(a[0], 2,
                       std::string(R"({"type":")") + type +
                           R"(","src":"alice","dst":"bob","payload":{"sdp":"v=0","n":[1,2]}})"))
        << a[0].text;
  }
}

TEST(SignalRouter, PayloadAbsentNullAndWhitespace) {
  Harness t;
  t.connect(1, "a");
  t.connect(2, "b");
  auto a = t.frame(1, R"({"type":"OFFER","dst":"b"})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].text, R"({"type":"OFFER","src":"a","dst":"b"})");
  a = t.frame(1, R"({"type":"OFFER","dst":"b","payload":null})");
  EXPECT_EQ(a[0].text, R"({"type":"OFFER","src":"a","dst":"b","payload":null})");
  a = t.frame(1,
              " {\"type\" : \"OFFER\" ,\n\"dst\":\"b\", \"payload\" : { \"s\" : \"a b\\\" c\" , "
              "\"n\" : [ 1 , 2.5e3 ] } }\t");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].text,
            R"({"type":"OFFER","src":"a","dst":"b","payload":{"s":"a b\" c","n":[1,2.5e3]}})");
}

TEST(SignalRouter, DstWithEscapesAndSrcEscaping) {
  Harness t;
  t.connect(1, "a\"q");
  t.connect(2, "b/c");
  auto a = t.frame(1, R"({"type":"OFFER","dst":"b\/\u0063"})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].handle, 2u);
  EXPECT_EQ(a[0].text, R"({"type":"OFFER","src":"a\"q","dst":"b/c"})");
}

TEST(SignalRouter, LastDuplicateKeyWins) {
  Harness t;
  t.connect(1, "a");
  t.connect(2, "b");
  t.connect(3, "c");
  auto a = t.frame(
      1, R"({"type":"HEARTBEAT","dst":"c","type":"OFFER","dst":"b","payload":1,"payload":2})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 2, R"({"type":"OFFER","src":"a","dst":"b","payload":2})"));
}

TEST(SignalRouter, UnknownTypesAreIgnored) {
  Harness t;
  t.connect(1, "a");
  t.connect(2, "b");
  EXPECT_TRUE(t.frame(1, R"({"type":"REJECT","dst":"b","payload":1})").empty());
  EXPECT_TRUE(t.frame(1, R"({"type":"offer","dst":"b"})").empty());  // types are case-sensitive
  EXPECT_TRUE(t.frame(1, R"({"type":"OPEN","dst":"b"})").empty());
  EXPECT_TRUE(t.frame(1, R"({"type":"ID-TAKEN","dst":"b"})").empty());
  EXPECT_GE(t.router.stats().ignored, 4u);
  EXPECT_EQ(t.frame(1, R"({"type":"OFFER","dst":"b"})").size(), 1u);
}

TEST(SignalRouter, InvalidJsonIsIgnoredAndTheClientStays) {
  Harness t;
  t.connect(1, "a");
  t.connect(2, "b");
  for (const char* bad : {"", "{", "not json", R"({"type":"OFFER","dst":"b",})", "[1,2]", "42",
                          "null", R"("OFFER")", R"({"type":"OFFER"} x)", R"({'type':'OFFER'})",
                          "{\"type\":\"OF\x01\"}", R"({"type":"OFFER","payload":01})"}) {
    EXPECT_TRUE(t.frame(1, bad).empty()) << bad;
  }
  EXPECT_EQ(t.router.connectionCount(), 2u);
  EXPECT_EQ(t.frame(1, R"({"type":"OFFER","dst":"b"})").size(), 1u);
}

TEST(SignalRouter, WrongFieldTypes) {
  Harness t;
  t.connect(1, "a");
  t.connect(2, "b");
  EXPECT_TRUE(t.frame(1, R"({"type":5,"dst":"b"})").empty());
  EXPECT_TRUE(t.frame(1, R"({"type":null,"dst":"b"})").empty());
  EXPECT_TRUE(t.frame(1, R"({"dst":"b","payload":1})").empty());
  EXPECT_TRUE(t.frame(1, R"({"type":"OFFER","dst":5})").empty());
  EXPECT_TRUE(t.frame(1, R"({"type":"OFFER","dst":{"id":"b"}})").empty());
  EXPECT_TRUE(t.frame(1, R"({"type":"OFFER","dst":["b"]})").empty());
  EXPECT_TRUE(t.frame(1, R"({"type":"OFFER","dst":true})").empty());
  // Falsy dst values mean "no dst": nothing is forwarded or queued.
  for (const char* dst : {"null", "false", "0", "-0.0", "\"\""}) {
    EXPECT_TRUE(t.frame(1, std::string(R"({"type":"OFFER","dst":)") + dst + "}").empty()) << dst;
  }
  EXPECT_EQ(t.router.queuedCount(), 0u);
  EXPECT_EQ(t.router.connectionCount(), 2u);
}

TEST(SignalRouter, FailedForwardClosesTheDestinationAndTellsTheSender) {
  Harness t;
  t.connect(1, "a");
  t.connect(2, "b");
  t.router.congested(2);
  auto a = t.frame(1, R"({"type":"OFFER","dst":"b","payload":1})");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].kind, Kind::Close);
  EXPECT_EQ(a[0].handle, 2u);
  EXPECT_EQ(a[0].code, 1008);
  EXPECT_TRUE(isSend(a[1], 1, R"({"type":"LEAVE","src":"b","dst":"a"})"));
  EXPECT_FALSE(t.router.isRegistered("b"));
}

// ---- queueing and EXPIRE ----

TEST(SignalRouter, QueuedMessagesFollowOpenInOrder) {
  Harness t;
  t.connect(1, "a");
  t.connect(2, "c");
  EXPECT_TRUE(t.frame(1, R"({"type":"OFFER","dst":"b","payload":1})").empty());
  EXPECT_TRUE(t.frame(2, R"({"type":"OFFER","dst":"b","payload":2})").empty());
  EXPECT_TRUE(t.frame(1, R"({"type":"CANDIDATE","dst":"b","payload":3})").empty());
  EXPECT_EQ(t.router.queuedCount(), 3u);
  t.advance(1000ms);
  auto a = t.connect(3, "b");
  ASSERT_EQ(a.size(), 4u);
  EXPECT_TRUE(isSend(a[0], 3, kOpen));
  EXPECT_TRUE(isSend(a[1], 3, R"({"type":"OFFER","src":"a","dst":"b","payload":1})"));
  EXPECT_TRUE(isSend(a[2], 3, R"({"type":"OFFER","src":"c","dst":"b","payload":2})"));
  EXPECT_TRUE(isSend(a[3], 3, R"({"type":"CANDIDATE","src":"a","dst":"b","payload":3})"));
  EXPECT_EQ(t.router.queuedCount(), 0u);
  EXPECT_TRUE(t.advance(10000ms).empty());  // nothing left to expire
  EXPECT_EQ(t.router.stats().expired, 0u);
}

TEST(SignalRouter, ExpireAfterTheTimeoutOncePerSender) {
  Harness t;
  t.connect(1, "a");
  t.connect(2, "c");
  t.frame(1, R"({"type":"OFFER","dst":"b"})");
  t.frame(1, R"({"type":"CANDIDATE","dst":"b"})");
  t.frame(2, R"({"type":"OFFER","dst":"b"})");
  // Keep both senders alive meanwhile.
  EXPECT_TRUE(t.advance(4999ms).empty());
  auto a = t.advance(1ms);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(isSend(a[0], 1, R"({"type":"EXPIRE","src":"b","dst":"a"})"));
  EXPECT_TRUE(isSend(a[1], 2, R"({"type":"EXPIRE","src":"b","dst":"c"})"));
  // b turning up later finds nothing waiting.
  a = t.connect(3, "b");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 3, kOpen));
}

TEST(SignalRouter, QueueLifetimeRunsFromItsFirstMessage) {
  Harness t;
  t.connect(1, "a");
  t.frame(1, R"({"type":"OFFER","dst":"b"})");
  t.advance(3000ms);
  t.frame(1, R"({"type":"CANDIDATE","dst":"b"})");
  auto a = t.advance(2000ms);
  ASSERT_EQ(a.size(), 1u);  // both messages expire together, one EXPIRE
  EXPECT_TRUE(isSend(a[0], 1, R"({"type":"EXPIRE","src":"b","dst":"a"})"));
}

TEST(SignalRouter, ExpireForAGoneSenderIsDropped) {
  Harness t;
  t.connect(1, "a");
  t.frame(1, R"({"type":"OFFER","dst":"b"})");
  t.router.closed(1);
  EXPECT_TRUE(t.advance(6000ms).empty());
  EXPECT_EQ(t.router.queuedCount(), 0u);
}

TEST(SignalRouter, LeaveAndExpireAreNeverQueued) {
  Harness t;
  t.connect(1, "a");
  EXPECT_TRUE(t.frame(1, R"({"type":"LEAVE","dst":"b"})").empty());
  EXPECT_TRUE(t.frame(1, R"({"type":"EXPIRE","dst":"b"})").empty());
  EXPECT_EQ(t.router.queuedCount(), 0u);
  EXPECT_TRUE(t.advance(6000ms).empty());
}

TEST(SignalRouter, QueueBoundsSendExpireAtOnce) {
  RouterOptions o;
  o.maxQueuedPerDestination = 2;
  o.maxQueuedTotal = 3;
  Harness t(o);
  t.connect(1, "a");
  EXPECT_TRUE(t.frame(1, R"({"type":"OFFER","dst":"b"})").empty());
  EXPECT_TRUE(t.frame(1, R"({"type":"OFFER","dst":"b"})").empty());
  auto a = t.frame(1, R"({"type":"OFFER","dst":"b"})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 1, R"({"type":"EXPIRE","src":"b","dst":"a"})"));
  EXPECT_TRUE(t.frame(1, R"({"type":"OFFER","dst":"c"})").empty());
  a = t.frame(1, R"({"type":"OFFER","dst":"d"})");  // the global bound
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 1, R"({"type":"EXPIRE","src":"d","dst":"a"})"));
  EXPECT_EQ(t.router.queuedCount(), 3u);
  EXPECT_EQ(t.router.stats().queueOverflows, 2u);
}

TEST(SignalRouter, QueueByteBound) {
  RouterOptions o;
  o.maxQueuedBytesPerDestination = 100;
  Harness t(o);
  t.connect(1, "a");
  std::string big = R"({"type":"OFFER","dst":"b","payload":")" + std::string(200, 'x') + "\"}";
  auto a = t.frame(1, big);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].text, R"({"type":"EXPIRE","src":"b","dst":"a"})");
}

// ---- LEAVE ----

TEST(SignalRouter, LeaveWithDstIsForwarded) {
  Harness t;
  t.connect(1, "a");
  t.connect(2, "b");
  auto a = t.frame(1, R"({"type":"LEAVE","dst":"b"})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 2, R"({"type":"LEAVE","src":"a","dst":"b"})"));
  EXPECT_TRUE(t.router.isRegistered("a"));
}

TEST(SignalRouter, LeaveWithoutDstUnregisters) {
  Harness t;
  t.connect(1, "a", "one");
  t.connect(2, "b");
  EXPECT_TRUE(t.frame(1, R"({"type":"LEAVE"})").empty());
  EXPECT_FALSE(t.router.isRegistered("a"));
  // Messages for a are now queued rather than delivered.
  EXPECT_TRUE(t.frame(2, R"({"type":"OFFER","dst":"a"})").empty());
  EXPECT_EQ(t.router.queuedCount(), 1u);
  // The id is free: another token may take it (and gets the queued message).
  auto a = t.connect(3, "a", "two");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(isSend(a[0], 3, kOpen));
  // The old socket stays open and still speaks as a, as with npm `peer`.
  a = t.frame(1, R"({"type":"OFFER","dst":"b"})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(isSend(a[0], 2, R"({"type":"OFFER","src":"a","dst":"b"})"));
  // ...but it can no longer unregister the new owner of the id.
  t.frame(1, R"({"type":"LEAVE"})");
  EXPECT_TRUE(t.router.isRegistered("a"));
}

TEST(SignalRouter, LeaveWithNullDstUnregisters) {
  Harness t;
  t.connect(1, "a");
  t.frame(1, R"({"type":"LEAVE","dst":null})");
  EXPECT_FALSE(t.router.isRegistered("a"));
}

TEST(SignalRouter, ClosedUnregisters) {
  Harness t;
  t.connect(1, "a");
  t.router.closed(1);
  EXPECT_FALSE(t.router.isRegistered("a"));
  EXPECT_EQ(t.router.connectionCount(), 0u);
  EXPECT_TRUE(t.frame(1, R"({"type":"OFFER","dst":"a"})").empty());
  t.router.closed(1);  // twice, or for an unknown handle: nothing happens
  t.router.closed(99);
}

// ---- alive timeout ----

TEST(SignalRouter, AliveTimeoutDropsASilentClient) {
  RouterOptions o;
  o.aliveTimeout = 3000ms;
  Harness t(o);
  t.connect(1, "quiet");
  t.connect(2, "beating");
  t.connect(3, "chatty");
  for (int i = 0; i < 5; ++i) {
    t.frame(2, R"({"type":"HEARTBEAT"})");
    // Anything but HEARTBEAT does not count.
    t.frame(3, R"({"type":"OFFER","dst":"beating"})");
    auto a = t.advance(1000ms);
    if (i < 2) {
      EXPECT_TRUE(a.empty()) << i;
    } else if (i == 2) {
      ASSERT_EQ(a.size(), 2u);
      for (auto& x : a) {
        EXPECT_EQ(x.kind, Kind::Close);
        EXPECT_TRUE(x.handle == 1 || x.handle == 3);
        EXPECT_NE(x.text.find("HEARTBEAT"), std::string::npos);
      }
    }
  }
  EXPECT_FALSE(t.router.isRegistered("quiet"));
  EXPECT_FALSE(t.router.isRegistered("chatty"));
  EXPECT_TRUE(t.router.isRegistered("beating"));
  EXPECT_EQ(t.router.stats().aliveTimeouts, 2u);
}

TEST(SignalRouter, AliveTimeoutAlsoCoversUnregisteredSockets) {
  RouterOptions o;
  o.aliveTimeout = 1000ms;
  Harness t(o);
  t.connect(1, "a");
  t.frame(1, R"({"type":"LEAVE"})");  // unregistered, socket still open
  auto a = t.advance(1000ms);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::Close);
  EXPECT_EQ(a[0].handle, 1u);
  EXPECT_EQ(t.router.connectionCount(), 0u);
}

// ---- defences ----

TEST(SignalRouter, FloodClosesTheFlooderOnly) {
  RouterOptions o;
  o.floodFramesPerSecond = 100;
  o.floodFrameBurst = 50;
  Harness t(o);
  t.connect(1, "flood");
  t.connect(2, "a");
  t.connect(3, "b");
  std::size_t sent = 0;
  bool closed = false;
  for (int i = 0; i < 1000 && !closed; ++i) {
    for (auto& x : t.frame(1, R"({"type":"OFFER","dst":"a"})")) {
      if (x.kind == Kind::Close && x.handle == 1) {
        closed = true;
        EXPECT_EQ(x.code, 1008);
      } else {
        ++sent;
      }
    }
  }
  EXPECT_TRUE(closed);
  EXPECT_EQ(sent, 50u);
  EXPECT_FALSE(t.router.isRegistered("flood"));
  auto a = t.frame(2, R"({"type":"OFFER","dst":"b"})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].handle, 3u);
}

TEST(SignalRouter, SteadyTrafficUnderTheRateIsNeverClosed) {
  RouterOptions o;
  o.floodFramesPerSecond = 100;
  o.floodFrameBurst = 10;
  Harness t(o);
  t.connect(1, "a");
  t.connect(2, "b");
  for (int i = 0; i < 2000; ++i) {
    t.now += 10ms;  // exactly the allowed rate
    auto a = t.frame(1, R"({"type":"HEARTBEAT"})");
    ASSERT_TRUE(a.empty()) << i;
  }
  EXPECT_TRUE(t.router.isRegistered("a"));
}

TEST(SignalRouter, ByteFloodCloses) {
  RouterOptions o;
  o.floodBytesPerSecond = 1000;
  o.floodByteBurst = 1000;
  Harness t(o);
  t.connect(1, "a");
  std::string frame = R"({"type":"HEARTBEAT","pad":")" + std::string(400, 'x') + "\"}";
  EXPECT_TRUE(t.frame(1, frame).empty());
  EXPECT_TRUE(t.frame(1, frame).empty());
  auto a = t.frame(1, frame);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::Close);
  EXPECT_EQ(a[0].code, 1008);
}

TEST(SignalRouter, OversizeFrameCloses) {
  RouterOptions o;
  o.maxFrameBytes = 1000;
  Harness t(o);
  t.connect(1, "a");
  t.connect(2, "b");
  auto a = t.frame(1, std::string(1 << 20, ' '));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::Close);
  EXPECT_EQ(a[0].code, 1009);
  EXPECT_FALSE(t.router.isRegistered("a"));
  EXPECT_TRUE(t.router.isRegistered("b"));
}

TEST(SignalRouter, DiscoveryListInRegistrationOrder) {
  Harness t;
  t.connect(1, "zed");
  t.connect(2, "amy");
  t.connect(3, "max");
  t.router.closed(2);
  t.connect(4, "amy");
  EXPECT_EQ(t.router.peerIds(), (std::vector<std::string>{"zed", "max", "amy"}));
}

// ---- the scanner ----

TEST(SignalScanner, FindsTypeDstPayload) {
  ScannedMessage m;
  ASSERT_EQ(
      scanMessage(R"({"type":"OFFER","dst":"b","payload":{"a":[1,{"b":null}]},"x":-1.5e-3})", m),
      nullptr);
  EXPECT_TRUE(m.hasType);
  EXPECT_EQ(m.type, "OFFER");
  EXPECT_EQ(m.dstKind, ScannedMessage::Dst::String);
  EXPECT_EQ(m.dst, "b");
  ASSERT_TRUE(m.hasPayload);
  EXPECT_EQ(m.payload, R"({"a":[1,{"b":null}]})");
}

TEST(SignalScanner, RejectsWhatJsonParseRejects) {
  ScannedMessage m;
  for (const char* bad : {"",
                          " ",
                          "{",
                          "}",
                          "{]",
                          R"({"a"})",
                          R"({"a":})",
                          R"({"a":1,})",
                          R"({"a":[1,]})",
                          R"({"a":01})",
                          R"({"a":1.})",
                          R"({"a":.5})",
                          R"({"a":+1})",
                          R"({"a":1e})",
                          R"({"a":tru})",
                          R"({"a":"\x"})",
                          R"({"a":"\u12"})",
                          R"({a:1})",
                          R"({"a":1}})",
                          R"({"a":[}})",
                          "{\"a\":\"\t\"}",
                          "{\"a\":\"\xC3\"}",
                          "{\"a\":\"\xED\xA0\x80\"}",
                          R"({"a":NaN})",
                          R"({"a":Infinity})",
                          R"({"a":'x'})"}) {
    EXPECT_NE(scanMessage(bad, m), nullptr) << bad;
  }
}

TEST(SignalScanner, AcceptsWhatJsonParseAccepts) {
  ScannedMessage m;
  for (const char* good :
       {"{}", " {\n} ", R"({"a":[]})", R"({"a":{}})", R"({"a":[[],[{}]]})", R"({"a":"\ud800"})",
        R"({"a":"\"\\\/\b\f\n\r\t\u00e9"})", R"({"a":-0})", R"({"a":0.5E+10})",
        "{\"a\":\"\xC3\xA9\"}", R"({"a":true,"b":false,"c":null})"}) {
    EXPECT_EQ(scanMessage(good, m), nullptr) << good;
  }
  // Deep nesting costs heap, not stack.
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(scanMessage(deep, m), nullptr);
}

TEST(SignalScanner, DecodesEscapedTypeAndDst) {
  ScannedMessage m;
  ASSERT_EQ(scanMessage(R"({"\u0074ype":"OF\u0046ER","dst":"\ud83d\ude00x"})", m), nullptr);
  EXPECT_EQ(m.type, "OFFER");
  EXPECT_EQ(m.dst, "\xF0\x9F\x98\x80x");
}

TEST(SignalScanner, JsonStringsAreWrittenLikeJsonStringify) {
  std::string out;
  appendJsonString(out, std::string("a\"\\\b\f\n\r\t\x01\x1f/\xC3\xA9", 13));
  EXPECT_EQ(out, "\"a\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f/\xC3\xA9\"");
  // A lone surrogate decoded from an escape goes back out as an escape.
  ScannedMessage m;
  ASSERT_EQ(scanMessage(R"({"dst":"x\udc00"})", m), nullptr);
  out.clear();
  appendJsonString(out, m.dst);
  EXPECT_EQ(out, R"("x\udc00")");
}

TEST(SignalScanner, MinifyKeepsStrings) {
  std::string out;
  appendMinifiedJson(out, " { \"a b\" : [ 1 , \"x \\\" y\" ] } ");
  EXPECT_EQ(out, R"({"a b":[1,"x \" y"]})");
}

}  // namespace
}  // namespace claynet::signaling
