// PeerJS signaling frames and DataConnection payloads (protocols.md §1–2), sans-IO.
#include <gtest/gtest.h>

#include <set>

#include "signaling/peerjs_message.hpp"

using nlohmann::json;
using namespace claynet;
using namespace claynet::signaling;

TEST(PeerJsMessage, ParsesEveryServerType) {
  struct Case {
    const char* text;
    ServerMessage::Type type;
  } cases[] = {
      {R"({"type":"OPEN"})", ServerMessage::Type::Open},
      {R"({"type":"HEARTBEAT"})", ServerMessage::Type::Heartbeat},
      {R"({"type":"ID-TAKEN","payload":{"msg":"ID is taken"}})", ServerMessage::Type::IdTaken},
      {R"({"type":"ERROR","payload":{"msg":"Invalid key provided"}})", ServerMessage::Type::Error},
      {R"({"type":"EXPIRE","src":"bob","dst":"alice"})", ServerMessage::Type::Expire},
      {R"({"type":"LEAVE","src":"bob","dst":"alice"})", ServerMessage::Type::Leave},
      {R"({"type":"OFFER","src":"b","dst":"a","payload":{}})", ServerMessage::Type::Offer},
      {R"({"type":"ANSWER","src":"b","dst":"a","payload":{}})", ServerMessage::Type::Answer},
      {R"({"type":"CANDIDATE","src":"b","dst":"a","payload":{}})", ServerMessage::Type::Candidate},
      // Clayground's extension: a full native host refuses at signaling.
      {R"({"type":"REJECT","src":"b","dst":"a","payload":{"reason":"Network full"}})",
       ServerMessage::Type::Reject},
      {R"({"type":"SOMETHING-NEW","payload":1})", ServerMessage::Type::Unknown},
  };
  for (const auto& c : cases) {
    ServerMessage m;
    ASSERT_TRUE(parseServerMessage(c.text, m)) << c.text;
    EXPECT_EQ(m.type, c.type) << c.text;
  }
  ServerMessage m;
  ASSERT_TRUE(parseServerMessage(R"({"type":"EXPIRE","src":"bob","dst":"alice"})", m));
  EXPECT_EQ(m.src, "bob");
  EXPECT_EQ(m.dst, "alice");
  EXPECT_TRUE(m.payload.is_null());
  ASSERT_TRUE(parseServerMessage(R"({"type":"SOMETHING-NEW"})", m));
  EXPECT_EQ(m.typeText, "SOMETHING-NEW");
  ASSERT_TRUE(
      parseServerMessage(R"({"type":"ERROR","payload":{"msg":"Invalid key provided"}})", m));
  EXPECT_EQ(errorText(m), "Invalid key provided");
  // Null src/dst are treated as absent.
  ASSERT_TRUE(parseServerMessage(R"({"type":"LEAVE","src":null})", m));
  EXPECT_EQ(m.src, "");
}

TEST(PeerJsMessage, RejectsMalformedFramesWithClearErrors) {
  struct Case {
    std::string text;
    const char* mentions;
  } cases[] = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {"[1,2]", "a JSON object"},
      {"\"OPEN\"", "a JSON object"},
      {R"({"payload":1})", "no \"type\""},
      {R"({"type":5})", "\"type\""},
      {R"({"type":"OFFER","src":5})", "\"src\""},
      {R"({"type":"OFFER","dst":[]})", "\"dst\""},
      {std::string(kMaxServerFrame + 1, ' '), "larger than the limit"},
  };
  for (const auto& c : cases) {
    ServerMessage m;
    Result r = parseServerMessage(c.text, m);
    ASSERT_FALSE(r) << c.text.substr(0, 40);
    EXPECT_NE(r.error().find(c.mentions), std::string::npos) << r.error();
  }
}

TEST(PeerJsMessage, NeverThrowsOnArbitraryBytes) {
  // Includes invalid UTF-8, deep nesting and control characters.
  std::vector<std::string> inputs = {
      std::string("\xff\xfe{\"type\":\"OPEN\"}"), std::string(10000, '[') + std::string(10000, ']'),
      std::string("{\"type\":\"\xc3\"}"), std::string("{\"type\":\"OPEN\"}\0garbage", 23)};
  for (const auto& in : inputs) {
    ServerMessage m;
    EXPECT_NO_THROW((void)parseServerMessage(in, m));
  }
}

TEST(PeerJsMessage, BuildsClientFrames) {
  EXPECT_EQ(buildHeartbeat(), R"({"type":"HEARTBEAT"})");
  EXPECT_EQ(buildLeave(), R"({"type":"LEAVE"})");
  EXPECT_EQ(json::parse(buildLeave("bob")), json::parse(R"({"type":"LEAVE","dst":"bob"})"));
  auto frame = json::parse(buildClientMessage("OFFER", "bob", json{{"x", 1}}));
  EXPECT_EQ(frame, json::parse(R"({"type":"OFFER","dst":"bob","payload":{"x":1}})"));
  // Invalid UTF-8 from the application does not make the builder throw.
  EXPECT_NO_THROW((void)buildClientMessage("OFFER", "b", json{{"m", std::string("\xff")}}));
}

TEST(PeerJsMessage, OfferPayloadHasPeerJs155Shape) {
  OfferPayload o;
  o.sdp = "v=0\r\n";
  o.connectionId = "dc_abc";
  o.reliable = true;
  o.serialization = Serialization::Json;
  json p = buildOfferPayload(o);
  EXPECT_EQ(p, json::parse(R"({"sdp":{"type":"offer","sdp":"v=0\r\n"},"type":"data",
      "connectionId":"dc_abc","label":"dc_abc","reliable":true,"serialization":"json"})"));
  EXPECT_FALSE(p.contains("metadata"));  // omitted when unset
  EXPECT_FALSE(p.contains("browser"));   // gone since PeerJS 1.5.0
  o.metadata = json{{"from", "alice"}};
  o.label = "interop";
  p = buildOfferPayload(o);
  EXPECT_EQ(p["metadata"], json({{"from", "alice"}}));
  EXPECT_EQ(p["label"], "interop");

  OfferPayload back;
  ASSERT_TRUE(parseOfferPayload(p, back));
  EXPECT_EQ(back.sdp, o.sdp);
  EXPECT_EQ(back.connectionId, "dc_abc");
  EXPECT_EQ(back.label, "interop");
  EXPECT_TRUE(back.reliable);
  EXPECT_EQ(back.serialization, Serialization::Json);
  ASSERT_TRUE(back.metadata);
  EXPECT_EQ(*back.metadata, o.metadata);
}

TEST(PeerJsMessage, ParsesABrowserOffer) {
  // As PeerJS 1.5.5 in Chromium sends it (metadata present, label defaulting to the id).
  auto p = json::parse(R"({"sdp":{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"},
      "type":"data","connectionId":"dc_q8x1","metadata":{"from":"web"},"label":"dc_q8x1",
      "reliable":false,"serialization":"binary"})");
  OfferPayload o;
  ASSERT_TRUE(parseOfferPayload(p, o));
  EXPECT_EQ(o.serialization, Serialization::Binary);
  EXPECT_FALSE(o.reliable);
  EXPECT_EQ(o.label, "dc_q8x1");
  // Defaults for missing optional fields.
  auto minimal = json::parse(R"({"sdp":{"type":"offer","sdp":"v=0"},"connectionId":"dc_1"})");
  ASSERT_TRUE(parseOfferPayload(minimal, o));
  EXPECT_EQ(o.label, "dc_1");
  EXPECT_FALSE(o.reliable);
  EXPECT_EQ(o.serialization, Serialization::Binary);
  EXPECT_FALSE(o.metadata);
}

TEST(PeerJsMessage, RejectsBadOffers) {
  struct Case {
    const char* payload;
    const char* mentions;
  } cases[] = {
      {R"(5)", "payload"},
      {R"({"sdp":{"type":"offer","sdp":"v=0"}})", "connectionId is missing"},
      {R"({"sdp":"v=0","connectionId":"dc_1"})", "payload.sdp"},
      {R"({"connectionId":"dc_1"})", "payload.sdp is missing"},
      {R"({"sdp":{"type":"answer","sdp":"v=0"},"connectionId":"dc_1"})", "expected \"offer\""},
      {R"({"sdp":{"type":"offer","sdp":"v=0"},"connectionId":"dc_1","type":"media"})", "media"},
      {R"({"sdp":{"type":"offer","sdp":"v=0"},"connectionId":"dc_1","serialization":"MsgPack"})",
       "unknown serialization \"MsgPack\""},
      {R"({"sdp":{"type":"offer","sdp":"v=0"},"connectionId":"dc_1","reliable":"yes"})",
       "reliable"},
      {R"({"sdp":{"type":"offer","sdp":"v=0"},"connectionId":7})", "connectionId"},
  };
  for (const auto& c : cases) {
    OfferPayload o;
    Result r = parseOfferPayload(json::parse(c.payload), o);
    ASSERT_FALSE(r) << c.payload;
    EXPECT_NE(r.error().find(c.mentions), std::string::npos) << r.error();
  }
}

TEST(PeerJsMessage, AnswerAndCandidatePayloads) {
  json a = buildAnswerPayload({"v=0\r\n", "dc_x"});
  EXPECT_EQ(a, json::parse(R"({"sdp":{"type":"answer","sdp":"v=0\r\n"},"type":"data",
      "connectionId":"dc_x"})"));
  AnswerPayload ab;
  ASSERT_TRUE(parseAnswerPayload(a, ab));
  EXPECT_EQ(ab.sdp, "v=0\r\n");
  EXPECT_EQ(ab.connectionId, "dc_x");

  CandidatePayload c;
  c.candidate = {"candidate:1 1 udp 2122260223 10.99.0.1 40000 typ host", "0", 0};
  c.usernameFragment = "abcd";
  c.connectionId = "dc_x";
  json cj = buildCandidatePayload(c);
  EXPECT_EQ(
      cj, json::parse(
              R"({"candidate":{"candidate":"candidate:1 1 udp 2122260223 10.99.0.1 40000 typ host",
      "sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"},"type":"data","connectionId":"dc_x"})"));
  CandidatePayload cb;
  ASSERT_TRUE(parseCandidatePayload(cj, cb));
  EXPECT_EQ(cb.candidate.candidate, c.candidate.candidate);
  EXPECT_EQ(cb.candidate.mid, "0");
  EXPECT_EQ(cb.candidate.mLineIndex, 0);
  EXPECT_EQ(cb.usernameFragment, "abcd");
  c.usernameFragment.reset();
  EXPECT_TRUE(buildCandidatePayload(c)["candidate"]["usernameFragment"].is_null());

  // A browser's candidate with null mid/index still parses.
  auto browser = json::parse(R"({"candidate":{"candidate":"candidate:2 1 udp 1 x.local 5 typ host",
      "sdpMid":null,"sdpMLineIndex":null,"usernameFragment":null},"type":"data","connectionId":"dc_y"})");
  ASSERT_TRUE(parseCandidatePayload(browser, cb));
  EXPECT_EQ(cb.candidate.mid, "0");
  EXPECT_FALSE(cb.usernameFragment);

  EXPECT_FALSE(parseCandidatePayload(json::parse(R"({"connectionId":"dc"})"), cb));
  EXPECT_FALSE(parseCandidatePayload(json::parse(R"({"connectionId":"dc","candidate":"x"})"), cb));
  Result r = parseCandidatePayload(
      json::parse(R"({"connectionId":"dc","candidate":{"candidate":"c","sdpMLineIndex":-1}})"), cb);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("sdpMLineIndex"), std::string::npos);
  EXPECT_EQ(payloadConnectionId(cj), "dc_x");
  EXPECT_EQ(payloadConnectionId(json(5)), "");
}

TEST(PeerJsMessage, SocketAndIdUrls) {
  EXPECT_EQ(buildSocketUrl(false, "127.0.0.1", 9000, "/", "peerjs", "alice", "tok"),
            "ws://127.0.0.1:9000/peerjs?key=peerjs&id=alice&token=tok&version=1.5.5");
  EXPECT_EQ(buildSocketUrl(true, "0.peerjs.com", 443, "myapp", "k", "a b", "t&=?"),
            "wss://0.peerjs.com:443/myapp/peerjs?key=k&id=a%20b&token=t%26%3D%3F&version=1.5.5");
  EXPECT_EQ(buildSocketUrl(false, "::1", 9000, "/x/", "peerjs", "a", "t"),
            "ws://[::1]:9000/x/peerjs?key=peerjs&id=a&token=t&version=1.5.5");
  EXPECT_EQ(buildIdUrl(false, "h", 1, "/", "peerjs", "123"),
            "http://h:1/peerjs/id?ts=123&version=1.5.5");
  EXPECT_EQ(normalizePath(""), "/");
  EXPECT_EQ(normalizePath("a/b"), "/a/b/");
  EXPECT_EQ(normalizePath("/a/"), "/a/");
  EXPECT_EQ(queryEscape("Az09-._~ /ü"), "Az09-._~%20%2F%C3%BC");
}

TEST(PeerJsMessage, PeerIdRule) {
  for (const char* ok : {"a", "alice", "A1", "a-b", "a_b", "a b", "a-b_c d9", "ABCDEF"})
    EXPECT_TRUE(isValidPeerId(ok)) << ok;
  for (const char* bad : {"", "-a", "a-", "a--b", "a b ", " a", "a.b", "ü", "a\nb", "a__b"})
    EXPECT_FALSE(isValidPeerId(bad)) << bad;
}

TEST(PeerJsMessage, TokensAndConnectionIds) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string t = randomToken();
    EXPECT_EQ(t.size(), 11u);
    for (char c : t) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) << t;
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 200u);
  std::string id = newConnectionId();
  EXPECT_EQ(id.rfind("dc_", 0), 0u);
  EXPECT_GT(id.size(), 3u);
  EXPECT_EQ(randomToken(3).size(), 3u);
}

TEST(PeerJsMessage, IceUfragFromSdp) {
  EXPECT_EQ(iceUfragOf("v=0\r\na=ice-ufrag:AbCd\r\na=ice-pwd:x\r\n"), "AbCd");
  EXPECT_EQ(iceUfragOf("v=0\na=ice-ufrag:Q\n"), "Q");
  EXPECT_EQ(iceUfragOf("v=0\r\n"), "");
}

// Issue 12, finding 1: an OFFER whose metadata nests 300 000 arrays (600 KB, inside the 1 MiB
// frame limit) parsed fine and then overflowed the stack wherever the value was copied (the OFFER
// payload, a held CANDIDATE). It must be refused while parsing, with the reason.
TEST(PeerJsMessage, DeeplyNestedFrameIsRefusedWhileParsing) {
  constexpr int kDepth = 300000;
  std::string frame = R"({"type":"OFFER","src":"evil","dst":"host","payload":{"type":"data",)"
                      R"("connectionId":"dc_1","sdp":{"type":"offer","sdp":"v=0"},"metadata":)";
  frame += std::string(kDepth, '[') + std::string(kDepth, ']') + "}}";
  ASSERT_LT(frame.size(), kMaxServerFrame);
  ServerMessage m;
  Result r = parseServerMessage(frame, m);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("nests deeper than 512"), std::string::npos) << r.error();
  // What is refused never reaches the code that copies payloads.
  OfferPayload offer;
  EXPECT_FALSE(parseOfferPayload(m.payload, offer));

  // 512 levels are still accepted and can be copied and written back.
  std::string ok = R"({"type":"CANDIDATE","src":"a","payload":)" + std::string(511, '[') +
                   std::string(511, ']') + "}";
  ASSERT_TRUE(parseServerMessage(ok, m)) << parseServerMessage(ok, m).error();
  json copy = m.payload;
  EXPECT_EQ(copy.dump().size(), 1022u);
}
