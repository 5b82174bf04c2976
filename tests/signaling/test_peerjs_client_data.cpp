// claynet <-> claynet PeerJS DataConnections through the real npm `peer` server, in each
// serialization: binary (BinaryPack, chunked above 16300 bytes), json, raw.
#include <gtest/gtest.h>

#include "claynet/binarypack.hpp"
#include "claynet/peerjs.hpp"
#include "peerjs_test_util.hpp"
#include "standard_sets.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using namespace claynet;
using namespace claynet::test;

namespace {

using interop::big;
using interop::bytes;
std::vector<json> binarySet() { return interop::standardSet(Serialization::Binary); }
std::vector<json> jsonSet() { return interop::standardSet(Serialization::Json); }
std::vector<json> rawSet() { return interop::standardSet(Serialization::Raw); }

std::string describe(const json& v) {
  if (v.is_binary()) return "<" + std::to_string(v.get_binary().size()) + " bytes>";
  return v.dump();
}

class PeerJsData : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = freePort();
    std::string error;
    ASSERT_TRUE(server_.start(port_, {}, &error)) << error;
    alice_ = PeerJsPeer::create(rt_, localPeer(port_, "alice"));
    bob_ = PeerJsPeer::create(rt_, localPeer(port_, "bob"));
    aEv_.attach(*alice_);
    bEv_.attach(*bob_);
    bob_->onConnection([this](std::shared_ptr<PeerJsConnection> c) {
      bEv_.incoming.push_back(c);
      bobSide_.attach(*c);
    });
    ASSERT_TRUE(alice_->open());
    ASSERT_TRUE(bob_->open());
    ASSERT_TRUE(pumpUntil(rt_, [&] { return !aEv_.opened.empty() && !bEv_.opened.empty(); }))
        << aEv_.errorText() << bEv_.errorText() << server_.output();
  }

  // alice opens a connection to bob and both sides see it open.
  void connect(PeerJsConnectOptions options) {
    Result r = alice_->connect("bob", options, conn_);
    ASSERT_TRUE(r) << r.error();
    aliceSide_.attach(*conn_);
    ASSERT_TRUE(pumpUntil(rt_, [&] { return aliceSide_.opened && bobSide_.opened; }))
        << aEv_.errorText() << bEv_.errorText();
    ASSERT_EQ(bEv_.incoming.size(), 1u);
    bobConn_ = bEv_.incoming[0];
  }

  // Sends `values` from one side, then the other way, and checks both arrive whole and in order.
  void exchange(const std::vector<json>& values, bool ordered = true) {
    for (const auto& v : values) {
      Result r = conn_->send(v);
      ASSERT_TRUE(r) << describe(v) << ": " << r.error();
    }
    for (const auto& v : values) {
      Result r = bobConn_->send(v);
      ASSERT_TRUE(r) << describe(v) << ": " << r.error();
    }
    ASSERT_TRUE(pumpUntil(rt_,
                          [&] {
                            return bobSide_.data.size() >= values.size() &&
                                   aliceSide_.data.size() >= values.size();
                          }))
        << bobSide_.data.size() << " and " << aliceSide_.data.size() << " of " << values.size();
    for (auto* got : {&bobSide_.data, &aliceSide_.data}) {
      ASSERT_EQ(got->size(), values.size());
      if (ordered) {
        for (std::size_t i = 0; i < values.size(); ++i)
          EXPECT_EQ((*got)[i], values[i])
              << i << ": " << describe((*got)[i]) << " vs " << describe(values[i]);
      } else {
        for (const auto& v : values)
          EXPECT_NE(std::find(got->begin(), got->end(), v), got->end()) << describe(v);
      }
    }
    EXPECT_TRUE(aliceSide_.errors.empty()) << aliceSide_.errors[0].text();
    EXPECT_TRUE(bobSide_.errors.empty()) << bobSide_.errors[0].text();
  }

  NpmPeerServer server_;
  uint16_t port_ = 0;
  Runtime rt_;
  std::shared_ptr<PeerJsPeer> alice_, bob_;
  PeerEvents aEv_, bEv_;
  std::shared_ptr<PeerJsConnection> conn_, bobConn_;
  ConnEvents aliceSide_, bobSide_;
};

}  // namespace

TEST_F(PeerJsData, BinaryCarriesEveryTypeAndChunksLargeValues) {
  PeerJsConnectOptions o;
  o.serialization = Serialization::Binary;
  o.reliable = true;
  o.label = "interop";
  o.metadata = json{{"from", "alice"}};
  connect(o);
  // What bob learned from the OFFER.
  EXPECT_EQ(bobConn_->peer(), "alice");
  EXPECT_EQ(bobConn_->connectionId(), conn_->connectionId());
  EXPECT_EQ(conn_->connectionId().rfind("dc_", 0), 0u);
  EXPECT_EQ(bobConn_->label(), "interop");
  EXPECT_EQ(bobConn_->serialization(), Serialization::Binary);
  EXPECT_TRUE(bobConn_->reliable());
  EXPECT_EQ(bobConn_->metadata(), json({{"from", "alice"}}));
  EXPECT_FALSE(bobConn_->originator());
  ASSERT_TRUE(conn_->dataChannel());
  EXPECT_EQ(conn_->dataChannel()->label(), "interop");
  EXPECT_TRUE(conn_->dataChannel()->ordered());
  ASSERT_TRUE(bobConn_->dataChannel());
  EXPECT_EQ(bobConn_->dataChannel()->label(), "interop");
  auto countBefore = bobConn_->dataChannel()->counters().messagesReceived;
  exchange(binarySet());
  // BIG went as ceil(packed / 16300) chunks: more messages arrived than values.
  std::size_t packed = binarypack::encode(big()).size();
  std::size_t chunks = (packed + 16299) / 16300;
  EXPECT_GT(chunks, 1u);
  EXPECT_EQ(bobConn_->dataChannel()->counters().messagesReceived - countBefore,
            binarySet().size() - 1 + chunks);
}

TEST_F(PeerJsData, BinaryUnorderedByDefaultStillReassembles) {
  // PeerJS's default: reliable false = an unordered channel; the label is the connection id.
  connect({});
  EXPECT_EQ(conn_->label(), conn_->connectionId());
  EXPECT_EQ(bobConn_->label(), conn_->connectionId());
  EXPECT_FALSE(bobConn_->reliable());
  EXPECT_FALSE(conn_->dataChannel()->ordered());
  exchange({big(), "after", big()}, /*ordered=*/false);
}

TEST_F(PeerJsData, JsonCarriesTheSetAndRefusesLargeMessages) {
  PeerJsConnectOptions o;
  o.serialization = Serialization::Json;
  o.reliable = true;
  connect(o);
  EXPECT_EQ(bobConn_->serialization(), Serialization::Json);
  exchange(jsonSet());

  // 16297 characters + 2 quotes = 16299 bytes: allowed. One more: refused.
  json justFits = std::string(16297, 'x');
  json tooBig = std::string(16298, 'x');
  ASSERT_TRUE(conn_->send(justFits));
  Result r = conn_->send(tooBig);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().rfind("message-too-big: ", 0), 0u) << r.error();
  EXPECT_NE(r.error().find("16300"), std::string::npos) << r.error();
  r = conn_->send(bytes({1}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("raw bytes"), std::string::npos) << r.error();
  ASSERT_TRUE(pumpUntil(rt_, [&] { return bobSide_.data.size() == jsonSet().size() + 1; }));
  EXPECT_EQ(bobSide_.data.back(), justFits);
  // json goes as binary messages (a PeerJS 1.5 receiver throws on text).
  EXPECT_GT(bobConn_->dataChannel()->counters().messagesReceived, 0u);
}

TEST_F(PeerJsData, RawSendsStringsAsTextAndBytesAsBinary) {
  PeerJsConnectOptions o;
  o.serialization = Serialization::Raw;
  o.reliable = true;
  connect(o);
  EXPECT_EQ(bobConn_->serialization(), Serialization::Raw);
  // Watch the messages themselves on bob's channel to see text vs binary.
  std::vector<bool> binaryFlags;
  auto ch = bobConn_->dataChannel();
  ASSERT_TRUE(ch);
  exchange(rawSet());
  for (const char* bad : {"5", "{}", "[1]", "null", "true"}) {
    Result r = conn_->send(json::parse(bad));
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().find("raw serialization sends strings"), std::string::npos) << r.error();
  }
  // Strings arrive as strings, bytes as binary: exchange() compared the types.
  EXPECT_TRUE(bobSide_.data[0].is_string());
  EXPECT_TRUE(bobSide_.data[1].is_binary());
}

// A PeerJS connection labelled "state" is an ordinary one: only a channel labelled "state" beside
// a connection of another label is Clayground's state channel (the review of that rule found a
// plain "state" connection never opening on the answering side).
TEST_F(PeerJsData, AConnectionLabelledStateOpensAsAnyOther) {
  PeerJsConnectOptions o;
  o.label = "state";
  connect(o);
  if (HasFatalFailure()) return;
  EXPECT_EQ(bobConn_->label(), "state");
  exchange({json{{"x", 1}}, json("two")});
}

TEST_F(PeerJsData, SendBeforeOpenAndAfterCloseAreClearErrors) {
  std::shared_ptr<PeerJsConnection> c;
  ASSERT_TRUE(alice_->connect("bob", {}, c));
  Result r = c->send("too early");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().rfind("not-open-yet: ", 0), 0u) << r.error();
  ConnEvents ev;
  ev.attach(*c);
  ASSERT_TRUE(pumpUntil(rt_, [&] { return ev.opened && bobSide_.opened; }));
  c->close();
  ASSERT_TRUE(pumpUntil(rt_, [&] { return ev.closed && bobSide_.closed; }));
  r = c->send("too late");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().rfind("connection-closed: ", 0), 0u) << r.error();
  EXPECT_FALSE(c->peerConnection());
  EXPECT_TRUE(alice_->connections().empty());
  EXPECT_TRUE(bob_->connections().empty());
}

TEST_F(PeerJsData, FlushCloseMessageClosesTheReceiver) {
  connect({});
  // What PeerJS's close({flush: true}) sends; the receiver closes, and so the sender sees it.
  ASSERT_TRUE(conn_->send(binarypack::closeMessage()));
  ASSERT_TRUE(pumpUntil(rt_, [&] { return bobSide_.closed && aliceSide_.closed; }));
  EXPECT_TRUE(bobSide_.data.empty());
}

TEST_F(PeerJsData, DestroyClosesEveryConnection) {
  connect({});
  bob_->destroy();
  ASSERT_TRUE(pumpUntil(rt_, [&] { return bEv_.closed && bobSide_.closed && aliceSide_.closed; }));
  EXPECT_TRUE(alice_->connections().empty());
}

TEST_F(PeerJsData, CallbacksHoldingTheConnectionDoNotLeakIt) {
  connect({});
  std::weak_ptr<PeerJsConnection> weak = conn_;
  conn_->onData([self = conn_](const json&) {});  // a cycle until the connection closes
  conn_->close();
  conn_.reset();
  ASSERT_TRUE(pumpUntil(rt_, [&] { return bobSide_.closed; }));
  EXPECT_TRUE(pumpUntil(
      rt_, [&] { return weak.expired(); }, 5000ms))
      << "the connection is still alive after close: its callbacks were not dropped";
}
