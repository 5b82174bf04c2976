// WebSocket framing of claynet-signal (RFC 6455 §5), byte for byte.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "signaling/signal_server_frames.hpp"

namespace claynet::signaling::ws {
namespace {

struct Recorder : FrameSink {
  std::vector<std::string> messages;
  std::vector<bool> binary;
  std::vector<std::string> pings, pongs;
  int closes = 0;
  std::uint16_t closeCode = 0;
  std::string closeReason;
  void onMessage(bool isBinary, std::string_view data) override {
    messages.emplace_back(data);
    binary.push_back(isBinary);
  }
  void onPing(std::string_view p) override { pings.emplace_back(p); }
  void onPong(std::string_view p) override { pongs.emplace_back(p); }
  void onClose(std::uint16_t code, std::string_view reason) override {
    ++closes;
    closeCode = code;
    closeReason = reason;
  }
};

std::string masked(Opcode op, std::string_view payload, bool fin = true,
                   std::uint32_t key = 0x12345678) {
  std::string out;
  appendMaskedFrame(out, op, payload, key);
  if (!fin) out[0] = static_cast<char>(out[0] & 0x7F);
  return out;
}

bool feedAll(FrameReader& r, std::string bytes, Recorder& sink) {
  return r.feed(bytes.data(), bytes.size(), sink);
}

TEST(WsFrames, ServerFramesAreUnmaskedWithMinimalLengths) {
  std::string out;
  appendFrame(out, Opcode::Text, "hi");
  EXPECT_EQ(out, std::string("\x81\x02hi", 4));
  out.clear();
  appendFrame(out, Opcode::Text, std::string(126, 'a'));
  EXPECT_EQ(out.substr(0, 4), std::string("\x81\x7e\x00\x7e", 4));
  EXPECT_EQ(out.size(), 4u + 126);
  out.clear();
  appendFrame(out, Opcode::Binary, std::string(70000, 'a'));
  EXPECT_EQ(out.substr(0, 10), std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10));
}

TEST(WsFrames, CloseFrames) {
  std::string out;
  appendCloseFrame(out, kCloseNoStatus, "ignored");
  EXPECT_EQ(out, std::string("\x88\x00", 2));
  out.clear();
  appendCloseFrame(out, 1009, "too big");
  EXPECT_EQ(out, std::string("\x88\x09\x03\xf1too big", 11));
  out.clear();
  // A long reason is cut to fit a control frame, on a UTF-8 boundary.
  std::string reason;
  for (int i = 0; i < 100; ++i) reason += "\xC3\xA9";
  appendCloseFrame(out, 1000, reason);
  EXPECT_LE(out.size(), 2u + 125);
  EXPECT_TRUE(isValidUtf8(out.substr(4)));
}

TEST(WsFrames, Rfc6455MaskedHelloExample) {
  // RFC 6455 §5.7: a single-frame masked text message "Hello".
  std::string bytes("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  FrameReader r(Role::Server, 1024);
  Recorder sink;
  ASSERT_TRUE(feedAll(r, bytes, sink));
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0], "Hello");
  EXPECT_FALSE(sink.binary[0]);
}

TEST(WsFrames, ByteByByteAndManyPerRead) {
  std::string stream;
  for (int i = 0; i < 50; ++i)
    stream += masked(Opcode::Text, "message " + std::to_string(i) + std::string(i * 7, 'x'));
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{1000}, stream.size()}) {
    FrameReader r(Role::Server, 1024);
    Recorder sink;
    for (std::size_t i = 0; i < stream.size(); i += chunk) {
      std::string part = stream.substr(i, chunk);
      ASSERT_TRUE(r.feed(part.data(), part.size(), sink));
    }
    ASSERT_EQ(sink.messages.size(), 50u) << chunk;
    EXPECT_EQ(sink.messages[49], "message 49" + std::string(49 * 7, 'x'));
    EXPECT_EQ(r.buffered(), 0u);
  }
}

TEST(WsFrames, FragmentsJoinAndControlFramesInterleave) {
  std::string bytes = masked(Opcode::Text, "Hel", false) + masked(Opcode::Ping, "p") +
                      masked(Opcode::Continuation, "lo", false) +
                      masked(Opcode::Continuation, "!", true) + masked(Opcode::Binary, "\x01");
  FrameReader r(Role::Server, 1024);
  Recorder sink;
  ASSERT_TRUE(feedAll(r, bytes, sink));
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[0], "Hello!");
  EXPECT_TRUE(sink.binary[1]);
  ASSERT_EQ(sink.pings.size(), 1u);
  EXPECT_EQ(sink.pings[0], "p");
}

TEST(WsFrames, OversizeIsRefusedFromTheHeader) {
  FrameReader r(Role::Server, 64 * 1024);
  Recorder sink;
  // Only the header of a 1 MiB frame: refused before any payload arrives.
  std::string header("\x81\xff\x00\x00\x00\x00\x00\x10\x00\x00", 10);
  EXPECT_FALSE(r.feed(header.data(), header.size(), sink));
  EXPECT_EQ(r.errorCode(), kCloseTooBig);
  EXPECT_NE(r.errorReason().find("1048576"), std::string::npos);
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(WsFrames, FragmentsCountTogetherAgainstTheLimit) {
  FrameReader r(Role::Server, 100);
  Recorder sink;
  std::string bytes = masked(Opcode::Text, std::string(60, 'a'), false) +
                      masked(Opcode::Continuation, std::string(60, 'a'), true);
  EXPECT_FALSE(feedAll(r, bytes, sink));
  EXPECT_EQ(r.errorCode(), kCloseTooBig);
  EXPECT_TRUE(sink.messages.empty());
}

TEST(WsFrames, ProtocolErrors) {
  struct Case {
    std::string bytes;
    std::uint16_t code;
  };
  std::string unmasked;
  appendFrame(unmasked, Opcode::Text, "x");
  std::string rsv = masked(Opcode::Text, "x");
  rsv[0] = static_cast<char>(rsv[0] | 0x40);
  std::string badOpcode = masked(Opcode::Text, "x");
  badOpcode[0] = static_cast<char>(0x83);
  std::vector<Case> cases = {
      {unmasked, kCloseProtocolError},
      {rsv, kCloseProtocolError},
      {badOpcode, kCloseProtocolError},
      {masked(Opcode::Continuation, "x"), kCloseProtocolError},
      {masked(Opcode::Text, "a", false) + masked(Opcode::Text, "b"), kCloseProtocolError},
      {masked(Opcode::Ping, "p", false), kCloseProtocolError},
      {masked(Opcode::Ping, std::string(126, 'p')), kCloseProtocolError},
      {masked(Opcode::Text, "\xff\xfe"), kCloseInvalidData},
      {masked(Opcode::Text, "\xED\xA0\x80"), kCloseInvalidData},  // a UTF-8 surrogate
      {masked(Opcode::Close, "\x03"), kCloseProtocolError},
      {masked(Opcode::Close, std::string("\x03\xed", 2)), kCloseProtocolError},  // code 1005
      {masked(Opcode::Close, std::string("\x03\xe8\xff", 3)), kCloseInvalidData},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    FrameReader r(Role::Server, 1024);
    Recorder sink;
    EXPECT_FALSE(feedAll(r, cases[i].bytes, sink)) << i;
    EXPECT_EQ(r.errorCode(), cases[i].code) << i;
    EXPECT_FALSE(r.errorReason().empty());
    // Once failed, it stays failed and delivers nothing more.
    std::string more = masked(Opcode::Text, "after");
    EXPECT_FALSE(r.feed(more.data(), more.size(), sink));
    EXPECT_TRUE(sink.messages.empty()) << i;
  }
}

TEST(WsFrames, CloseEndsTheStream) {
  FrameReader r(Role::Server, 1024);
  Recorder sink;
  std::string bytes =
      masked(Opcode::Close, std::string("\x03\xe8") + "bye") + masked(Opcode::Text, "ignored");
  ASSERT_TRUE(feedAll(r, bytes, sink));
  EXPECT_EQ(sink.closes, 1);
  EXPECT_EQ(sink.closeCode, 1000);
  EXPECT_EQ(sink.closeReason, "bye");
  EXPECT_TRUE(sink.messages.empty());
  EXPECT_TRUE(r.closeReceived());
  FrameReader empty(Role::Server, 1024);
  Recorder sink2;
  ASSERT_TRUE(feedAll(empty, masked(Opcode::Close, ""), sink2));
  EXPECT_EQ(sink2.closeCode, kCloseNoStatus);
}

TEST(WsFrames, ClientRoleReadsServerFrames) {
  std::string bytes;
  appendFrame(bytes, Opcode::Text, "{\"type\":\"OPEN\"}");
  appendCloseFrame(bytes, 1000, "done");
  FrameReader r(Role::Client, 1024);
  Recorder sink;
  ASSERT_TRUE(feedAll(r, bytes, sink));
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0], "{\"type\":\"OPEN\"}");
  EXPECT_EQ(sink.closeCode, 1000);
  FrameReader strict(Role::Client, 1024);
  Recorder sink2;
  EXPECT_FALSE(feedAll(strict, masked(Opcode::Text, "x"), sink2));
}

TEST(WsFrames, Utf8Validation) {
  EXPECT_TRUE(isValidUtf8(""));
  EXPECT_TRUE(isValidUtf8("plain ascii that is longer than eight bytes"));
  EXPECT_TRUE(isValidUtf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));
  EXPECT_FALSE(isValidUtf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(isValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(isValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(isValidUtf8("abc\xE2\x82"));       // truncated
}

TEST(WsFrames, AcceptKeyRfcExample) {
  EXPECT_EQ(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

}  // namespace
}  // namespace claynet::signaling::ws
