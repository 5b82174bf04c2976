// Two PeerJS peers meet through a PeerJS-compatible signaling server and exchange a value.
// The server here is claynet's own, embedded in this process on an ephemeral port (as a Local
// mode host does); point PeerJsServer at `claynet signal`, the npm `peer` server or the PeerJS
// cloud instead and nothing else changes. A browser tab running PeerJS 1.5 can be either peer.
#include <chrono>
#include <claynet/peerjs.hpp>
#include <claynet/signal_server.hpp>
#include <cstdio>

int main() {
  claynet::Runtime runtime;  // events are delivered by runtime.poll() on this thread

  claynet::SignalServerOptions serverOptions;
  serverOptions.host = "127.0.0.1";
  serverOptions.port = 0;  // any free port
  claynet::SignalServer server(runtime, serverOptions);
  if (auto r = server.start(); !r) {
    std::fprintf(stderr, "server: %s\n", r.error().c_str());
    return 1;
  }

  claynet::PeerJsOptions options;
  options.server.host = "127.0.0.1";
  options.server.port = server.port();
  options.server.secure = false;
  options.rtc = {};  // no STUN server: everything is on this machine

  options.id = "alice";
  auto alice = claynet::PeerJsPeer::create(runtime, options);
  options.id = "bob";
  auto bob = claynet::PeerJsPeer::create(runtime, options);

  bool done = false;
  bob->onConnection([&](std::shared_ptr<claynet::PeerJsConnection> conn) {
    conn->onData([&, c = conn.get()](const nlohmann::json& value) {
      std::printf("bob got %s from %s\n", value.dump().c_str(), c->peer().c_str());
      done = true;
    });
  });
  bob->onError([](const claynet::PeerJsError& e) { std::printf("bob: %s\n", e.text().c_str()); });

  if (auto r = alice->open(); !r) return std::printf("alice: %s\n", r.error().c_str()), 1;
  if (auto r = bob->open(); !r) return std::printf("bob: %s\n", r.error().c_str()), 1;

  // connect() may be called before the registration completes; the OFFER waits for it. The
  // other peer must be registered by the time the OFFER arrives (or within the server's expire
  // timeout, 5 s by default), or the result is a peer-unavailable error.
  claynet::PeerJsConnectOptions connectOptions;
  connectOptions.serialization = claynet::Serialization::Binary;  // BinaryPack, as PeerJS
  connectOptions.reliable = true;                                 // ordered
  auto conn = alice->connect("bob", connectOptions);
  conn->onOpen([&] {
    auto r = conn->send({{"hello", "bob"}, {"bytes", nlohmann::json::binary({1, 2, 3})}});
    if (!r) std::printf("send: %s\n", r.error().c_str());
  });

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done && std::chrono::steady_clock::now() < deadline) {
    runtime.waitAndPoll(std::chrono::milliseconds(50));
  }
  alice->destroy();
  bob->destroy();
  return done ? 0 : 1;
}
