// What a node accepts of received state, in virtual time: stale updates dropped and counted,
// sequences per origin and key, ages from the injected clock, and what is kept per origin
// bounded however many keys a node invents.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "network/envelope.hpp"
#include "network/state_intake.hpp"

using namespace claynet::network;
using nlohmann::json;

namespace {

Envelope state(std::uint32_t seq) {
  Envelope e;
  e.kind = EnvelopeKind::State;
  e.seq = seq;
  e.data = json{{"x", seq}};
  return e;
}

Envelope batch(std::uint32_t seq, const std::vector<std::string>& keys) {
  Envelope e;
  e.kind = EnvelopeKind::Batch;
  e.seq = seq;
  e.sentAt = 100.0;
  for (const auto& k : keys) e.entries.push_back({k, json{{"k", k}, {"q", seq}}});
  return e;
}

using Fresh = std::vector<std::size_t>;

}  // namespace

TEST(NetworkStateIntake, AStaleUnkeyedStateIsDroppedAndCounted) {
  StateIntake in;
  EXPECT_TRUE(in.accept("a", state(5), 0).fresh);
  EXPECT_FALSE(in.accept("a", state(4), 1).fresh);  // older
  EXPECT_FALSE(in.accept("a", state(5), 2).fresh);  // the same again
  EXPECT_TRUE(in.accept("a", state(6), 3).fresh);
  EXPECT_TRUE(in.accept("b", state(1), 4).fresh);  // another origin counts apart
  json s = in.syncStats(10);
  EXPECT_EQ(s["a"]["seq"], 6);
  EXPECT_EQ(s["a"]["recv"], 2);
  EXPECT_EQ(s["a"]["dropped"], 2);
  EXPECT_FALSE(s["a"].contains("keys"));
  EXPECT_EQ(in.droppedFrom("a"), 2u);
  EXPECT_EQ(in.droppedFrom("b"), 0u);
}

TEST(NetworkStateIntake, AMessageIsAlwaysNewAndNotCounted) {
  StateIntake in;
  Envelope m;
  m.kind = EnvelopeKind::Message;
  m.seq = 0;
  auto out = in.accept("a", m, 0);
  ASSERT_TRUE(out.fresh);
  EXPECT_TRUE(out.fresh->empty());
  EXPECT_TRUE(in.accept("a", m, 1).fresh);
  EXPECT_EQ(in.syncStats(2), json::object());
}

TEST(NetworkStateIntake, KeysAreSequencedApartAndOnlyNewEntriesPass) {
  StateIntake in;
  auto first = in.accept("a", batch(3, {"p1", "p2"}), 0);
  ASSERT_TRUE(first.fresh);
  EXPECT_EQ(*first.fresh, (Fresh{0, 1}));
  // An older sequence with a key not seen yet is new for that key.
  auto older = in.accept("a", batch(2, {"p1", "p3"}), 1);
  ASSERT_TRUE(older.fresh);
  EXPECT_EQ(*older.fresh, (Fresh{1}));
  // Nothing new at all: dropped as a whole.
  EXPECT_FALSE(in.accept("a", batch(3, {"p1", "p2"}), 2).fresh);
  json s = in.syncStats(5);
  EXPECT_EQ(s["a"]["keys"]["p1"]["recv"], 1);
  EXPECT_EQ(s["a"]["keys"]["p1"]["dropped"], 2);
  EXPECT_EQ(s["a"]["keys"]["p3"]["seq"], 2);
  EXPECT_EQ(s["a"]["batches"], 3);
  EXPECT_EQ(s["a"]["recv"], 3);
  EXPECT_EQ(s["a"]["dropped"], 3);
  EXPECT_EQ(s["a"]["maxBatchBytes"], encodeEnvelope(batch(3, {"p1", "p2"})).size());
  // Unkeyed state has its own sequence beside the keys.
  EXPECT_TRUE(in.accept("a", state(1), 6).fresh);
}

TEST(NetworkStateIntake, AgesFollowTheInjectedClock) {
  StateIntake in;
  EXPECT_EQ(in.ageMs("a", std::nullopt, 0), -1);
  in.accept("a", state(1), 1000);
  in.accept("a", batch(2, {"p1"}), 1200);
  in.accept("a", batch(3, {"p2"}), 1500);
  EXPECT_EQ(in.ageMs("a", std::nullopt, 1600), 100);  // the newest of any
  EXPECT_EQ(in.ageMs("a", std::string("p1"), 1600), 400);
  EXPECT_EQ(in.ageMs("a", std::string(""), 1600), 600);  // "" is the unkeyed state
  EXPECT_EQ(in.ageMs("a", std::string("p9"), 1600), -1);
  EXPECT_EQ(in.ageMs("b", std::nullopt, 1600), -1);
  // A stale update does not make the state younger.
  in.accept("a", state(1), 1550);
  EXPECT_EQ(in.ageMs("a", std::string(""), 1600), 600);
  EXPECT_EQ(in.syncStats(1600)["a"]["keys"]["p2"]["ageMs"], 100.0);
}

TEST(NetworkStateIntake, EverNewKeysAreBoundedAndSaidOnce) {
  StateIntake in;
  std::uint32_t seq = 0;
  for (std::size_t i = 0; i < StateIntake::kMaxKeysPerOrigin; ++i) {
    auto out = in.accept("a", batch(++seq, {"k" + std::to_string(i)}), 0);
    ASSERT_TRUE(out.fresh) << i;
    ASSERT_FALSE(out.keysCappedNow) << i;
  }
  auto capped = in.accept("a", batch(++seq, {"new1", "k0"}), 1);
  ASSERT_TRUE(capped.fresh);
  EXPECT_EQ(*capped.fresh, (Fresh{1}));  // a known key still passes
  EXPECT_TRUE(capped.keysCappedNow);
  auto again = in.accept("a", batch(++seq, {"new2"}), 2);
  EXPECT_FALSE(again.fresh);
  EXPECT_FALSE(again.keysCappedNow);  // said once
  json s = in.syncStats(3);
  EXPECT_EQ(s["a"]["keys"].size(), StateIntake::kMaxKeysPerOrigin);
  EXPECT_EQ(s["a"]["dropped"], 2);
  // Another origin has its own allowance.
  EXPECT_TRUE(in.accept("b", batch(1, {"new1"}), 4).fresh);
}

TEST(NetworkStateIntake, OverlongKeysAreDropped) {
  StateIntake in;
  const std::string longest(StateIntake::kMaxKeyBytes, 'k');
  auto out = in.accept("a", batch(1, {longest + "k", longest}), 0);
  ASSERT_TRUE(out.fresh);
  EXPECT_EQ(*out.fresh, (Fresh{1}));
  json s = in.syncStats(1);
  EXPECT_EQ(s["a"]["keys"].size(), 1u);
  EXPECT_EQ(s["a"]["dropped"], 1);
}

TEST(NetworkStateIntake, ANodeThatLeftStartsAfreshWhenItComesBack) {
  StateIntake in;
  in.accept("a", state(50), 0);
  in.accept("a", batch(51, {"p1"}), 0);
  in.forget("a");
  EXPECT_EQ(in.syncStats(1), json::object());
  EXPECT_EQ(in.ageMs("a", std::nullopt, 1), -1);
  EXPECT_TRUE(in.accept("a", state(1), 2).fresh);
  EXPECT_TRUE(in.accept("a", batch(2, {"p1"}), 2).fresh);
  in.clear();
  EXPECT_EQ(in.syncStats(3), json::object());
}
