// Label `transport`: a relayed path through a real coturn started by the test on loopback.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "pair.hpp"

extern char** environ;

using namespace claynet;
using namespace std::chrono_literals;

namespace {

constexpr uint16_t kTurnPort = 34780;

class TurnServer {
 public:
  TurnServer() {
    std::string port = std::to_string(kTurnPort);
    std::vector<std::string> args = {"turnserver",
                                     "-n",  // no configuration file
                                     "--listening-ip=127.0.0.1",
                                     "--relay-ip=127.0.0.1",
                                     "--listening-port=" + port,
                                     "--min-port=49152",
                                     "--max-port=49300",
                                     "--lt-cred-mech",
                                     "--user=claynet:claynet-secret",
                                     "--realm=claynet.test",
                                     "--allow-loopback-peers",
                                     "--no-cli",
                                     "--no-tls",
                                     "--no-dtls",
                                     "--no-stdout-log",
                                     "--log-file=/tmp/claynet-test-turn.log",
                                     "--pidfile=/tmp/claynet-test-turn.pid"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, "turnserver", nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
  }
  ~TurnServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  // coturn also listens on TCP; a TCP connect tells that it is ready to serve.
  bool waitReady(std::chrono::milliseconds timeout) const {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(kTurnPort);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      close(fd);
      if (ok) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
};

Configuration relayOnly(const std::string& credential) {
  Configuration c = test::Pair::loopback();
  c.iceServers = {{"turn:127.0.0.1:" + std::to_string(kTurnPort), "claynet", credential}};
  c.iceTransportPolicy = IceTransportPolicy::Relay;
  return c;
}

}  // namespace

TEST(TransportTurn, RelayPolicyConnectsThroughCoturn) {
  TurnServer turn;
  ASSERT_TRUE(turn.started()) << "turnserver (Debian package coturn) could not be started";
  ASSERT_TRUE(turn.waitReady(10s)) << "turnserver did not start listening";
  Runtime rt;
  test::Pair p(rt, relayOnly("claynet-secret"), relayOnly("claynet-secret"));
  std::vector<std::string> offererCandidates;
  p.offerer->onLocalCandidate([&](const Candidate& c) {
    offererCandidates.push_back(c.candidate);
    (void)p.answerer->addRemoteCandidate(c);
  });
  std::shared_ptr<DataChannel> remote;
  std::string got;
  p.answerer->onDataChannel([&](std::shared_ptr<DataChannel> ch) {
    remote = ch;
    remote->onMessage([&](Message&& m) { got = m.data; });
  });
  auto ch = p.offerer->createDataChannel("relayed");
  ASSERT_TRUE(p.offerer->createOffer());
  ASSERT_TRUE(test::pumpUntil(
      rt, [&] { return ch->isOpen() && remote; }, 20s))
      << p.offerer->failureReason();
  ASSERT_TRUE(ch->send("through the relay"));
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return !got.empty(); }));
  EXPECT_EQ(got, "through the relay");
  auto pair = p.offerer->selectedPair();
  ASSERT_TRUE(pair);
  EXPECT_EQ(pair->local.type, CandidateType::Relayed) << toString(pair->local.type);
  for (const auto& c : offererCandidates)
    EXPECT_NE(c.find(" typ relay"), std::string::npos) << "policy relay leaked: " << c;
}

TEST(TransportTurn, WrongTurnCredentialNeverConnects) {
  TurnServer turn;
  ASSERT_TRUE(turn.started());
  ASSERT_TRUE(turn.waitReady(10s));
  Runtime rt;
  test::Pair p(rt, relayOnly("wrong"), relayOnly("wrong"));
  auto ch = p.offerer->createDataChannel("nope");
  ASSERT_TRUE(p.offerer->createOffer());
  // Without a relay candidate there is nothing to pair: it must not open.
  EXPECT_FALSE(test::pumpUntil(
      rt, [&] { return ch->isOpen(); }, 3s));
  EXPECT_NE(p.offerer->state(), PeerState::Connected);
}

// The bug this guards against: with the default policy, gathering starts at once, and a TURN
// server given by name, still resolving then, was skipped for good ("resolved after gathering
// began; not used by this connection"). Its relay candidates must follow once the name resolves.
TEST(TransportTurn, TurnServerGivenByNameIsUsed) {
  TurnServer turn;
  ASSERT_TRUE(turn.started());
  ASSERT_TRUE(turn.waitReady(10s));
  Runtime rt;
  Configuration c = test::Pair::loopback();
  c.iceServers = {{"turn:localhost:" + std::to_string(kTurnPort), "claynet", "claynet-secret"}};
  PeerConnection pc(rt, c);
  std::vector<std::string> relays;
  pc.onLocalCandidate([&](const Candidate& cand) {
    if (cand.candidate.find(" typ relay") != std::string::npos) relays.push_back(cand.candidate);
  });
  auto ch = pc.createDataChannel("gather");
  ASSERT_TRUE(pc.createOffer());
  EXPECT_TRUE(test::pumpUntil(
      rt, [&] { return !relays.empty(); }, 10s))
      << "no relay candidate from turn:localhost";
  IceStats st = pc.iceStats();
  EXPECT_EQ(st.turnServers, 1);
  EXPECT_GE(st.localRelay, 1);
  EXPECT_TRUE(st.serverProblems.empty()) << st.serverProblems.front();
}

// A closing ICE agent frees its TURN allocations after the connection is gone and reports that
// through the connection's diagnostics. That report once went to the destroyed connection (a raw
// pointer): a use after free, and in the NAT lab a runtime shutdown deadlocked on a freed mutex.
TEST(TransportTurn, AllocationsFreedAfterTheConnectionIsDestroyed) {
  TurnServer turn;
  ASSERT_TRUE(turn.started());
  ASSERT_TRUE(turn.waitReady(10s));
  std::atomic<int> diagnostics{0};
  {
    Runtime rt;
    test::Pair p(rt, relayOnly("claynet-secret"), relayOnly("claynet-secret"));
    for (auto* pc : {p.offerer.get(), p.answerer.get()})
      pc->onDiagnostic([&](const std::string&, const std::string&) { ++diagnostics; });
    auto ch = p.offerer->createDataChannel("brief");
    ASSERT_TRUE(p.offerer->createOffer());
    ASSERT_TRUE(test::pumpUntil(
        rt, [&] { return ch->isOpen(); }, 20s))
        << p.offerer->failureReason();
    ch.reset();
    // Destroyed at once: the deallocation (a Refresh with lifetime 0) is still on its way.
    p.offerer.reset();
    p.answerer.reset();
    const int before = diagnostics.load();
    test::pumpUntil(
        rt, [] { return false; }, 1s);
    // Nothing may reach the destroyed connections' callbacks.
    EXPECT_EQ(diagnostics.load(), before);
  }
}
