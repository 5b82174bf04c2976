// A chat over claynet::Network, host and guest in one program (Local mode: the host runs its own
// signaling server, no internet needed). In a real game each side is its own program: the host
// shows networkId, the others type it into join().
#include <claynet/network.hpp>
#include <cstdio>

int main() {
  claynet::Runtime runtime;  // one network thread; every callback runs inside poll()
  claynet::Network host(runtime), guest(runtime);
  (void)host.setSignalingMode(claynet::Network::SignalingMode::Local);
  (void)host.setMaxNodes(4);

  bool done = false;
  host.onNetworkCreated([&](const std::string& code) {
    std::printf("host: share this code: %s\n", code.c_str());
    if (auto r = guest.join(code); !r) std::printf("join failed: %s\n", r.error().c_str());
  });
  host.onNodeJoined([&](const std::string& id) { std::printf("host: %s joined\n", id.c_str()); });
  host.onMessageReceived([&](const std::string& from, const nlohmann::json& data) {
    std::printf("host: %s says %s\n", from.c_str(), data["text"].get<std::string>().c_str());
    (void)host.sendTo(from, {{"type", "chat"}, {"text", "welcome!"}});
  });
  guest.onNodeJoined([&](const std::string& id) {
    if (id != guest.hostId()) return;  // HOST in Local mode, the code in Cloud mode
    (void)guest.broadcast({{"type", "chat"}, {"text", "hello, everyone"}});
    (void)guest.broadcastState({{"x", 10}, {"y", 20}});  // lossy; the newest wins
  });
  host.onStateReceived([&](const std::string& from, const nlohmann::json& data) {
    std::printf("host: %s is at %s\n", from.c_str(), data.dump().c_str());
  });
  guest.onMessageReceived([&](const std::string& from, const nlohmann::json& data) {
    std::printf("guest: %s says %s\n", from.c_str(), data["text"].get<std::string>().c_str());
    done = true;
  });
  for (auto* n : {&host, &guest})
    n->onErrorOccurred(
        [](const std::string& message) { std::printf("error: %s\n", message.c_str()); });

  if (auto r = host.host(); !r) {
    std::printf("host failed: %s\n", r.error().c_str());
    return 1;
  }
  for (int i = 0; i < 1000 && !done; ++i)  // a game polls once per frame instead
    runtime.waitAndPoll(std::chrono::milliseconds(10));
  guest.leave();
  host.leave();
  return done ? 0 : 1;
}
