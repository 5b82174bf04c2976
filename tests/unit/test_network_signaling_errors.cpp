// What a node does about each signaling error while it connects, and that nothing ends a node
// that is in its network already.
#include <gtest/gtest.h>

#include "network/signaling_errors.hpp"

using namespace claynet;
using namespace claynet::network;
using Kind = SignalingStep::Kind;

namespace {

PeerJsError errorOf(PeerJsErrorType type, std::string message = "why", std::string peer = "") {
  PeerJsError e;
  e.type = type;
  e.message = std::move(message);
  e.peer = std::move(peer);
  return e;
}

SignalingRole joiner() {
  SignalingRole r;
  r.connecting = true;
  r.hostId = "ABC234";
  r.networkId = "ABC234";
  return r;
}

SignalingRole cloudHost() {
  SignalingRole r;
  r.host = true;
  r.connecting = true;
  return r;
}

}  // namespace

TEST(NetworkSignalingErrors, AHostTriesAnotherCodeUntilItHasTriedEight) {
  int hostTries = 0, joinerTries = 0;
  const auto taken = errorOf(PeerJsErrorType::UnavailableId);
  for (int i = 1; i < kHostCodeTries; ++i)
    EXPECT_EQ(judgeSignalingError(taken, cloudHost(), hostTries, joinerTries).kind,
              Kind::NewHostCode)
        << "try " << i;
  const auto last = judgeSignalingError(taken, cloudHost(), hostTries, joinerTries);
  EXPECT_EQ(last.kind, Kind::Fail);
  EXPECT_EQ(last.code, Network::ErrorCode::CannotHost);
  EXPECT_EQ(last.message,
            "could not find a free network code on the signaling server after 8 tries");
}

TEST(NetworkSignalingErrors, ALocalHostWhoseIdIsTakenFailsAtOnce) {
  int hostTries = 0, joinerTries = 0;
  SignalingRole local = cloudHost();
  local.cloud = false;
  const auto s =
      judgeSignalingError(errorOf(PeerJsErrorType::UnavailableId), local, hostTries, joinerTries);
  EXPECT_EQ(s.kind, Kind::Fail);
  EXPECT_EQ(s.code, Network::ErrorCode::SignalingFailed);
}

TEST(NetworkSignalingErrors, AJoinerTriesAnotherIdTwiceThenFails) {
  int hostTries = 0, joinerTries = 0;
  const auto taken = errorOf(PeerJsErrorType::UnavailableId);
  EXPECT_EQ(judgeSignalingError(taken, joiner(), hostTries, joinerTries).kind, Kind::NewJoinerId);
  EXPECT_EQ(judgeSignalingError(taken, joiner(), hostTries, joinerTries).kind, Kind::NewJoinerId);
  const auto s = judgeSignalingError(taken, joiner(), hostTries, joinerTries);
  EXPECT_EQ(s.kind, Kind::Fail);
  EXPECT_EQ(s.code, Network::ErrorCode::SignalingFailed);
  EXPECT_EQ(s.message.rfind("Signaling failed: ", 0), 0u) << s.message;
}

TEST(NetworkSignalingErrors, TheHostsRejectIsARefusalWithItsReason) {
  int hostTries = 0, joinerTries = 0;
  const auto s =
      judgeSignalingError(errorOf(PeerJsErrorType::PeerRejected, "Network full", "ABC234"),
                          joiner(), hostTries, joinerTries);
  EXPECT_EQ(s.kind, Kind::Refused);
  EXPECT_EQ(s.message, "Network full");
  // A REJECT from anyone else is no refusal of our join.
  EXPECT_EQ(judgeSignalingError(errorOf(PeerJsErrorType::PeerRejected, "no", "other"), joiner(),
                                hostTries, joinerTries)
                .kind,
            Kind::Ignore);
}

TEST(NetworkSignalingErrors, AnUnknownCodeIsNoSuchNetwork) {
  int hostTries = 0, joinerTries = 0;
  const auto s = judgeSignalingError(errorOf(PeerJsErrorType::PeerUnavailable, "expired"), joiner(),
                                     hostTries, joinerTries);
  EXPECT_EQ(s.kind, Kind::Fail);
  EXPECT_EQ(s.code, Network::ErrorCode::NoSuchNetwork);
  EXPECT_EQ(s.message, "No network with code ABC234: the host did not answer (expired)");
}

// A Mesh joiner dials the nodes of the roster while it joins; one of them may be gone from the
// signaling server (it vanished, its link not yet timed out at the host). That link fails on its
// own; the join goes on.
TEST(NetworkSignalingErrors, AnotherNodeThatIsGoneDoesNotEndTheJoin) {
  int hostTries = 0, joinerTries = 0;
  const auto s = judgeSignalingError(
      errorOf(PeerJsErrorType::PeerUnavailable, "could not connect to peer N2", "N2"), joiner(),
      hostTries, joinerTries);
  EXPECT_EQ(s.kind, Kind::Ignore);
  const auto h = judgeSignalingError(
      errorOf(PeerJsErrorType::PeerUnavailable, "could not connect to peer ABC234", "ABC234"),
      joiner(), hostTries, joinerTries);
  EXPECT_EQ(h.kind, Kind::Fail);
  EXPECT_EQ(h.code, Network::ErrorCode::NoSuchNetwork);
}

TEST(NetworkSignalingErrors, TheWrongLanCodeKeepsItsExactText) {
  int hostTries = 0, joinerTries = 0;
  const auto s =
      judgeSignalingError(errorOf(PeerJsErrorType::ServerError, Network::kWrongLanCodeMessage),
                          joiner(), hostTries, joinerTries);
  EXPECT_EQ(s.kind, Kind::Fail);
  EXPECT_EQ(s.code, Network::ErrorCode::WrongLanCode);
  EXPECT_EQ(s.message, Network::kWrongLanCodeMessage);
}

TEST(NetworkSignalingErrors, AServerThatCannotBeUsedEndsTheAttempt) {
  for (auto type :
       {PeerJsErrorType::Network, PeerJsErrorType::ServerError, PeerJsErrorType::InvalidKey,
        PeerJsErrorType::InvalidId, PeerJsErrorType::SslUnavailable, PeerJsErrorType::SocketError,
        PeerJsErrorType::SocketClosed}) {
    int hostTries = 0, joinerTries = 0;
    const auto s = judgeSignalingError(errorOf(type), cloudHost(), hostTries, joinerTries);
    EXPECT_EQ(s.kind, Kind::Fail) << toString(type);
    EXPECT_EQ(s.code, Network::ErrorCode::SignalingFailed) << toString(type);
  }
}

TEST(NetworkSignalingErrors, NothingEndsANodeInItsNetworkOrOneThatRetriesByItself) {
  int hostTries = 0, joinerTries = 0;
  SignalingRole in = joiner();
  in.connecting = false;
  EXPECT_EQ(judgeSignalingError(errorOf(PeerJsErrorType::Network), in, hostTries, joinerTries).kind,
            Kind::Ignore);
  auto retrying = errorOf(PeerJsErrorType::UnavailableId);
  retrying.willRetry = true;
  EXPECT_EQ(judgeSignalingError(retrying, joiner(), hostTries, joinerTries).kind, Kind::Ignore);
  EXPECT_EQ(joinerTries, 0) << "a retry the peer makes by itself is not one of ours";
  // Trouble of one connection comes through that connection.
  EXPECT_EQ(judgeSignalingError(errorOf(PeerJsErrorType::NegotiationFailed), joiner(), hostTries,
                                joinerTries)
                .kind,
            Kind::Ignore);
}
