#include "signaling/peerjs_message.hpp"

#include <array>
#include <random>

#include "signaling/bounded_json.hpp"

namespace claynet::signaling {

using nlohmann::json;

namespace {

// Invalid UTF-8 in a string must not make dump() throw: replace it, as a browser would.
std::string dumpCompact(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

struct TypeName {
  ServerMessage::Type type;
  const char* text;
};
constexpr std::array<TypeName, 10> kTypeNames{{
    {ServerMessage::Type::Open, "OPEN"},
    {ServerMessage::Type::Heartbeat, "HEARTBEAT"},
    {ServerMessage::Type::IdTaken, "ID-TAKEN"},
    {ServerMessage::Type::Error, "ERROR"},
    {ServerMessage::Type::Expire, "EXPIRE"},
    {ServerMessage::Type::Reject, "REJECT"},
    {ServerMessage::Type::Leave, "LEAVE"},
    {ServerMessage::Type::Offer, "OFFER"},
    {ServerMessage::Type::Answer, "ANSWER"},
    {ServerMessage::Type::Candidate, "CANDIDATE"},
}};

const char* jsonTypeName(const json& v) { return v.type_name(); }

Result wrongType(std::string_view what, std::string_view expected, const json& got) {
  return Result::failure(std::string(what) + " must be " + std::string(expected) + ", not " +
                         jsonTypeName(got));
}

// Reads an optional string member; fails when present with another type.
Result optionalString(const json& obj, const char* key, std::string_view what, std::string& out,
                      bool nullAllowed = false) {
  auto it = obj.find(key);
  if (it == obj.end() || (nullAllowed && it->is_null())) return {};
  if (!it->is_string()) return wrongType(what, "a string", *it);
  out = it->get<std::string>();
  return {};
}

Result requiredString(const json& obj, const char* key, std::string_view what, std::string& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Result::failure(std::string(what) + " is missing");
  if (!it->is_string()) return wrongType(what, "a string", *it);
  out = it->get<std::string>();
  return {};
}

// The "sdp" member: {"type": expectedType, "sdp": "..."}.
Result parseSdpObject(const json& payload, const char* expectedType, const char* message,
                      std::string& out) {
  auto it = payload.find("sdp");
  if (it == payload.end())
    return Result::failure(std::string(message) + ": payload.sdp is missing");
  if (!it->is_object())
    return wrongType(std::string(message) + ": payload.sdp", "an object {type, sdp}", *it);
  std::string type;
  if (Result r = optionalString(*it, "type", std::string(message) + ": payload.sdp.type", type); !r)
    return r;
  if (!type.empty() && type != expectedType)
    return Result::failure(std::string(message) + ": payload.sdp.type is \"" + type +
                           "\", expected \"" + expectedType + "\"");
  return requiredString(*it, "sdp", std::string(message) + ": payload.sdp.sdp", out);
}

Result checkDataType(const json& payload, const char* message) {
  std::string type;
  if (Result r = optionalString(payload, "type", std::string(message) + ": payload.type", type); !r)
    return r;
  if (type == "media")
    return Result::failure(std::string(message) +
                           ": media connections (calls) are not supported by claynet");
  if (!type.empty() && type != "data")
    return Result::failure(std::string(message) + ": unknown connection type \"" + type + "\"");
  return {};
}

bool isUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool isAlnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

std::string hostForUrl(std::string_view host) {
  if (host.find(':') != std::string_view::npos && !host.starts_with('['))
    return "[" + std::string(host) + "]";
  return std::string(host);
}

}  // namespace

const char* toString(ServerMessage::Type type) {
  for (const auto& n : kTypeNames)
    if (n.type == type) return n.text;
  return "UNKNOWN";
}

Result parseServerMessage(std::string_view text, ServerMessage& out) {
  out = ServerMessage{};
  if (text.size() > kMaxServerFrame)
    return Result::failure("server frame of " + std::to_string(text.size()) +
                           " bytes is larger than the limit of " + std::to_string(kMaxServerFrame));
  json doc;
  if (Result r = parseBoundedJson(text, doc); !r)
    return Result::failure("server frame is not valid JSON: " + r.error());
  if (!doc.is_object()) return wrongType("a server frame", "a JSON object", doc);
  auto type = doc.find("type");
  if (type == doc.end()) return Result::failure("server frame has no \"type\"");
  if (!type->is_string()) return wrongType("the \"type\" of a server frame", "a string", *type);
  out.typeText = type->get<std::string>();
  if (Result r = optionalString(doc, "src", "the \"src\" of a server frame", out.src, true); !r)
    return r;
  if (Result r = optionalString(doc, "dst", "the \"dst\" of a server frame", out.dst, true); !r)
    return r;
  if (auto p = doc.find("payload"); p != doc.end()) out.payload = std::move(*p);
  out.type = ServerMessage::Type::Unknown;
  for (const auto& n : kTypeNames)
    if (out.typeText == n.text) out.type = n.type;
  return {};
}

std::string errorText(const ServerMessage& message) {
  if (!message.payload.is_object()) return {};
  auto it = message.payload.find("msg");
  if (it == message.payload.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  return dumpCompact(*it);
}

std::string buildHeartbeat() { return R"({"type":"HEARTBEAT"})"; }

std::string buildClientMessage(std::string_view type, std::string_view dst, const json& payload) {
  json frame = json::object();
  frame["type"] = std::string(type);
  if (!payload.is_null()) frame["payload"] = payload;
  if (!dst.empty()) frame["dst"] = std::string(dst);
  return dumpCompact(frame);
}

std::string buildLeave(std::string_view dst) { return buildClientMessage("LEAVE", dst, nullptr); }

json buildOfferPayload(const OfferPayload& offer) {
  json p = json::object();
  p["sdp"] = {{"type", "offer"}, {"sdp", offer.sdp}};
  p["type"] = "data";
  p["connectionId"] = offer.connectionId;
  p["label"] = offer.label.empty() ? offer.connectionId : offer.label;
  p["reliable"] = offer.reliable;
  p["serialization"] = std::string(toString(offer.serialization));
  if (offer.metadata) p["metadata"] = *offer.metadata;
  if (offer.claynet) p["claynet"] = 1;
  return p;
}

json buildAnswerPayload(const AnswerPayload& answer) {
  json p = json::object();
  p["sdp"] = {{"type", "answer"}, {"sdp", answer.sdp}};
  p["type"] = "data";
  p["connectionId"] = answer.connectionId;
  if (answer.claynet) p["claynet"] = 1;
  return p;
}

json buildCandidatePayload(const CandidatePayload& c) {
  json cand = json::object();
  cand["candidate"] = c.candidate.candidate;
  cand["sdpMid"] = c.candidate.mid;
  cand["sdpMLineIndex"] = c.candidate.mLineIndex;
  cand["usernameFragment"] = c.usernameFragment ? json(*c.usernameFragment) : json(nullptr);
  json p = json::object();
  p["candidate"] = std::move(cand);
  p["type"] = "data";
  p["connectionId"] = c.connectionId;
  return p;
}

namespace {
bool isClaynetMarked(const json& payload) {
  auto it = payload.find("claynet");
  return it != payload.end() && it->is_number_integer() && it->get<int64_t>() >= 1;
}
}  // namespace

Result parseOfferPayload(const json& payload, OfferPayload& out) {
  constexpr const char* kWhat = "invalid OFFER";
  out = OfferPayload{};
  if (!payload.is_object())
    return wrongType(std::string(kWhat) + ": the payload", "an object", payload);
  if (Result r = checkDataType(payload, kWhat); !r) return r;
  if (Result r = requiredString(payload, "connectionId", "invalid OFFER: payload.connectionId",
                                out.connectionId);
      !r)
    return r;
  if (out.connectionId.empty())
    return Result::failure("invalid OFFER: payload.connectionId is empty");
  if (Result r = parseSdpObject(payload, "offer", kWhat, out.sdp); !r) return r;
  if (Result r = optionalString(payload, "label", "invalid OFFER: payload.label", out.label, true);
      !r)
    return r;
  if (out.label.empty()) out.label = out.connectionId;
  if (auto it = payload.find("reliable"); it != payload.end() && !it->is_null()) {
    if (!it->is_boolean()) return wrongType("invalid OFFER: payload.reliable", "a boolean", *it);
    out.reliable = it->get<bool>();
  }
  std::string serialization;
  if (Result r = optionalString(payload, "serialization", "invalid OFFER: payload.serialization",
                                serialization, true);
      !r)
    return r;
  if (!serialization.empty() && serialization != "default" &&
      !parseSerialization(serialization, out.serialization))
    return Result::failure("invalid OFFER: unknown serialization \"" + serialization +
                           "\" (claynet speaks binary, json and raw)");
  if (auto it = payload.find("metadata"); it != payload.end()) out.metadata = *it;
  out.claynet = isClaynetMarked(payload);
  return {};
}

Result parseAnswerPayload(const json& payload, AnswerPayload& out) {
  constexpr const char* kWhat = "invalid ANSWER";
  out = AnswerPayload{};
  if (!payload.is_object())
    return wrongType(std::string(kWhat) + ": the payload", "an object", payload);
  if (Result r = checkDataType(payload, kWhat); !r) return r;
  if (Result r = requiredString(payload, "connectionId", "invalid ANSWER: payload.connectionId",
                                out.connectionId);
      !r)
    return r;
  out.claynet = isClaynetMarked(payload);
  return parseSdpObject(payload, "answer", kWhat, out.sdp);
}

Result parseCandidatePayload(const json& payload, CandidatePayload& out) {
  out = CandidatePayload{};
  if (!payload.is_object())
    return wrongType("invalid CANDIDATE: the payload", "an object", payload);
  if (Result r = checkDataType(payload, "invalid CANDIDATE"); !r) return r;
  if (Result r = requiredString(payload, "connectionId", "invalid CANDIDATE: payload.connectionId",
                                out.connectionId);
      !r)
    return r;
  auto it = payload.find("candidate");
  if (it == payload.end())
    return Result::failure("invalid CANDIDATE: payload.candidate is missing");
  if (!it->is_object())
    return wrongType("invalid CANDIDATE: payload.candidate", "an object {candidate, sdpMid, ...}",
                     *it);
  const json& c = *it;
  if (Result r = requiredString(c, "candidate", "invalid CANDIDATE: payload.candidate.candidate",
                                out.candidate.candidate);
      !r)
    return r;
  std::string mid;
  if (Result r =
          optionalString(c, "sdpMid", "invalid CANDIDATE: payload.candidate.sdpMid", mid, true);
      !r)
    return r;
  out.candidate.mid = mid.empty() ? "0" : mid;
  out.candidate.mLineIndex = 0;
  if (auto m = c.find("sdpMLineIndex"); m != c.end() && !m->is_null()) {
    if (!m->is_number_integer() || m->get<int64_t>() < 0 || m->get<int64_t>() > 65535)
      return Result::failure(
          "invalid CANDIDATE: payload.candidate.sdpMLineIndex must be an "
          "integer from 0 to 65535, not " +
          dumpCompact(*m));
    out.candidate.mLineIndex = static_cast<int>(m->get<int64_t>());
  }
  std::string ufrag;
  if (Result r =
          optionalString(c, "usernameFragment",
                         "invalid CANDIDATE: payload.candidate.usernameFragment", ufrag, true);
      !r)
    return r;
  if (!ufrag.empty()) out.usernameFragment = ufrag;
  return {};
}

std::string payloadConnectionId(const json& payload) {
  if (!payload.is_object()) return {};
  auto it = payload.find("connectionId");
  if (it == payload.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::string normalizePath(std::string_view path) {
  std::string p(path);
  if (p.empty() || p.front() != '/') p.insert(p.begin(), '/');
  if (p.back() != '/') p.push_back('/');
  return p;
}

std::string queryEscape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (isUnreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string buildSocketUrl(bool secure, std::string_view host, uint16_t port, std::string_view path,
                           std::string_view key, std::string_view id, std::string_view token) {
  return std::string(secure ? "wss://" : "ws://") + hostForUrl(host) + ":" + std::to_string(port) +
         normalizePath(path) + "peerjs?key=" + queryEscape(key) + "&id=" + queryEscape(id) +
         "&token=" + queryEscape(token) + "&version=" + std::string(kPeerJsVersion);
}

std::string buildIdUrl(bool secure, std::string_view host, uint16_t port, std::string_view path,
                       std::string_view key, std::string_view cacheBuster) {
  return std::string(secure ? "https://" : "http://") + hostForUrl(host) + ":" +
         std::to_string(port) + normalizePath(path) + queryEscape(key) +
         "/id?ts=" + queryEscape(cacheBuster) + "&version=" + std::string(kPeerJsVersion);
}

bool isValidPeerId(std::string_view id) {
  // Runs of alphanumerics separated by single ' ', '_' or '-'.
  if (id.empty()) return false;
  bool lastWasSeparator = true;  // so that a leading separator fails
  for (char c : id) {
    if (isAlnum(c)) {
      lastWasSeparator = false;
    } else if (c == ' ' || c == '_' || c == '-') {
      if (lastWasSeparator) return false;
      lastWasSeparator = true;
    } else {
      return false;
    }
  }
  return !lastWasSeparator;
}

std::string randomToken(std::size_t length) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::random_device rd;
  std::string out;
  out.reserve(length);
  for (std::size_t i = 0; i < length; ++i) {
    // 36 does not divide 2^32: reject the top remainder so every digit is equally likely.
    uint32_t v;
    do {
      v = rd();
    } while (v >= 4294967292u);  // 36 * 119304647
    out.push_back(kDigits[v % 36]);
  }
  return out;
}

std::string newConnectionId() { return "dc_" + randomToken(); }

std::string iceUfragOf(std::string_view sdp) {
  constexpr std::string_view kKey = "a=ice-ufrag:";
  std::size_t pos = 0;
  while (pos < sdp.size()) {
    std::size_t end = sdp.find('\n', pos);
    if (end == std::string_view::npos) end = sdp.size();
    std::string_view line = sdp.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with(kKey)) return std::string(line.substr(kKey.size()));
    pos = end + 1;
  }
  return {};
}

}  // namespace claynet::signaling
