// A native (C++) Clayground joiner, imitated from clayground-wire.md with claynet's own
// PeerConnection and a plain WebSocket, against a claynet Local host: it connects to the LAN
// server with `?id=<id>` alone and shows the secret in its first frame (§4.3), never sends
// HEARTBEAT, offers in the native shape with `<self>_<target>` connection ids (§1.4), creates a
// "data" and a "state" channel (§1.2) and speaks wire version 5 on them (§2).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../signaling/ws_test_client.hpp"
#include "claynet/lan_code.hpp"
#include "claynet/network.hpp"
#include "claynet/peer_connection.hpp"
#include "claynet/runtime.hpp"
#include "claynet/signal_server.hpp"

using namespace claynet;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const std::string kId = "3f9a0c1b2d4e5f60";  // 16 hex characters, as native joiners draw them
const std::string kConnectionId = kId + "_HOST";

// Both loops at once: the runtime's events (Network, PeerConnection) and the test thread's
// default context (the WebSocket client).
bool pumpUntil(Runtime& rt, const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    while (g_main_context_iteration(nullptr, FALSE)) {
    }
    rt.waitAndPoll(2ms);
  }
  return true;
}

void sendJson(DataChannel& ch, const json& j) {
  const std::string text = j.dump();
  // Native sends the UTF-8 bytes as binary frames.
  EXPECT_TRUE(ch.sendBinary(text.data(), text.size()));
}

// A CANDIDATE as a native node sends it (§1.4): m-line 0 always, its own connection id.
std::string nativeCandidate(const std::string& dst, const std::string& connectionId,
                            const Candidate& c) {
  return json{
      {"type", "CANDIDATE"},
      {"dst", dst},
      {"payload",
       {{"candidate", {{"candidate", c.candidate}, {"sdpMid", c.mid}, {"sdpMLineIndex", 0}}},
        {"type", "data"},
        {"connectionId", connectionId}}}}
      .dump();
}

class NativeJoiner {
 public:
  NativeJoiner(Runtime& rt, const std::string& lanCode) : rt_(rt) {
    std::string address, secret;
    std::uint16_t port = 0;
    EXPECT_TRUE(decodeLanCode(lanCode, address, port, secret)) << lanCode;
    std::string error;
    ws_ = test::WsClient::open("ws://" + address + ":" + std::to_string(port) + "/peerjs?id=" + kId,
                               &error);
    EXPECT_TRUE(ws_) << error;
    if (!ws_) return;
    ws_->send(json{{"id", kId}, {"secret", secret}}.dump());
  }

  bool registered() {
    auto first = ws_ ? ws_->next() : std::nullopt;
    return first && json::parse(*first, nullptr, false).value("type", "") == "OPEN";
  }

  // `stateFirst`: the state channel's DCEP open may reach the host first (loss, reordering).
  void offer(bool stateFirst) {
    pc_ = std::make_unique<PeerConnection>(rt_);
    pc_->onLocalDescription([this](const Description& d) {
      ws_->send(json{{"type", "OFFER"},
                     {"dst", "HOST"},
                     {"payload",
                      {{"sdp", {{"type", "offer"}, {"sdp", d.sdp}}},
                       {"type", "data"},
                       {"connectionId", kConnectionId},
                       {"label", kConnectionId},
                       {"reliable", true},
                       {"serialization", "json"}}}}
                    .dump());
    });
    pc_->onLocalCandidate(
        [this](const Candidate& c) { ws_->send(nativeCandidate("HOST", kConnectionId, c)); });
    DataChannelInit lossy;
    lossy.ordered = false;
    lossy.maxRetransmits = 0;
    if (stateFirst) state_ = pc_->createDataChannel("state", lossy);
    data_ = pc_->createDataChannel("data");
    if (!stateFirst) state_ = pc_->createDataChannel("state", lossy);
    ASSERT_TRUE(data_ && state_);
    data_->onOpen([this] { dataOpen_ = true; });
    state_->onOpen([this] { stateOpen_ = true; });
    data_->onMessage([this](Message&& m) {
      if (auto j = json::parse(m.data, nullptr, false); j.is_object()) fromHost_.push_back(j);
    });
    ASSERT_TRUE(pc_->createOffer());
  }

  // What the host's server forwards: its ANSWER and CANDIDATEs (with whatever connection id).
  void readSignaling() {
    if (!ws_) return;
    for (const auto& text : ws_->collect(0ms)) {
      json j = json::parse(text, nullptr, false);
      const std::string type = j.value("type", "");
      if (type == "ANSWER") {
        answerConnectionId_ = j["payload"].value("connectionId", "");
        EXPECT_TRUE(pc_->setRemoteDescription({SdpType::Answer, j["payload"]["sdp"]["sdp"]}));
      } else if (type == "CANDIDATE") {
        const json& c = j["payload"]["candidate"];
        EXPECT_TRUE(pc_->addRemoteCandidate({c.value("candidate", ""), c.value("sdpMid", "0"), 0}));
      }
    }
  }

  const json* fromHost(const std::string& t) const {
    for (const auto& j : fromHost_)
      if (j.value("t", "") == t) return &j;
    return nullptr;
  }

  Runtime& rt_;
  std::unique_ptr<test::WsClient> ws_;
  std::unique_ptr<PeerConnection> pc_;
  std::shared_ptr<DataChannel> data_, state_;
  bool dataOpen_ = false, stateOpen_ = false;
  std::string answerConnectionId_;
  std::vector<json> fromHost_;
};

}  // namespace

// Whichever of its two channels reaches the host first, a native joiner is admitted, its `m`
// arrives on "data" and its `s` on "state" (the host routes by label, §1.2).
TEST(NativeClayground, AJoinerIsAdmittedByAClaynetLocalHostWhicheverChannelComesFirst) {
  for (const bool stateFirst : {true, false}) {
    SCOPED_TRACE(stateFirst ? "state channel first" : "data channel first");
    Runtime rt;
    Network host(rt);
    ASSERT_TRUE(host.setSignalingMode(Network::SignalingMode::Local));
    ASSERT_TRUE(host.setLocalAddress("127.0.0.1"));
    std::string code, joined;
    json message, state;
    std::vector<std::string> errors;
    host.onNetworkCreated([&](const std::string& c) { code = c; });
    host.onNodeJoined([&](const std::string& id) { joined = id; });
    host.onMessageReceived([&](const std::string&, const json& d) { message = d; });
    host.onStateReceived([&](const std::string&, const json& d) { state = d; });
    host.onErrorOccurred([&](const std::string& e) { errors.push_back(e); });
    ASSERT_TRUE(host.host());
    ASSERT_TRUE(pumpUntil(
        rt, [&] { return !code.empty(); }, 10s));

    NativeJoiner joiner(rt, code);
    ASSERT_TRUE(joiner.registered()) << "the LAN server did not OPEN a client with an id alone";
    joiner.offer(stateFirst);
    ASSERT_TRUE(pumpUntil(
        rt,
        [&] {
          joiner.readSignaling();
          return joiner.dataOpen_ && joiner.stateOpen_;
        },
        15s));
    EXPECT_EQ(joiner.answerConnectionId_, kConnectionId);

    sendJson(*joiner.data_, {{"t", "h"}, {"v", 5}, {"app", ""}, {"pw", ""}, {"tok", ""}});
    ASSERT_TRUE(pumpUntil(
        rt, [&] { return joiner.fromHost("H") || joiner.fromHost("R") || !errors.empty(); }, 10s));
    ASSERT_TRUE(joiner.fromHost("H"))
        << (joiner.fromHost("R") ? joiner.fromHost("R")->dump() : "no answer to the hello");
    EXPECT_EQ(joiner.fromHost("H")->value("host", ""), "HOST");
    ASSERT_TRUE(pumpUntil(
        rt, [&] { return joined == kId; }, 5s));

    sendJson(*joiner.data_, {{"t", "m"}, {"ts", 1}, {"d", {{"hello", "from native"}}}});
    sendJson(*joiner.state_, {{"t", "s"}, {"q", 1}, {"ts", 2}, {"d", {{"x", 7}}}});
    ASSERT_TRUE(pumpUntil(
        rt, [&] { return !message.is_null() && !state.is_null(); }, 10s));
    EXPECT_EQ(message, (json{{"hello", "from native"}}));
    EXPECT_EQ(state, (json{{"x", 7}}));
    EXPECT_EQ(host.nodeCount(), 2);
    EXPECT_TRUE(errors.empty()) << errors.front();
    host.leave();
  }
}

namespace {

// A native Clayground Local host: its LAN server (claynet's, with the secret, standing in for
// Clayground's embedded one, which §4.3 describes alike), a WebSocket registered as HOST with an
// id alone, and a PeerConnection that answers in the native shape. Its candidates carry
// `HOST_<joiner>` (§1.4: `<self>_<target>`, also when answering), and it ignores the joiner's:
// as a host behind a NAT that filters the joiner's address would, it can only answer checks. So
// the joiner connects only if it takes the host's candidates despite their connection id.
class NativeHost {
 public:
  explicit NativeHost(Runtime& rt) : rt_(rt) {
    SignalServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.lanSecret = "K7QP2MXA";
    server_ = std::make_unique<SignalServer>(rt, so);
    EXPECT_TRUE(server_->start());
    std::string error;
    ws_ = test::WsClient::open(
        "ws://127.0.0.1:" + std::to_string(server_->port()) + "/peerjs?id=HOST", &error);
    EXPECT_TRUE(ws_) << error;
    if (!ws_) return;
    ws_->send(json{{"id", "HOST"}, {"secret", so.lanSecret}}.dump());
    auto first = ws_->next();
    EXPECT_EQ(json::parse(first.value_or("null"), nullptr, false).value("type", ""), "OPEN");
    std::uint32_t loopback = 0;
    EXPECT_TRUE(parseIPv4("127.0.0.1", loopback));
    code_ = encodeLanCode(loopback, server_->port()) + "-" + so.lanSecret;
  }

  void readSignaling() {
    if (!ws_) return;
    if (closeNow_ && pc_) pc_->close();
    for (const auto& text : ws_->collect(0ms)) {
      json j = json::parse(text, nullptr, false);
      if (j.value("type", "") == "OFFER" && !pc_) answer(j.value("src", ""), j["payload"]);
      // CANDIDATEs from the joiner: ignored (see above).
    }
  }

  void answer(const std::string& joiner, const json& offer) {
    joiner_ = joiner;
    pc_ = std::make_unique<PeerConnection>(rt_);
    const std::string connectionId = offer.value("connectionId", "");
    pc_->onLocalDescription([this, connectionId](const Description& d) {
      ws_->send(json{{"type", "ANSWER"},
                     {"dst", joiner_},
                     {"payload",
                      {{"sdp", {{"type", "answer"}, {"sdp", d.sdp}}},
                       {"type", "data"},
                       {"connectionId", connectionId}}}}
                    .dump());
    });
    pc_->onLocalCandidate(
        [this](const Candidate& c) { ws_->send(nativeCandidate(joiner_, "HOST_" + joiner_, c)); });
    // Routed by label, as a native answerer does (§1.2).
    pc_->onDataChannel([this](std::shared_ptr<DataChannel> ch) {
      if (ch->label() == "state") {
        state_ = ch;
        return;
      }
      data_ = ch;
      data_->onMessage([this](Message&& m) {
        json j = json::parse(m.data, nullptr, false);
        if (!j.is_object()) return;
        if (j.value("t", "") == "h") {
          hello_ = j;
          if (goneOnHello_)
            closeNow_ = true;  // in the test's loop, not inside the channel's own callback
          else
            sendJson(*data_, {{"t", "H"}, {"v", 5}, {"host", "HOST"}, {"st", 1000}});
        }
      });
    });
    EXPECT_TRUE(pc_->setRemoteDescription({SdpType::Offer, offer["sdp"]["sdp"]}));
  }

  Runtime& rt_;
  std::unique_ptr<SignalServer> server_;
  std::unique_ptr<test::WsClient> ws_;
  std::unique_ptr<PeerConnection> pc_;
  std::shared_ptr<DataChannel> data_, state_;
  std::string code_, joiner_;
  json hello_;
  bool goneOnHello_ = false;  // the host goes away during the handshake
  bool closeNow_ = false;
};

}  // namespace

// A claynet joiner links with a native Clayground Local host although the host's candidates name
// the connection `HOST_<joiner>` rather than the id of the joiner's offer.
TEST(NativeClayground, AClaynetJoinerTakesANativeHostsCandidates) {
  Runtime rt;
  NativeHost host(rt);
  Network joiner(rt);
  json message;
  std::string from;
  std::vector<std::string> errors;
  joiner.onMessageReceived([&](const std::string& f, const json& d) {
    from = f;
    message = d;
  });
  joiner.onErrorOccurred([&](const std::string& e) { errors.push_back(e); });
  ASSERT_TRUE(joiner.setSignalingMode(Network::SignalingMode::Local));
  ASSERT_TRUE(joiner.join(host.code_));
  ASSERT_TRUE(pumpUntil(
      rt,
      [&] {
        host.readSignaling();
        return joiner.status() == Network::Status::Connected || !errors.empty();
      },
      15s))
      << "no link to the native host";
  ASSERT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(host.hello_.value("v", 0), 5);
  EXPECT_EQ(joiner.hostId(), "HOST");

  sendJson(*host.data_, {{"t", "m"}, {"ts", 1200}, {"d", {{"hello", "from the native host"}}}});
  ASSERT_TRUE(pumpUntil(
      rt, [&] { return !message.is_null(); }, 5s));
  EXPECT_EQ(from, "HOST");
  EXPECT_EQ(message, (json{{"hello", "from the native host"}}));
  joiner.leave();
}

// The host gone during the handshake (its channel open, the hello sent, no answer) ends the join
// as Clayground's loseHost does (clayground-wire.md §3.3): connection-lost, status Disconnected,
// and the error says the phase it happened in.
TEST(NativeClayground, AHostGoneDuringTheHandshakeIsConnectionLost) {
  Runtime rt;
  NativeHost host(rt);
  host.goneOnHello_ = true;
  Network joiner(rt);
  std::vector<Network::Error> errors;
  std::string lostReason;
  joiner.onError([&](const Network::Error& e) { errors.push_back(e); });
  joiner.onHostLost([&](const std::string& reason, const std::string&) { lostReason = reason; });
  ASSERT_TRUE(joiner.join(host.code_));
  ASSERT_TRUE(pumpUntil(
      rt,
      [&] {
        host.readSignaling();
        return !errors.empty();
      },
      15s));
  EXPECT_FALSE(host.hello_.is_null()) << "the channel never opened";
  EXPECT_EQ(lostReason, "connection-lost");
  EXPECT_EQ(errors[0].code, Network::ErrorCode::HostConnectionLost);
  EXPECT_EQ(errors[0].message, Network::kHostLostMessage);
  EXPECT_EQ(errors[0].phase, "handshake");
  EXPECT_EQ(joiner.status(), Network::Status::Disconnected);
  EXPECT_EQ(joiner.hostLostReason(), "connection-lost");
}
