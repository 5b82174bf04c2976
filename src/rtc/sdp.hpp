// Sans-IO SDP for data-only sessions: parse a remote offer/answer, generate a local one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "claynet/result.hpp"

namespace claynet::rtc::sdp {

enum class Setup { ActPass, Active, Passive };

/// What a data-only session description says that claynet needs.
struct Session {
  std::string iceUfrag;
  std::string icePwd;
  bool iceLite = false;
  std::string fingerprintAlgorithm = "sha-256";  // lower case
  std::string fingerprint;                       // "AB:CD:...", upper case hex with colons
  Setup setup = Setup::ActPass;
  std::string mid = "0";
  int mLineIndex = 0;  // index of the application m-line in the description
  uint16_t sctpPort = 5000;
  /// a=max-message-size; nullopt when absent (the peer then means 65536), 0 means unlimited.
  std::optional<std::size_t> maxMessageSize;
  /// The old form: "m=application <port> DTLS/SCTP 5000" with "a=sctpmap:5000 ...".
  bool legacySctpmap = false;
  /// Candidates embedded in the description, each "candidate:..." (without "a=").
  std::vector<std::string> candidates;
  bool endOfCandidates = false;
  std::string sessionId;  // o= line session id; generated when empty
  uint64_t sessionVersion = 2;
};

/// Parses a description. Fails with a message saying what is missing or malformed: no
/// application m-line, no ICE ufrag/pwd, no fingerprint, an unsupported fingerprint hash, etc.
/// Session-level attributes apply unless the media level overrides them. Other m-lines
/// (audio/video) are ignored; mLineIndex tells where the application one was.
claynet::Result parse(std::string_view text, Session& out);

/// Generates a description with "\r\n" line endings, data-only, BUNDLE of one mid, trickle ICE.
/// Writes `a=max-message-size` only when `maxMessageSize` is set; uses the legacy m-line form
/// when `legacySctpmap` is set. Embeds `candidates` if any, and `a=end-of-candidates` if set.
std::string generate(const Session& session);

/// "actpass" / "active" / "passive".
const char* toString(Setup setup);

/// The effective max message size the remote accepts: 65536 when absent, SIZE_MAX for 0.
std::size_t effectiveMaxMessageSize(const Session& session);

}  // namespace claynet::rtc::sdp
