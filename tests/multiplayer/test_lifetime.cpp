// Label `multiplayer`: the unreliable lifetime really limits retransmission. Loopback of the test's
// own network namespace is made lossy, and channels 2 and 3 (lifetime 1 ms) must then lose
// packets for good while channel 1 delivers every one, in order.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "mesh_harness.hpp"

using namespace claynet;
using namespace claynet::test;

namespace {

// Drops packets leaving `lo` at random. The kernel here has no netem, so this is a tc filter in
// direct-action mode running a classic BPF program: `ld rand; jge #threshold -> pass; drop`
// (4 instructions as "code jt jf k": load SKF_AD_RANDOM, compare, return TC_ACT_OK (0), return
// TC_ACT_SHOT (2)). Classic BPF needs no compiler and no act_gact module.
class LossyLoopback {
 public:
  explicit LossyLoopback(unsigned percent) {
    unsigned long long threshold = (1ULL << 32) * percent / 100;
    std::string program =
        "4,32 0 0 4294963256,53 0 1 " + std::to_string(threshold) + ",6 0 0 0,6 0 0 2";
    ok_ = run("tc qdisc add dev lo clsact") &&
          run("tc filter add dev lo egress bpf da bytecode '" + program + "'");
  }
  ~LossyLoopback() { (void)run("tc qdisc del dev lo clsact"); }
  bool ok() const { return ok_; }

 private:
  static bool run(const std::string& command) {
    std::string full = "PATH=\"$PATH:/usr/sbin:/sbin\" " + command;
    int rc = std::system(full.c_str());
    if (rc != 0) ADD_FAILURE() << "`" << command << "` failed (status " << rc << ")";
    return rc == 0;
  }
  bool ok_ = false;
};

// Packets are "<channel letter><index>".
std::string packet(char channel, int index) {
  return std::string(1, channel) + std::to_string(index) + std::string(150, '.');
}

}  // namespace

TEST(Lifetime, UnreliableChannelsAbandonPacketsUnderLossWhileReliableDeliversAll) {
  constexpr int kPackets = 600;
  Runtime rt;
  Node sender(rt, 1), receiver(rt, 2);
  // Connect without loss first: the handshakes are not what this test is about.
  auto l = link(sender, receiver, /*unreliableLifetime=*/1);
  ASSERT_TRUE(pumpUntil({&sender, &receiver},
                        [&] { return sender.connectedTo(2) && receiver.connectedTo(1); }));
  auto peer = sender.mesh.getPeer(2);
  ASSERT_EQ(peer->channels[1]->maxPacketLifeTime(), std::optional<uint16_t>(1));
  ASSERT_EQ(peer->channels[2]->maxPacketLifeTime(), std::optional<uint16_t>(1));

  // 20% each way: heavy enough that retransmissions are common, light enough that the SCTP
  // association never gives up on its reliable channel.
  LossyLoopback loss(20);
  ASSERT_TRUE(loss.ok());

  sender.mesh.setTargetPeer(2);
  sender.mesh.setTransferMode(TransferMode::Unreliable);
  for (int i = 0; i < kPackets; ++i) ASSERT_TRUE(sender.mesh.putPacket(packet('u', i)));
  sender.mesh.setTransferMode(TransferMode::UnreliableOrdered);
  for (int i = 0; i < kPackets; ++i) ASSERT_TRUE(sender.mesh.putPacket(packet('o', i)));
  sender.mesh.setTransferMode(TransferMode::Reliable);
  for (int i = 0; i < kPackets; ++i) ASSERT_TRUE(sender.mesh.putPacket(packet('r', i)));

  auto countOf = [&](TransferMode mode) {
    std::size_t n = 0;
    for (auto& p : receiver.received) n += p.mode == mode;
    return n;
  };
  // The reliable packets went last; once they are all in, every earlier packet on the lifetime
  // channels is far past its 1 ms and can no longer be retransmitted.
  ASSERT_TRUE(pumpUntil(
      {&sender, &receiver}, [&] { return countOf(TransferMode::Reliable) == kPackets; },
      std::chrono::seconds(120)))
      << "reliable packets received: " << countOf(TransferMode::Reliable) << " of " << kPackets;
  ASSERT_EQ(l.a->state(), PeerState::Connected) << l.a->failureReason();

  std::vector<int> reliable, ordered;
  std::set<int> unordered;
  for (auto& p : receiver.received) {
    EXPECT_EQ(p.data.size(), packet(p.data[0], std::atoi(p.data.c_str() + 1)).size());
    int index = std::atoi(p.data.c_str() + 1);
    switch (p.mode) {
      case TransferMode::Reliable:
        reliable.push_back(index);
        break;
      case TransferMode::UnreliableOrdered:
        ordered.push_back(index);
        break;
      case TransferMode::Unreliable:
        EXPECT_TRUE(unordered.insert(index).second) << "duplicate " << index;
        break;
    }
  }
  // Channel 1: everything, in order.
  ASSERT_EQ(reliable.size(), static_cast<std::size_t>(kPackets));
  for (int i = 0; i < kPackets; ++i) EXPECT_EQ(reliable[i], i);
  // Channels 2 and 3: packets were abandoned (with the lifetime lost, as in Godot, they would all
  // arrive); channel 2 keeps what arrives in order.
  EXPECT_LT(ordered.size(), static_cast<std::size_t>(kPackets));
  EXPECT_LT(unordered.size(), static_cast<std::size_t>(kPackets));
  EXPECT_GT(ordered.size() + unordered.size(), 0u) << "the lifetime channels carried nothing";
  for (std::size_t i = 1; i < ordered.size(); ++i) EXPECT_LT(ordered[i - 1], ordered[i]);
  std::printf("under 20%% loss: reliable %zu/%d, ordered %zu/%d, unreliable %zu/%d delivered\n",
              reliable.size(), kPackets, ordered.size(), kPackets, unordered.size(), kPackets);
}

TEST(Lifetime, WithoutLossEverythingArrives) {
  // The control: the same traffic without the filter and a generous lifetime arrives whole, so
  // the losses above come from the lifetime under loss, not from the mesh.
  constexpr int kPackets = 600;
  Runtime rt;
  Node sender(rt, 1), receiver(rt, 2);
  auto l = link(sender, receiver, /*unreliableLifetime=*/60000);
  ASSERT_TRUE(pumpUntil({&sender, &receiver},
                        [&] { return sender.connectedTo(2) && receiver.connectedTo(1); }));
  sender.mesh.setTargetPeer(2);
  for (TransferMode m :
       {TransferMode::Unreliable, TransferMode::UnreliableOrdered, TransferMode::Reliable}) {
    sender.mesh.setTransferMode(m);
    for (int i = 0; i < kPackets; ++i) ASSERT_TRUE(sender.mesh.putPacket(packet('x', i)));
  }
  ASSERT_TRUE(
      pumpUntil({&sender, &receiver}, [&] { return receiver.received.size() == 3 * kPackets; }));
}
