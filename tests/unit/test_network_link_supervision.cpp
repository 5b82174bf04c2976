// What a node's tick decides about each link, in virtual time: refused links close at their
// deadline, a handshake that never comes is dropped, a node the host never announced is closed,
// liveness pings and losses pass through, and a late tick is this node's own stall.
#include <gtest/gtest.h>

#include "network/link_supervision.hpp"

using namespace claynet::network;
using namespace std::chrono_literals;

namespace {

using TimePoint = LinkLiveness::Clock::time_point;
const TimePoint t0 = TimePoint{} + 1h;

// An open, welcomed link of a joiner to another joiner (Mesh), created and heard at t0.
LinkFacts meshLink() {
  LinkFacts f;
  f.dataOpen = true;
  f.handshakeDone = true;
  f.member = true;
  f.created = t0;
  return f;
}

}  // namespace

TEST(NetworkLinkSupervision, ARefusedLinkClosesAtItsDeadlineAndNotBefore) {
  LinkFacts f = meshLink();
  f.rejecting = true;
  f.weAreHost = true;
  f.rejectDeadline = t0 + 1500ms;
  LinkLiveness l(t0);
  EXPECT_EQ(judgeLink(f, l, t0 + 1499ms, 5000ms), LinkVerdict::Keep);
  EXPECT_EQ(judgeLink(f, l, t0 + 1500ms, 5000ms), LinkVerdict::Unwanted);
  // Long silent, it is still no ping and no loss: it is only waiting to be closed.
  EXPECT_EQ(judgeLink(f, l, t0 + 1000ms, 500ms), LinkVerdict::Keep);
  f.dataOpen = false;  // its channel closed by itself: nothing to close
  EXPECT_EQ(judgeLink(f, l, t0 + 9000ms, 5000ms), LinkVerdict::Keep);
}

TEST(NetworkLinkSupervision, AHandshakeThatNeverComesIsDroppedWithoutPings) {
  LinkFacts f = meshLink();
  f.weAreHost = true;
  f.handshakeDone = false;
  f.member = false;
  LinkLiveness l(t0);
  for (auto t = 0ms; t < kHandshakeSilenceLimit; t += kTickInterval)
    ASSERT_EQ(judgeLink(f, l, t0 + t, 5000ms), LinkVerdict::Keep) << t.count();
  EXPECT_EQ(judgeLink(f, l, t0 + kHandshakeSilenceLimit, 5000ms), LinkVerdict::Silent);
  // Heard meanwhile: the limit counts from then. Even grace 0 does not keep it forever.
  l.heard(t0 + 5s);
  EXPECT_EQ(judgeLink(f, l, t0 + 5s + kHandshakeSilenceLimit - 1ms, 0ms), LinkVerdict::Keep);
  EXPECT_EQ(judgeLink(f, l, t0 + 5s + kHandshakeSilenceLimit, 0ms), LinkVerdict::Silent);
}

TEST(NetworkLinkSupervision, ANodeTheHostNeverAnnouncedIsClosed) {
  LinkFacts f = meshLink();
  f.member = false;
  LinkLiveness l(t0);
  l.pinged(t0 + kUnannouncedLimit - 1s);
  l.heard(t0 + kUnannouncedLimit - 1s);
  EXPECT_NE(judgeLink(f, l, t0 + kUnannouncedLimit - 1ms, 5000ms), LinkVerdict::Unwanted);
  EXPECT_EQ(judgeLink(f, l, t0 + kUnannouncedLimit, 5000ms), LinkVerdict::Unwanted);
  // Announced, the link to the host, or a host's own link: never unwanted for that.
  LinkFacts announced = f;
  announced.member = true;
  LinkFacts toHost = f;
  toHost.toHost = true;
  LinkFacts atHost = f;
  atHost.weAreHost = true;
  for (const LinkFacts& g : {announced, toHost, atHost})
    EXPECT_NE(judgeLink(g, l, t0 + kUnannouncedLimit + 1s, 5000ms), LinkVerdict::Unwanted);
}

TEST(NetworkLinkSupervision, LivenessPingsAndLossesPassThrough) {
  LinkFacts f = meshLink();
  LinkLiveness l(t0);
  EXPECT_EQ(judgeLink(f, l, t0 + 100ms, 5000ms), LinkVerdict::Keep);
  EXPECT_EQ(judgeLink(f, l, t0 + 500ms, 5000ms), LinkVerdict::Ping);  // quiet for 0.5 s
  l.pinged(t0 + 500ms);
  EXPECT_EQ(judgeLink(f, l, t0 + 2000ms, 5000ms), LinkVerdict::Keep);
  EXPECT_EQ(judgeLink(f, l, t0 + 5499ms, 5000ms), LinkVerdict::Ping);
  EXPECT_EQ(judgeLink(f, l, t0 + 5500ms, 5000ms), LinkVerdict::Silent);
  EXPECT_NE(judgeLink(f, l, t0 + 60s, 0ms), LinkVerdict::Silent);  // grace 0: never gone
  // A link not open yet is left alone (until kOpenLimit, below).
  f.dataOpen = false;
  EXPECT_EQ(judgeLink(f, l, t0 + 19s, 5000ms), LinkVerdict::Keep);
}

TEST(NetworkLinkSupervision, ALateTickIsThisNodesOwnStall) {
  StallDetector d;
  EXPECT_FALSE(d.tick(t0));  // the first tick has nothing to compare with
  TimePoint t = t0;
  for (int i = 0; i < 20; ++i) {
    t += kTickInterval + 37ms;  // a busy but running process
    ASSERT_FALSE(d.tick(t)) << i;
  }
  t += kStallThreshold;  // exactly the threshold: not yet a stall
  EXPECT_FALSE(d.tick(t));
  t += 3s;
  auto stall = d.tick(t);
  ASSERT_TRUE(stall);
  EXPECT_EQ(*stall, 3s - kTickInterval);
  // A restarted ticker does not count the time it was stopped.
  d.restart(t + 1h);
  EXPECT_FALSE(d.tick(t + 1h + kTickInterval));
}

// The stall and the liveness together: a node suspended for 4 s (less than the grace period of
// 5 s, but with a ping in flight) does not declare a peer that kept answering gone.
TEST(NetworkLinkSupervision, AStalledNodeDoesNotBlameItsPeer) {
  LinkFacts f = meshLink();
  LinkLiveness l(t0);
  StallDetector d;
  d.restart(t0);
  TimePoint t = t0;
  for (; t < t0 + 2s; t += kTickInterval) {
    ASSERT_FALSE(d.tick(t));
    if (judgeLink(f, l, t, 5000ms) == LinkVerdict::Ping) {
      l.pinged(t);
      l.heard(t + 30ms);
    }
  }
  l.pinged(t);  // a ping leaves, then the process stops before its answer is read
  t += 4s;
  auto stall = d.tick(t);
  ASSERT_TRUE(stall);
  l.stalled(*stall, t);
  // Without the stall the ping would be 4 s old now, and gone 1 s later. The answer is read
  // only 2 s on (the process catches up slowly).
  for (int i = 0; i < 10; ++i) {
    t += kTickInterval;
    ASSERT_FALSE(d.tick(t));
    ASSERT_NE(judgeLink(f, l, t, 5000ms), LinkVerdict::Silent) << i;
  }
  l.heard(t);  // the answer is read
  EXPECT_NE(judgeLink(f, l, t + kTickInterval, 5000ms), LinkVerdict::Silent);
}

TEST(NetworkLinkSupervision, ALinkWhoseChannelNeverOpensIsGivenUp) {
  LinkFacts f;
  f.created = t0;
  LinkLiveness l(t0);
  // A stray or hostile peer that never opens its channel: not forever, at a host or a joiner.
  for (bool host : {true, false}) {
    f.weAreHost = host;
    EXPECT_EQ(judgeLink(f, l, t0 + kOpenLimit - 1ms, 5000ms), LinkVerdict::Keep);
    EXPECT_EQ(judgeLink(f, l, t0 + kOpenLimit, 5000ms), LinkVerdict::NeverOpened);
  }
  // A shorter limit (a test's) counts instead.
  f.openLimit = 3000ms;
  EXPECT_EQ(judgeLink(f, l, t0 + 3000ms - 1ms, 5000ms), LinkVerdict::Keep);
  EXPECT_EQ(judgeLink(f, l, t0 + 3000ms, 5000ms), LinkVerdict::NeverOpened);
  f.openLimit = kOpenLimit;
  // Refused and never opened: given up all the same.
  f.rejecting = true;
  f.rejectDeadline = t0 + 200ms;
  EXPECT_EQ(judgeLink(f, l, t0 + kOpenLimit, 5000ms), LinkVerdict::NeverOpened);
  // A joiner's link to its host is bounded by the connection timeout instead.
  f.rejecting = false;
  f.weAreHost = false;
  f.toHost = true;
  EXPECT_EQ(judgeLink(f, l, t0 + 10 * kOpenLimit, 5000ms), LinkVerdict::Keep);
  // An open link is judged by its liveness, however old.
  LinkFacts open = meshLink();
  LinkLiveness heard(t0 + 10 * kOpenLimit);
  EXPECT_EQ(judgeLink(open, heard, t0 + 10 * kOpenLimit + 100ms, 5000ms), LinkVerdict::Keep);
}
