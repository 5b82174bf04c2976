// claynet's PeerJS client against the real npm `peer` 1.0.2 server on loopback: registration,
// HEARTBEAT against alive_timeout, ID-TAKEN, invalid key, EXPIRE, LEAVE, connect failures, wss,
// and reconnection after the server restarts.
#include <gtest/gtest.h>

#include <cstdlib>

#include "claynet/peer_connection.hpp"
#include "claynet/peerjs.hpp"
#include "claynet/peerjs_signaling.hpp"
#include "peerjs_test_util.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using namespace claynet;
using namespace claynet::test;

namespace {

struct SignalingEvents {
  std::vector<std::string> opened;
  std::vector<PeerJsError> errors;
  std::vector<std::string> disconnects;
  std::vector<std::tuple<std::string, std::string, json>> messages;

  void attach(PeerJsSignaling& s) {
    s.onOpen([this](const std::string& id) { opened.push_back(id); });
    s.onError([this](const PeerJsError& e) { errors.push_back(e); });
    s.onDisconnected([this](const std::string& r) { disconnects.push_back(r); });
    s.onMessage([this](const std::string& type, const std::string& src, const json& payload) {
      messages.emplace_back(type, src, payload);
    });
  }
  std::string errorText() const {
    std::string out;
    for (const auto& e : errors) out += e.text() + "\n";
    return out;
  }
};

PeerJsSignalingOptions signalingOptions(uint16_t port, std::string id, std::string token = {}) {
  PeerJsSignalingOptions o;
  o.server = localServer(port);
  o.id = std::move(id);
  o.token = std::move(token);
  o.reconnectDelayMin = 100ms;
  o.reconnectDelayMax = 1000ms;
  return o;
}

// 8-4-4-4-12 lower-case hex digits.
bool looksLikeUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    char c = s[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

class PeerJsClient : public ::testing::Test {
 protected:
  void startServer(std::vector<std::string> extra = {}) {
    port_ = freePort();
    std::string error;
    ASSERT_TRUE(server_.start(port_, std::move(extra), &error)) << error;
  }
  NpmPeerServer server_;
  uint16_t port_ = 0;
  Runtime rt_;
};

}  // namespace

TEST_F(PeerJsClient, RegistersAndGetsOpen) {
  startServer();
  PeerJsSignaling s(rt_);
  SignalingEvents ev;
  ev.attach(s);
  ASSERT_TRUE(s.open(signalingOptions(port_, "alice")));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.opened.empty() || !ev.errors.empty(); }))
      << server_.output();
  ASSERT_EQ(ev.opened, std::vector<std::string>{"alice"}) << ev.errorText();
  EXPECT_TRUE(s.isOpen());
  EXPECT_EQ(s.id(), "alice");
  EXPECT_EQ(s.token().size(), 11u);  // a random base-36 token
  EXPECT_TRUE(pumpUntil(
      rt_, [&] { return server_.output().find("Client connected: alice") != std::string::npos; },
      5000ms))
      << server_.output();
  EXPECT_FALSE(s.open(signalingOptions(port_, "alice")));  // only once
}

TEST_F(PeerJsClient, OptionsAreCheckedBeforeAnythingIsSent) {
  PeerJsSignaling s(rt_);
  Result r = s.open(signalingOptions(1, "not valid!"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().rfind("invalid-id: ID \"not valid!\" is invalid", 0), 0u) << r.error();
  PeerJsSignalingOptions o = signalingOptions(1, "a");
  o.server.host.clear();
  EXPECT_FALSE(s.open(o));
  o = signalingOptions(1, "a");
  o.server.key.clear();
  EXPECT_FALSE(s.open(o));
  EXPECT_FALSE(s.send("OFFER", "x", json::object()));  // not open
}

TEST_F(PeerJsClient, FetchesAnIdFromTheServerWhenNoneIsGiven) {
  startServer();
  auto peer = PeerJsPeer::create(rt_, localPeer(port_, ""));
  PeerEvents ev;
  ev.attach(*peer);
  ASSERT_TRUE(peer->open());
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.opened.empty() || !ev.errors.empty(); }));
  ASSERT_EQ(ev.opened.size(), 1u) << ev.errorText();
  // npm peer hands out UUIDs.
  EXPECT_TRUE(looksLikeUuid(ev.opened[0])) << ev.opened[0];
  EXPECT_EQ(peer->id(), ev.opened[0]);
  EXPECT_TRUE(peer->isOpen());
}

TEST_F(PeerJsClient, IdFetchFailureIsAClearServerError) {
  startServer({"--path", "/myapp"});
  auto peer = PeerJsPeer::create(rt_, localPeer(port_, ""));  // path "/" is wrong here
  PeerEvents ev;
  ev.attach(*peer);
  ASSERT_TRUE(peer->open());
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.errors.empty(); }));
  EXPECT_EQ(ev.errors[0].type, PeerJsErrorType::ServerError);
  EXPECT_NE(ev.errors[0].message.find("could not get an ID from the server"), std::string::npos)
      << ev.errors[0].message;
  EXPECT_NE(ev.errors[0].message.find("HTTP 404"), std::string::npos) << ev.errors[0].message;

  // With the right path, both the id request and the WebSocket work.
  auto right = localPeer(port_, "");
  right.server.path = "myapp";
  auto ok = PeerJsPeer::create(rt_, right);
  PeerEvents okEv;
  okEv.attach(*ok);
  ASSERT_TRUE(ok->open());
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !okEv.opened.empty() || !okEv.errors.empty(); }));
  EXPECT_EQ(okEv.opened.size(), 1u) << okEv.errorText();
}

TEST_F(PeerJsClient, HeartbeatKeepsTheClientAlivePastAliveTimeout) {
  startServer({"--alive_timeout", "3000"});
  // One that beats every second, and a silent one as the control: the server must drop that one,
  // or this test would prove nothing.
  PeerJsSignaling beating(rt_), silent(rt_), other(rt_);
  SignalingEvents beatEv, silentEv, otherEv;
  beatEv.attach(beating);
  silentEv.attach(silent);
  otherEv.attach(other);
  auto beatOpts = signalingOptions(port_, "beating");
  beatOpts.heartbeatInterval = 1000ms;
  auto silentOpts = signalingOptions(port_, "silent");
  silentOpts.heartbeatInterval = 600000ms;
  silentOpts.reconnect = false;
  auto otherOpts = signalingOptions(port_, "other");
  otherOpts.heartbeatInterval = 1000ms;
  ASSERT_TRUE(beating.open(beatOpts));
  ASSERT_TRUE(silent.open(silentOpts));
  ASSERT_TRUE(other.open(otherOpts));
  ASSERT_TRUE(pumpUntil(rt_,
                        [&] {
                          return !beatEv.opened.empty() && !silentEv.opened.empty() &&
                                 !otherEv.opened.empty();
                        }))
      << beatEv.errorText() << silentEv.errorText() << otherEv.errorText();

  pumpFor(rt_, 8000ms);  // well past 3000 ms
  EXPECT_FALSE(silentEv.disconnects.empty()) << "the server did not drop the silent client";
  EXPECT_TRUE(beatEv.disconnects.empty()) << beatEv.disconnects.front();
  EXPECT_TRUE(beating.isOpen());

  // Still registered: a frame reaches it through the server.
  ASSERT_TRUE(other.send("OFFER", "beating", json{{"connectionId", "dc_test"}}));
  ASSERT_TRUE(pumpUntil(
      rt_, [&] { return !beatEv.messages.empty(); }, 5000ms));
  EXPECT_EQ(std::get<0>(beatEv.messages[0]), "OFFER");
  EXPECT_EQ(std::get<1>(beatEv.messages[0]), "other");
  EXPECT_EQ(std::get<2>(beatEv.messages[0])["connectionId"], "dc_test");
}

TEST_F(PeerJsClient, IdTakenByAnotherTokenIsUnavailableId) {
  startServer();
  PeerJsSignaling first(rt_), second(rt_), same(rt_);
  SignalingEvents e1, e2, e3;
  e1.attach(first);
  e2.attach(second);
  e3.attach(same);
  ASSERT_TRUE(first.open(signalingOptions(port_, "taken", "tokenA")));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !e1.opened.empty(); })) << e1.errorText();
  ASSERT_TRUE(second.open(signalingOptions(port_, "taken", "tokenB")));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !e2.errors.empty(); }));
  EXPECT_EQ(e2.errors[0].type, PeerJsErrorType::UnavailableId);
  EXPECT_EQ(e2.errors[0].text(), "unavailable-id: ID \"taken\" is taken");
  EXPECT_TRUE(e2.opened.empty());
  EXPECT_EQ(second.state(), PeerJsSignalingState::Closed);  // fatal: no retrying
  pumpFor(rt_, 500ms);
  EXPECT_EQ(e2.errors.size(), 1u) << e2.errorText();
  EXPECT_TRUE(first.isOpen());

  // The same token takes the id over; the npm server sends no OPEN then, and claynet still
  // reports the registration.
  ASSERT_TRUE(same.open(signalingOptions(port_, "taken", "tokenA")));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !e3.opened.empty() || !e3.errors.empty(); }));
  EXPECT_EQ(e3.opened, std::vector<std::string>{"taken"}) << e3.errorText();
}

TEST_F(PeerJsClient, WrongKeyIsInvalidKey) {
  startServer({"--key", "secret"});
  PeerJsSignaling s(rt_);
  SignalingEvents ev;
  ev.attach(s);
  auto o = signalingOptions(port_, "alice");
  o.server.key = "wrong";
  ASSERT_TRUE(s.open(o));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.errors.empty(); }));
  EXPECT_EQ(ev.errors[0].type, PeerJsErrorType::InvalidKey);
  EXPECT_EQ(ev.errors[0].text().rfind("invalid-key: API KEY \"wrong\" is invalid", 0), 0u)
      << ev.errors[0].text();
  EXPECT_EQ(s.state(), PeerJsSignalingState::Closed);

  PeerJsSignaling good(rt_);
  SignalingEvents goodEv;
  goodEv.attach(good);
  o.server.key = "secret";
  ASSERT_TRUE(good.open(o));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !goodEv.opened.empty() || !goodEv.errors.empty(); }));
  EXPECT_EQ(goodEv.opened.size(), 1u) << goodEv.errorText();
}

TEST_F(PeerJsClient, NoServerIsANetworkErrorWithTheReason) {
  uint16_t port = freePort();  // nothing listens there
  PeerJsSignaling s(rt_);
  SignalingEvents ev;
  ev.attach(s);
  auto o = signalingOptions(port, "alice");
  o.reconnect = false;
  ASSERT_TRUE(s.open(o));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.errors.empty(); }));
  EXPECT_EQ(ev.errors[0].type, PeerJsErrorType::Network);
  std::string text = ev.errors[0].text();
  EXPECT_EQ(text.rfind("network: could not connect to ws://127.0.0.1:" + std::to_string(port) +
                           "/peerjs?key=peerjs&id=alice",
                       0),
            0u)
      << text;
  EXPECT_NE(text.find("refused"), std::string::npos) << text;
  EXPECT_EQ(s.state(), PeerJsSignalingState::Closed);
}

TEST_F(PeerJsClient, ConnectsOnceTheServerComesUp) {
  // With reconnection on, a server that is not there yet is retried, and the first failure is
  // reported once.
  uint16_t port = freePort();
  PeerJsSignaling s(rt_);
  SignalingEvents ev;
  ev.attach(s);
  ASSERT_TRUE(s.open(signalingOptions(port, "early")));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.errors.empty(); }));
  EXPECT_EQ(ev.errors[0].type, PeerJsErrorType::Network);
  std::string error;
  ASSERT_TRUE(server_.start(port, {}, &error)) << error;
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.opened.empty(); })) << ev.errorText();
  EXPECT_EQ(ev.errors.size(), 1u) << ev.errorText();
}

TEST_F(PeerJsClient, ExpireForAnUnknownPeerFailsThePendingConnection) {
  startServer({"--expire_timeout", "1000"});
  auto alice = PeerJsPeer::create(rt_, localPeer(port_, "alice"));
  PeerEvents ev;
  ev.attach(*alice);
  ASSERT_TRUE(alice->open());
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.opened.empty(); })) << ev.errorText();
  auto conn = alice->connect("nobody");
  ASSERT_TRUE(conn);
  ConnEvents cev;
  cev.attach(*conn);
  ASSERT_TRUE(pumpUntil(
      rt_, [&] { return cev.closed; }, 20000ms))
      << ev.errorText();
  ASSERT_TRUE(ev.hasError(PeerJsErrorType::PeerUnavailable)) << ev.errorText();
  EXPECT_NE(ev.errorText().find("peer-unavailable: could not connect to peer nobody"),
            std::string::npos)
      << ev.errorText();
  ASSERT_FALSE(cev.errors.empty());
  EXPECT_EQ(cev.errors[0].type, PeerJsErrorType::PeerUnavailable);
  // Which peer it was: a Mesh joiner tells its host from another node by it.
  EXPECT_EQ(cev.errors[0].peer, "nobody");
  for (const auto& e : ev.errors) {
    if (e.type == PeerJsErrorType::PeerUnavailable) {
      EXPECT_EQ(e.peer, "nobody");
    }
  }
  EXPECT_FALSE(cev.opened);
  EXPECT_TRUE(alice->connections().empty());
  EXPECT_TRUE(alice->isOpen());  // the peer itself is fine
}

TEST_F(PeerJsClient, LeaveFromAPeerClosesItsConnections) {
  startServer();
  // bob is a full PeerJsPeer. "mallory" drives the protocol by hand with a bare PeerConnection,
  // so that its LEAVE is the only thing that can close bob's side (its peer connection stays up).
  auto bob = PeerJsPeer::create(rt_, localPeer(port_, "bob"));
  PeerEvents bobEv;
  bobEv.attach(*bob);
  ASSERT_TRUE(bob->open());
  PeerJsSignaling mallory(rt_);
  SignalingEvents mEv;
  mEv.attach(mallory);
  ASSERT_TRUE(mallory.open(signalingOptions(port_, "mallory")));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !bobEv.opened.empty() && !mEv.opened.empty(); }));

  Configuration cfg;
  cfg.localAddresses = {"127.0.0.1"};
  PeerConnection pc(rt_, cfg);
  const std::string cid = "dc_leavetest";
  pc.onLocalDescription([&](const Description& d) {
    json payload = {{"sdp", {{"type", "offer"}, {"sdp", d.sdp}}},
                    {"type", "data"},
                    {"connectionId", cid},
                    {"label", cid},
                    {"reliable", true},
                    {"serialization", "binary"}};
    EXPECT_TRUE(mallory.send("OFFER", "bob", payload));
  });
  pc.onLocalCandidate([&](const Candidate& c) {
    json payload = {
        {"candidate",
         {{"candidate", c.candidate}, {"sdpMid", c.mid}, {"sdpMLineIndex", c.mLineIndex}}},
        {"type", "data"},
        {"connectionId", cid}};
    EXPECT_TRUE(mallory.send("CANDIDATE", "bob", payload));
  });
  auto channel = pc.createDataChannel(cid);
  ASSERT_TRUE(channel);
  ASSERT_TRUE(pc.createOffer());
  // Feed bob's ANSWER and CANDIDATEs back; the answer must come first.
  bool sawCandidateBeforeAnswer = false, haveAnswer = false;
  std::size_t handled = 0;
  ConnEvents bobConn;
  auto step = [&] {
    for (; handled < mEv.messages.size(); ++handled) {
      auto& [type, src, payload] = mEv.messages[handled];
      if (type == "ANSWER") {
        haveAnswer = true;
        EXPECT_TRUE(
            pc.setRemoteDescription({SdpType::Answer, payload["sdp"]["sdp"].get<std::string>()}));
      } else if (type == "CANDIDATE") {
        if (!haveAnswer) sawCandidateBeforeAnswer = true;
        EXPECT_TRUE(pc.addRemoteCandidate({payload["candidate"]["candidate"].get<std::string>(),
                                           payload["candidate"]["sdpMid"].get<std::string>(), 0}));
      }
    }
    return bobConn.opened;
  };
  bob->onConnection([&](std::shared_ptr<PeerJsConnection> c) {
    bobEv.incoming.push_back(c);
    bobConn.attach(*c);
  });
  ASSERT_TRUE(pumpUntil(rt_, step)) << bobEv.errorText();
  EXPECT_FALSE(sawCandidateBeforeAnswer);
  ASSERT_EQ(bobEv.incoming.size(), 1u);
  EXPECT_EQ(bobEv.incoming[0]->peer(), "mallory");
  EXPECT_EQ(bobEv.incoming[0]->connectionId(), cid);
  EXPECT_TRUE(bobEv.incoming[0]->reliable());

  pumpFor(rt_, 300ms);
  EXPECT_FALSE(bobConn.closed);
  ASSERT_TRUE(mallory.send("LEAVE", "bob", nullptr));
  ASSERT_TRUE(pumpUntil(
      rt_, [&] { return bobConn.closed; }, 10000ms));
  EXPECT_TRUE(bob->connections().empty());
  EXPECT_TRUE(bobConn.errors.empty());
  // mallory's own connection saw bob close the channel.
  ASSERT_TRUE(pumpUntil(
      rt_, [&] { return !channel->isOpen(); }, 10000ms));
}

TEST_F(PeerJsClient, CandidatesBeforeTheOfferAreHeld) {
  // A CANDIDATE that arrives before its OFFER (the server queues and forwards in order, so send
  // it first on purpose) is kept and applied when the OFFER comes; the connection then opens.
  startServer();
  auto bob = PeerJsPeer::create(rt_, localPeer(port_, "bob"));
  PeerEvents bobEv;
  ConnEvents bobConn;
  bobEv.attach(*bob);
  bob->onConnection([&](std::shared_ptr<PeerJsConnection> c) {
    bobEv.incoming.push_back(c);
    bobConn.attach(*c);
  });
  ASSERT_TRUE(bob->open());
  PeerJsSignaling eve(rt_);
  SignalingEvents eEv;
  eEv.attach(eve);
  ASSERT_TRUE(eve.open(signalingOptions(port_, "eve")));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !bobEv.opened.empty() && !eEv.opened.empty(); }));

  Configuration cfg;
  cfg.localAddresses = {"127.0.0.1"};
  PeerConnection pc(rt_, cfg);
  const std::string cid = "dc_early";
  std::optional<Description> offer;
  std::vector<Candidate> candidates;
  pc.onLocalDescription([&](const Description& d) { offer = d; });
  pc.onLocalCandidate([&](const Candidate& c) { candidates.push_back(c); });
  auto channel = pc.createDataChannel(cid);
  ASSERT_TRUE(pc.createOffer());
  ASSERT_TRUE(pumpUntil(rt_, [&] {
    return offer && !candidates.empty() && pc.gatheringState() == GatheringState::Complete;
  }));
  // Trickled: the offer itself carries no candidate, so bob only has the held ones.
  ASSERT_EQ(offer->sdp.find("a=candidate"), std::string::npos);
  for (const auto& c : candidates)
    ASSERT_TRUE(eve.send(
        "CANDIDATE", "bob",
        json{{"candidate",
              {{"candidate", c.candidate}, {"sdpMid", c.mid}, {"sdpMLineIndex", c.mLineIndex}}},
             {"type", "data"},
             {"connectionId", cid}}));
  pumpFor(rt_, 300ms);  // they reach bob before the offer exists
  ASSERT_TRUE(eve.send("OFFER", "bob",
                       json{{"sdp", {{"type", "offer"}, {"sdp", offer->sdp}}},
                            {"type", "data"},
                            {"connectionId", cid},
                            {"serialization", "raw"},
                            {"reliable", true}}));
  std::size_t handled = 0;
  ASSERT_TRUE(pumpUntil(rt_, [&] {
    for (; handled < eEv.messages.size(); ++handled) {
      auto& [type, src, payload] = eEv.messages[handled];
      // Only the ANSWER is fed back: bob can only connect through the held candidates (or
      // peer-reflexive discovery from eve's checks, which need bob's candidates; eve gets none).
      if (type == "ANSWER") {
        EXPECT_TRUE(
            pc.setRemoteDescription({SdpType::Answer, payload["sdp"]["sdp"].get<std::string>()}));
      }
    }
    return bobConn.opened;
  })) << bobEv.errorText();
  EXPECT_EQ(bobEv.incoming[0]->serialization(), Serialization::Raw);
  ASSERT_TRUE(pumpUntil(rt_, [&] { return channel->isOpen(); }));
  ASSERT_TRUE(channel->send("hi"));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !bobConn.data.empty(); }));
  EXPECT_EQ(bobConn.data[0], "hi");
}

TEST_F(PeerJsClient, ReconnectsAfterTheServerRestartsAndConnectionsKeepWorking) {
  startServer();
  auto alice = PeerJsPeer::create(rt_, localPeer(port_, "alice"));
  auto bob = PeerJsPeer::create(rt_, localPeer(port_, "bob"));
  PeerEvents aEv, bEv;
  aEv.attach(*alice);
  bEv.attach(*bob);
  ConnEvents bobSide;
  bob->onConnection([&](std::shared_ptr<PeerJsConnection> c) {
    bEv.incoming.push_back(c);
    bobSide.attach(*c);
  });
  ASSERT_TRUE(alice->open());
  ASSERT_TRUE(bob->open());
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !aEv.opened.empty() && !bEv.opened.empty(); }));
  PeerJsConnectOptions co;
  co.reliable = true;
  auto conn = alice->connect("bob", co);
  ASSERT_TRUE(conn);
  ConnEvents aliceSide;
  aliceSide.attach(*conn);
  ASSERT_TRUE(pumpUntil(rt_, [&] { return aliceSide.opened && bobSide.opened; }))
      << aEv.errorText() << bEv.errorText();

  server_.kill();
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !aEv.disconnects.empty() && !bEv.disconnects.empty(); }));
  EXPECT_FALSE(alice->isOpen());
  // The established connection does not care.
  ASSERT_TRUE(conn->send("while the server is down"));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !bobSide.data.empty(); }));
  EXPECT_EQ(bobSide.data[0], "while the server is down");
  pumpFor(rt_, 1500ms);  // several failed attempts
  EXPECT_TRUE(aliceSide.opened && !aliceSide.closed);

  std::string error;
  ASSERT_TRUE(server_.start(port_, {}, &error)) << error;
  ASSERT_TRUE(pumpUntil(rt_, [&] { return aEv.opened.size() == 2 && bEv.opened.size() == 2; }))
      << aEv.errorText() << bEv.errorText();
  EXPECT_EQ(aEv.opened[1], "alice");
  EXPECT_TRUE(alice->isOpen());
  ASSERT_TRUE(bobSide.closed == false);
  ASSERT_TRUE(bEv.incoming[0]->send(json{{"after", "restart"}}));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !aliceSide.data.empty(); }));
  EXPECT_EQ(aliceSide.data[0], json({{"after", "restart"}}));

  // Registration works again: a new connection forms through the restarted server.
  auto second = bob->connect("alice");
  ASSERT_TRUE(second);
  ConnEvents secondEv;
  secondEv.attach(*second);
  ASSERT_TRUE(pumpUntil(rt_, [&] { return secondEv.opened; })) << bEv.errorText();
}

namespace {

// A self-signed certificate for 127.0.0.1 / localhost, made with the openssl command.
bool makeCertificate(const std::string& dir) {
  std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-keyout " +
      dir + "/key.pem -out " + dir +
      "/cert.pem -days 2 "
      "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost "
      ">/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

TEST_F(PeerJsClient, WssVerifiesTheCertificate) {
  char tmpl[] = "/tmp/claynet-peerjs-tls-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(makeCertificate(dir));
  startServer({"--sslkey", dir + "/key.pem", "--sslcert", dir + "/cert.pem"});

  auto secure = [&](const std::string& id) {
    auto o = signalingOptions(port_, id);
    o.server.secure = true;
    o.reconnect = false;
    return o;
  };
  {  // Not trusted by the system: refused, with the reason.
    PeerJsSignaling s(rt_);
    SignalingEvents ev;
    ev.attach(s);
    ASSERT_TRUE(s.open(secure("untrusted")));
    ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.errors.empty() || !ev.opened.empty(); }));
    ASSERT_FALSE(ev.errors.empty());
    EXPECT_EQ(ev.errors[0].type, PeerJsErrorType::Network);
    EXPECT_NE(ev.errors[0].message.find("not signed by a trusted CA"), std::string::npos)
        << ev.errors[0].message;
    EXPECT_TRUE(ev.opened.empty());
  }
  {  // Trusted through the CA file.
    PeerJsSignaling s(rt_);
    SignalingEvents ev;
    ev.attach(s);
    auto o = secure("trusted");
    o.server.caFile = dir + "/cert.pem";
    ASSERT_TRUE(s.open(o));
    ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.errors.empty() || !ev.opened.empty(); }));
    EXPECT_EQ(ev.opened, std::vector<std::string>{"trusted"}) << ev.errorText();
  }
  {  // The CA file does not help when the name does not match.
    PeerJsSignaling s(rt_);
    SignalingEvents ev;
    ev.attach(s);
    auto o = secure("misnamed");
    o.server.caFile = dir + "/cert.pem";
    o.server.host = "127.0.0.2";  // a loopback address the certificate does not name
    ASSERT_TRUE(s.open(o));
    ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.errors.empty() || !ev.opened.empty(); }));
    ASSERT_FALSE(ev.errors.empty()) << "connected to a host the certificate does not name";
    EXPECT_TRUE(ev.opened.empty());
  }
  {  // Verification off: accepted. Also the HTTPS id request.
    auto o = localPeer(port_, "");
    o.server.secure = true;
    o.server.verifyCertificate = false;
    auto peer = PeerJsPeer::create(rt_, o);
    PeerEvents ev;
    ev.attach(*peer);
    ASSERT_TRUE(peer->open());
    ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.errors.empty() || !ev.opened.empty(); }));
    EXPECT_EQ(ev.opened.size(), 1u) << ev.errorText();
  }
  std::system(("rm -rf " + dir).c_str());
}

TEST_F(PeerJsClient, DestroyAndDisconnect) {
  startServer();
  auto alice = PeerJsPeer::create(rt_, localPeer(port_, "alice"));
  PeerEvents ev;
  ev.attach(*alice);
  ASSERT_TRUE(alice->open());
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.opened.empty(); }));
  alice->disconnect();
  ASSERT_TRUE(pumpUntil(rt_, [&] { return !ev.disconnects.empty(); }));
  EXPECT_TRUE(alice->isDisconnected());
  std::shared_ptr<PeerJsConnection> c;
  Result r = alice->connect("bob", {}, c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().rfind("disconnected:", 0), 0u) << r.error();
  // The server let the id go; reconnect() takes it again.
  ASSERT_TRUE(pumpUntil(rt_, [&] {
    return server_.output().find("Client disconnected: alice") != std::string::npos;
  }));
  ASSERT_TRUE(alice->reconnect());
  ASSERT_TRUE(pumpUntil(rt_, [&] { return ev.opened.size() == 2; })) << ev.errorText();
  EXPECT_TRUE(alice->isOpen());
  alice->destroy();
  ASSERT_TRUE(pumpUntil(rt_, [&] { return ev.closed; }));
  EXPECT_TRUE(alice->isDestroyed());
  EXPECT_FALSE(alice->open());
  EXPECT_FALSE(alice->reconnect());
}
