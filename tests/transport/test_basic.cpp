#include <gtest/gtest.h>

#include "pair.hpp"

using namespace claynet;
using namespace std::chrono_literals;

TEST(Transport, ConnectsAndExchangesTextAndBinary) {
  Runtime rt;
  test::Pair p(rt);
  std::shared_ptr<DataChannel> remote;
  std::vector<Message> got;
  p.answerer->onDataChannel([&](std::shared_ptr<DataChannel> ch) {
    remote = ch;
    remote->onMessage([&](Message&& m) { got.push_back(std::move(m)); });
  });
  auto ch = p.offerer->createDataChannel("chat");
  ASSERT_TRUE(ch);
  bool open = false;
  ch->onOpen([&] { open = true; });
  ASSERT_TRUE(p.offerer->createOffer());
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return open && remote; })) << p.offerer->failureReason();
  EXPECT_EQ(p.offerer->state(), PeerState::Connected);
  EXPECT_EQ(remote->label(), "chat");
  ASSERT_TRUE(ch->send("hello"));
  const char bin[] = {1, 2, 3};
  ASSERT_TRUE(ch->sendBinary(bin, 3));
  ASSERT_TRUE(ch->send(""));
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return got.size() == 3; }));
  EXPECT_EQ(got[0].data, "hello");
  EXPECT_FALSE(got[0].binary);
  EXPECT_EQ(got[1].data, std::string(bin, 3));
  EXPECT_TRUE(got[1].binary);
  EXPECT_EQ(got[2].data, "");
  EXPECT_FALSE(got[2].binary);
  auto pair = p.offerer->selectedPair();
  ASSERT_TRUE(pair);
  EXPECT_EQ(pair->local.type, CandidateType::Host);
}
