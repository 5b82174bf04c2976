// Two peer connections in one program: the smallest complete use of claynet's transport.
// In a real game the descriptions and candidates travel over your signaling channel instead.
#include <claynet/peer_connection.hpp>
#include <cstdio>

int main() {
  claynet::Runtime runtime;  // one network thread; events come back through poll()
  claynet::Configuration config;
  config.localAddresses = {"127.0.0.1"};  // stay on this machine

  claynet::PeerConnection alice(runtime, config), bob(runtime, config);
  // Signaling: hand each description and candidate to the other side.
  alice.onLocalDescription(
      [&](const claynet::Description& d) { (void)bob.setRemoteDescription(d); });
  bob.onLocalDescription(
      [&](const claynet::Description& d) { (void)alice.setRemoteDescription(d); });
  alice.onLocalCandidate([&](const claynet::Candidate& c) { (void)bob.addRemoteCandidate(c); });
  bob.onLocalCandidate([&](const claynet::Candidate& c) { (void)alice.addRemoteCandidate(c); });

  std::shared_ptr<claynet::DataChannel> bobsChannel;  // keep it: dropping it closes the channel
  bool done = false;
  bob.onDataChannel([&](std::shared_ptr<claynet::DataChannel> channel) {
    bobsChannel = channel;
    channel->onMessage([&](claynet::Message&& m) {
      std::printf("bob got '%s' on '%s'\n", m.data.c_str(), bobsChannel->label().c_str());
      done = true;
    });
  });

  auto chat = alice.createDataChannel("chat");  // reliable and ordered by default
  chat->onOpen([&] {
    if (auto r = chat->send("hello, bob"); !r) std::printf("send failed: %s\n", r.error().c_str());
  });
  if (auto r = alice.createOffer(); !r) {
    std::printf("offer failed: %s\n", r.error().c_str());
    return 1;
  }

  for (int i = 0; i < 500 && !done; ++i)  // a game would poll once per frame instead
    runtime.waitAndPoll(std::chrono::milliseconds(10));
  if (!done) std::printf("no message: %s\n", alice.failureReason().c_str());
  return done ? 0 : 1;
}
