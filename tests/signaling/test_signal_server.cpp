// claynet-signal (claynet::SignalServer) on 127.0.0.1 with real WebSocket clients: libsoup's
// client for the protocol, a bare socket for hostile input. Behaviour is that of npm `peer`
// 1.0.2 (protocols.md §1); tests/signaling/server.cmake runs the same script against both.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "claynet/signal_server.hpp"
#include "ws_test_client.hpp"

namespace claynet::test {
namespace {

const std::string kOpen = R"({"type":"OPEN"})";

// A lowercase version-4 UUID, as node's crypto.randomUUID() writes it. (No std::regex: GCC 12
// warns falsely inside it under the sanitizers.)
bool isUuidV4(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return s[14] == '4' && std::string("89ab").find(s[19]) != std::string::npos;
}

class SignalServerTest : public ::testing::Test {
 protected:
  void startServer(SignalServerOptions o = {}) {
    o.host = "127.0.0.1";
    o.port = 0;
    server_ = std::make_unique<SignalServer>(runtime_, o);
    auto r = server_->start();
    ASSERT_TRUE(r) << r.error();
    ASSERT_NE(server_->port(), 0);
    path_ = o.path.empty() ? "/" : o.path;
    tls_ = !o.tlsCertFile.empty();
  }
  std::string url(const std::string& query) const {
    return std::string(tls_ ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(server_->port()) +
           path_ + "peerjs?" + query;
  }
  std::string http(const std::string& path) const {
    return std::string(tls_ ? "https" : "http") +
           "://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  /// Opens a client registered as `id`; checks the OPEN.
  std::unique_ptr<WsClient> client(const std::string& id, const std::string& token = "tok") {
    std::string error;
    auto c =
        WsClient::open(url("key=peerjs&id=" + id + "&token=" + token + "&version=1.5.5"), &error);
    EXPECT_TRUE(c) << error;
    if (!c) return nullptr;
    auto first = c->next();
    EXPECT_EQ(first.value_or("<nothing>"), kOpen) << id;
    return c;
  }
  /// The server still serves others: two fresh clients register and exchange an OFFER.
  void expectServing() {
    std::string a = "check" + std::to_string(++checks_) + "a";
    std::string b = "check" + std::to_string(checks_) + "b";
    auto ca = client(a);
    auto cb = client(b);
    ASSERT_TRUE(ca && cb);
    ca->send(R"({"type":"OFFER","dst":")" + b + R"(","payload":{"n":1}})");
    EXPECT_EQ(cb->next().value_or("<nothing>"),
              R"({"type":"OFFER","src":")" + a + R"(","dst":")" + b + R"(","payload":{"n":1}})");
  }

  Runtime runtime_;
  std::unique_ptr<SignalServer> server_;
  std::string path_ = "/";
  bool tls_ = false;
  int checks_ = 0;
};

// ---- registration ----

TEST_F(SignalServerTest, RegistrationGetsOpenAndCounts) {
  startServer();
  auto a = client("alice");
  ASSERT_TRUE(a);
  EXPECT_TRUE(iterateUntil([&] { return server_->clientCount() == 1; }, 2s));
  auto b = client("bob");
  EXPECT_TRUE(iterateUntil([&] { return server_->clientCount() == 2; }, 2s));
  EXPECT_EQ(server_->connectionCount(), 2u);
  b.reset();
  EXPECT_TRUE(iterateUntil([&] { return server_->clientCount() == 1; }, 3s));
}

TEST_F(SignalServerTest, IdTakenClosesTheNewcomer) {
  startServer();
  auto a = client("alice", "one");
  auto taken = WsClient::open(url("key=peerjs&id=alice&token=two"));
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->next().value_or(""), R"({"type":"ID-TAKEN","payload":{"msg":"ID is taken"}})");
  EXPECT_TRUE(taken->waitClosed());
  // The holder keeps its id.
  auto b = client("bob");
  b->send(R"({"type":"OFFER","dst":"alice"})");
  EXPECT_EQ(a->next().value_or(""), R"({"type":"OFFER","src":"bob","dst":"alice"})");
}

TEST_F(SignalServerTest, SameTokenReplacesWithoutOpen) {
  startServer();
  auto first = client("alice", "tok");
  auto second = WsClient::open(url("key=peerjs&id=alice&token=tok"));
  ASSERT_TRUE(second);
  // No OPEN; the old socket is closed; the new one receives and speaks as alice.
  EXPECT_FALSE(second->next(500ms).has_value());
  EXPECT_TRUE(first->waitClosed());
  auto bob = client("bob");
  bob->send(R"({"type":"OFFER","dst":"alice","payload":"x"})");
  EXPECT_EQ(second->next().value_or(""),
            R"({"type":"OFFER","src":"bob","dst":"alice","payload":"x"})");
  second->send(R"({"type":"ANSWER","dst":"bob","payload":"y"})");
  EXPECT_EQ(bob->next().value_or(""),
            R"({"type":"ANSWER","src":"alice","dst":"bob","payload":"y"})");
  EXPECT_EQ(server_->clientCount(), 2u);
}

TEST_F(SignalServerTest, InvalidKey) {
  startServer();
  auto c = WsClient::open(url("key=nope&id=alice&token=tok"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->next().value_or(""), R"({"type":"ERROR","payload":{"msg":"Invalid key provided"}})");
  EXPECT_TRUE(c->waitClosed());
  expectServing();
}

TEST_F(SignalServerTest, MissingParameters) {
  startServer();
  for (const char* query : {"key=peerjs&token=tok", "key=peerjs&id=a", "id=a&token=tok",
                            "key=peerjs&id=&token=tok", ""}) {
    auto c = WsClient::open(url(query));
    ASSERT_TRUE(c) << query;
    EXPECT_EQ(
        c->next().value_or(""),
        R"({"type":"ERROR","payload":{"msg":"No id, token, or key supplied to websocket server"}})")
        << query;
    EXPECT_TRUE(c->waitClosed()) << query;
  }
  expectServing();
}

TEST_F(SignalServerTest, ConcurrentLimit) {
  SignalServerOptions o;
  o.concurrentLimit = 2;
  startServer(o);
  auto a = client("a");
  auto b = client("b");
  auto c = WsClient::open(url("key=peerjs&id=c&token=tok"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->next().value_or(""),
            R"({"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}})");
  EXPECT_TRUE(c->waitClosed());
  b.reset();
  ASSERT_TRUE(iterateUntil([&] { return server_->clientCount() == 1; }, 3s));
  auto c2 = client("c");
  EXPECT_TRUE(c2);
}

// ---- routing ----

TEST_F(SignalServerTest, ForwardsExactlyTypeSrcDstPayload) {
  startServer();
  auto a = client("a");
  auto b = client("b");
  a->send(R"({"type":"CANDIDATE","src":"forged","dst":"b","payload":{"candidate":"c"},"x":1})");
  EXPECT_EQ(b->next().value_or(""),
            R"({"type":"CANDIDATE","src":"a","dst":"b","payload":{"candidate":"c"}})");
}

TEST_F(SignalServerTest, QueuedMessagesArriveAfterOpenInOrder) {
  startServer();
  auto a = client("a");
  for (int i = 0; i < 5; ++i)
    a->send(R"({"type":"CANDIDATE","dst":"late","payload":)" + std::to_string(i) + "}");
  a->send(R"({"type":"HEARTBEAT"})");
  ASSERT_TRUE(iterateUntil([&] { return server_->stats().queued == 5; }, 3s));
  std::string error;
  auto late = WsClient::open(url("key=peerjs&id=late&token=tok"), &error);
  ASSERT_TRUE(late) << error;
  EXPECT_EQ(late->next().value_or(""), kOpen);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(late->next().value_or(""),
              R"({"type":"CANDIDATE","src":"a","dst":"late","payload":)" + std::to_string(i) + "}");
}

TEST_F(SignalServerTest, ExpireAfterTheExpireTimeout) {
  SignalServerOptions o;
  o.expireTimeout = 500ms;
  startServer(o);
  auto a = client("a");
  a->send(R"({"type":"OFFER","dst":"nobody","payload":1})");
  a->send(R"({"type":"CANDIDATE","dst":"nobody","payload":2})");
  // One EXPIRE for the two messages, and only after the timeout.
  EXPECT_FALSE(a->next(200ms).has_value());
  EXPECT_EQ(a->next(3s).value_or(""), R"({"type":"EXPIRE","src":"nobody","dst":"a"})");
  EXPECT_FALSE(a->next(1s).has_value());
  // Nothing waits for "nobody" any more.
  auto nobody = client("nobody");
  EXPECT_FALSE(nobody->next(300ms).has_value());
}

TEST_F(SignalServerTest, LeaveIsForwardedAndLeaveWithoutDstUnregisters) {
  startServer();
  auto a = client("a", "one");
  auto b = client("b");
  a->send(R"({"type":"LEAVE","dst":"b"})");
  EXPECT_EQ(b->next().value_or(""), R"({"type":"LEAVE","src":"a","dst":"b"})");
  a->send(R"({"type":"LEAVE"})");
  ASSERT_TRUE(iterateUntil([&] { return server_->clientCount() == 1; }, 3s));
  // The id is free again, for any token.
  auto a2 = client("a", "two");
  ASSERT_TRUE(a2);
  b->send(R"({"type":"OFFER","dst":"a"})");
  EXPECT_EQ(a2->next().value_or(""), R"({"type":"OFFER","src":"b","dst":"a"})");
}

TEST_F(SignalServerTest, AliveTimeoutDropsTheSilentAndHeartbeatKeepsAlive) {
  SignalServerOptions o;
  o.aliveTimeout = 1500ms;
  startServer(o);
  auto silent = client("silent");
  auto chatty = client("chatty");  // sends, but no HEARTBEAT: that does not count
  auto beating = client("beating");
  auto end = std::chrono::steady_clock::now() + 3500ms;
  while (std::chrono::steady_clock::now() < end) {
    beating->send(R"({"type":"HEARTBEAT"})");
    if (!chatty->closed()) chatty->send(R"({"type":"CANDIDATE","dst":"beating"})");
    iterateFor(250ms);
  }
  EXPECT_TRUE(silent->waitClosed(1s));
  EXPECT_TRUE(chatty->waitClosed(1s));
  EXPECT_NE(silent->closeReason().find("HEARTBEAT"), std::string::npos) << silent->closeReason();
  EXPECT_FALSE(beating->closed());
  auto other = client("other");
  other->send(R"({"type":"OFFER","dst":"beating"})");
  std::optional<std::string> got;
  while ((got = beating->next()) && got->find("\"src\":\"chatty\"") != std::string::npos) {
  }
  EXPECT_EQ(got.value_or(""), R"({"type":"OFFER","src":"other","dst":"beating"})");
}

// ---- HTTP ----

TEST_F(SignalServerTest, HttpEndpoints) {
  startServer();
  auto info = httpGet(http("/"), "http://example.test");
  EXPECT_EQ(info.status, 200);
  EXPECT_EQ(
      info.body,
      R"({"name":"PeerJS Server","description":"A server side element to broker connections between PeerJS clients.","website":"https://peerjs.com/"})");
  EXPECT_NE(info.contentType.find("application/json"), std::string::npos);
  EXPECT_EQ(info.allowOrigin, "http://example.test");

  auto id = httpGet(http("/peerjs/id"));
  EXPECT_EQ(id.status, 200);
  EXPECT_TRUE(isUuidV4(id.body)) << id.body;
  EXPECT_NE(httpGet(http("/anykey/id")).body, id.body);  // the key is not checked there
  EXPECT_EQ(httpGet(http("/anykey/id")).status, 200);

  auto peers = httpGet(http("/peerjs/peers"));
  EXPECT_EQ(peers.status, 401);
  EXPECT_EQ(httpGet(http("/nothing/here/at/all")).status, 404);
  EXPECT_EQ(httpGet(http("/peerjs")).status, 404);  // the WebSocket path, without an upgrade
  expectServing();
}

TEST_F(SignalServerTest, DiscoveryAndCustomPath) {
  SignalServerOptions o;
  o.allowDiscovery = true;
  o.path = "/app";
  startServer(o);
  path_ = "/app/";
  EXPECT_EQ(httpGet(http("/app")).status, 200);
  EXPECT_EQ(httpGet(http("/app/")).status, 200);
  EXPECT_EQ(httpGet(http("/app/peerjs/peers")).body, "[]");
  auto z = client("zed");
  auto m = client("max");
  auto peers = httpGet(http("/app/peerjs/peers"));
  EXPECT_EQ(peers.status, 200);
  EXPECT_EQ(peers.body, R"(["zed","max"])");
  // The default path's WebSocket is not served here.
  EXPECT_FALSE(WsClient::open("ws://127.0.0.1:" + std::to_string(server_->port()) +
                              "/peerjs?key=peerjs&id=x&token=t"));
}

// ---- TLS ----

TEST_F(SignalServerTest, TlsFromCertificateAndKeyFiles) {
  char dir[] = "/tmp/claynet-signal-tls-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string d = dir;
  std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-keyout '" +
      d + "/key.pem' -out '" + d +
      "/cert.pem' -days 1 "
      "-subj /CN=localhost >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  SignalServerOptions o;
  o.tlsCertFile = d + "/cert.pem";
  o.tlsKeyFile = d + "/key.pem";
  startServer(o);
  EXPECT_EQ(server_->url().rfind("wss://", 0), 0u) << server_->url();
  auto info = httpGet(http("/"));
  EXPECT_EQ(info.status, 200) << info.error;
  EXPECT_NE(info.body.find("PeerJS Server"), std::string::npos);
  expectServing();
  // Plain ws:// does not get through.
  EXPECT_FALSE(WsClient::open(
      "ws://127.0.0.1:" + std::to_string(server_->port()) + "/peerjs?key=peerjs&id=x&token=t",
      nullptr, 2s));
  expectServing();
  std::system(("rm -rf '" + d + "'").c_str());
}

TEST_F(SignalServerTest, StartFailuresSayWhy) {
  startServer();
  SignalServerOptions same;
  same.host = "127.0.0.1";
  same.port = server_->port();
  SignalServer clash(runtime_, same);
  auto r = clash.start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(std::to_string(server_->port())), std::string::npos) << r.error();

  SignalServerOptions badHost;
  badHost.host = "not an address";
  badHost.port = 0;
  r = SignalServer(runtime_, badHost).start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("not an IP address"), std::string::npos) << r.error();

  SignalServerOptions tls;
  tls.port = 0;
  tls.tlsCertFile = "/nonexistent/cert.pem";
  tls.tlsKeyFile = "/nonexistent/key.pem";
  r = SignalServer(runtime_, tls).start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("/nonexistent/cert.pem"), std::string::npos) << r.error();

  SignalServerOptions half;
  half.port = 0;
  half.tlsCertFile = "/x.pem";
  r = SignalServer(runtime_, half).start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("both"), std::string::npos) << r.error();

  auto again = server_->start();
  EXPECT_FALSE(again);
  expectServing();
}

TEST_F(SignalServerTest, StopClosesClientsAndIsIdempotent) {
  startServer();
  auto a = client("a");
  server_->stop();
  EXPECT_TRUE(a->waitClosed());
  EXPECT_EQ(a->closeCode(), 1001);
  EXPECT_FALSE(server_->running());
  server_->stop();
  EXPECT_EQ(server_->port(), 0);
}

TEST(SignalServerLifetime, RuntimeDestroyedFirst) {
  auto runtime = std::make_unique<Runtime>();
  SignalServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  SignalServer server(*runtime, o);
  ASSERT_TRUE(server.start());
  auto c = WsClient::open("ws://127.0.0.1:" + std::to_string(server.port()) +
                          "/peerjs?key=peerjs&id=a&token=t");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->next().value_or(""), kOpen);
  runtime.reset();  // stops the server
  EXPECT_TRUE(c->waitClosed());
  EXPECT_FALSE(server.running());
}

// ---- bad input: each gets its documented outcome, and the server keeps serving ----

TEST_F(SignalServerTest, InvalidJsonIsIgnoredAndTheSocketStays) {
  startServer();
  auto a = client("a");
  auto b = client("b");
  for (const char* bad : {"not json", "{", "[1,2]", "42", "{\"type\":\"OFFER\",}", ""})
    a->send(bad);
  a->send(R"({"type":"OFFER","dst":"b"})");
  EXPECT_EQ(b->next().value_or(""), R"({"type":"OFFER","src":"a","dst":"b"})");
  EXPECT_FALSE(a->closed());
  expectServing();
}

TEST_F(SignalServerTest, MissingFieldsAndWrongTypesAreIgnored) {
  startServer();
  auto a = client("a");
  auto b = client("b");
  for (const char* bad : {R"({"dst":"b","payload":1})", R"({"type":7,"dst":"b"})",
                          R"({"type":null,"dst":"b"})", R"({"type":"OFFER"})",
                          R"({"type":"OFFER","dst":5})", R"({"type":"OFFER","dst":{"id":"b"}})",
                          R"({"type":"OFFER","dst":null})", R"({"type":["OFFER"],"dst":"b"})"})
    a->send(bad);
  a->send(R"({"type":"ANSWER","dst":"b"})");
  EXPECT_EQ(b->next().value_or(""), R"({"type":"ANSWER","src":"a","dst":"b"})");
  EXPECT_FALSE(a->closed());
  expectServing();
}

TEST_F(SignalServerTest, UnknownTypesAreIgnored) {
  startServer();
  auto a = client("a");
  auto b = client("b");
  a->send(R"({"type":"REJECT","dst":"b","payload":"no"})");
  a->send(R"({"type":"offer","dst":"b"})");
  a->send(R"({"type":"OFFER","dst":"b","payload":"after"})");
  EXPECT_EQ(b->next().value_or(""), R"({"type":"OFFER","src":"a","dst":"b","payload":"after"})");
  expectServing();
}

TEST_F(SignalServerTest, MessagesToUnknownPeersExpire) {
  SignalServerOptions o;
  o.expireTimeout = 300ms;
  startServer(o);
  auto a = client("a");
  a->send(R"({"type":"OFFER","dst":"ghost"})");
  a->send(R"({"type":"LEAVE","dst":"ghost"})");   // not queued, no reply
  a->send(R"({"type":"EXPIRE","dst":"ghost"})");  // not queued, no reply
  EXPECT_EQ(a->next().value_or(""), R"({"type":"EXPIRE","src":"ghost","dst":"a"})");
  EXPECT_FALSE(a->next(800ms).has_value());
  expectServing();
}

TEST_F(SignalServerTest, OneMebibyteFrameClosesThatClientWith1009) {
  startServer();
  auto big = client("big");
  auto b = client("b");
  big->send(R"({"type":"OFFER","dst":"b","payload":")" + std::string(1 << 20, 'x') + "\"}");
  ASSERT_TRUE(big->waitClosed());
  EXPECT_EQ(big->closeCode(), 1009);
  EXPECT_NE(big->closeReason().find("limit"), std::string::npos) << big->closeReason();
  EXPECT_FALSE(b->next(300ms).has_value());  // nothing of it was forwarded
  EXPECT_FALSE(b->closed());
  expectServing();
  // 64 KiB minus a little is still fine.
  auto c = client("c");
  std::string payload(60000, 'y');
  c->send(R"({"type":"OFFER","dst":"b","payload":")" + payload + "\"}");
  auto got = b->next();
  ASSERT_TRUE(got);
  EXPECT_EQ(
      got->size(),
      std::string(R"({"type":"OFFER","src":"c","dst":"b","payload":""})").size() + payload.size());
}

TEST_F(SignalServerTest, FragmentedOversizeMessageIsRefusedToo) {
  startServer();
  RawWs raw;
  ASSERT_TRUE(raw.open(server_->port(), "key=peerjs&id=frag&token=t"));
  // 40 fragments of 4 KiB: each frame is small, the message is not.
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    std::string f;
    signaling::ws::appendMaskedFrame(
        f, i == 0 ? signaling::ws::Opcode::Text : signaling::ws::Opcode::Continuation,
        std::string(4096, 'z'), 0x01020304);
    if (i < 39) f[0] = static_cast<char>(f[0] & 0x7F);  // FIN only on the last
    bytes += f;
  }
  raw.sendAll(bytes);
  raw.pump(1s);
  EXPECT_EQ(raw.closeCode, 1009);
  expectServing();
}

TEST_F(SignalServerTest, FloodClosesTheFlooderOthersAreServed) {
  SignalServerOptions o;
  o.floodMessagesPerSecond = 200;
  o.floodMessageBurst = 400;
  startServer(o);
  auto flooder = client("flooder");
  auto victim = client("victim");
  for (int i = 0; i < 5000; ++i) flooder->send(R"({"type":"CANDIDATE","dst":"victim"})");
  ASSERT_TRUE(flooder->waitClosed(5s));
  EXPECT_EQ(flooder->closeCode(), 1008);
  EXPECT_NE(flooder->closeReason().find("flood"), std::string::npos);
  auto received = victim->collect(500ms);
  EXPECT_LT(received.size(), 5000u);  // cut off: the burst and a little, not all of it
  EXPECT_GE(received.size(), 400u);   // the burst itself always goes through
  EXPECT_FALSE(victim->closed());
  expectServing();
}

TEST_F(SignalServerTest, HalfOpenSocketThatNeverUpgradesIsCut) {
  SignalServerOptions o;
  o.handshakeTimeout = 500ms;
  startServer(o);
  RawWs silent;
  ASSERT_TRUE(silent.connectTcp(server_->port()));
  RawWs partial;
  ASSERT_TRUE(partial.connectTcp(server_->port()));
  partial.sendAll("GET /peerjs?key=peerjs&id=p&token=t HTTP/1.1\r\nHost: x\r\n");  // never ends
  expectServing();
  EXPECT_TRUE(silent.waitEof(3s));
  EXPECT_TRUE(partial.waitEof(3s));
  expectServing();
}

TEST_F(SignalServerTest, HalfOpenWebSocketIsDroppedByTheAliveTimeout) {
  SignalServerOptions o;
  o.aliveTimeout = 800ms;
  o.closeTimeout = 300ms;
  startServer(o);
  RawWs dead;
  ASSERT_TRUE(dead.open(server_->port(), "key=peerjs&id=dead&token=t"));
  // It never sends, never answers the close frame: the server cuts it after the close timeout.
  EXPECT_TRUE(iterateUntil([&] { return server_->clientCount() == 0; }, 3s));
  EXPECT_TRUE(dead.waitEof(3s));
  ASSERT_FALSE(dead.messages.empty());
  EXPECT_EQ(dead.messages[0], kOpen);
  EXPECT_EQ(dead.closeCode, 1000);
  EXPECT_TRUE(iterateUntil([&] { return server_->connectionCount() == 0; }, 3s));
  expectServing();
}

TEST_F(SignalServerTest, AClientThatDoesNotReadIsAFailedForward) {
  SignalServerOptions o;
  o.maxUnsentBytes = 64 * 1024;
  o.aliveTimeout = 60s;
  startServer(o);
  RawWs stuck;  // registers, then never reads
  ASSERT_TRUE(stuck.open(server_->port(), "key=peerjs&id=stuck&token=t", 4096));
  ASSERT_TRUE(iterateUntil([&] { return server_->clientCount() == 1; }, 2s));
  auto sender = client("sender");
  std::string payload(16000, 'p');
  std::optional<std::string> leave;
  for (int i = 0; i < 600 && !leave; ++i) {
    sender->send(R"({"type":"OFFER","dst":"stuck","payload":")" + payload + "\"}");
    if (i % 20 == 19) {
      for (auto& m : sender->collect(50ms))
        if (m == R"({"type":"LEAVE","src":"stuck","dst":"sender"})") leave = m;
    }
  }
  if (!leave) leave = sender->next(2s);
  EXPECT_EQ(leave.value_or(""), R"({"type":"LEAVE","src":"stuck","dst":"sender"})");
  EXPECT_FALSE(sender->closed());
  EXPECT_TRUE(iterateUntil([&] { return server_->clientCount() == 1; }, 3s));
  expectServing();
}

TEST_F(SignalServerTest, PingsFromAClientThatDoesNotReadAreBounded) {
  SignalServerOptions o;
  o.maxUnsentBytes = 16 * 1024;
  startServer(o);
  RawWs pinger;  // pings (each needs a pong) and never reads a byte
  ASSERT_TRUE(pinger.open(server_->port(), "key=peerjs&id=pinger&token=t", 4096));
  std::string ping;
  signaling::ws::appendMaskedFrame(ping, signaling::ws::Opcode::Ping, std::string(125, 'p'), 9);
  std::string burst;
  for (int i = 0; i < 1000; ++i) burst += ping;
  // Far more pong than any socket buffer holds; the server cuts the connection instead of
  // queueing it all (a send fails once it has).
  for (int i = 0; i < 100 && pinger.sendAll(burst); ++i) {
  }
  EXPECT_TRUE(iterateUntil([&] { return server_->connectionCount() == 0; }, 10s));
  EXPECT_TRUE(iterateUntil([&] { return server_->stats().closedByServer == 1; }, 3s));
  expectServing();
}

TEST_F(SignalServerTest, GarbageFramesCloseOnlyThatClient) {
  SignalServerOptions o;
  o.handshakeTimeout = 1s;  // for the client that never speaks HTTP
  startServer(o);
  RawWs unmasked;
  ASSERT_TRUE(unmasked.open(server_->port(), "key=peerjs&id=u&token=t"));
  std::string frame;
  signaling::ws::appendFrame(frame, signaling::ws::Opcode::Text, R"({"type":"HEARTBEAT"})");
  unmasked.sendAll(frame);  // clients must mask
  unmasked.pump(500ms);
  EXPECT_EQ(unmasked.closeCode, 1002);

  RawWs badUtf8;
  ASSERT_TRUE(badUtf8.open(server_->port(), "key=peerjs&id=v&token=t"));
  badUtf8.sendText("{\"type\":\"\xff\"}");
  badUtf8.pump(500ms);
  EXPECT_EQ(badUtf8.closeCode, 1007);

  RawWs noise;
  ASSERT_TRUE(noise.connectTcp(server_->port()));
  noise.sendAll(std::string(10000, '\x81'));  // not even HTTP, and no line end: libsoup waits
  EXPECT_TRUE(noise.waitEof(5s));
  RawWs moreNoise;
  ASSERT_TRUE(moreNoise.connectTcp(server_->port()));
  moreNoise.sendAll(std::string(300000, 'x'));  // over libsoup's header limit: cut at once
  EXPECT_TRUE(moreNoise.waitEof(5s));
  expectServing();
}

TEST_F(SignalServerTest, BinaryFramesAreReadAsText) {
  startServer();
  RawWs a;
  ASSERT_TRUE(a.open(server_->port(), "key=peerjs&id=a&token=t"));
  auto b = client("b");
  std::string frame;
  signaling::ws::appendMaskedFrame(frame, signaling::ws::Opcode::Binary,
                                   R"({"type":"OFFER","dst":"b"})", 7);
  a.sendAll(frame);
  EXPECT_EQ(b->next().value_or(""), R"({"type":"OFFER","src":"a","dst":"b"})");
}

}  // namespace
}  // namespace claynet::test
