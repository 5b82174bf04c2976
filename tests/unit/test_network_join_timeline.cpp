// The phases of connecting and their timing, in virtual time: each phase's ms as the events came,
// events that were not seen counted as at once, and a host's timing all signaling.
#include <gtest/gtest.h>

#include "network/join_timeline.hpp"

using namespace claynet::network;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {
const JoinTimeline::Clock::time_point t0{};
}

TEST(NetworkJoinTimeline, AJoinerGoesThroughEveryPhaseTimedAsItHappened) {
  JoinTimeline t;
  t.begin(t0);
  EXPECT_EQ(t.phase(), "signaling");
  EXPECT_TRUE(t.transportConnecting(t0 + 120ms));
  EXPECT_EQ(t.phase(), "ice");
  EXPECT_FALSE(t.transportConnecting(t0 + 130ms)) << "once";
  EXPECT_TRUE(t.transportConnected(t0 + 200ms));
  EXPECT_EQ(t.phase(), "datachannel");
  EXPECT_TRUE(t.channelOpen(t0 + 250ms));
  EXPECT_EQ(t.phase(), "handshake");
  EXPECT_FALSE(t.channelOpen(t0 + 260ms)) << "once";
  EXPECT_EQ(t.elapsedMs(t0 + 300ms), 300);
  const json timing = t.joined(t0 + 290ms);
  EXPECT_EQ(timing, (json{{"signaling", 120},
                          {"ice", 80},
                          {"datachannel", 50},
                          {"handshake", 40},
                          {"total", 290}}));
  EXPECT_EQ(t.phase(), "");
  EXPECT_EQ(t.connectingPhase(), "signaling");
}

TEST(NetworkJoinTimeline, EventsNotSeenCountAsAtOnce) {
  JoinTimeline t;
  t.begin(t0);
  // No "connecting" event: ICE counts as instant.
  EXPECT_TRUE(t.transportConnected(t0 + 100ms));
  EXPECT_TRUE(t.channelOpen(t0 + 150ms));
  EXPECT_EQ(
      t.joined(t0 + 160ms),
      (json{
          {"signaling", 100}, {"ice", 0}, {"datachannel", 50}, {"handshake", 10}, {"total", 160}}));
  // No transport event at all: signaling until the channel opened.
  t.begin(t0 + 1s);
  EXPECT_TRUE(t.channelOpen(t0 + 1s + 70ms));
  EXPECT_EQ(
      t.joined(t0 + 1s + 75ms),
      (json{{"signaling", 70}, {"ice", 0}, {"datachannel", 0}, {"handshake", 5}, {"total", 75}}));
}

TEST(NetworkJoinTimeline, AHostIsInWhenItRegisteredAndAnEndedAttemptTakesNoEvents) {
  JoinTimeline t;
  t.begin(t0);
  EXPECT_EQ(
      t.hosted(t0 + 42ms),
      (json{{"signaling", 42}, {"ice", 0}, {"datachannel", 0}, {"handshake", 0}, {"total", 42}}));
  EXPECT_EQ(t.phase(), "");
  t.begin(t0);
  t.end();
  EXPECT_FALSE(t.transportConnecting(t0 + 1ms));
  EXPECT_FALSE(t.transportConnected(t0 + 1ms));
  EXPECT_FALSE(t.channelOpen(t0 + 1ms));
  EXPECT_EQ(t.phase(), "");
}
