#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "rtc/dcep.hpp"

namespace claynet::rtc::dcep {
namespace {

// The "state" channel claynet opens: unordered, maxRetransmits 0, label "chat" here.
const std::vector<uint8_t> kChatUnorderedNoRexmit = {
    0x03,                    // DATA_CHANNEL_OPEN
    0x81,                    // DATA_CHANNEL_PARTIAL_RELIABLE_REXMIT_UNORDERED
    0x00, 0x00,              // priority
    0x00, 0x00, 0x00, 0x00,  // reliability parameter: 0 retransmissions
    0x00, 0x04,              // label length
    0x00, 0x00,              // protocol length
    'c',  'h',  'a',  't',
};

TEST(Dcep, EncodeUnorderedZeroRetransmitsByteForByte) {
  Open open = Open::fromOptions(/*ordered=*/false, /*maxRetransmits=*/0, std::nullopt, "chat", "");
  EXPECT_EQ(open.channelType, kPartialReliableRexmit | kUnorderedBit);
  EXPECT_EQ(encodeOpen(open), kChatUnorderedNoRexmit);
}

TEST(Dcep, EncodeOrderedTimedWithProtocolAndPriority) {
  Open open = Open::fromOptions(true, std::nullopt, uint16_t{1500}, "ab", "json");
  open.priority = 256;
  const std::vector<uint8_t> expected = {
      0x03, 0x02, 0x01, 0x00, 0x00, 0x00, 0x05, 0xdc, 0x00,
      0x02, 0x00, 0x04, 'a',  'b',  'j',  's',  'o',  'n',
  };
  EXPECT_EQ(encodeOpen(open), expected);
}

TEST(Dcep, EncodeReliableOrderedIsTypeZero) {
  Open open = Open::fromOptions(true, std::nullopt, std::nullopt, "data", "");
  auto bytes = encodeOpen(open);
  ASSERT_EQ(bytes.size(), 16u);
  EXPECT_EQ(bytes[0], 0x03);
  EXPECT_EQ(bytes[1], 0x00);
  for (int i = 4; i < 8; ++i) EXPECT_EQ(bytes[i], 0x00);
  EXPECT_TRUE(open.ordered());
  EXPECT_FALSE(open.maxRetransmits());
  EXPECT_FALSE(open.maxPacketLifeTime());
}

TEST(Dcep, EncodeAck) { EXPECT_EQ(encodeAck(), std::vector<uint8_t>{0x02}); }

TEST(Dcep, ParseKnownOpen) {
  Kind kind = Kind::Ack;
  Open open;
  auto r = parse(kChatUnorderedNoRexmit, kind, open);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(kind, Kind::Open);
  EXPECT_EQ(open.label, "chat");
  EXPECT_EQ(open.protocol, "");
  EXPECT_EQ(open.priority, 0);
  EXPECT_FALSE(open.ordered());
  ASSERT_TRUE(open.maxRetransmits().has_value());
  EXPECT_EQ(*open.maxRetransmits(), 0);
  EXPECT_FALSE(open.maxPacketLifeTime().has_value());
}

TEST(Dcep, ParseAck) {
  Kind kind = Kind::Open;
  Open open;
  const std::vector<uint8_t> ack = {0x02};
  auto r = parse(ack, kind, open);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(kind, Kind::Ack);
}

TEST(Dcep, RoundTripAllChannelTypes) {
  struct Case {
    bool ordered;
    std::optional<uint16_t> rexmit;
    std::optional<uint16_t> lifetime;
  };
  const Case cases[] = {
      {true, std::nullopt, std::nullopt},
      {false, std::nullopt, std::nullopt},
      {true, 3, std::nullopt},
      {false, 65535, std::nullopt},
      {true, std::nullopt, 1},
      {false, std::nullopt, 250},
  };
  for (const Case& c : cases) {
    Open open = Open::fromOptions(c.ordered, c.rexmit, c.lifetime, "étiquette ✓", "proto/1");
    open.priority = 512;
    Kind kind = Kind::Ack;
    Open back;
    auto r = parse(encodeOpen(open), kind, back);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(kind, Kind::Open);
    EXPECT_EQ(back.channelType, open.channelType);
    EXPECT_EQ(back.priority, 512);
    EXPECT_EQ(back.reliabilityParameter, open.reliabilityParameter);
    EXPECT_EQ(back.label, "étiquette ✓");
    EXPECT_EQ(back.protocol, "proto/1");
    EXPECT_EQ(back.ordered(), c.ordered);
    EXPECT_EQ(back.maxRetransmits(), c.rexmit);
    EXPECT_EQ(back.maxPacketLifeTime(), c.lifetime);
  }
}

TEST(Dcep, LargeReliabilityParameterSaturates) {
  Open open;
  open.channelType = kPartialReliableTimed;
  open.reliabilityParameter = 100000;
  EXPECT_EQ(open.maxPacketLifeTime(), uint16_t{65535});
  EXPECT_FALSE(open.maxRetransmits());
}

TEST(Dcep, ParseIgnoresTrailingBytes) {
  auto bytes = kChatUnorderedNoRexmit;
  bytes.push_back(0xff);
  Kind kind = Kind::Ack;
  Open open;
  auto r = parse(bytes, kind, open);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(open.label, "chat");
}

TEST(Dcep, RejectsEmpty) {
  Kind kind;
  Open open;
  auto r = parse(std::span<const uint8_t>{}, kind, open);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("empty"), std::string::npos) << r.error();
}

TEST(Dcep, RejectsEveryTruncation) {
  for (std::size_t size = 1; size < kChatUnorderedNoRexmit.size(); ++size) {
    Kind kind = Kind::Ack;
    Open open;
    open.label = "untouched";
    auto r = parse(std::span<const uint8_t>(kChatUnorderedNoRexmit.data(), size), kind, open);
    ASSERT_FALSE(r) << "size " << size;
    EXPECT_NE(r.error().find("truncated"), std::string::npos) << r.error();
    EXPECT_EQ(open.label, "untouched");
    EXPECT_EQ(kind, Kind::Ack);
  }
}

TEST(Dcep, TruncatedProtocolSaysWhatIsNeeded) {
  Open open = Open::fromOptions(true, std::nullopt, std::nullopt, "chat", "json");
  auto bytes = encodeOpen(open);
  bytes.pop_back();
  Kind kind;
  Open back;
  auto r = parse(bytes, kind, back);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("need 20 bytes, got 19"), std::string::npos) << r.error();
}

TEST(Dcep, RejectsUnknownMessageType) {
  const std::vector<uint8_t> bytes = {0x07, 0x00};
  Kind kind;
  Open open;
  auto r = parse(bytes, kind, open);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("0x07"), std::string::npos) << r.error();
}

TEST(Dcep, RejectsUnknownChannelType) {
  auto bytes = kChatUnorderedNoRexmit;
  bytes[1] = 0x83;
  Kind kind;
  Open open;
  auto r = parse(bytes, kind, open);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("channel type 0x83"), std::string::npos) << r.error();
}

TEST(Dcep, PpidValues) {
  EXPECT_EQ(kPpidDcep, 50u);
  EXPECT_EQ(kPpidString, 51u);
  EXPECT_EQ(kPpidBinary, 53u);
  EXPECT_EQ(kPpidStringEmpty, 56u);
  EXPECT_EQ(kPpidBinaryEmpty, 57u);
}

}  // namespace
}  // namespace claynet::rtc::dcep
