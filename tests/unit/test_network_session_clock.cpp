// Clayground's session clock and transit tracker in virtual time: a joiner's estimate of the
// host's session time through links of 100 ± 20 ms round trip, seeded, with Clayground's own
// agreement figure (10 ms) as the bound.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "network/session_clock.hpp"

using claynet::network::SessionClock;
using claynet::network::TransitTracker;

namespace {

// Two machines whose monotonic clocks differ by `skew` ms; one leg of the link takes
// `base` ± `jitter` ms, drawn from a seeded generator.
struct Lab {
  double skew = 123456.789;  // host local = joiner local + skew
  double hostStart = 5000;   // host local time of host(): session time 0
  std::mt19937 rng;
  std::uniform_real_distribution<double> leg;
  Lab(unsigned seed, double base, double jitter) : rng(seed), leg(base - jitter, base + jitter) {}

  double trueSession(double joinerLocal) const { return joinerLocal + skew - hostStart; }

  // A ping leaves the joiner at `sent`; returns when the pong arrives and the host's st.
  std::pair<double, double> pingPong(double sent) {
    const double atHost = sent + leg(rng);
    const double back = atHost + leg(rng);
    return {back, trueSession(atHost)};
  }
};

}  // namespace

TEST(SessionClock, TheHostStartsAtZeroAndIsSynced) {
  SessionClock c;
  EXPECT_FALSE(c.valid());
  EXPECT_EQ(c.sessionTime(10), -1);
  c.start(1000);
  EXPECT_TRUE(c.synced());
  EXPECT_DOUBLE_EQ(c.sessionTime(1000), 0);
  EXPECT_DOUBLE_EQ(c.sessionTime(1250.5), 250.5);
  c.reset();
  EXPECT_FALSE(c.valid());
}

TEST(SessionClock, AJoinerAgreesWithinTenMsThroughJitteryLinks) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    Lab lab(seed, 50, 10);  // round trips of 100 ± 20 ms
    SessionClock c;
    double now = 20000;
    // The welcome's st is off by its one-way delay.
    const double welcomeSent = now - lab.leg(lab.rng);
    c.seed(lab.trueSession(welcomeSent), now);
    EXPECT_TRUE(c.valid());
    EXPECT_FALSE(c.synced());
    EXPECT_GT(std::abs(c.sessionTime(now) - lab.trueSession(now)), 30.0 - 1e-9);
    // The burst: 64 pings 50 ms apart; each pong is a sample when it arrives.
    std::vector<std::pair<double, std::pair<double, double>>> pongs;
    for (std::size_t i = 0; i < SessionClock::kWindow; ++i) {
      const double sent = now + i * SessionClock::kBurstIntervalMs;
      pongs.push_back({sent, lab.pingPong(sent)});
    }
    std::sort(pongs.begin(), pongs.end(),
              [](const auto& a, const auto& b) { return a.second.first < b.second.first; });
    std::size_t taken = 0;
    for (const auto& [sent, pong] : pongs) {
      ASSERT_TRUE(c.sample(sent, pong.first, pong.second));
      EXPECT_EQ(c.synced(), ++taken >= SessionClock::kSyncedAfter);
    }
    const double after = pongs.back().second.first;
    EXPECT_TRUE(c.synced());
    EXPECT_LE(std::abs(c.sessionTime(after) - lab.trueSession(after)), 10.0) << "seed " << seed;
    // And it stays so with the regular pings every 2 s for a minute.
    double t = after;
    for (int i = 0; i < 30; ++i) {
      t += 2000;
      auto [back, st] = lab.pingPong(t);
      ASSERT_TRUE(c.sample(t, back, st));
      EXPECT_LE(std::abs(c.sessionTime(back) - lab.trueSession(back)), 10.0) << "seed " << seed;
    }
  }
}

TEST(SessionClock, OnceSyncedItSlewsAndNeverGoesBack) {
  SessionClock c;
  for (std::size_t i = 0; i < SessionClock::kSyncedAfter; ++i)
    ASSERT_TRUE(c.sample(i * 10.0, i * 10.0 + 20, 1000 + i * 10.0 + 10));  // offset 1000
  ASSERT_TRUE(c.synced());
  double before = c.sessionTime(400);
  EXPECT_NEAR(before, 1400, 1e-6);
  // The host's clock now reads 100 ms less (all samples agree): the offset may only slew at
  // 0.05 ms per ms, so session time keeps moving forward.
  for (std::size_t i = 0; i < SessionClock::kWindow; ++i) {
    const double sent = 400 + i * 10.0;
    ASSERT_TRUE(c.sample(sent, sent + 20, 900 + sent + 10));
  }
  double last = c.sessionTime(1040);
  EXPECT_GE(last, before);
  for (double t = 1040; t <= 4000; t += 5) {
    const double now = c.sessionTime(t);
    EXPECT_GE(now, last);
    last = now;
  }
  EXPECT_NEAR(c.sessionTime(4000), 4900, 1e-6);  // 100 ms caught up in 2000 ms
  // Samples that cannot be ones are refused.
  EXPECT_FALSE(c.sample(10, 5, 100));
  EXPECT_FALSE(c.sample(10, 20, -1));
  EXPECT_FALSE(c.sample(10, 20, NAN));
}

TEST(SessionClock, ASeedAfterSamplesIsIgnored) {
  SessionClock c;
  ASSERT_TRUE(c.sample(0, 20, 510));  // offset 500
  c.seed(99999, 20);
  EXPECT_NEAR(c.sessionTime(20), 520, 1e-6);
}

TEST(TransitTracker, TheFastestOfTheLastThreeSecondsInSessionMs) {
  TransitTracker t;
  EXPECT_TRUE(std::isnan(t.transitMs("a", 0, 0)));
  const double offset = 1000;  // session = local + 1000
  // Sent at session time s, arriving at local time l: transit = l + 1000 - s.
  t.arrived("a", 1000 + 0 - 40, 0);      // 40 ms
  t.arrived("a", 1000 + 100 - 25, 100);  // 25 ms
  t.arrived("a", 1000 + 200 - 60, 200);  // 60 ms
  EXPECT_DOUBLE_EQ(t.transitMs("a", 200, offset), 25);
  t.arrived("a", -1, 300);  // no sender time: not counted
  EXPECT_DOUBLE_EQ(t.transitMs("a", 300, offset), 25);
  // 25 ms left the window; 60 ms (at 200) is the fastest within it.
  EXPECT_DOUBLE_EQ(t.transitMs("a", 3150, offset), 60);
  // Long after, the newest stays.
  EXPECT_DOUBLE_EQ(t.transitMs("a", 99999, offset), 60);
  t.forget("a");
  EXPECT_TRUE(std::isnan(t.transitMs("a", 0, 0)));
}
