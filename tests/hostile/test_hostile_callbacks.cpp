// Label `hostile`: where and when callbacks run, the traps of Delivery::NetworkThread (issue 12,
// finding 10). Each case also checks that the node still serves a legitimate peer.
#include <atomic>
#include <thread>

#include "hostile.hpp"

using namespace claynet;
using namespace std::chrono_literals;

namespace {

std::pair<std::shared_ptr<DataChannel>, std::shared_ptr<DataChannel>> connect(
    test::Pair& p, const std::string& label) {
  auto remote = std::make_shared<std::shared_ptr<DataChannel>>();
  auto ready = std::make_shared<std::atomic<bool>>(false);
  p.answerer->onDataChannel([remote, ready](std::shared_ptr<DataChannel> ch) {
    *remote = ch;
    *ready = true;
  });
  auto local = p.offerer->createDataChannel(label);
  EXPECT_TRUE(p.offerer->createOffer());
  EXPECT_TRUE(test::pumpUntil(p.runtime, [&] { return local->isOpen() && ready->load(); }));
  p.answerer->onDataChannel(nullptr);  // the callback no longer holds the channel
  return {local, *remote};
}

}  // namespace

// A negotiated channel created on a connection that is already up used to open inside
// createDataChannel, so with Delivery::NetworkThread its onOpen had fired before the caller could
// set it.
TEST(HostileCallbacks, NegotiatedChannelOnALiveConnectionReportsOpen) {
  Runtime rt(Runtime::Options{Delivery::NetworkThread});
  test::Pair p(rt);
  auto [a, b] = connect(p, "first");
  ASSERT_TRUE(a && b);
  DataChannelInit init;
  init.negotiated = true;
  init.id = 40;
  std::atomic<int> opens{0};
  auto x = p.offerer->createDataChannel("late", init);
  ASSERT_TRUE(x);
  x->onOpen([&] { ++opens; });
  auto y = p.answerer->createDataChannel("late", init);
  ASSERT_TRUE(y);
  y->onOpen([&] { ++opens; });
  EXPECT_TRUE(test::pumpUntil(rt, [&] { return opens.load() == 2; }))
      << "onOpen calls: " << opens.load();
  std::atomic<bool> got{false};
  y->onMessage([&](Message&& m) { got = m.data == "negotiated"; });
  ASSERT_TRUE(x->send("negotiated"));
  EXPECT_TRUE(test::pumpUntil(rt, [&] { return got.load(); }));
  test::expectServesALegitimatePeer(rt);
}

// ~DataChannel returned while its callback was still running on the network thread, so the
// callback could touch what the application freed right after.
TEST(HostileCallbacks, DestroyingAChannelWaitsForItsRunningCallback) {
  Runtime rt(Runtime::Options{Delivery::NetworkThread});
  test::Pair p(rt);
  auto [a, b] = connect(p, "slow");
  ASSERT_TRUE(a && b);
  std::atomic<bool> inside{false}, finished{false};
  b->onMessage([&](Message&&) {
    inside = true;
    std::this_thread::sleep_for(300ms);
    finished = true;
  });
  ASSERT_TRUE(a->send("x"));
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return inside.load(); }));
  b.reset();  // the callback is sleeping on the network thread right now
  EXPECT_TRUE(finished.load()) << "~DataChannel returned while its callback was still running";
  test::expectServesALegitimatePeer(rt);
}

// Errors went straight to onError on whatever thread found them: the caller's thread for
// createDataChannel's convenience form, the network thread when no stream was free. With
// Delivery::Poll they belong in poll().
TEST(HostileCallbacks, ErrorsRunWhereTheDeliveryModeSays) {
  Runtime rt;
  test::Pair p(rt);
  const auto me = std::this_thread::get_id();
  std::atomic<int> errors{0}, wrongThread{0};
  std::atomic<bool> inPoll{false};
  p.offerer->onError([&](const std::string&) {
    ++errors;
    if (std::this_thread::get_id() != me || !inPoll) ++wrongThread;
  });
  DataChannelInit bad;
  bad.maxRetransmits = 1;
  bad.maxPacketLifeTime = 1;
  EXPECT_FALSE(p.offerer->createDataChannel("bad", bad));
  EXPECT_EQ(errors.load(), 0) << "onError ran inside createDataChannel";
  auto pumpFlagged = [&](const std::function<bool()>& done) {
    auto end = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < end) {
      inPoll = true;
      rt.waitAndPoll(2ms);
      inPoll = false;
    }
    return done();
  };
  EXPECT_TRUE(pumpFlagged([&] { return errors.load() == 1; }));

  // More channels than free streams: the one left over fails with a reason, in poll().
  std::vector<std::shared_ptr<DataChannel>> chans;
  std::atomic<int> channelErrors{0}, channelWrongThread{0};
  for (int i = 0; i < 513; ++i) {
    auto ch = p.offerer->createDataChannel("c" + std::to_string(i));
    ASSERT_TRUE(ch);
    ch->onError([&](const std::string&) {
      ++channelErrors;
      if (std::this_thread::get_id() != me || !inPoll) ++channelWrongThread;
    });
    chans.push_back(ch);
  }
  ASSERT_TRUE(p.offerer->createOffer());
  EXPECT_TRUE(pumpFlagged([&] { return channelErrors.load() == 1; }));
  EXPECT_EQ(wrongThread.load(), 0);
  EXPECT_EQ(channelWrongThread.load(), 0);
  test::expectServesALegitimatePeer(rt);
}
