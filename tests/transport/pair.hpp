// Two peer connections in one process, signaling handed over in-process.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "claynet/peer_connection.hpp"

namespace claynet::test {

/// Runs the runtime's events until `done` holds or `timeout` passes; returns `done()`.
inline bool pumpUntil(Runtime& rt, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    rt.waitAndPoll(std::chrono::milliseconds(5));
  }
  return true;
}

struct Pair {
  explicit Pair(Runtime& rt, Configuration c1 = loopback(), Configuration c2 = loopback())
      : runtime(rt),
        offerer(std::make_unique<PeerConnection>(rt, c1)),
        answerer(std::make_unique<PeerConnection>(rt, c2)) {
    offerer->onLocalDescription([this](const Description& d) {
      Description copy = d;
      if (tamper) tamper(copy);
      (void)answerer->setRemoteDescription(copy);
    });
    answerer->onLocalDescription([this](const Description& d) {
      Description copy = d;
      if (tamper) tamper(copy);
      (void)offerer->setRemoteDescription(copy);
    });
    offerer->onLocalCandidate(
        [this](const Candidate& c) { (void)answerer->addRemoteCandidate(c); });
    answerer->onLocalCandidate(
        [this](const Candidate& c) { (void)offerer->addRemoteCandidate(c); });
  }

  static Configuration loopback() {
    Configuration c;
    c.localAddresses = {"127.0.0.1"};
    return c;
  }

  Runtime& runtime;
  std::unique_ptr<PeerConnection> offerer;
  std::unique_ptr<PeerConnection> answerer;
  std::function<void(Description&)> tamper;
};

}  // namespace claynet::test
