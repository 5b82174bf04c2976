// Labels `unit` and `hostile`. SctpInbound (sans-IO): reassembly of usrsctp's pieces and the
// notifications claynet acts on, fed crafted notifications (issue 12, finding 11).
#include <gtest/gtest.h>
#include <usrsctp.h>

#include <cstring>

#include "rtc/sctp_inbound.hpp"

using claynet::rtc::SctpInbound;

namespace {

struct Recorder {
  std::vector<std::pair<uint16_t, std::string>> messages;
  std::vector<SctpInbound::Ending> endings;
  std::vector<std::pair<std::vector<uint16_t>, bool>> outgoing;
  std::vector<std::vector<uint16_t>> incoming;
  std::vector<std::pair<uint16_t, uint16_t>> connected, changed;

  SctpInbound make(std::size_t maxMessage = 1 << 20) {
    SctpInbound::Callbacks cb;
    cb.onMessage = [this](uint16_t sid, uint32_t, std::string&& d) {
      messages.emplace_back(sid, std::move(d));
    };
    cb.onClosed = [this](const SctpInbound::Ending& e) { endings.push_back(e); };
    cb.onOutgoingReset = [this](const std::vector<uint16_t>& s, bool ok) {
      outgoing.emplace_back(s, ok);
    };
    cb.onIncomingReset = [this](const std::vector<uint16_t>& s) { incoming.push_back(s); };
    cb.onConnected = [this](uint16_t in, uint16_t out) { connected.emplace_back(in, out); };
    cb.onStreamsChanged = [this](uint16_t in, uint16_t out) { changed.emplace_back(in, out); };
    return SctpInbound(maxMessage, cb);
  }
};

std::vector<uint8_t> resetEvent(uint16_t flags, std::vector<uint16_t> sids) {
  std::vector<uint8_t> b(sizeof(sctp_stream_reset_event) + 2 * sids.size());
  sctp_stream_reset_event e{};
  e.strreset_type = SCTP_STREAM_RESET_EVENT;
  e.strreset_flags = flags;
  e.strreset_length = static_cast<uint32_t>(b.size());
  std::memcpy(b.data(), &e, sizeof e);
  std::memcpy(b.data() + sizeof e, sids.data(), 2 * sids.size());
  return b;
}

std::vector<uint8_t> assocChange(uint16_t state, std::vector<uint8_t> info = {}) {
  std::vector<uint8_t> b(sizeof(sctp_assoc_change) + info.size());
  sctp_assoc_change a{};
  a.sac_type = SCTP_ASSOC_CHANGE;
  a.sac_length = static_cast<uint32_t>(b.size());
  a.sac_state = state;
  a.sac_inbound_streams = 1024;
  a.sac_outbound_streams = 256;
  std::memcpy(b.data(), &a, sizeof a);
  if (!info.empty()) std::memcpy(b.data() + sizeof a, info.data(), info.size());
  return b;
}

// An ABORT chunk with one error cause.
std::vector<uint8_t> abortChunk(uint16_t cause, const std::string& text) {
  std::vector<uint8_t> c = {6, 0, 0, 0};
  uint16_t causeLen = static_cast<uint16_t>(4 + text.size());
  c.push_back(cause >> 8);
  c.push_back(cause & 0xff);
  c.push_back(causeLen >> 8);
  c.push_back(causeLen & 0xff);
  c.insert(c.end(), text.begin(), text.end());
  uint16_t len = static_cast<uint16_t>(c.size());
  c[2] = len >> 8;
  c[3] = len & 0xff;
  while (c.size() % 4) c.push_back(0);
  return c;
}

}  // namespace

TEST(SctpInbound, ReassemblesPiecesPerStream) {
  Recorder r;
  auto in = r.make();
  in.data(1, 53, "hel", false);
  in.data(3, 53, "other", true);
  in.data(1, 53, "lo", true);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0], std::make_pair(uint16_t{3}, std::string("other")));
  EXPECT_EQ(r.messages[1], std::make_pair(uint16_t{1}, std::string("hello")));
}

// An aborted partial delivery (the sender abandoned a message usrsctp had started handing out)
// left its first pieces in place, and the next message on the stream was appended to them.
TEST(SctpInbound, AnAbortedPartialDeliveryDoesNotCorruptTheNextMessage) {
  Recorder r;
  auto in = r.make();
  in.data(5, 53, "start of an abandoned message ", false);
  sctp_pdapi_event pd{};
  pd.pdapi_type = SCTP_PARTIAL_DELIVERY_EVENT;
  pd.pdapi_length = sizeof pd;
  pd.pdapi_indication = SCTP_PARTIAL_DELIVERY_ABORTED;
  pd.pdapi_stream = 5;
  in.notification(reinterpret_cast<const uint8_t*>(&pd), sizeof pd);
  in.data(5, 53, "next", true);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].second, "next");
}

// A DENIED or FAILED outgoing reset used to be ignored, leaving the channel Closing for ever.
TEST(SctpInbound, ReportsTheOutcomeOfOurStreamResets) {
  Recorder r;
  auto in = r.make();
  auto ok = resetEvent(SCTP_STREAM_RESET_OUTGOING_SSN, {2, 4});
  in.notification(ok.data(), ok.size());
  auto denied = resetEvent(SCTP_STREAM_RESET_OUTGOING_SSN | SCTP_STREAM_RESET_DENIED, {6});
  in.notification(denied.data(), denied.size());
  auto failed = resetEvent(SCTP_STREAM_RESET_OUTGOING_SSN | SCTP_STREAM_RESET_FAILED, {8});
  in.notification(failed.data(), failed.size());
  ASSERT_EQ(r.outgoing.size(), 3u);
  EXPECT_EQ(r.outgoing[0], std::make_pair(std::vector<uint16_t>{2, 4}, true));
  EXPECT_EQ(r.outgoing[1], std::make_pair(std::vector<uint16_t>{6}, false));
  EXPECT_EQ(r.outgoing[2], std::make_pair(std::vector<uint16_t>{8}, false));
  auto incoming = resetEvent(SCTP_STREAM_RESET_INCOMING_SSN, {7});
  in.notification(incoming.data(), incoming.size());
  ASSERT_EQ(r.incoming.size(), 1u);
  EXPECT_EQ(r.incoming[0], std::vector<uint16_t>{7});
}

// SCTP_STREAM_CHANGE_EVENT was ignored, so channels could be put on streams the association no
// longer had.
TEST(SctpInbound, ReportsTheNegotiatedAndChangedStreamCounts) {
  Recorder r;
  auto in = r.make();
  auto up = assocChange(SCTP_COMM_UP);
  in.notification(up.data(), up.size());
  ASSERT_EQ(r.connected.size(), 1u);
  EXPECT_EQ(r.connected[0], std::make_pair(uint16_t{1024}, uint16_t{256}));
  sctp_stream_change_event sc{};
  sc.strchange_type = SCTP_STREAM_CHANGE_EVENT;
  sc.strchange_length = sizeof sc;
  sc.strchange_instrms = 2048;
  sc.strchange_outstrms = 512;
  in.notification(reinterpret_cast<const uint8_t*>(&sc), sizeof sc);
  ASSERT_EQ(r.changed.size(), 1u);
  EXPECT_EQ(r.changed[0], std::make_pair(uint16_t{2048}, uint16_t{512}));
}

// COMM_LOST and CANT_STR_ASSOC were reported as a plain close.
TEST(SctpInbound, TellsAGoodbyeFromAFailure) {
  Recorder r;
  auto in = r.make();
  auto lost = assocChange(SCTP_COMM_LOST);
  in.notification(lost.data(), lost.size());
  auto cant = assocChange(SCTP_CANT_STR_ASSOC, abortChunk(13, "bad INIT"));
  in.notification(cant.data(), cant.size());
  auto bye = assocChange(SCTP_COMM_LOST, abortChunk(12, "Close called"));
  in.notification(bye.data(), bye.size());
  auto violation = assocChange(SCTP_COMM_LOST, abortChunk(13, "bad TSN"));
  in.notification(violation.data(), violation.size());
  auto shutdown = assocChange(SCTP_SHUTDOWN_COMP);
  in.notification(shutdown.data(), shutdown.size());
  ASSERT_EQ(r.endings.size(), 5u);
  EXPECT_TRUE(r.endings[0].failure);
  EXPECT_NE(r.endings[0].reason.find("stopped answering"), std::string::npos);
  EXPECT_TRUE(r.endings[1].failure);
  EXPECT_NE(r.endings[1].reason.find("could not start"), std::string::npos);
  EXPECT_NE(r.endings[1].reason.find("protocol violation (bad INIT)"), std::string::npos)
      << r.endings[1].reason;
  EXPECT_FALSE(r.endings[2].failure) << r.endings[2].reason;
  EXPECT_TRUE(r.endings[3].failure);
  EXPECT_NE(r.endings[3].reason.find("protocol violation (bad TSN)"), std::string::npos);
  EXPECT_FALSE(r.endings[4].failure);
}

TEST(SctpInbound, NeverReadsPastShortOrLyingNotifications) {
  Recorder r;
  auto in = r.make();
  std::vector<uint8_t> tiny = {1, 0};
  in.notification(tiny.data(), tiny.size());
  auto reset = resetEvent(SCTP_STREAM_RESET_INCOMING_SSN, {1, 2, 3});
  sctp_stream_reset_event e;
  std::memcpy(&e, reset.data(), sizeof e);
  e.strreset_length = 100000;  // claims far more than there is
  std::memcpy(reset.data(), &e, sizeof e);
  in.notification(reset.data(), reset.size());
  ASSERT_EQ(r.incoming.size(), 1u);
  EXPECT_EQ(r.incoming[0].size(), 3u);
  auto lost = assocChange(SCTP_COMM_LOST, {6, 0, 0xff, 0xff, 0, 13, 0, 200});
  in.notification(lost.data(), lost.size());
  EXPECT_EQ(r.endings.size(), 1u);
}
