// Label `transport`: ICE restarts, giving up when no pair can work, and STUN/TURN servers given by
// name. Two peer connections in one process, on loopback.
#include <gtest/gtest.h>

#include "pair.hpp"

using namespace claynet;
using namespace std::chrono_literals;

namespace {

// Plain string search: <regex> trips GCC 12's -Wmaybe-uninitialized inside libstdc++ in the
// sanitizer build (-Werror).
std::string ufragOf(const std::optional<Description>& d) {
  static const std::string key = "a=ice-ufrag:";
  if (!d) return {};
  auto at = d->sdp.find(key);
  if (at == std::string::npos) return {};
  at += key.size();
  auto end = d->sdp.find_first_of(" \t\r\n", at);
  return d->sdp.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// A connected pair with one reliable channel whose messages are collected on the answerer.
struct Connected {
  Runtime rt;
  test::Pair p{rt};
  std::shared_ptr<DataChannel> ch, remote;
  std::vector<std::string> got;

  Connected() {
    p.answerer->onDataChannel([this](std::shared_ptr<DataChannel> c) {
      remote = c;
      remote->onMessage([this](Message&& m) { got.push_back(std::move(m.data)); });
    });
    ch = p.offerer->createDataChannel("data");
  }
  bool connect() {
    return p.offerer->createOffer() && test::pumpUntil(rt, [&] { return ch->isOpen() && remote; });
  }
  // Sends `n` numbered messages, pumping between them, calling `midway` at half.
  void stream(int from, int n, const std::function<void()>& midway) {
    for (int i = from; i < from + n; ++i) {
      ASSERT_TRUE(ch->send(std::to_string(i)));
      if (i == from + n / 2 && midway) midway();
      rt.waitAndPoll(2ms);
    }
  }
  bool allArrivedInOrder(int n) {
    if (!test::pumpUntil(rt, [&] { return static_cast<int>(got.size()) >= n; })) return false;
    for (int i = 0; i < n; ++i)
      if (got[i] != std::to_string(i)) return false;
    return static_cast<int>(got.size()) == n;
  }
};

}  // namespace

TEST(TransportRestart, OffererRestartsIceAndNothingIsLost) {
  Connected c;
  ASSERT_TRUE(c.connect()) << c.p.offerer->failureReason();
  const std::string before = ufragOf(c.p.offerer->localDescription());
  c.stream(0, 200, [&] { ASSERT_TRUE(c.p.offerer->restartIce()); });
  EXPECT_TRUE(c.allArrivedInOrder(200));
  const std::string after = ufragOf(c.p.offerer->localDescription());
  EXPECT_FALSE(before.empty());
  EXPECT_NE(before, after) << "a restart brings new ICE credentials";
  // The restarted path carries the connection from now on.
  c.stream(200, 50, nullptr);
  EXPECT_TRUE(c.allArrivedInOrder(250));
  EXPECT_EQ(c.p.offerer->state(), PeerState::Connected);
  EXPECT_EQ(c.p.answerer->state(), PeerState::Connected);
}

TEST(TransportRestart, AnswererRestartsIceToo) {
  Connected c;
  ASSERT_TRUE(c.connect());
  const std::string before = ufragOf(c.p.answerer->localDescription());
  c.stream(0, 200, [&] { ASSERT_TRUE(c.p.answerer->restartIce()); });
  EXPECT_TRUE(c.allArrivedInOrder(200));
  EXPECT_NE(before, ufragOf(c.p.answerer->localDescription()));
}

TEST(TransportRestart, BothAtOnceTheFirstOffererWins) {
  Connected c;
  ASSERT_TRUE(c.connect());
  std::vector<std::string> refused;
  c.p.tamper = nullptr;
  // Both offers cross: the answerer's restart offer is refused by the offerer (it keeps its own),
  // and the answerer drops its own to answer the offerer's.
  ASSERT_TRUE(c.p.offerer->restartIce());
  ASSERT_TRUE(c.p.answerer->restartIce());
  c.stream(0, 100, nullptr);
  EXPECT_TRUE(c.allArrivedInOrder(100));
  // A restart right after another one is refused until it has got somewhere.
  Result again = c.p.offerer->restartIce();
  if (!again) {
    EXPECT_NE(again.error().find("restart"), std::string::npos) << again.error();
  }
  EXPECT_EQ(c.p.offerer->state(), PeerState::Connected);
}

TEST(TransportRestart, RefusedBeforeTheConnectionForms) {
  Runtime rt;
  PeerConnection pc(rt, test::Pair::loopback());
  Result r = pc.restartIce();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("has not formed yet"), std::string::npos) << r.error();
}

// Every remote candidate an mDNS name that cannot be resolved here, and a remote that never
// sends a check: no pair can ever work. The connection fails within iceTimeout, saying so,
// instead of waiting forever.
TEST(TransportIce, GivesUpWhenNoPairCanEverWork) {
  Runtime rt;
  Configuration c = test::Pair::loopback();
  c.iceTimeout = 1500ms;
  PeerConnection a(rt, c);
  PeerConnection b(rt, test::Pair::loopback());
  a.onLocalDescription([&](const Description& d) { (void)b.setRemoteDescription(d); });
  b.onLocalDescription([&](const Description& d) { (void)a.setRemoteDescription(d); });
  // No candidate crosses, except these.
  auto ch = a.createDataChannel("never");
  ASSERT_TRUE(a.createOffer());
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return a.state() == PeerState::Connecting; }));
  for (const char* name :
       {"1f2e3d4c-aaaa-bbbb-cccc-000000000001.local", "1f2e3d4c-aaaa-bbbb-cccc-000000000002.local"})
    ASSERT_TRUE(a.addRemoteCandidate(
        {std::string("candidate:1 1 udp 2122260223 ") + name + " 54321 typ host", "0", 0}));
  ASSERT_TRUE(test::pumpUntil(
      rt, [&] { return a.state() == PeerState::Failed; }, 10s))
      << "still " << toString(a.state());
  StateReason why = a.stateReason();
  EXPECT_EQ(why.code, StateReason::Code::IceFailed);
  EXPECT_NE(why.detail.find("ICE found no working path to the remote peer in 1500 ms"),
            std::string::npos)
      << why.detail;
  EXPECT_NE(why.detail.find("2 mDNS names skipped"), std::string::npos) << why.detail;
  EXPECT_NE(why.detail.find("only mDNS host names"), std::string::npos) << why.detail;
  EXPECT_EQ(a.iceStats().remoteMdnsSkipped, 2);
  EXPECT_EQ(a.failureReason(), why.detail);
}

// A remote that sends candidates without end gets a bounded number taken, and a clear refusal.
TEST(TransportIce, RemoteCandidatesAreBounded) {
  Runtime rt;
  PeerConnection pc(rt, test::Pair::loopback());
  auto ch = pc.createDataChannel("bounded");
  ASSERT_TRUE(pc.createOffer());
  int taken = 0;
  Result last;
  for (int i = 0; i < 150; ++i) {
    last = pc.addRemoteCandidate({"candidate:" + std::to_string(i) + " 1 udp 2122260223 10.1." +
                                      std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) +
                                      " 40000 typ host",
                                  "0", 0});
    if (!last) break;
    ++taken;
  }
  EXPECT_EQ(taken, 100);
  ASSERT_FALSE(last);
  EXPECT_NE(last.error().find("already sent 100"), std::string::npos) << last.error();
  EXPECT_EQ(pc.state(), PeerState::New) << "the connection itself is not harmed";
}
