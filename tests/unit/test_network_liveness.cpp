// Clayground's liveness rule in virtual time: a link whose peer answers stays, a peer that falls
// silent is gone about gracePeriod after the first unanswered ping, an outage shorter than the
// grace period loses nobody, and a quiet link gets a probe after 0.5 s.
#include <gtest/gtest.h>

#include <random>

#include "network/liveness.hpp"

using claynet::network::LinkLiveness;
using Action = LinkLiveness::Action;
using namespace std::chrono_literals;

namespace {

using TimePoint = LinkLiveness::Clock::time_point;

// One link checked every 250 ms (Clayground's cadence; claynet ticks every 200 ms) whose peer
// answers each ping after `rtt`, except while it is dark (no answer leaves [darkFrom, darkTo)).
// Returns when the link was declared gone, or nothing within `horizon`.
std::optional<std::chrono::milliseconds> run(std::chrono::milliseconds grace,
                                             std::chrono::milliseconds darkFrom,
                                             std::chrono::milliseconds darkTo,
                                             std::chrono::milliseconds horizon, unsigned seed = 1) {
  const TimePoint t0 = TimePoint{} + 1h;
  LinkLiveness l(t0);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> rtt(20, 180);
  std::vector<TimePoint> answers;  // when pongs arrive
  for (auto t = 0ms; t <= horizon; t += 10ms) {
    const TimePoint now = t0 + t;
    for (auto it = answers.begin(); it != answers.end();) {
      if (*it <= now) {
        l.heard(*it);
        it = answers.erase(it);
      } else {
        ++it;
      }
    }
    if (t.count() % 250 != 0) continue;
    const Action a = l.check(now, grace);
    if (a == Action::Gone) return t;
    if (a == Action::Ping) {
      l.pinged(now);
      const auto back = std::chrono::milliseconds(rtt(rng));
      const bool dark = t + back / 2 >= darkFrom && t + back / 2 < darkTo;
      if (!dark) answers.push_back(now + back);
    }
  }
  return std::nullopt;
}

}  // namespace

TEST(LinkLiveness, APeerThatAnswersStays) {
  for (unsigned seed = 1; seed <= 10; ++seed)
    EXPECT_FALSE(run(5000ms, 0ms, 0ms, 120s, seed)) << "seed " << seed;
}

TEST(LinkLiveness, ASilentPeerIsGoneWithinGracePlusAProbe) {
  for (unsigned seed = 1; seed <= 10; ++seed) {
    auto gone = run(5000ms, 10s, 999s, 60s, seed);
    ASSERT_TRUE(gone) << "seed " << seed;
    // The first unanswered ping leaves within 0.5 s (+ the check cadence) of the silence.
    EXPECT_GE(*gone, 15s) << "seed " << seed;
    EXPECT_LE(*gone, 10s + 5s + 1000ms) << "seed " << seed;
  }
}

TEST(LinkLiveness, AnOutageShorterThanTheGracePeriodLosesNobody) {
  for (unsigned seed = 1; seed <= 10; ++seed)
    EXPECT_FALSE(run(5000ms, 10s, 13500ms, 60s, seed)) << "seed " << seed;  // 3.5 s dark
  // And one longer than it does.
  EXPECT_TRUE(run(5000ms, 10s, 16500ms, 60s));
}

TEST(LinkLiveness, GraceZeroNeverGivesUp) { EXPECT_FALSE(run(0ms, 1s, 999s, 60s)); }

TEST(LinkLiveness, PingsEveryTwoSecondsAndProbesAQuietLink) {
  const TimePoint t0 = TimePoint{} + 1h;
  LinkLiveness l(t0);
  EXPECT_EQ(l.check(t0 + 400ms, 5000ms), Action::None);
  EXPECT_EQ(l.check(t0 + 500ms, 5000ms), Action::Ping);  // quiet for 0.5 s
  l.pinged(t0 + 500ms);
  EXPECT_EQ(l.check(t0 + 1500ms, 5000ms), Action::None);  // a ping is out: no second probe
  l.heard(t0 + 1600ms);
  EXPECT_EQ(l.check(t0 + 1900ms, 5000ms), Action::None);
  EXPECT_EQ(l.check(t0 + 2100ms, 5000ms), Action::Ping);  // quiet again for 0.5 s
  l.pinged(t0 + 2100ms);
  // Traffic keeps the link from being probed, but the 2 s pings go on.
  for (auto t = 2200ms; t < 4100ms; t += 100ms) {
    l.heard(t0 + t);
    EXPECT_EQ(l.check(t0 + t, 5000ms), Action::None) << t.count();
  }
  EXPECT_EQ(l.check(t0 + 4100ms, 5000ms), Action::Ping);
  // This node's own stall does not count against the peer.
  l.pinged(t0 + 4100ms);
  l.stalled(6s, t0 + 10200ms);
  EXPECT_NE(l.check(t0 + 10200ms, 5000ms), Action::Gone);
}
