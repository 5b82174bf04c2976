// Label `network`: the checks claynet::Network makes before anything is connected (setters,
// sending while not in a network, invalid codes). Needs a Runtime (a thread), no socket.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "claynet/lan_code.hpp"
#include "claynet/network.hpp"
#include "claynet/peerjs.hpp"
#include "claynet/signal_server.hpp"
#include "network/network_testing.hpp"

using namespace claynet;
using nlohmann::json;

// The setters check before anything is connected; a Runtime is needed but no network.
TEST(NetworkSetters, RefuseBadValuesAndKeepTheOldOnes) {
  Runtime runtime;
  Network n(runtime);
  EXPECT_EQ(n.maxNodes(), 8);
  EXPECT_TRUE(n.autoRelay());
  EXPECT_EQ(n.connectionTimeout(), 15000);
  EXPECT_EQ(n.status(), Network::Status::Disconnected);
  EXPECT_EQ(n.topology(), Network::Topology::Star);
  EXPECT_EQ(n.signalingMode(), Network::SignalingMode::Cloud);
  EXPECT_EQ(n.latency(), -1);
  EXPECT_EQ(n.nodeCount(), 0);
  EXPECT_EQ(n.peerStats(), json::object());

  for (int bad : {0, 1, 9, -3}) {
    Result r = n.setMaxNodes(bad);
    EXPECT_FALSE(r);
    EXPECT_EQ(r.error(), "maxNodes must be between 2 and 8");
  }
  EXPECT_EQ(n.maxNodes(), 8);
  EXPECT_TRUE(n.setMaxNodes(2));
  EXPECT_EQ(n.maxNodes(), 2);

  EXPECT_FALSE(n.setConnectionTimeout(-1));
  EXPECT_TRUE(n.setConnectionTimeout(0));
  EXPECT_FALSE(n.setSignalingUrl("nonsense"));
  EXPECT_EQ(n.signalingUrl(), "");
  EXPECT_TRUE(n.setSignalingUrl("ws://10.99.0.1:9000/peerjs"));
  EXPECT_FALSE(n.setLocalAddress("not-an-ip"));
  EXPECT_TRUE(n.setLocalAddress("192.168.1.20"));
  EXPECT_FALSE(n.setIceServers(json::parse(R"(["turn:x"])")));
  EXPECT_TRUE(n.iceServers().empty());
  EXPECT_TRUE(n.setIceServers(json::parse(R"(["stun:a.example"])")));
  EXPECT_EQ(n.iceServersJson(), json::parse(R"(["stun:a.example"])"));

  // Not in a network: sending fails with the reason, nothing is emitted.
  std::vector<std::string> errors;
  n.onErrorOccurred([&](const std::string& m) { errors.push_back(m); });
  Result b = n.broadcast(json{{"a", 1}});
  EXPECT_FALSE(b);
  EXPECT_NE(b.error().find("not connected"), std::string::npos);
  EXPECT_FALSE(n.sendTo("x", 1));
  EXPECT_FALSE(n.broadcastState(1));
  // join() without a code does nothing.
  EXPECT_FALSE(n.join("  "));
  EXPECT_EQ(n.status(), Network::Status::Disconnected);
  // An invalid code is an error the application hears of, with status Error.
  int statusChanges = 0;
  n.onStatusChanged([&] { ++statusChanges; });
  Result j = n.join("AB1");
  EXPECT_FALSE(j);
  EXPECT_EQ(n.status(), Network::Status::Error);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("Invalid network code"), std::string::npos) << errors[0];
  EXPECT_EQ(statusChanges, 1);
  Result lan = n.join("L1HGE14A-0");
  EXPECT_FALSE(lan);
  EXPECT_NE(lan.error().find("Invalid LAN code"), std::string::npos) << lan.error();
  EXPECT_EQ(statusChanges, 1);  // already Error: no change, no notification
}

// A Local host (its embedded server needs no other process): the configuration is fixed while in
// the network, and host()/join() again are refused without changing anything.
TEST(NetworkSetters, AreRefusedWhileInANetwork) {
  Runtime runtime;
  Network n(runtime);
  ASSERT_TRUE(n.setSignalingMode(Network::SignalingMode::Local));
  std::string created;
  n.onNetworkCreated([&](const std::string& id) { created = id; });
  ASSERT_TRUE(n.host());
  EXPECT_EQ(n.status(), Network::Status::Connecting);
  EXPECT_EQ(n.connectionPhase(), "signaling");
  EXPECT_TRUE(n.isHost());
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (created.empty() && std::chrono::steady_clock::now() < end)
    runtime.waitAndPoll(std::chrono::milliseconds(20));
  ASSERT_FALSE(created.empty());
  EXPECT_TRUE(isLanCode(created)) << created;
  EXPECT_EQ(n.networkId(), created);
  EXPECT_EQ(n.nodeId(), Network::kLocalHostId);  // Clayground's; the LAN code names the network
  EXPECT_TRUE(n.connected());
  EXPECT_EQ(n.nodeCount(), 1);
  EXPECT_EQ(n.connectionPhase(), "");
  EXPECT_TRUE(n.phaseTiming().contains("total"));

  Result r = n.setMaxNodes(4);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error().find("while in a network"), std::string::npos) << r.error();
  EXPECT_EQ(n.maxNodes(), 8);
  EXPECT_FALSE(n.setTopology(Network::Topology::Mesh));
  EXPECT_FALSE(n.setSignalingUrl("ws://10.99.0.1:9000/peerjs"));
  EXPECT_FALSE(n.setSignalingMode(Network::SignalingMode::Cloud));
  EXPECT_FALSE(n.setIceServers(std::vector<IceServer>{}));
  EXPECT_FALSE(n.setLocalAddress("10.99.0.1"));
  EXPECT_FALSE(n.host());
  EXPECT_FALSE(n.join(created));
  EXPECT_EQ(n.networkId(), created);
  // Alone in it: broadcast works (to nobody); sendTo needs a node.
  EXPECT_TRUE(n.broadcast(json{{"alone", true}}));
  Result s = n.sendTo("nobody", 1);
  EXPECT_FALSE(s);
  EXPECT_NE(s.error().find("unknown node"), std::string::npos);
  Result self = n.sendTo(n.nodeId(), 1);
  EXPECT_FALSE(self);

  n.leave();
  EXPECT_EQ(n.status(), Network::Status::Disconnected);
  EXPECT_EQ(n.networkId(), "");
  EXPECT_FALSE(n.isHost());
  EXPECT_TRUE(n.setMaxNodes(4));
  // A second network with the same object.
  created.clear();
  ASSERT_TRUE(n.host());
  end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (created.empty() && std::chrono::steady_clock::now() < end)
    runtime.waitAndPoll(std::chrono::milliseconds(20));
  EXPECT_FALSE(created.empty());
}

// Callbacks may call back into the Network: leave() from inside networkCreated.
TEST(NetworkCallbacks, MayLeaveFromInsideACallback) {
  Runtime runtime;
  Network n(runtime);
  ASSERT_TRUE(n.setSignalingMode(Network::SignalingMode::Local));
  bool created = false;
  std::vector<std::string> statuses;
  n.onStatusChanged([&] { statuses.push_back(toString(n.status())); });
  n.onNetworkCreated([&](const std::string&) {
    created = true;
    n.leave();
  });
  ASSERT_TRUE(n.host());
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!created && std::chrono::steady_clock::now() < end)
    runtime.waitAndPoll(std::chrono::milliseconds(20));
  ASSERT_TRUE(created);
  runtime.waitAndPoll(std::chrono::milliseconds(50));
  EXPECT_EQ(n.status(), Network::Status::Disconnected);
  EXPECT_EQ(statuses, (std::vector<std::string>{"Connecting", "Connected", "Disconnected"}));
}

// Network needs Delivery::Poll.
TEST(NetworkSetters, RefuseARuntimeThatDeliversOnItsOwnThread) {
  Runtime runtime(Runtime::Options{Delivery::NetworkThread});
  Network n(runtime);
  Result r = n.host();
  EXPECT_FALSE(r);
  EXPECT_NE(r.error().find("Delivery::Poll"), std::string::npos);
  EXPECT_EQ(n.status(), Network::Status::Disconnected);
}

namespace {

bool pollUntil(Runtime& runtime, const std::function<bool()>& done, std::chrono::seconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end)
    runtime.waitAndPoll(std::chrono::milliseconds(20));
  return done();
}

}  // namespace

// Cloud: a code that is taken (ID-TAKEN) is replaced by another; when every try is taken, the
// host gives up with an error instead of hanging.
TEST(NetworkCodes, ATakenCodeIsReplaced) {
  Runtime runtime;
  SignalServerOptions so;
  so.host = "127.0.0.1";
  so.port = 0;
  SignalServer server(runtime, so);
  ASSERT_TRUE(server.start());
  const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/peerjs";

  // Someone already holds AAAAAA and BBBBBB.
  std::vector<std::shared_ptr<PeerJsPeer>> squatters;
  int opened = 0;
  for (const char* id : {"AAAAAA", "BBBBBB"}) {
    PeerJsOptions o;
    o.server.host = "127.0.0.1";
    o.server.port = server.port();
    o.server.secure = false;
    o.id = id;
    auto p = PeerJsPeer::create(runtime, o);
    p->onOpen([&](const std::string&) { ++opened; });
    ASSERT_TRUE(p->open());
    squatters.push_back(p);
  }
  ASSERT_TRUE(pollUntil(
      runtime, [&] { return opened == 2; }, std::chrono::seconds(20)));

  Network n(runtime);
  ASSERT_TRUE(n.setSignalingUrl(url));
  network::NetworkTesting::forceCodes(n, {"AAAAAA", "BBBBBB", "CCCCCC"});
  std::string created;
  n.onNetworkCreated([&](const std::string& id) { created = id; });
  ASSERT_TRUE(n.host());
  ASSERT_TRUE(pollUntil(
      runtime, [&] { return !created.empty(); }, std::chrono::seconds(20)));
  EXPECT_EQ(created, "CCCCCC");
  EXPECT_EQ(n.networkId(), "CCCCCC");
  n.leave();

  // Every try taken: an error, status Error, no hang.
  Network m(runtime);
  ASSERT_TRUE(m.setSignalingUrl(url));
  network::NetworkTesting::forceCodes(
      m, std::vector<std::string>(8, "AAAAAA"));  // as many as the host tries
  std::vector<std::string> errors;
  m.onErrorOccurred([&](const std::string& e) { errors.push_back(e); });
  ASSERT_TRUE(m.host());
  ASSERT_TRUE(pollUntil(
      runtime, [&] { return !errors.empty(); }, std::chrono::seconds(30)));
  EXPECT_EQ(m.status(), Network::Status::Error);
  EXPECT_NE(errors[0].find("could not find a free network code"), std::string::npos) << errors[0];
}

// Clayground's verifySignalingCertificate: a wss:// server whose certificate no trusted CA signed
// is refused by default, with the reason; with verification off it is used.
TEST(NetworkSignalingTls, VerifySignalingCertificate) {
  char tmpl[] = "/tmp/claynet-network-tls-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + dir +
      "/key.pem -out " + dir +
      "/cert.pem -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);

  Runtime runtime;
  SignalServerOptions so;
  so.host = "127.0.0.1";
  so.port = 0;
  so.tlsCertFile = dir + "/cert.pem";
  so.tlsKeyFile = dir + "/key.pem";
  SignalServer server(runtime, so);
  ASSERT_TRUE(server.start());
  const std::string url = "wss://127.0.0.1:" + std::to_string(server.port()) + "/peerjs";

  Network strict(runtime);
  EXPECT_TRUE(strict.verifySignalingCertificate());
  ASSERT_TRUE(strict.setSignalingUrl(url));
  std::vector<std::string> errors;
  std::string created;
  strict.onErrorOccurred([&](const std::string& e) { errors.push_back(e); });
  strict.onNetworkCreated([&](const std::string& id) { created = id; });
  ASSERT_TRUE(strict.host());
  ASSERT_TRUE(pollUntil(
      runtime, [&] { return !errors.empty(); }, std::chrono::seconds(30)));
  EXPECT_NE(errors[0].find("not signed by a trusted CA"), std::string::npos) << errors[0];
  EXPECT_TRUE(created.empty());
  strict.leave();

  Network lax(runtime);
  ASSERT_TRUE(lax.setVerifySignalingCertificate(false));
  EXPECT_FALSE(lax.verifySignalingCertificate());
  ASSERT_TRUE(lax.setSignalingUrl(url));
  lax.onNetworkCreated([&](const std::string& id) { created = id; });
  ASSERT_TRUE(lax.host());
  ASSERT_TRUE(pollUntil(
      runtime, [&] { return !created.empty(); }, std::chrono::seconds(30)));
  EXPECT_EQ(lax.networkId(), created);
  Result late = lax.setVerifySignalingCertificate(true);
  EXPECT_FALSE(late);
  EXPECT_NE(late.error().find("while in a network"), std::string::npos) << late.error();
  lax.leave();
  std::system(("rm -rf " + dir).c_str());
}
