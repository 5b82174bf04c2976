#include "rtc/sdp.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace claynet::rtc::sdp {
namespace {

using claynet::Result;

constexpr std::size_t kDefaultMaxMessageSize = 65536;
constexpr std::size_t kSha256Length = 32;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

char toLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
char toUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (toLower(a[i]) != toLower(b[i])) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), toLower);
  return out;
}

std::vector<std::string_view> splitWords(std::string_view s) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) words.push_back(s.substr(start, i - start));
  }
  return words;
}

template <typename T>
bool parseUnsigned(std::string_view s, T& out) {
  if (s.empty()) return false;
  T value{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return false;
  out = value;
  return true;
}

// Keeps error messages readable when a peer sends something huge or binary.
std::string excerpt(std::string_view s) {
  constexpr std::size_t kMax = 80;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax)) + "...";
}

struct Attribute {
  std::string_view name;
  std::string_view value;  // empty for flag attributes such as a=ice-lite
};

Attribute splitAttribute(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return {trim(text), {}};
  return {trim(text.substr(0, colon)), trim(text.substr(colon + 1))};
}

struct MediaSection {
  std::string_view mLine;                    // after "m="
  std::vector<std::string_view> attributes;  // after "a="
};

struct Document {
  std::string_view origin;  // after "o="
  std::vector<std::string_view> sessionAttributes;
  std::vector<MediaSection> media;
};

Result splitDocument(std::string_view text, Document& doc) {
  bool sawVersion = false;
  std::size_t lineNumber = 0;
  while (!text.empty()) {
    auto newline = text.find('\n');
    std::string_view raw = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    ++lineNumber;
    std::string_view line = trim(raw);
    if (line.empty()) continue;
    if (line.size() < 2 || line[1] != '=') {
      return Result::failure("SDP line " + std::to_string(lineNumber) +
                             " is not of the form x=...: \"" + excerpt(line) + "\"");
    }
    char type = line[0];
    std::string_view value = line.substr(2);
    if (!sawVersion) {
      // Catches the common mistake of passing a JSON envelope or an empty string as the SDP.
      if (type != 'v') {
        return Result::failure("SDP does not start with v=0 (first line: \"" + excerpt(line) +
                               "\")");
      }
      sawVersion = true;
      continue;
    }
    switch (type) {
      case 'o':
        if (doc.media.empty()) doc.origin = value;
        break;
      case 'm':
        doc.media.push_back(MediaSection{value, {}});
        break;
      case 'a':
        if (doc.media.empty()) {
          doc.sessionAttributes.push_back(value);
        } else {
          doc.media.back().attributes.push_back(value);
        }
        break;
      default:
        break;  // c=, s=, t=, b=, ... carry nothing claynet needs.
    }
  }
  if (!sawVersion) return Result::failure("SDP is empty");
  return {};
}

struct MediaMatch {
  bool isDataChannel = false;
  bool legacy = false;
  bool rejected = false;  // port 0 and not bundle-only
  uint16_t sctpPort = 5000;
  std::string whyNot;  // set when an application m-line looked close but did not qualify
};

MediaMatch matchMedia(const MediaSection& section) {
  MediaMatch match;
  auto words = splitWords(section.mLine);
  if (words.size() < 4 || words[0] != "application") return match;
  const std::string_view port = words[1];
  const std::string_view proto = words[2];

  if (iequals(proto, "UDP/DTLS/SCTP") || iequals(proto, "TCP/DTLS/SCTP")) {
    match.isDataChannel = std::find(words.begin() + 3, words.end(),
                                    std::string_view("webrtc-datachannel")) != words.end();
    if (!match.isDataChannel) {
      match.whyNot = "\"m=" + excerpt(section.mLine) + "\" does not offer webrtc-datachannel";
    }
  } else if (iequals(proto, "DTLS/SCTP")) {
    // The legacy form names the SCTP port as the format and maps it with a=sctpmap.
    for (auto it = words.begin() + 3; it != words.end() && !match.isDataChannel; ++it) {
      uint16_t fmtPort = 0;
      if (!parseUnsigned(*it, fmtPort) || fmtPort == 0) continue;
      for (std::string_view attr : section.attributes) {
        Attribute a = splitAttribute(attr);
        if (a.name != "sctpmap") continue;
        auto fields = splitWords(a.value);
        uint16_t mapped = 0;
        if (fields.size() >= 2 && parseUnsigned(fields[0], mapped) && mapped == fmtPort &&
            fields[1] == "webrtc-datachannel") {
          match.isDataChannel = true;
          match.legacy = true;
          match.sctpPort = fmtPort;
          break;
        }
      }
    }
    if (!match.isDataChannel) {
      match.whyNot = "\"m=" + excerpt(section.mLine) +
                     "\" has no a=sctpmap:<port> webrtc-datachannel for its format";
    }
  } else {
    return match;
  }

  if (match.isDataChannel) {
    unsigned long portNumber = 0;
    bool bundleOnly = std::any_of(section.attributes.begin(), section.attributes.end(),
                                  [](std::string_view a) { return trim(a) == "bundle-only"; });
    if (parseUnsigned(port, portNumber) && portNumber == 0 && !bundleOnly) {
      match.rejected = true;
      match.isDataChannel = false;
      match.whyNot = "the data-channel m-line has port 0 (rejected by the peer)";
    }
  }
  return match;
}

struct Fingerprint {
  std::string algorithm;  // lower case
  std::string_view value;
};

// What either the session level or the chosen m-section said; the latter wins per field.
struct Level {
  std::optional<std::string_view> iceUfrag;
  std::optional<std::string_view> icePwd;
  std::optional<std::string_view> setup;
  std::vector<Fingerprint> fingerprints;
  bool iceLite = false;
  bool endOfCandidates = false;
};

Result collectCommon(const Attribute& a, Level& level) {
  if (a.name == "ice-ufrag") {
    level.iceUfrag = a.value;
  } else if (a.name == "ice-pwd") {
    level.icePwd = a.value;
  } else if (a.name == "setup") {
    level.setup = a.value;
  } else if (a.name == "ice-lite") {
    level.iceLite = true;
  } else if (a.name == "end-of-candidates") {
    level.endOfCandidates = true;
  } else if (a.name == "fingerprint") {
    auto words = splitWords(a.value);
    if (words.size() != 2) {
      return Result::failure("SDP a=fingerprint is malformed: \"" + excerpt(a.value) +
                             "\" (expected \"<hash> <hex:hex:...>\")");
    }
    level.fingerprints.push_back({lower(words[0]), words[1]});
  }
  return {};
}

Result normaliseSha256(std::string_view value, std::string& out) {
  auto bad = [&] {
    return Result::failure("SDP sha-256 fingerprint is malformed: \"" + excerpt(value) +
                           "\" (expected 32 hex byte pairs separated by colons)");
  };
  if (value.size() != kSha256Length * 3 - 1) return bad();
  std::string result;
  result.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (i % 3 == 2) {
      if (c != ':') return bad();
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return bad();
    }
    result.push_back(toUpper(c));
  }
  out = std::move(result);
  return {};
}

Result parseSetup(std::string_view value, Setup& out) {
  if (iequals(value, "actpass")) {
    out = Setup::ActPass;
  } else if (iequals(value, "active")) {
    out = Setup::Active;
  } else if (iequals(value, "passive")) {
    out = Setup::Passive;
  } else {
    return Result::failure("SDP a=setup:" + excerpt(value) +
                           " is not supported (expected actpass, active or passive)");
  }
  return {};
}

std::string randomSessionId() {
  // Chromium and libdatachannel use a positive 63-bit number; staying below 2^62 keeps every
  // parser that reads it as a signed 64-bit value happy.
  thread_local std::mt19937_64 engine{std::random_device{}()};
  std::uniform_int_distribution<uint64_t> dist(1, (uint64_t{1} << 62) - 1);
  return std::to_string(dist(engine));
}

}  // namespace

const char* toString(Setup setup) {
  switch (setup) {
    case Setup::ActPass:
      return "actpass";
    case Setup::Active:
      return "active";
    case Setup::Passive:
      return "passive";
  }
  return "actpass";
}

std::size_t effectiveMaxMessageSize(const Session& session) {
  if (!session.maxMessageSize) return kDefaultMaxMessageSize;
  if (*session.maxMessageSize == 0) return std::numeric_limits<std::size_t>::max();
  return *session.maxMessageSize;
}

Result parse(std::string_view text, Session& out) {
  Document doc;
  if (auto r = splitDocument(text, doc); !r) return r;

  Session session;

  auto originWords = splitWords(doc.origin);
  if (originWords.size() >= 3) {
    session.sessionId = std::string(originWords[1]);
    uint64_t version = 0;
    if (parseUnsigned(originWords[2], version)) session.sessionVersion = version;
  }

  const MediaSection* chosen = nullptr;
  MediaMatch chosenMatch;
  std::string whyNot;
  for (std::size_t i = 0; i < doc.media.size(); ++i) {
    MediaMatch match = matchMedia(doc.media[i]);
    if (match.isDataChannel) {
      chosen = &doc.media[i];
      chosenMatch = match;
      session.mLineIndex = static_cast<int>(i);
      break;
    }
    if (whyNot.empty()) whyNot = match.whyNot;
  }
  if (chosen == nullptr) {
    std::string message = "SDP has no application m-line for data channels";
    if (!whyNot.empty()) message += " (" + whyNot + ")";
    return Result::failure(message);
  }
  session.legacySctpmap = chosenMatch.legacy;
  session.sctpPort = chosenMatch.sctpPort;

  Level sessionLevel;
  for (std::string_view attr : doc.sessionAttributes) {
    if (auto r = collectCommon(splitAttribute(attr), sessionLevel); !r) return r;
  }

  Level mediaLevel;
  bool sawMid = false;
  for (std::string_view attr : chosen->attributes) {
    Attribute a = splitAttribute(attr);
    if (auto r = collectCommon(a, mediaLevel); !r) return r;
    if (a.name == "mid") {
      if (a.value.empty()) return Result::failure("SDP a=mid is empty");
      session.mid = std::string(a.value);
      sawMid = true;
    } else if (a.name == "candidate") {
      session.candidates.emplace_back(trim(attr));
    } else if (a.name == "sctp-port" && !chosenMatch.legacy) {
      uint16_t port = 0;
      if (!parseUnsigned(a.value, port) || port == 0) {
        return Result::failure("SDP a=sctp-port:" + excerpt(a.value) +
                               " is not a port number (1-65535)");
      }
      session.sctpPort = port;
    } else if (a.name == "max-message-size") {
      std::size_t size = 0;
      if (!parseUnsigned(a.value, size)) {
        return Result::failure("SDP a=max-message-size:" + excerpt(a.value) +
                               " is not a non-negative number");
      }
      session.maxMessageSize = size;
    }
  }
  if (!sawMid) {
    // Without a=mid, peers match trickled candidates by m-line index; mirror that.
    session.mid = std::to_string(session.mLineIndex);
  }

  auto pick = [](const std::optional<std::string_view>& media,
                 const std::optional<std::string_view>& sess) { return media ? media : sess; };

  auto ufrag = pick(mediaLevel.iceUfrag, sessionLevel.iceUfrag);
  if (!ufrag || ufrag->empty()) return Result::failure("SDP has no a=ice-ufrag");
  auto pwd = pick(mediaLevel.icePwd, sessionLevel.icePwd);
  if (!pwd || pwd->empty()) return Result::failure("SDP has no a=ice-pwd");
  session.iceUfrag = std::string(*ufrag);
  session.icePwd = std::string(*pwd);

  if (auto setup = pick(mediaLevel.setup, sessionLevel.setup)) {
    if (auto r = parseSetup(*setup, session.setup); !r) return r;
  }

  const auto& fingerprints =
      mediaLevel.fingerprints.empty() ? sessionLevel.fingerprints : mediaLevel.fingerprints;
  if (fingerprints.empty()) return Result::failure("SDP has no a=fingerprint");
  // RFC 8122 allows several fingerprints; one we can check is enough.
  auto sha256 = std::find_if(fingerprints.begin(), fingerprints.end(),
                             [](const Fingerprint& f) { return f.algorithm == "sha-256"; });
  if (sha256 == fingerprints.end()) {
    return Result::failure("SDP a=fingerprint uses the unsupported hash algorithm \"" +
                           excerpt(fingerprints.front().algorithm) +
                           "\" (claynet supports only sha-256)");
  }
  session.fingerprintAlgorithm = "sha-256";
  if (auto r = normaliseSha256(sha256->value, session.fingerprint); !r) return r;

  session.iceLite = mediaLevel.iceLite || sessionLevel.iceLite;
  session.endOfCandidates = mediaLevel.endOfCandidates || sessionLevel.endOfCandidates;

  out = std::move(session);
  return {};
}

std::string generate(const Session& session) {
  std::string sdp;
  sdp.reserve(1024);
  auto line = [&sdp](std::string_view a, std::string_view b = {}, std::string_view c = {}) {
    sdp.append(a).append(b).append(c).append("\r\n");
  };
  const std::string sessionId = session.sessionId.empty() ? randomSessionId() : session.sessionId;
  const std::string port = std::to_string(session.sctpPort);

  line("v=0");
  line("o=- ", sessionId + " " + std::to_string(session.sessionVersion), " IN IP4 127.0.0.1");
  line("s=-");
  line("t=0 0");
  line("a=group:BUNDLE ", session.mid);
  line("a=ice-options:trickle");
  if (session.iceLite) line("a=ice-lite");

  if (session.legacySctpmap) {
    line("m=application 9 DTLS/SCTP ", port);
  } else {
    line("m=application 9 UDP/DTLS/SCTP webrtc-datachannel");
  }
  line("c=IN IP4 0.0.0.0");
  line("a=mid:", session.mid);
  line("a=ice-ufrag:", session.iceUfrag);
  line("a=ice-pwd:", session.icePwd);
  line("a=fingerprint:", session.fingerprintAlgorithm + " ", session.fingerprint);
  line("a=setup:", toString(session.setup));
  if (session.legacySctpmap) {
    // The third field is the stream count in the draft this form comes from; 65535 is what
    // aiortc and old Firefox send.
    line("a=sctpmap:", port, " webrtc-datachannel 65535");
  } else {
    line("a=sctp-port:", port);
  }
  if (session.maxMessageSize) line("a=max-message-size:", std::to_string(*session.maxMessageSize));
  for (const std::string& candidate : session.candidates) {
    std::string_view c = candidate;
    if (c.starts_with("a=")) c.remove_prefix(2);
    line("a=", c);
  }
  if (session.endOfCandidates) line("a=end-of-candidates");
  return sdp;
}

}  // namespace claynet::rtc::sdp
