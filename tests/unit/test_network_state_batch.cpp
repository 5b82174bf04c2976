// Keyed state as Clayground sends it: "b" batches of at most about 1200 bytes, the newest update
// per key, one sequence per batch shared with unkeyed state, and receivers that keep a sequence
// per sender and key.
#include <gtest/gtest.h>

#include "network/envelope.hpp"
#include "network/relay.hpp"
#include "network/state_batch.hpp"

using namespace claynet::network;
using nlohmann::json;

namespace {

void queue(StateBatcher& b, const std::string& key, json data) {
  const auto bytes = StateBatcher::entryBytes(key, data);
  b.queue(key, std::move(data), bytes);
}

}  // namespace

TEST(NetworkStateBatch, TheNewestPerKeyInTheOrderKeysCameFirst) {
  StateBatcher b;
  queue(b, "p1", {{"x", 1}});
  queue(b, "p2", {{"x", 2}});
  queue(b, "p1", {{"x", 3}});
  std::uint32_t seq = 7;
  auto batches = b.flush(seq, 1234.9);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(seq, 8u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(encodeEnvelope(batches[0]),
            R"({"e":[{"d":{"x":3},"k":"p1"},{"d":{"x":2},"k":"p2"}],"q":8,"t":"b","ts":1234})");
  EXPECT_TRUE(b.flush(seq, 0).empty());
  EXPECT_EQ(seq, 8u);
}

TEST(NetworkStateBatch, BatchesStayWithinTheBudgetAndALargeEntryGoesAlone) {
  StateBatcher b;
  for (int i = 0; i < 100; ++i) queue(b, "key" + std::to_string(i), {{"x", i}, {"y", i * 2.5}});
  queue(b, "big", {{"blob", std::string(3000, 'a')}});
  queue(b, "after", 1);
  std::uint32_t seq = 0;
  auto batches = b.flush(seq, -1);
  ASSERT_GE(batches.size(), 4u);
  EXPECT_EQ(seq, batches.size());
  std::size_t entries = 0;
  bool bigAlone = false;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    EXPECT_EQ(batches[i].seq, i + 1);
    Envelope relayed = batches[i];
    relayed.from = "a-relaying-hosts-origin-id";
    const std::size_t size = encodeEnvelope(relayed).size();
    entries += batches[i].entries.size();
    if (batches[i].entries.size() == 1 && batches[i].entries[0].key == "big") {
      bigAlone = true;
      continue;
    }
    EXPECT_LE(size, 1200u) << "batch " << i;
  }
  EXPECT_TRUE(bigAlone);
  EXPECT_EQ(entries, 102u);
  EXPECT_EQ(batches.back().entries.back().key, "after");
}

TEST(NetworkStateBatch, BatchesDecodeWithTheirSendTimeAndKeepObjectEntriesForRelaying) {
  Envelope e;
  ASSERT_TRUE(decodeEnvelope(
      std::string_view(R"({"t":"b","q":9,"ts":500,"e":[{"k":"a","d":{"v":1}},{"o":"h:1","d":{}},)"
                       R"(7,{"k":3,"d":1},{"k":"b","d":[1]}]})"),
      e));
  EXPECT_EQ(e.kind, EnvelopeKind::Batch);
  EXPECT_EQ(e.seq, 9u);
  EXPECT_EQ(e.sentAt, 500.0);
  ASSERT_EQ(e.entries.size(), 2u);
  EXPECT_EQ(e.entries[0].key, "a");
  EXPECT_EQ(e.entries[1].data, json::array({1}));
  EXPECT_EQ(e.rawEntries.size(), 5u);
  e.from = "J1";
  const json relayed = envelopeToJson(e);
  EXPECT_EQ(relayed["e"].size(), 5u);
  EXPECT_EQ(relayed["from"], "J1");
  EXPECT_FALSE(decodeEnvelope(std::string_view(R"({"t":"b","q":1})"), e));
  // A send time beyond any integer is written back as it came, not cast.
  ASSERT_TRUE(decodeEnvelope(std::string_view(R"({"t":"b","q":1,"ts":1e300,"e":[]})"), e));
  EXPECT_EQ(envelopeToJson(e)["ts"], 1e300);
  EXPECT_FALSE(decodeEnvelope(std::string_view(R"({"t":"b","q":-1,"e":[]})"), e));
  // A message's and a state's ts is the sender's session time; an odd one counts as none.
  ASSERT_TRUE(decodeEnvelope(std::string_view(R"({"t":"m","d":1,"ts":12.5})"), e));
  EXPECT_EQ(e.sentAt, 12.5);
  ASSERT_TRUE(decodeEnvelope(std::string_view(R"({"t":"s","q":1,"d":1,"ts":"soon"})"), e));
  EXPECT_FALSE(e.sentAt);
  ASSERT_TRUE(decodeEnvelope(std::string_view(R"({"t":"P","ts":1,"st":99.5})"), e));
  EXPECT_EQ(e.sessionMs, 99.5);
}

TEST(NetworkStateBatch, SequencesCountPerSenderAndKey) {
  SequenceGuard g;
  EXPECT_TRUE(g.accept("a", "k1", 5));
  EXPECT_TRUE(g.accept("a", "k2", 3));  // another key: its own sequence
  EXPECT_FALSE(g.accept("a", "k1", 5));
  EXPECT_FALSE(g.accept("a", "k1", 4));
  EXPECT_TRUE(g.accept("a", "k1", 6));
  EXPECT_TRUE(g.accept("a", 1u));  // unkeyed state has its own
  EXPECT_TRUE(g.accept("b", "k1", 1));
  EXPECT_EQ(g.droppedFrom("a"), 2u);
  g.forget("a");
  EXPECT_TRUE(g.accept("a", "k1", 1));
}
