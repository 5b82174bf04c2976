// Shared pieces of the `hostile` tests: a connected pair of peer connections, and the check that
// the node still serves a legitimate peer after an attack.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "../transport/pair.hpp"

namespace claynet::test {

using namespace std::chrono_literals;

/// Connects `p` with one channel made by the offerer; returns {local, remote} (null on failure).
inline std::pair<std::shared_ptr<DataChannel>, std::shared_ptr<DataChannel>> connectChannel(
    Pair& p, const std::string& label, const DataChannelInit& init = {}) {
  auto remote = std::make_shared<std::shared_ptr<DataChannel>>();
  p.answerer->onDataChannel([remote](std::shared_ptr<DataChannel> ch) {
    if (!*remote) *remote = ch;
  });
  auto local = p.offerer->createDataChannel(label, init);
  EXPECT_TRUE(local);
  EXPECT_TRUE(p.offerer->createOffer());
  EXPECT_TRUE(pumpUntil(p.runtime, [&] { return local && local->isOpen() && *remote; }))
      << p.offerer->failureReason() << " / " << p.answerer->failureReason();
  return {local, *remote};
}

/// A fresh pair on `rt` connects and a message goes there and back: the node still serves a
/// legitimate peer. (With Delivery::NetworkThread the callbacks run on the network thread.)
inline void expectServesALegitimatePeer(Runtime& rt) {
  Pair p(rt);
  auto [local, remote] = connectChannel(p, "legit");
  ASSERT_TRUE(local && remote);
  std::atomic<bool> echoed{false};
  DataChannel* r = remote.get();
  remote->onMessage([r](Message&& m) { (void)r->send("echo " + m.data); });
  local->onMessage([&echoed](Message&& m) {
    if (m.data == "echo ping") echoed = true;
  });
  ASSERT_TRUE(local->send("ping"));
  EXPECT_TRUE(pumpUntil(rt, [&] { return echoed.load(); }));
}

/// Deterministic content of message `index` with `size` bytes, so order and bytes are checked.
inline std::string content(std::size_t index, std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t j = 0; j < size; ++j) s[j] = static_cast<char>((index * 131 + j * 7) & 0xff);
  return s;
}

}  // namespace claynet::test
