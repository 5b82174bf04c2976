#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "rtc/sdp.hpp"

namespace claynet::rtc::sdp {
namespace {

constexpr const char* kFingerprintUpper =
    "B4:AB:E0:EE:94:65:A3:72:2E:14:EF:C9:A0:4B:E3:E6:07:02:A6:FE:94:C8:86:35:49:37:68:EF:50:66:40:"
    "B3";

// Shaped like what Chromium's createOffer() gives for a data-only connection after gathering:
// session-level group/msid-semantic/extmap-allow-mixed, everything else at media level.
constexpr std::string_view kChromiumOffer =
    "v=0\r\n"
    "o=- 4358383942370411394 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=application 50735 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 10.99.0.1\r\n"
    "a=candidate:2999745851 1 udp 2122260223 4d2a1f3e-7b7c-4a1e-9c2d-3f5e8b6a1c90.local 50735 typ "
    "host generation 0 network-cost 999\r\n"
    "a=candidate:1467250027 1 udp 2122194687 10.99.0.1 50736 typ host generation 0 network-id 2 "
    "network-cost 10\r\n"
    "a=candidate:4233069003 1 tcp 1518280447 10.99.0.1 9 typ host tcptype active generation 0 "
    "network-id 2 network-cost 10\r\n"
    "a=candidate:842163049 1 udp 1686052607 203.0.113.7 61520 typ srflx raddr 10.99.0.1 rport "
    "50736 generation 0 network-id 2 network-cost 10\r\n"
    "a=ice-ufrag:Vr3Q\r\n"
    "a=ice-pwd:kz0n6yCzKrzqpvDq0n1Yz3Rb\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "B4:AB:E0:EE:94:65:A3:72:2E:14:EF:C9:A0:4B:E3:E6:07:02:A6:FE:94:C8:86:35:49:37:68:EF:50:66:40:"
    "B3\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:262144\r\n";

// Firefox puts the fingerprint (and here ice credentials) at session level, ends candidates
// itself and uses a mozilla origin line.
constexpr std::string_view kFirefoxOffer =
    "v=0\r\n"
    "o=mozilla...THIS_IS_SDPARTA-115.6.0 8184553433574536346 0 IN IP4 0.0.0.0\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=sendrecv\r\n"
    "a=fingerprint:sha-256 "
    "eb:4e:ba:be:d6:5a:43:9d:74:30:59:7a:79:7f:85:9c:53:19:43:70:13:46:1b:d4:d3:6d:e3:76:15:b8:a5:"
    "43\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=ice-options:trickle\r\n"
    "a=msid-semantic:WMS *\r\n"
    "m=application 53870 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 10.99.0.1\r\n"
    "a=candidate:0 1 UDP 2122252543 10.99.0.1 53870 typ host\r\n"
    "a=candidate:1 1 TCP 2105524479 10.99.0.1 9 typ host tcptype active\r\n"
    "a=sendrecv\r\n"
    "a=end-of-candidates\r\n"
    "a=ice-pwd:6f1b3b1c0e8a4e2d9c7f5a3b1d0e2f4a\r\n"
    "a=ice-ufrag:5d3a9c1e\r\n"
    "a=mid:0\r\n"
    "a=setup:actpass\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:1073741823\r\n";

// aiortc 1.4 (Debian) offers in the pre-RFC 8841 form, with bare "\n" as written by some
// signalling code that re-joins lines.
constexpr std::string_view kAiortcLegacyOffer =
    "v=0\n"
    "o=- 3908361442 3908361442 IN IP4 0.0.0.0\n"
    "s=-\n"
    "t=0 0\n"
    "a=group:BUNDLE 0\n"
    "a=msid-semantic:WMS *\n"
    "m=application 43617 DTLS/SCTP 5000\n"
    "c=IN IP4 10.99.0.2\n"
    "a=mid:0\n"
    "a=sctpmap:5000 webrtc-datachannel 65535\n"
    "a=max-message-size:65536\n"
    "a=candidate:3f8a1c2b4d5e6f708192a3b4c5d6e7f8 1 udp 2130706431 10.99.0.2 43617 typ host\n"
    "a=candidate:7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f 1 udp 2130706431 fd00:99::2 47811 typ host\n"
    "a=end-of-candidates\n"
    "a=ice-ufrag:Kt0Y\n"
    "a=ice-pwd:qWn3o7L3cR2bE8dXgQw1uY\n"
    "a=fingerprint:sha-256 "
    "B4:AB:E0:EE:94:65:A3:72:2E:14:EF:C9:A0:4B:E3:E6:07:02:A6:FE:94:C8:86:35:49:37:68:EF:50:66:40:"
    "B3\n"
    "a=setup:actpass\n";

// An answer from a peer that accepts messages of any size.
constexpr std::string_view kUnlimitedAnswer =
    "v=0\r\n"
    "o=rtc 2215716042 0 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=msid-semantic:WMS *\r\n"
    "a=setup:active\r\n"
    "a=ice-ufrag:aB3d\r\n"
    "a=ice-pwd:0123456789abcdefghijkl\r\n"
    "a=ice-options:ice2,trickle\r\n"
    "a=fingerprint:sha-256 "
    "B4:AB:E0:EE:94:65:A3:72:2E:14:EF:C9:A0:4B:E3:E6:07:02:A6:FE:94:C8:86:35:49:37:68:EF:50:66:40:"
    "B3\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\n"
    "a=sendrecv\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:0\r\n";

Session sampleSession() {
  Session s;
  s.iceUfrag = "Ab12";
  s.icePwd = "abcdefghijklmnopqrstuv";
  s.fingerprint = kFingerprintUpper;
  s.setup = Setup::ActPass;
  s.mid = "0";
  s.sessionId = "1234567890123";
  s.sessionVersion = 7;
  s.maxMessageSize = 262144;
  return s;
}

// Replaces the first occurrence of `from` in `text` (which must exist).
std::string replaced(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  auto at = out.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) out.replace(at, from.size(), to);
  return out;
}

std::vector<std::string> lines(const std::string& sdp) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < sdp.size()) {
    auto end = sdp.find("\r\n", start);
    if (end == std::string::npos) {
      out.push_back(sdp.substr(start));
      break;
    }
    out.push_back(sdp.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

TEST(SdpParse, ChromiumDataOnlyOffer) {
  Session s;
  auto r = parse(kChromiumOffer, s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(s.iceUfrag, "Vr3Q");
  EXPECT_EQ(s.icePwd, "kz0n6yCzKrzqpvDq0n1Yz3Rb");
  EXPECT_FALSE(s.iceLite);
  EXPECT_EQ(s.fingerprintAlgorithm, "sha-256");
  EXPECT_EQ(s.fingerprint, kFingerprintUpper);
  EXPECT_EQ(s.setup, Setup::ActPass);
  EXPECT_EQ(s.mid, "0");
  EXPECT_EQ(s.mLineIndex, 0);
  EXPECT_EQ(s.sctpPort, 5000);
  ASSERT_TRUE(s.maxMessageSize.has_value());
  EXPECT_EQ(*s.maxMessageSize, 262144u);
  EXPECT_FALSE(s.legacySctpmap);
  ASSERT_EQ(s.candidates.size(), 4u);
  EXPECT_EQ(s.candidates[0],
            "candidate:2999745851 1 udp 2122260223 4d2a1f3e-7b7c-4a1e-9c2d-3f5e8b6a1c90.local "
            "50735 typ host generation 0 network-cost 999");
  EXPECT_EQ(s.candidates[3].rfind("candidate:842163049 1 udp 1686052607 203.0.113.7", 0), 0u);
  EXPECT_FALSE(s.endOfCandidates);
  EXPECT_EQ(s.sessionId, "4358383942370411394");
  EXPECT_EQ(s.sessionVersion, 2u);
  EXPECT_EQ(effectiveMaxMessageSize(s), 262144u);
}

TEST(SdpParse, FirefoxOfferWithSessionLevelFingerprint) {
  Session s;
  auto r = parse(kFirefoxOffer, s);
  ASSERT_TRUE(r) << r.error();
  // Lower-case hex from the session level, normalised.
  EXPECT_EQ(s.fingerprint,
            "EB:4E:BA:BE:D6:5A:43:9D:74:30:59:7A:79:7F:85:9C:53:19:43:70:13:46:1B:D4:D3:6D:E3:76:"
            "15:B8:A5:43");
  EXPECT_EQ(s.iceUfrag, "5d3a9c1e");
  EXPECT_EQ(s.icePwd, "6f1b3b1c0e8a4e2d9c7f5a3b1d0e2f4a");
  EXPECT_EQ(s.setup, Setup::ActPass);
  EXPECT_EQ(s.candidates.size(), 2u);
  EXPECT_TRUE(s.endOfCandidates);
  EXPECT_EQ(s.sessionId, "8184553433574536346");
  EXPECT_EQ(s.sessionVersion, 0u);
  EXPECT_EQ(effectiveMaxMessageSize(s), 1073741823u);
}

TEST(SdpParse, AiortcLegacySctpmapOfferWithBareNewlines) {
  Session s;
  auto r = parse(kAiortcLegacyOffer, s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(s.legacySctpmap);
  EXPECT_EQ(s.sctpPort, 5000);
  EXPECT_EQ(s.mid, "0");
  EXPECT_EQ(s.iceUfrag, "Kt0Y");
  EXPECT_EQ(s.icePwd, "qWn3o7L3cR2bE8dXgQw1uY");
  EXPECT_EQ(s.fingerprint, kFingerprintUpper);
  ASSERT_EQ(s.candidates.size(), 2u);
  EXPECT_EQ(
      s.candidates[1],
      "candidate:7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f 1 udp 2130706431 fd00:99::2 47811 typ host");
  EXPECT_TRUE(s.endOfCandidates);
  ASSERT_TRUE(s.maxMessageSize.has_value());
  EXPECT_EQ(*s.maxMessageSize, 65536u);
}

TEST(SdpParse, LegacyFormUsesThePortFromTheFormat) {
  std::string sdp = replaced(kAiortcLegacyOffer, "DTLS/SCTP 5000", "DTLS/SCTP 5001");
  sdp = replaced(sdp, "a=sctpmap:5000", "a=sctpmap:5001");
  Session s;
  auto r = parse(sdp, s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(s.legacySctpmap);
  EXPECT_EQ(s.sctpPort, 5001);
}

TEST(SdpParse, LegacyFormWithoutSctpmapIsRejectedWithReason) {
  std::string sdp = replaced(kAiortcLegacyOffer, "a=sctpmap:5000 webrtc-datachannel 65535\n", "");
  Session s;
  auto r = parse(sdp, s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("SDP has no application m-line for data channels"), std::string::npos)
      << r.error();
  EXPECT_NE(r.error().find("sctpmap"), std::string::npos) << r.error();
}

TEST(SdpParse, AnswerWithUnlimitedMessageSize) {
  Session s;
  auto r = parse(kUnlimitedAnswer, s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(s.setup, Setup::Active);
  ASSERT_TRUE(s.maxMessageSize.has_value());
  EXPECT_EQ(*s.maxMessageSize, 0u);
  EXPECT_EQ(effectiveMaxMessageSize(s), std::numeric_limits<std::size_t>::max());
  EXPECT_EQ(s.iceUfrag, "aB3d");
  EXPECT_TRUE(s.candidates.empty());
}

TEST(SdpParse, AbsentMaxMessageSizeMeans65536) {
  std::string sdp = replaced(kChromiumOffer, "a=max-message-size:262144\r\n", "");
  Session s;
  ASSERT_TRUE(parse(sdp, s));
  EXPECT_FALSE(s.maxMessageSize.has_value());
  EXPECT_EQ(effectiveMaxMessageSize(s), 65536u);
}

TEST(SdpParse, MediaLevelOverridesSessionLevel) {
  std::string sdp = replaced(kUnlimitedAnswer, "a=mid:0\r\n",
                             "a=mid:data\r\n"
                             "a=ice-ufrag:MEDIA\r\n"
                             "a=setup:passive\r\n"
                             "a=fingerprint:sha-256 "
                             "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:"
                             "77:88:99:aa:bb:cc:dd:ee:ff\r\n");
  Session s;
  auto r = parse(sdp, s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(s.mid, "data");
  EXPECT_EQ(s.iceUfrag, "MEDIA");
  EXPECT_EQ(s.icePwd, "0123456789abcdefghijkl");  // not overridden: from the session level
  EXPECT_EQ(s.setup, Setup::Passive);
  EXPECT_EQ(s.fingerprint,
            "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:"
            "CC:DD:EE:FF");
}

std::string multiMediaOffer() {
  return "v=0\r\n"
         "o=- 1 2 IN IP4 127.0.0.1\r\n"
         "s=-\r\n"
         "t=0 0\r\n"
         "a=group:BUNDLE a v d\r\n"
         "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
         "c=IN IP4 0.0.0.0\r\n"
         "a=mid:a\r\n"
         "a=ice-ufrag:AUDI\r\n"
         "a=ice-pwd:audioaudioaudioaudioau\r\n"
         "a=sctp-port:7777\r\n"
         "a=candidate:1 1 udp 1 10.0.0.1 1 typ host\r\n"
         "a=rtpmap:111 opus/48000/2\r\n"
         "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
         "a=mid:v\r\n"
         "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
         "c=IN IP4 0.0.0.0\r\n"
         "a=mid:d\r\n"
         "a=ice-ufrag:DATA\r\n"
         "a=ice-pwd:datadatadatadatadatada\r\n"
         "a=fingerprint:sha-256 " +
         std::string(kFingerprintUpper) +
         "\r\n"
         "a=setup:active\r\n"
         "a=sctp-port:5000\r\n";
}

TEST(SdpParse, SkipsAudioAndVideoAndReportsTheIndex) {
  const std::string sdp = multiMediaOffer();
  Session s;
  auto r = parse(sdp, s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(s.mLineIndex, 2);
  EXPECT_EQ(s.mid, "d");
  EXPECT_EQ(s.iceUfrag, "DATA");
  EXPECT_EQ(s.sctpPort, 5000);
  EXPECT_TRUE(s.candidates.empty());
}

TEST(SdpParse, MissingMidFallsBackToTheMLineIndex) {
  std::string sdp = replaced(multiMediaOffer(), "a=mid:d\r\n", "");
  Session s;
  auto r = parse(sdp, s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(s.mid, "2");
}

TEST(SdpParse, IceLiteAtSessionLevel) {
  std::string sdp = replaced(kUnlimitedAnswer, "t=0 0\r\n", "t=0 0\r\na=ice-lite\r\n");
  Session s;
  ASSERT_TRUE(parse(sdp, s));
  EXPECT_TRUE(s.iceLite);
}

TEST(SdpParse, SeveralFingerprintsPickSha256) {
  std::string sdp = replaced(kChromiumOffer, "a=fingerprint:sha-256",
                             "a=fingerprint:sha-1 01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:"
                             "11:12:13:14\r\na=fingerprint:SHA-256");
  Session s;
  auto r = parse(sdp, s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(s.fingerprint, kFingerprintUpper);
}

TEST(SdpParse, RejectsUnsupportedFingerprintAlgorithm) {
  std::string sdp =
      replaced(kChromiumOffer, std::string("a=fingerprint:sha-256 ") + kFingerprintUpper,
               "a=fingerprint:sha-1 "
               "01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14");
  Session s;
  auto r = parse(sdp, s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("sha-1"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("unsupported"), std::string::npos) << r.error();
}

TEST(SdpParse, RejectsMalformedFingerprint) {
  std::string sdp = replaced(kChromiumOffer, "40:B3\r\n", "40\r\n");
  Session s;
  auto r = parse(sdp, s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("fingerprint"), std::string::npos) << r.error();
  sdp = replaced(kChromiumOffer, "B4:AB:E0", "B4-AB-E0");
  r = parse(sdp, s);
  ASSERT_FALSE(r);
  sdp = replaced(kChromiumOffer, "B4:AB:E0", "G4:AB:E0");
  r = parse(sdp, s);
  ASSERT_FALSE(r);
}

struct MissingCase {
  const char* remove;
  const char* expected;
};

void PrintTo(const MissingCase& c, std::ostream* os) { *os << "without " << c.remove; }

class SdpMissing : public ::testing::TestWithParam<MissingCase> {};

TEST_P(SdpMissing, SaysWhatIsMissing) {
  std::string sdp(kChromiumOffer);
  const std::string remove = GetParam().remove;
  auto start = sdp.find(remove);
  ASSERT_NE(start, std::string::npos);
  auto end = sdp.find("\r\n", start);
  sdp.erase(start, end + 2 - start);
  Session s;
  s.iceUfrag = "untouched";
  auto r = parse(sdp, s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), GetParam().expected);
  EXPECT_EQ(s.iceUfrag, "untouched") << "a failed parse must leave the output alone";
}

INSTANTIATE_TEST_SUITE_P(
    Fields, SdpMissing,
    ::testing::Values(MissingCase{"a=ice-ufrag:", "SDP has no a=ice-ufrag"},
                      MissingCase{"a=ice-pwd:", "SDP has no a=ice-pwd"},
                      MissingCase{"a=fingerprint:", "SDP has no a=fingerprint"},
                      MissingCase{"m=application",
                                  "SDP has no application m-line for data channels"}));

TEST(SdpParse, AudioOnlyHasNoApplicationMLine) {
  const std::string sdp =
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ice-ufrag:abcd\r\n";
  Session s;
  auto r = parse(sdp, s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "SDP has no application m-line for data channels");
}

TEST(SdpParse, RejectedApplicationMLine) {
  std::string sdp = replaced(kChromiumOffer, "m=application 50735", "m=application 0");
  Session s;
  auto r = parse(sdp, s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("port 0"), std::string::npos) << r.error();
}

TEST(SdpParse, BundleOnlyPortZeroIsAccepted) {
  std::string sdp = replaced(kChromiumOffer, "m=application 50735", "m=application 0");
  sdp = replaced(sdp, "a=mid:0\r\n", "a=mid:0\r\na=bundle-only\r\n");
  Session s;
  auto r = parse(sdp, s);
  EXPECT_TRUE(r) << r.error();
}

TEST(SdpParse, RejectsNonSdp) {
  Session s;
  auto r = parse("", s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "SDP is empty");
  r = parse(R"({"type":"offer","sdp":"v=0"})", s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("x=..."), std::string::npos) << r.error();
  r = parse("o=- 1 2 IN IP4 127.0.0.1\r\n", s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("v=0"), std::string::npos) << r.error();
}

TEST(SdpParse, RejectsBadNumbersAndSetup) {
  Session s;
  auto r = parse(replaced(kChromiumOffer, "a=sctp-port:5000", "a=sctp-port:70000"), s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("sctp-port"), std::string::npos) << r.error();
  r = parse(replaced(kChromiumOffer, "a=max-message-size:262144", "a=max-message-size:big"), s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("max-message-size"), std::string::npos) << r.error();
  r = parse(replaced(kChromiumOffer, "a=setup:actpass", "a=setup:holdconn"), s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("holdconn"), std::string::npos) << r.error();
}

TEST(SdpParse, SctpPortOtherThan5000) {
  Session s;
  auto r = parse(replaced(kChromiumOffer, "a=sctp-port:5000", "a=sctp-port:5002"), s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(s.sctpPort, 5002);
}

TEST(SdpGenerate, ModernFormLineByLine) {
  Session s = sampleSession();
  s.candidates = {"candidate:1 1 udp 2122260223 10.99.0.1 40000 typ host",
                  "a=candidate:2 1 udp 1686052607 203.0.113.7 40001 typ srflx raddr 10.99.0.1 "
                  "rport 40000"};
  s.endOfCandidates = true;
  const std::string sdp = generate(s);
  ASSERT_GE(sdp.size(), 2u);
  EXPECT_EQ(sdp.substr(sdp.size() - 2), "\r\n");
  const std::vector<std::string> expected = {
      "v=0",
      "o=- 1234567890123 7 IN IP4 127.0.0.1",
      "s=-",
      "t=0 0",
      "a=group:BUNDLE 0",
      "a=ice-options:trickle",
      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
      "c=IN IP4 0.0.0.0",
      "a=mid:0",
      "a=ice-ufrag:Ab12",
      "a=ice-pwd:abcdefghijklmnopqrstuv",
      std::string("a=fingerprint:sha-256 ") + kFingerprintUpper,
      "a=setup:actpass",
      "a=sctp-port:5000",
      "a=max-message-size:262144",
      "a=candidate:1 1 udp 2122260223 10.99.0.1 40000 typ host",
      "a=candidate:2 1 udp 1686052607 203.0.113.7 40001 typ srflx raddr 10.99.0.1 rport 40000",
      "a=end-of-candidates",
  };
  EXPECT_EQ(lines(sdp), expected);
  // No bare "\n" anywhere.
  for (std::size_t i = 0; i < sdp.size(); ++i) {
    if (sdp[i] == '\n') {
      ASSERT_GT(i, 0u);
      EXPECT_EQ(sdp[i - 1], '\r') << "at " << i;
    }
  }
}

TEST(SdpGenerate, LegacyForm) {
  Session s = sampleSession();
  s.legacySctpmap = true;
  s.maxMessageSize.reset();
  s.setup = Setup::Active;
  const auto got = lines(generate(s));
  EXPECT_NE(std::find(got.begin(), got.end(), "m=application 9 DTLS/SCTP 5000"), got.end());
  EXPECT_NE(std::find(got.begin(), got.end(), "a=sctpmap:5000 webrtc-datachannel 65535"),
            got.end());
  EXPECT_NE(std::find(got.begin(), got.end(), "a=setup:active"), got.end());
  for (const auto& line : got) {
    EXPECT_NE(line.rfind("a=sctp-port", 0), 0u) << line;
    EXPECT_NE(line.rfind("a=max-message-size", 0), 0u) << line;
    EXPECT_NE(line, "a=end-of-candidates");
  }
}

TEST(SdpGenerate, GeneratesSessionIdWhenEmpty) {
  Session s = sampleSession();
  s.sessionId.clear();
  Session back;
  auto r = parse(generate(s), back);
  ASSERT_TRUE(r) << r.error();
  ASSERT_FALSE(back.sessionId.empty());
  for (char c : back.sessionId) EXPECT_TRUE(c >= '0' && c <= '9') << back.sessionId;
  EXPECT_NE(back.sessionId, "0");
}

TEST(SdpRoundTrip, ModernAndLegacyAllRoles) {
  for (bool legacy : {false, true}) {
    for (sdp::Setup setup : {Setup::ActPass, Setup::Active, Setup::Passive}) {
      Session s = sampleSession();
      s.legacySctpmap = legacy;
      s.setup = setup;
      s.mid = "data";
      s.iceLite = legacy;
      s.maxMessageSize = legacy ? std::optional<std::size_t>{} : std::optional<std::size_t>{0};
      s.candidates = {"candidate:1 1 udp 2122260223 10.99.0.1 40000 typ host"};
      s.endOfCandidates = !legacy;
      Session back;
      auto r = parse(generate(s), back);
      ASSERT_TRUE(r) << r.error();
      SCOPED_TRACE(std::string(legacy ? "legacy " : "modern ") + toString(setup));
      EXPECT_EQ(back.iceUfrag, s.iceUfrag);
      EXPECT_EQ(back.icePwd, s.icePwd);
      EXPECT_EQ(back.iceLite, s.iceLite);
      EXPECT_EQ(back.fingerprintAlgorithm, s.fingerprintAlgorithm);
      EXPECT_EQ(back.fingerprint, s.fingerprint);
      EXPECT_EQ(back.setup, s.setup);
      EXPECT_EQ(back.mid, s.mid);
      EXPECT_EQ(back.mLineIndex, 0);
      EXPECT_EQ(back.sctpPort, s.sctpPort);
      EXPECT_EQ(back.maxMessageSize, s.maxMessageSize);
      EXPECT_EQ(back.legacySctpmap, s.legacySctpmap);
      EXPECT_EQ(back.candidates, s.candidates);
      EXPECT_EQ(back.endOfCandidates, s.endOfCandidates);
      EXPECT_EQ(back.sessionId, s.sessionId);
      EXPECT_EQ(back.sessionVersion, s.sessionVersion);
    }
  }
}

TEST(SdpRoundTrip, ParsedChromiumOfferRegenerates) {
  Session s;
  ASSERT_TRUE(parse(kChromiumOffer, s));
  Session back;
  auto r = parse(generate(s), back);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(back.candidates, s.candidates);
  EXPECT_EQ(back.fingerprint, s.fingerprint);
  EXPECT_EQ(back.maxMessageSize, s.maxMessageSize);
}

TEST(SdpSetup, ToString) {
  EXPECT_STREQ(toString(Setup::ActPass), "actpass");
  EXPECT_STREQ(toString(Setup::Active), "active");
  EXPECT_STREQ(toString(Setup::Passive), "passive");
}

}  // namespace
}  // namespace claynet::rtc::sdp
