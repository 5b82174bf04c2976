// claynet::Network's sans-IO helpers: signaling URLs, iceServers, ids, candidates, round trips,
// envelopes as parsed values.
#include <gtest/gtest.h>

#include <set>

#include "network/envelope.hpp"
#include "network/network_config.hpp"

using namespace claynet;
using namespace claynet::network;
using nlohmann::json;

TEST(NetworkSignalingUrl, ParsesTheDocumentedForms) {
  PeerJsServer s;
  ASSERT_TRUE(parseSignalingUrl("ws://10.99.0.1:9000/peerjs", s));
  EXPECT_EQ(s.host, "10.99.0.1");
  EXPECT_EQ(s.port, 9000);
  EXPECT_FALSE(s.secure);
  EXPECT_EQ(s.path, "/");
  EXPECT_EQ(s.key, "peerjs");

  ASSERT_TRUE(parseSignalingUrl("wss://myhost:8090/peerjs", s));
  EXPECT_EQ(s.host, "myhost");
  EXPECT_EQ(s.port, 8090);
  EXPECT_TRUE(s.secure);
  EXPECT_EQ(s.path, "/");

  // A base URL, default ports, a mount path, a key, IPv6.
  ASSERT_TRUE(parseSignalingUrl("ws://host", s));
  EXPECT_EQ(s.port, 80);
  EXPECT_EQ(s.path, "/");
  ASSERT_TRUE(parseSignalingUrl("https://host/app/", s));
  EXPECT_EQ(s.port, 443);
  EXPECT_TRUE(s.secure);
  EXPECT_EQ(s.path, "/app/");
  ASSERT_TRUE(parseSignalingUrl("ws://host:1234/app/peerjs/?key=secret", s));
  EXPECT_EQ(s.path, "/app/");
  EXPECT_EQ(s.key, "secret");
  ASSERT_TRUE(parseSignalingUrl("ws://[::1]:9000/peerjs", s));
  EXPECT_EQ(s.host, "::1");
  EXPECT_EQ(s.port, 9000);
}

TEST(NetworkSignalingUrl, RefusesWhatItCannotUse) {
  PeerJsServer s;
  s.host = "unchanged";
  for (const char* bad : {"", "10.99.0.1:9000", "ftp://host/", "ws://", "ws://:9000/",
                          "ws://host:0/", "ws://host:70000/", "ws://host:12ab/", "ws://host:/",
                          "ws://user@host/", "ws://[::1/", "ws://host/?key="}) {
    Result r = parseSignalingUrl(bad, s);
    EXPECT_FALSE(r) << bad;
    EXPECT_NE(r.error().find("invalid signaling URL"), std::string::npos) << r.error();
  }
  EXPECT_EQ(s.host, "unchanged");
}

TEST(NetworkIceServers, ParsesStringsAndObjects) {
  std::vector<IceServer> list;
  ASSERT_TRUE(parseIceServers(json::parse(R"([
    "stun:stun.l.google.com:19302",
    {"urls": "turn:relay.example.com:3478", "username": "user", "credential": "pass"},
    {"urls": ["stun:a.example", "stun:b.example"]}
  ])"),
                              list));
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0].url, "stun:stun.l.google.com:19302");
  EXPECT_EQ(list[1].url, "turn:relay.example.com:3478");
  EXPECT_EQ(list[1].username, "user");
  EXPECT_EQ(list[1].credential, "pass");
  EXPECT_EQ(list[3].url, "stun:b.example");
  // Round trip through the QML form.
  std::vector<IceServer> back;
  ASSERT_TRUE(parseIceServers(iceServersToJson(list), back));
  ASSERT_EQ(back.size(), list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(back[i].url, list[i].url);
    EXPECT_EQ(back[i].username, list[i].username);
  }
}

TEST(NetworkIceServers, RefusesWithTheReason) {
  std::vector<IceServer> list = {{"stun:keep.example", {}, {}}};
  auto fails = [&](const char* text, const char* part) {
    Result r = parseIceServers(json::parse(text), list);
    EXPECT_FALSE(r) << text;
    EXPECT_NE(r.error().find(part), std::string::npos) << text << ": " << r.error();
  };
  fails(R"("stun:x")", "must be an array");
  fails(R"([42])", "iceServers[0]");
  fails(R"([{"username": "u"}])", "no \"urls\"");
  fails(R"([{"urls": 5}])", "urls must be");
  fails(R"(["http://x"])", "invalid ICE server");
  fails(R"(["turn:relay.example"])", "needs a username");
  ASSERT_EQ(list.size(), 1u);  // unchanged
  EXPECT_EQ(list[0].url, "stun:keep.example");
}

TEST(NetworkIds, RandomJoinerIdsAreValidPeerJsIds) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string id = randomNodeId();
    ASSERT_EQ(id.size(), 12u);
    for (char c : id) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(NetworkCandidates, DescribesTypeAddressAndTransport) {
  EXPECT_EQ(describeCandidate("candidate:1 1 UDP 2015363327 10.99.0.1 40000 typ host"),
            "host 10.99.0.1:40000 udp");
  EXPECT_EQ(describeCandidate(
                "candidate:2 1 UDP 1679819007 203.0.113.5 5000 typ srflx raddr 10.0.0.1 rport 1"),
            "srflx 203.0.113.5:5000 udp");
  EXPECT_EQ(describeCandidate("a=candidate:3 1 TCP 1 10.0.0.2 9 typ relay"),
            "relay 10.0.0.2:9 tcp");
  EXPECT_EQ(describeCandidate("garbage"), "garbage");
}

TEST(NetworkRtt, SmoothsLikeClayground) {
  RttEstimator rtt;
  EXPECT_EQ(rtt.rounded(), -1);
  rtt.sample(10);
  EXPECT_EQ(rtt.rounded(), 10);
  rtt.sample(20);
  EXPECT_EQ(rtt.rounded(), 13);  // 10 * 0.7 + 20 * 0.3
}

TEST(NetworkEnvelope, DecodesParsedValues) {
  Envelope e;
  ASSERT_TRUE(decodeEnvelope(json{{"t", "s"}, {"q", 9}, {"d", {{"x", 1}}}}, e));
  EXPECT_EQ(e.kind, EnvelopeKind::State);
  EXPECT_EQ(e.seq, 9u);
  EXPECT_EQ(envelopeToJson(e), (json{{"t", "s"}, {"q", 9}, {"d", {{"x", 1}}}}));
  EXPECT_FALSE(decodeEnvelope(json::array({1}), e));
  EXPECT_FALSE(decodeEnvelope(json{{"t", "s"}, {"q", -1}, {"d", 1}}, e));
}
