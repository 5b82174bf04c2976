#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "network/envelope.hpp"
#include "network/relay.hpp"

using namespace claynet::network;
using nlohmann::json;

namespace {

Envelope decoded(std::string_view text) {
  Envelope e;
  auto r = decodeEnvelope(text, e);
  EXPECT_TRUE(r) << r.error() << " for " << text;
  return e;
}

std::string failure(std::string_view text) {
  Envelope e;
  auto r = decodeEnvelope(text, e);
  EXPECT_FALSE(r) << text;
  return r.error();
}

}  // namespace

TEST(NetworkEnvelope, EncodesTheClaygroundShapes) {
  EXPECT_EQ(encodeEnvelope(makeMessage(json{{"type", "chat"}})),
            R"({"d":{"type":"chat"},"t":"m"})");
  EXPECT_EQ(encodeEnvelope(makeState(7, json{{"x", 1}})), R"({"d":{"x":1},"q":7,"t":"s"})");
  EXPECT_EQ(encodeEnvelope(makePing(1700000000123)), R"({"t":"p","ts":1700000000123})");
  EXPECT_EQ(encodeEnvelope(makePong(5)), R"({"t":"P","ts":5})");
  EXPECT_EQ(encodeEnvelope(makeReject("Network full")), R"({"r":"Network full","t":"R"})");
  EXPECT_EQ(encodeEnvelope(makeRoster({"ABC234", "j1"})),
            R"({"nodes":["ABC234","j1"],"sys":"roster","t":"y"})");
  EXPECT_EQ(encodeEnvelope(makeNodeJoined("j2")), R"({"nodeId":"j2","sys":"node_joined","t":"y"})");
  EXPECT_EQ(encodeEnvelope(makeNodeLeft("j2")), R"({"nodeId":"j2","sys":"node_left","t":"y"})");
  auto relayed = makeMessage(1);
  relayed.from = "j1";
  EXPECT_EQ(encodeEnvelope(relayed), R"({"d":1,"from":"j1","t":"m"})");
}

TEST(NetworkEnvelope, RoundTripsEveryKind) {
  for (const auto& e : {makeMessage(json{{"a", {1, 2}}}), makeState(4294967295u, "s"), makePing(12),
                        makePong(13), makeReject("Network full"), makeRoster({"a", "b"}),
                        makeNodeJoined("c"), makeNodeLeft("d")}) {
    auto text = encodeEnvelope(e);
    auto back = decoded(text);
    EXPECT_EQ(encodeEnvelope(back), text);
  }
}

TEST(NetworkEnvelope, ReadsFieldsOfBrowserNodes) {
  auto s = decoded(R"({"t":"s","q":3,"d":{"x":1.5},"from":"peer7"})");
  EXPECT_EQ(s.kind, EnvelopeKind::State);
  EXPECT_EQ(s.seq, 3u);
  EXPECT_EQ(s.data["x"], 1.5);
  ASSERT_TRUE(s.from);
  EXPECT_EQ(*s.from, "peer7");
  // JavaScript's Date.now() may arrive as a float when a browser computes it.
  EXPECT_EQ(decoded(R"({"t":"p","ts":1700000000123.0})").ts, 1700000000123);
  EXPECT_TRUE(decoded(R"({"t":"m","d":null})").data.is_null());
}

TEST(NetworkEnvelope, RejectsMalformedEnvelopesWithAReason) {
  EXPECT_EQ(failure("{"), "envelope is not valid JSON");
  EXPECT_EQ(failure("[1]"), "envelope is not a JSON object");
  EXPECT_NE(failure(R"({"d":1})").find("\"t\""), std::string::npos);
  EXPECT_NE(failure(R"({"t":"mm","d":1})").find("\"t\""), std::string::npos);
  EXPECT_NE(failure(R"({"t":"x"})").find("unknown envelope type"), std::string::npos);
  EXPECT_NE(failure(R"({"t":"m"})").find("\"d\""), std::string::npos);
  EXPECT_NE(failure(R"({"t":"s","q":-1,"d":1})").find("\"q\""), std::string::npos);
  EXPECT_NE(failure(R"({"t":"s","q":4294967296,"d":1})").find("\"q\""), std::string::npos);
  EXPECT_NE(failure(R"({"t":"s","q":"1","d":1})").find("\"q\""), std::string::npos);
  EXPECT_NE(failure(R"({"t":"p","ts":"now"})").find("\"ts\""), std::string::npos);
  EXPECT_NE(failure(R"({"t":"R"})").find("\"r\""), std::string::npos);
  EXPECT_NE(failure(R"({"t":"y","sys":"roster","nodes":[1]})").find("\"nodes\""),
            std::string::npos);
  EXPECT_NE(failure(R"({"t":"y","sys":"reboot"})").find("unknown system message"),
            std::string::npos);
  EXPECT_NE(failure(R"({"t":"m","d":1,"from":5})").find("\"from\""), std::string::npos);
}

TEST(NetworkRelay, HostOverwritesAJoinerSuppliedFrom) {
  auto spoofed = makeMessage("hi");
  spoofed.from = "HOSTID";
  auto route = routeAtHost(spoofed, "j1", "HOSTID", {"j1", "j2", "j3"}, true);
  EXPECT_TRUE(route.deliverLocally);
  EXPECT_EQ(route.origin, "j1");
  EXPECT_EQ(route.forwardTo, (std::vector<std::string>{"j2", "j3"}));
  ASSERT_TRUE(route.forwarded.from);
  EXPECT_EQ(*route.forwarded.from, "j1");
}

TEST(NetworkRelay, AutoRelayOffKeepsBroadcastsAtTheHost) {
  auto route = routeAtHost(makeState(1, 1), "j1", "H", {"j1", "j2"}, false);
  EXPECT_TRUE(route.deliverLocally);
  EXPECT_TRUE(route.forwardTo.empty());
}

TEST(NetworkRelay, SendToThroughTheStarReachesOnlyTheTarget) {
  auto m = makeMessage("secret");
  m.to = "j3";
  for (bool autoRelay : {true, false}) {
    auto route = routeAtHost(m, "j1", "H", {"j1", "j2", "j3"}, autoRelay);
    EXPECT_FALSE(route.deliverLocally);
    EXPECT_EQ(route.forwardTo, (std::vector<std::string>{"j3"}));
    EXPECT_EQ(*route.forwarded.from, "j1");
  }
  m.to = "H";
  auto toHost = routeAtHost(m, "j1", "H", {"j1", "j2"}, true);
  EXPECT_TRUE(toHost.deliverLocally);
  EXPECT_TRUE(toHost.forwardTo.empty());
  m.to = "nobody";
  auto unknown = routeAtHost(m, "j1", "H", {"j1", "j2"}, true);
  EXPECT_TRUE(unknown.unknownTarget);
  EXPECT_FALSE(unknown.deliverLocally);
  EXPECT_TRUE(unknown.forwardTo.empty());
}

TEST(NetworkRelay, OnlyTheHostMayNameAnotherOrigin) {
  auto m = makeMessage(1);
  m.from = "j2";
  EXPECT_EQ(originAtReceiver(m, "H", "H"), "j2");
  EXPECT_EQ(originAtReceiver(m, "j5", "H"), "j5");
  EXPECT_EQ(originAtReceiver(makeMessage(1), "H", "H"), "H");
}

TEST(NetworkRelay, SequenceGuardDropsStaleAndDuplicateUpdatesPerOrigin) {
  SequenceGuard guard;
  EXPECT_TRUE(guard.accept("a", 5));
  EXPECT_TRUE(guard.accept("b", 1));
  EXPECT_FALSE(guard.accept("a", 5));
  EXPECT_FALSE(guard.accept("a", 3));
  EXPECT_TRUE(guard.accept("a", 6));
  EXPECT_TRUE(guard.accept("b", 2));
  EXPECT_EQ(guard.dropped(), 2u);
  EXPECT_EQ(guard.droppedFrom("a"), 2u);
  EXPECT_EQ(guard.droppedFrom("b"), 0u);
  // Wrapping past 2^32 - 1 is still "newer".
  EXPECT_TRUE(guard.accept("c", 0xFFFFFFFEu));
  EXPECT_TRUE(guard.accept("c", 1));
  EXPECT_FALSE(guard.accept("c", 0xFFFFFFFFu));
  guard.forget("a");
  EXPECT_TRUE(guard.accept("a", 0));
}

// Issue 12, finding 1: an envelope from a data channel is parsed with the same depth limit, so
// copying its "d" cannot recurse without bound.
TEST(NetworkEnvelope, DeeplyNestedEnvelopeIsRefusedWhileParsing) {
  constexpr int kDepth = 300000;
  std::string text = R"({"t":"m","d":)" + std::string(kDepth, '[') + std::string(kDepth, ']') + "}";
  std::string why = failure(text);
  EXPECT_NE(why.find("nests deeper than 512"), std::string::npos) << why;
  EXPECT_TRUE(decoded(R"({"t":"m","d":)" + std::string(300, '[') + std::string(300, ']') + "}")
                  .data.is_array());
}

// Found by fuzz_network_envelope: a ping whose "ts" is NaN (BinaryPack carries any float64) or
// beyond the range of a 64-bit integer was converted anyway (undefined behaviour).
TEST(NetworkEnvelope, PingTimesMustBeFiniteAndInRange) {
  for (double bad : {std::nan(""), 1e300, -1e300, 9.3e18}) {
    Envelope e;
    auto r = decodeEnvelope(json{{"t", "p"}, {"ts", bad}}, e);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().find("\"ts\""), std::string::npos) << r.error();
  }
  Envelope e;
  EXPECT_FALSE(decodeEnvelope(json{{"t", "P"}, {"ts", std::uint64_t{1} << 63}}, e));
  ASSERT_TRUE(decodeEnvelope(json{{"t", "P"}, {"ts", 1700000000123.7}}, e));
  EXPECT_EQ(e.ts, 1700000000123);
}

// As JSON.stringify does, so that BinaryPack (which could carry NaN) and the json text agree.
TEST(NetworkEnvelope, NonFiniteNumbersBecomeNullAtAnyDepth) {
  const double inf = std::numeric_limits<double>::infinity();
  json data = {{"x", std::nan("")},
               {"y", inf},
               {"ok", 1.5},
               {"n", 3},
               {"list", json::array({-inf, "text", json::array({std::nan("")})})}};
  EXPECT_EQ(nullNonFiniteNumbers(data), 4u);
  EXPECT_EQ(data.dump(), R"({"list":[null,"text",[null]],"n":3,"ok":1.5,"x":null,"y":null})");
  EXPECT_EQ(nullNonFiniteNumbers(data), 0u);

  // No recursion: a value nested deeper than any stack (nlohmann's destructor is iterative too).
  json deep = std::nan("");
  for (int i = 0; i < 200000; ++i) {
    json outer = json::array();
    outer.push_back(std::move(deep));
    deep = std::move(outer);
  }
  EXPECT_EQ(nullNonFiniteNumbers(deep), 1u);
}
