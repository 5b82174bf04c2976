// Label `hostile`: a PeerJS peer (or a PeerJS server) that sends what no honest one would. The
// attacker talks through claynet's own signaling server with a bare WebSocket, or is itself the
// server. Each case checks that the node survives, reports a clear error, and still serves a
// legitimate peer (issue 12, findings 1, 5 and 8, and a flood of errors).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string_view>
#include <thread>

#include "../signaling/peerjs_test_util.hpp"
#include "../signaling/ws_test_client.hpp"
#include "claynet/peerjs.hpp"
#include "claynet/signal_server.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using namespace claynet;
using namespace claynet::test;

namespace {

// claynet's signaling server on loopback with room for frames up to 1 MiB, as a PeerJS server may
// forward them.
struct Server {
  explicit Server(Runtime& rt) : server(rt, options()) {
    Result r = server.start();
    EXPECT_TRUE(r) << r.error();
  }
  static SignalServerOptions options() {
    SignalServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.maxMessageBytes = 1 << 20;
    return o;
  }
  uint16_t port() const { return server.port(); }
  SignalServer server;
};

// A host peer that echoes every value it receives.
struct Host {
  Host(Runtime& rt, uint16_t port) {
    peer = PeerJsPeer::create(rt, localPeer(port, "host"));
    events.attach(*peer);
    peer->onConnection([this](std::shared_ptr<PeerJsConnection> c) {
      events.incoming.push_back(c);
      PeerJsConnection* raw = c.get();
      c->onData([raw](const json& v) { (void)raw->send(json{{"echo", v}}); });
    });
    EXPECT_TRUE(peer->open());
  }
  std::shared_ptr<PeerJsPeer> peer;
  PeerEvents events;
};

// A legitimate peer connects to the host and gets its value echoed.
void expectHostServesAGuest(Runtime& rt, uint16_t port) {
  auto guest = PeerJsPeer::create(rt, localPeer(port, "guest"));
  PeerEvents ev;
  ev.attach(*guest);
  ASSERT_TRUE(guest->open());
  ASSERT_TRUE(pumpUntil(rt, [&] { return !ev.opened.empty(); })) << ev.errorText();
  PeerJsConnectOptions o;
  o.reliable = true;
  auto conn = guest->connect("host", o);
  ASSERT_TRUE(conn);
  ConnEvents ce;
  ce.attach(*conn);
  ASSERT_TRUE(pumpUntil(
      rt, [&] { return ce.opened; }, 20s))
      << ev.errorText();
  ASSERT_TRUE(conn->send(json{{"hello", 1}}));
  ASSERT_TRUE(pumpUntil(rt, [&] { return !ce.data.empty(); }));
  EXPECT_EQ(ce.data[0], (json{{"echo", {{"hello", 1}}}}));
  guest->destroy();
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

bool mentions(const std::vector<PeerJsError>& errors, PeerJsErrorType type,
              const std::string& text) {
  for (const auto& e : errors)
    if (e.type == type && e.message.find(text) != std::string::npos) return true;
  return false;
}

// A PeerJS server that is itself hostile: it accepts one client on loopback, completes the
// WebSocket upgrade, says OPEN, and then `attack` writes whatever it likes.
class EvilServer {
 public:
  using Send = std::function<bool(std::string_view)>;
  explicit EvilServer(std::function<void(const Send&)> attack) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener_, 4), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, attack = std::move(attack)] {
      serve(attack);
      done_ = true;
    });
  }
  ~EvilServer() {
    thread_.join();
    ::close(listener_);
  }
  uint16_t port() const { return port_; }
  bool done() const { return done_; }

 private:
  void serve(const std::function<void(const Send&)>& attack) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return;  // no client came
    int fd = ::accept(listener_, nullptr, nullptr);
    if (fd < 0) return;
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      request.append(buf, static_cast<std::size_t>(n));
    }
    std::string key;
    if (auto at = request.find("Sec-WebSocket-Key: "); at != std::string::npos)
      key = request.substr(at + 19, request.find("\r\n", at) - at - 19);
    std::string hello =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
        signaling::ws::acceptKey(key) + "\r\n\r\n";
    signaling::ws::appendFrame(hello, signaling::ws::Opcode::Text, R"({"type":"OPEN"})");
    Send send = [fd](std::string_view bytes) {
      while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
      }
      return true;
    };
    if (send(hello)) attack(send);
    ::close(fd);
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// A peer whose PeerJS server is hostile (no reconnection), on a runtime that also runs a host
// behind an honest server: the legitimate side, which must keep working meanwhile.
struct Victim {
  explicit Victim(uint16_t evilPort) : honest(rt), host(rt, honest.port()) {
    EXPECT_TRUE(pumpUntil(rt, [&] { return !host.events.opened.empty(); }));
    PeerJsOptions o = localPeer(evilPort, "victim");
    o.reconnect = false;
    victim = PeerJsPeer::create(rt, o);
  }
  Runtime rt;
  Server honest;
  Host host;
  std::shared_ptr<PeerJsPeer> victim;
};
}  // namespace

// Finding 1: an OFFER whose metadata nests 300 000 arrays (600 KB, inside the 1 MiB frame limit)
// used to crash the receiving process when the value was copied. Also a CANDIDATE for an unknown
// connection (which is held until its OFFER comes) with a deep payload.
TEST(HostileSignaling, DeeplyNestedJsonDoesNotTakeTheHostDown) {
  Runtime rt;
  Server server(rt);
  Host host(rt, server.port());
  ASSERT_TRUE(pumpUntil(rt, [&] { return !host.events.opened.empty(); }))
      << host.events.errorText();

  RawWs evil;
  ASSERT_TRUE(evil.open(server.port(), "key=peerjs&id=evil&token=t1"));
  ASSERT_TRUE(evil.pump(200ms));
  std::string offer =
      R"({"type":"OFFER","dst":"host","payload":{"type":"data","connectionId":"dc_deep",)"
      R"("sdp":{"type":"offer","sdp":"v=0\r\n"},"metadata":)" +
      nested(300000) + "}}";
  ASSERT_TRUE(evil.sendText(offer));
  std::string candidate =
      R"({"type":"CANDIDATE","dst":"host","payload":{"type":"data","connectionId":"dc_x",)"
      R"("candidate":)" +
      nested(300000) + "}}";
  ASSERT_TRUE(evil.sendText(candidate));
  ASSERT_TRUE(pumpUntil(rt, [&] {
    std::size_t n = 0;
    for (const auto& e : host.events.errors)
      if (e.message.find("nests deeper than 512") != std::string::npos) ++n;
    return n >= 2;
  })) << host.events.errorText();
  EXPECT_TRUE(host.events.incoming.empty());
  expectHostServesAGuest(rt, server.port());
}

// Finding 5: every OFFER built a whole peer connection before the application could refuse it.
// One sender now gets at most maxPendingOffersPerPeer connections that are not open yet; the rest
// are refused before anything is allocated, counted, and reported (not once per OFFER).
TEST(HostileSignaling, AnOfferFloodIsCappedBeforeAnythingIsAllocated) {
  constexpr int kOffers = 300;
  Runtime rt;
  Server server(rt);
  Host host(rt, server.port());
  ASSERT_TRUE(pumpUntil(rt, [&] { return !host.events.opened.empty(); }));

  // A valid offer, so that each accepted one really costs a peer connection.
  std::string sdp;
  {
    Configuration loopback;
    loopback.localAddresses = {"127.0.0.1"};
    PeerConnection pc(rt, loopback);
    pc.onLocalDescription([&](const Description& d) { sdp = d.sdp; });
    ASSERT_TRUE(pc.createDataChannel("x"));
    ASSERT_TRUE(pc.createOffer());
    ASSERT_TRUE(pumpUntil(rt, [&] { return !sdp.empty(); }));
  }
  RawWs evil;
  ASSERT_TRUE(evil.open(server.port(), "key=peerjs&id=evil&token=t1"));
  ASSERT_TRUE(evil.pump(200ms));
  for (int i = 0; i < kOffers; ++i) {
    json payload = {{"sdp", {{"type", "offer"}, {"sdp", sdp}}},
                    {"type", "data"},
                    {"connectionId", "dc_flood" + std::to_string(i)},
                    {"serialization", "binary"}};
    ASSERT_TRUE(
        evil.sendText(json{{"type", "OFFER"}, {"dst", "host"}, {"payload", payload}}.dump()));
  }
  const std::size_t cap = PeerJsOptions{}.maxPendingOffersPerPeer;
  ASSERT_TRUE(pumpUntil(
      rt, [&] { return host.peer->refusedOffers() == kOffers - cap; }, 20s))
      << "refused " << host.peer->refusedOffers();
  EXPECT_EQ(host.events.incoming.size(), cap);
  EXPECT_LE(host.peer->connections().size(), cap);
  EXPECT_TRUE(
      mentions(host.events.errors, PeerJsErrorType::OfferRefused, "refused an OFFER from evil"))
      << host.events.errorText();
  std::size_t reports = 0;
  for (const auto& e : host.events.errors) reports += e.type == PeerJsErrorType::OfferRefused;
  EXPECT_LE(reports, 4u) << "each refused OFFER was reported on its own";
  expectHostServesAGuest(rt, server.port());
}

// Finding 8: libsoup bounds each WebSocket frame but not a message reassembled from fragments, so
// a hostile server could make the client buffer without end. The client now refuses a message
// over 1 MiB, whatever its fragmentation, and drops that server.
TEST(HostileSignaling, AServerCannotGrowAFragmentedMessageWithoutBound) {
  constexpr std::size_t kAttack = 64 * 1024 * 1024;
  std::atomic<std::size_t> sent{0};
  EvilServer evil([&](const EvilServer::Send& send) {
    // A text message that never ends: a first fragment, then continuations without FIN.
    std::string piece(64 * 1024, ' ');
    auto frame = [&](bool first) {
      std::string f;
      f.push_back(static_cast<char>(first ? 0x01 : 0x00));  // FIN clear
      f.push_back(127);
      for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((piece.size() >> (8 * i)) & 0xff));
      return f + piece;
    };
    for (bool first = true; sent < kAttack && send(frame(first)); first = false)
      sent += piece.size();
  });

  Victim v(evil.port());
  auto& [rt, honest, host, victim] = v;
  PeerEvents ev;
  ev.attach(*victim);
  ASSERT_TRUE(victim->open());
  bool reported = pumpUntil(
      rt,
      [&] {
        for (const auto& e : ev.errors)
          if (e.message.find("larger than") != std::string::npos) return true;
        for (const auto& d : ev.disconnects)
          if (d.find("larger than") != std::string::npos) return true;
        return false;
      },
      30s);
  ASSERT_TRUE(pumpUntil(
      rt, [&] { return evil.done(); }, 60s));
  EXPECT_TRUE(reported) << "errors: " << ev.errorText();
  EXPECT_LT(sent.load(), kAttack / 4)
      << "the client kept reading a message of " << sent.load() << " bytes";
  expectHostServesAGuest(rt, honest.port());
}

// Found while checking issue 12: a peer or a server can provoke errors without end (here a
// server sends CANDIDATEs without a connectionId), and with Delivery::Poll every report waited in
// the event queue, so an application that did not poll for a while grew without bound. Past 64
// waiting reports the next are only counted, and one report then says how many were left out.
TEST(HostileSignaling, AnErrorFloodDoesNotFillTheEventQueue) {
  constexpr int kFrames = 20000;
  EvilServer evil([&](const EvilServer::Send& send) {
    std::string burst;
    for (int i = 0; i < kFrames; ++i) {
      signaling::ws::appendFrame(burst, signaling::ws::Opcode::Text,
                                 R"({"type":"CANDIDATE","src":"pest","payload":{}})");
      if (burst.size() > 64 * 1024 || i == kFrames - 1) {
        if (!send(burst)) return;
        burst.clear();
      }
    }
  });

  Victim v(evil.port());
  auto& [rt, honest, host, victim] = v;
  std::size_t reports = 0, summaries = 0, leftOut = 0;
  std::vector<std::string> others;
  victim->onError([&](const PeerJsError& e) {
    if (e.message.find("from pest without a connectionId") == std::string::npos) {
      others.push_back(e.text());
      return;
    }
    if (auto at = e.message.find(" more errors were left out"); at != std::string::npos) {
      ++summaries;  // it stands for the errors it counts, the last of which it quotes
      leftOut += std::stoul(e.message.substr(0, at));
    } else {
      ++reports;
    }
  });
  ASSERT_TRUE(victim->open());

  // The application is busy (a level load) while the server floods: nothing is polled.
  for (auto end = std::chrono::steady_clock::now() + 30s;
       !evil.done() && std::chrono::steady_clock::now() < end;)
    std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(evil.done());
  std::this_thread::sleep_for(1s);  // the client reads the rest of what the server wrote
  rt.poll();
  EXPECT_LE(reports + summaries, 65u) << "every error waited in the event queue";
  EXPECT_GE(summaries, 1u) << "the errors left out were not reported";
  // Every error is accounted for: reported on its own, or counted in a summary.
  EXPECT_TRUE(pumpUntil(rt, [&] { return reports + leftOut == kFrames; }))
      << reports << " reported, " << leftOut << " left out";
  // The flood does not hide an error of another kind: the server hanging up at the end.
  ASSERT_EQ(others.size(), 1u);
  EXPECT_NE(others[0].find("lost the connection to the server"), std::string::npos) << others[0];
  expectHostServesAGuest(rt, honest.port());
}
