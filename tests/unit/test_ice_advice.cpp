// The words of an ICE failure fit what was tried: no TURN server, a TURN server that gave no
// relay, a relay the remote could not reach, mDNS-only remotes, server problems.
#include <gtest/gtest.h>

#include "rtc/ice_advice.hpp"

using claynet::IceStats;
using claynet::rtc::iceFailureDetail;

namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

IceStats bothBehindNats() {
  IceStats s;
  s.localHost = 1;
  s.localSrflx = 1;
  s.remoteHost = 1;
  s.remoteSrflx = 1;
  s.stunServers = 1;
  return s;
}

}  // namespace

TEST(IceAdvice, NoTurnServerConfiguredAdvisesOne) {
  auto text = iceFailureDetail("ICE failed", bothBehindNats());
  EXPECT_TRUE(has(text,
                  "ICE failed (local candidates: 1 host, 1 srflx, 0 relay; remote: 1 host, "
                  "1 srflx, 0 prflx, 0 relay)"))
      << text;
  EXPECT_TRUE(has(text, "no TURN server is configured")) << text;
  EXPECT_TRUE(has(text, "add a TURN server to iceServers")) << text;
}

TEST(IceAdvice, ConfiguredTurnServerThatGaveNoRelayIsNamedAsSuch) {
  auto s = bothBehindNats();
  s.turnServers = 1;
  s.serverProblems.push_back("turn.example.test did not resolve: no such name");
  auto text = iceFailureDetail("ICE failed", s);
  EXPECT_TRUE(has(text, "a TURN server is configured but gave no relay candidate")) << text;
  EXPECT_FALSE(has(text, "no TURN server is configured")) << text;
  EXPECT_TRUE(has(text, "; turn.example.test did not resolve: no such name")) << text;
}

TEST(IceAdvice, RelayOnThisSideOnlyPointsAtTheRemote) {
  auto s = bothBehindNats();
  s.turnServers = 1;
  s.localRelay = 1;
  auto text = iceFailureDetail("ICE failed", s);
  EXPECT_TRUE(has(text, "the remote gave none")) << text;
  EXPECT_TRUE(has(text, "give the remote the TURN server too")) << text;
}

TEST(IceAdvice, RelaysOnBothSidesPointAtFirewalls) {
  auto s = bothBehindNats();
  s.turnServers = 1;
  s.localRelay = 1;
  s.remoteRelay = 1;
  EXPECT_TRUE(has(iceFailureDetail("x", s), "relay candidates were exchanged and still"));
}

TEST(IceAdvice, OnlyMdnsNamesFromTheRemoteAreExplained) {
  IceStats s;
  s.localHost = 2;
  s.remoteMdnsSkipped = 3;
  auto text = iceFailureDetail("ICE found no working path to the remote peer in 30000 ms", s);
  EXPECT_TRUE(has(text, "3 mDNS names skipped")) << text;
  EXPECT_TRUE(has(text, "the remote sent only mDNS host names (.local)")) << text;
  EXPECT_TRUE(has(text, "no TURN server is configured")) << text;
}

TEST(IceAdvice, NothingUsableFromTheRemote) {
  IceStats s;
  s.localHost = 1;
  s.remoteTcpSkipped = 2;
  auto text = iceFailureDetail("x", s);
  EXPECT_TRUE(has(text, "2 TCP skipped")) << text;
  EXPECT_TRUE(has(text, "the remote sent no usable candidate")) << text;
}
