// Label `transport`: channel behaviour between two connections in one process.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "pair.hpp"

using namespace claynet;
using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr int kStressMessages = 10000;  // the sanitizer build is ~10x slower
#else
constexpr int kStressMessages = 100000;
#endif

std::string content(std::size_t index, std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t j = 0; j < size; ++j) s[j] = static_cast<char>((index * 131 + j * 7) & 0xff);
  return s;
}

// Connects the pair with one channel made by the offerer; returns {local, remote}.
std::pair<std::shared_ptr<DataChannel>, std::shared_ptr<DataChannel>> connect(
    test::Pair& p, const std::string& label, const DataChannelInit& init = {}) {
  std::shared_ptr<DataChannel> remote;
  p.answerer->onDataChannel([&](std::shared_ptr<DataChannel> ch) { remote = ch; });
  auto local = p.offerer->createDataChannel(label, init);
  EXPECT_TRUE(local);
  EXPECT_TRUE(p.offerer->createOffer());
  EXPECT_TRUE(test::pumpUntil(p.runtime, [&] { return local && local->isOpen() && remote; }))
      << p.offerer->failureReason() << " / " << p.answerer->failureReason();
  return {local, remote};
}

}  // namespace

TEST(Transport, OrderedReliableStressWithRandomSizes) {
  Runtime rt;
  test::Pair p(rt);
  auto [ch, remote] = connect(p, "stress");
  ASSERT_TRUE(remote);
  std::size_t received = 0, bad = 0, badIndex = 0;
  remote->onMessage([&](Message&& m) {
    // Sizes follow from the index, so both length and bytes are checked.
    if (!m.binary || m.data != content(received, m.data.size())) {
      if (!bad++) badIndex = received;
    }
    ++received;
  });
  std::mt19937_64 rng(42);
  std::vector<std::size_t> sizes(kStressMessages);
  // Log-uniform sizes from 0 to 256 KiB: every scale is exercised without 12 GB of traffic.
  for (auto& s : sizes) {
    int bits = static_cast<int>(rng() % 19);  // 2^0 .. 2^18
    s = std::min<std::size_t>(rng() % (std::size_t{1} << bits), 262144);
  }
  sizes.back() = 262144;
  sizes[1] = 0;
  std::size_t sent = 0;
  uint64_t bytes = 0;
  auto end = std::chrono::steady_clock::now() + 240s;
  while (received < sizes.size() && std::chrono::steady_clock::now() < end) {
    while (sent < sizes.size() && ch->bufferedAmount() < 4 * 1024 * 1024) {
      std::string data = content(sent, sizes[sent]);
      bytes += data.size();
      ASSERT_TRUE(ch->sendBinary(data.data(), data.size()));
      ++sent;
    }
    rt.waitAndPoll(1ms);
  }
  EXPECT_EQ(received, sizes.size());
  EXPECT_EQ(bad, 0u) << "first corrupted message: " << badIndex;
  EXPECT_EQ(remote->counters().messagesReceived, sizes.size());
  EXPECT_EQ(remote->counters().bytesReceived, bytes);
  EXPECT_EQ(ch->counters().messagesSent, sizes.size());
  EXPECT_EQ(p.offerer->counters().bytesSent, bytes);
}

TEST(Transport, UnorderedNoRetransmitChannelDelivers) {
  Runtime rt;
  test::Pair p(rt);
  DataChannelInit init;
  init.ordered = false;
  init.maxRetransmits = 0;
  auto [ch, remote] = connect(p, "state", init);
  ASSERT_TRUE(remote);
  EXPECT_FALSE(remote->ordered());
  EXPECT_EQ(remote->maxRetransmits(), std::optional<uint16_t>(0));
  std::set<std::string> got;
  remote->onMessage([&](Message&& m) { got.insert(m.data); });
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(ch->send("s" + std::to_string(i)));
  // Loopback does not drop, so everything arrives even without retransmission.
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return got.size() == 100; }));
}

TEST(Transport, MaxPacketLifeTimeChannelDelivers) {
  Runtime rt;
  test::Pair p(rt);
  DataChannelInit init;
  init.maxPacketLifeTime = 150;
  auto [ch, remote] = connect(p, "timed", init);
  ASSERT_TRUE(remote);
  EXPECT_TRUE(remote->ordered());
  EXPECT_EQ(remote->maxPacketLifeTime(), std::optional<uint16_t>(150));
  std::vector<std::string> got;
  remote->onMessage([&](Message&& m) { got.push_back(m.data); });
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(ch->send(std::to_string(i)));
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return got.size() == 50; }));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[i], std::to_string(i));
}

TEST(Transport, NegotiatedChannelsOneTwoThree) {
  Runtime rt;
  test::Pair p(rt);
  std::vector<std::shared_ptr<DataChannel>> a, b;
  bool unexpected = false;
  p.answerer->onDataChannel([&](std::shared_ptr<DataChannel>) { unexpected = true; });
  const char* labels[] = {"reliable", "ordered", "unreliable"};
  for (uint16_t id = 1; id <= 3; ++id) {
    DataChannelInit init;
    init.negotiated = true;
    init.id = id;
    if (id == 2) init.maxPacketLifeTime = 1;
    if (id == 3) {
      init.ordered = false;
      init.maxPacketLifeTime = 1;
    }
    a.push_back(p.offerer->createDataChannel(labels[id - 1], init));
    b.push_back(p.answerer->createDataChannel(labels[id - 1], init));
    ASSERT_TRUE(a.back() && b.back());
    EXPECT_EQ(a.back()->id(), std::optional<uint16_t>(id));
  }
  std::map<std::string, std::string> got;
  for (auto& ch : b) {
    auto* raw = ch.get();
    ch->onMessage([&, raw](Message&& m) { got[raw->label()] = m.data; });
  }
  ASSERT_TRUE(p.offerer->createOffer());
  ASSERT_TRUE(test::pumpUntil(rt, [&] {
    for (auto& v : {a, b})
      for (auto& ch : v)
        if (!ch->isOpen()) return false;
    return true;
  }));
  for (auto& ch : a) ASSERT_TRUE(ch->send("via " + ch->label()));
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return got.size() == 3; }));
  for (auto* l : labels) EXPECT_EQ(got[l], std::string("via ") + l);
  EXPECT_FALSE(unexpected) << "negotiated channels must not be announced in-band";

  // Same id twice is refused with a reason.
  DataChannelInit dup;
  dup.negotiated = true;
  dup.id = 2;
  std::shared_ptr<DataChannel> out;
  Result r = p.offerer->createDataChannel("again", dup, out);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error().find("already in use"), std::string::npos) << r.error();
}

TEST(Transport, SixtyFourChannelsAtOnce) {
  Runtime rt;
  test::Pair p(rt);
  std::vector<std::shared_ptr<DataChannel>> local, remote;
  std::map<std::string, std::string> got;
  p.answerer->onDataChannel([&](std::shared_ptr<DataChannel> ch) {
    auto* raw = ch.get();
    ch->onMessage([&, raw](Message&& m) { got[raw->label()] = m.data; });
    remote.push_back(ch);
  });
  for (int i = 0; i < 64; ++i)
    local.push_back(p.offerer->createDataChannel("ch" + std::to_string(i)));
  ASSERT_TRUE(p.offerer->createOffer());
  ASSERT_TRUE(test::pumpUntil(rt, [&] {
    for (auto& ch : local)
      if (!ch->isOpen()) return false;
    return remote.size() == 64;
  }));
  std::set<uint16_t> ids;
  for (auto& ch : local) {
    ids.insert(*ch->id());
    EXPECT_EQ(*ch->id() % 2, 1) << "the offerer is the DTLS server here and must use odd ids";
    ASSERT_TRUE(ch->send("hello " + ch->label()));
  }
  EXPECT_EQ(ids.size(), 64u);
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return got.size() == 64; }));
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(got["ch" + std::to_string(i)], "hello ch" + std::to_string(i));
}

TEST(Transport, ClosingOneChannelLeavesOthersWorking) {
  Runtime rt;
  test::Pair p(rt);
  std::map<std::string, std::shared_ptr<DataChannel>> remote;
  std::map<std::string, std::vector<std::string>> got;
  std::set<std::string> remoteClosed;
  p.answerer->onDataChannel([&](std::shared_ptr<DataChannel> ch) {
    std::string label = ch->label();
    ch->onMessage([&, label](Message&& m) { got[label].push_back(m.data); });
    ch->onClose([&, label] { remoteClosed.insert(label); });
    remote[label] = ch;
  });
  auto a = p.offerer->createDataChannel("a");
  auto b = p.offerer->createDataChannel("b");
  bool aClosed = false;
  a->onClose([&] { aClosed = true; });
  ASSERT_TRUE(p.offerer->createOffer());
  ASSERT_TRUE(
      test::pumpUntil(rt, [&] { return a->isOpen() && b->isOpen() && remote.size() == 2; }));
  ASSERT_TRUE(a->send("before"));
  a->close();
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return aClosed && remoteClosed.count("a"); }));
  EXPECT_EQ(a->state(), ChannelState::Closed);
  EXPECT_EQ(remote["a"]->state(), ChannelState::Closed);
  EXPECT_EQ(got["a"], std::vector<std::string>{"before"})
      << "queued data goes out before the reset";
  EXPECT_FALSE(a->send("after"));
  ASSERT_TRUE(b->send("still here"));
  ASSERT_TRUE(remote["b"]->send("and back"));
  std::string back;
  b->onMessage([&](Message&& m) { back = m.data; });
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return got["b"].size() == 1 && !back.empty(); }));
  EXPECT_EQ(got["b"][0], "still here");
  EXPECT_EQ(back, "and back");
  EXPECT_EQ(remoteClosed.count("b"), 0u);

  // A new channel reuses the freed stream and works.
  auto c = p.offerer->createDataChannel("c");
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return c->isOpen() && remote.count("c"); }));
  ASSERT_TRUE(c->send("new"));
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return got["c"].size() == 1; }));
}

TEST(Transport, TamperedFingerprintFailsBothSides) {
  Runtime rt;
  test::Pair p(rt);
  // Change one hex digit of the offerer's fingerprint on its way to the answerer.
  p.tamper = [](Description& d) {
    if (d.type != SdpType::Offer) return;
    auto pos = d.sdp.find("a=fingerprint:sha-256 ");
    ASSERT_NE(pos, std::string::npos);
    char& c = d.sdp[pos + 22];
    c = c == 'A' ? 'B' : 'A';
  };
  bool remoteChannel = false;
  p.answerer->onDataChannel([&](std::shared_ptr<DataChannel>) { remoteChannel = true; });
  auto ch = p.offerer->createDataChannel("secret");
  bool opened = false;
  ch->onOpen([&] { opened = true; });
  ASSERT_TRUE(p.offerer->createOffer());
  ASSERT_TRUE(test::pumpUntil(rt,
                              [&] {
                                return p.offerer->state() == PeerState::Failed &&
                                       p.answerer->state() == PeerState::Failed;
                              }))
      << "offerer " << toString(p.offerer->state()) << ", answerer "
      << toString(p.answerer->state());
  std::string reason = p.answerer->failureReason();
  EXPECT_NE(reason.find("fingerprint mismatch"), std::string::npos) << reason;
  EXPECT_NE(reason.find("expected sha-256"), std::string::npos) << reason;
  EXPECT_NE(reason.find("received"), std::string::npos) << reason;
  EXPECT_FALSE(p.offerer->failureReason().empty());
  EXPECT_FALSE(opened);
  EXPECT_FALSE(remoteChannel);
  EXPECT_EQ(p.offerer->counters().messagesReceived + p.answerer->counters().messagesReceived, 0u);
  EXPECT_FALSE(ch->send("x"));
}

TEST(Transport, OversizeMessageGivesBothSizes) {
  Runtime rt;
  Configuration small = test::Pair::loopback();
  small.maxMessageSize = 100000;  // the answerer accepts at most this much
  test::Pair p(rt, test::Pair::loopback(), small);
  auto [ch, remote] = connect(p, "big");
  ASSERT_TRUE(remote);
  EXPECT_EQ(p.offerer->remoteMaxMessageSize(), 100000u);
  std::string big(100001, 'x');
  Result r = ch->send(big);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("100001"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("100000"), std::string::npos) << r.error();
  std::string fits(100000, 'y');
  std::size_t got = 0;
  remote->onMessage([&](Message&& m) { got = m.data.size(); });
  ASSERT_TRUE(ch->send(fits));
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return got == 100000; }));
}

TEST(Transport, BufferedAmountLowFires) {
  Runtime rt;
  test::Pair p(rt);
  auto [ch, remote] = connect(p, "flow");
  ASSERT_TRUE(remote);
  ch->setBufferedAmountLowThreshold(1024);
  int lows = 0;
  ch->onBufferedAmountLow([&] { ++lows; });
  std::string chunk(65536, 'z');
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(ch->send(chunk));
  EXPECT_GT(ch->bufferedAmount(), 1024u);
  ASSERT_TRUE(test::pumpUntil(rt, [&, &ch = ch] { return lows > 0 && ch->bufferedAmount() == 0; }));
}

TEST(Transport, DestroyingAConnectionMidTransfer) {
  Runtime rt;
  test::Pair p(rt);
  auto [ch, remote] = connect(p, "doomed");
  ASSERT_TRUE(remote);
  std::size_t got = 0;
  bool remoteClosed = false;
  remote->onMessage([&](Message&&) { ++got; });
  remote->onClose([&] { remoteClosed = true; });
  std::string chunk(200000, 'q');
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(ch->send(chunk));
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return got > 0; }));
  p.offerer.reset();  // mid-transfer, with data still queued
  ASSERT_TRUE(test::pumpUntil(rt, [&] { return remoteClosed; }));
  EXPECT_EQ(p.answerer->state(), PeerState::Closed);
  EXPECT_FALSE(ch->send("x"));  // the channel outlives its connection and says so
}

TEST(Transport, DestroyingTheRuntimeWithLiveConnections) {
  auto rt = std::make_unique<Runtime>();
  auto p = std::make_unique<test::Pair>(*rt);
  auto [ch, remote] = connect(*p, "orphan");
  ASSERT_TRUE(remote);
  std::string chunk(100000, 'r');
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(ch->send(chunk));
  rt.reset();  // closes everything while data is in flight
  EXPECT_EQ(p->offerer->state(), PeerState::Closed);
  EXPECT_FALSE(ch->send("x"));
  p.reset();
}

TEST(Transport, BadInputsGiveReasons) {
  Runtime rt;
  PeerConnection pc(rt, test::Pair::loopback());
  Result r = pc.setRemoteDescription({SdpType::Answer, "v=0\r\n"});
  EXPECT_FALSE(r);
  EXPECT_NE(r.error().find("invalid remote answer"), std::string::npos) << r.error();
  DataChannelInit both;
  both.maxRetransmits = 1;
  both.maxPacketLifeTime = 1;
  std::shared_ptr<DataChannel> out;
  r = pc.createDataChannel("x", both, out);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error().find("not both"), std::string::npos);
  DataChannelInit noId;
  noId.negotiated = true;
  EXPECT_FALSE(pc.createDataChannel("x", noId, out));
  ASSERT_TRUE(pc.createOffer());
  r = pc.createOffer();
  EXPECT_FALSE(r);
  r = pc.addRemoteCandidate({"garbage", "0", 0});
  EXPECT_TRUE(r) << "candidates before the remote description are held, not judged";
  pc.close();
  r = pc.createOffer();
  EXPECT_FALSE(r);
  EXPECT_NE(r.error().find("closed"), std::string::npos);
}
