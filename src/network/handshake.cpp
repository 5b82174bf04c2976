#include "network/handshake.hpp"

#include <cmath>

namespace claynet::network {
namespace {

using nlohmann::json;

std::string stringField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Clayground reads a missing or non-integer version as -1.
long long versionOf(const json& j) {
  auto it = j.find("v");
  if (it == j.end() || !it->is_number()) return -1;
  const double v = it->get<double>();
  // Beyond 2^53 a double is no exact integer, and a cast beyond long long is undefined.
  return std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9.0e15 ? static_cast<long long>(v)
                                                                        : -1;
}

std::string typeOf(const json& j) { return j.is_object() ? stringField(j, "t") : std::string(); }

Refusal noHandshakeFromJoiner() {
  return {RefusalReason::IncompatibleVersion,
          "Incompatible version: the joiner sent no handshake, the host speaks wire version " +
              std::to_string(kWireVersion)};
}

}  // namespace

std::string reasonCode(const Refusal& refusal) {
  return refusal.otherCode.empty() ? toString(refusal.reason) : refusal.otherCode;
}

const char* toString(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::IncompatibleVersion:
      return "incompatible-version";
    case RefusalReason::IncompatibleApp:
      return "incompatible-app";
    case RefusalReason::WrongPassword:
      return "wrong-password";
    case RefusalReason::HandshakeFailed:
      return "handshake-failed";
    case RefusalReason::Refused:
      return "refused";
  }
  return "refused";
}

json makeHello(const std::string& appId, const std::string& password,
               const std::string& clientToken) {
  return {{"t", "h"}, {"v", kWireVersion}, {"app", appId}, {"pw", password}, {"tok", clientToken}};
}

json makeWelcome(const std::string& hostId, double sessionMs) {
  json j = {{"t", "H"}, {"v", kWireVersion}, {"host", hostId}};
  if (sessionMs >= 0) j["st"] = sessionMs;
  return j;
}

json makeRefusal(const Refusal& refusal) {
  return {{"t", "R"}, {"code", reasonCode(refusal)}, {"r", refusal.message}};
}

bool isHandshakeMessage(const json& value) {
  const std::string t = typeOf(value);
  return t == "h" || t == "H" || t == "R";
}

bool constantTimeEquals(const std::string& a, const std::string& b) {
  // Every byte of the longer string is looked at, whatever differs first.
  const std::size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

std::optional<Refusal> judgeHello(const json& first, const std::string& appId,
                                  const std::string& password, std::string& token) {
  if (typeOf(first) != "h") return noHandshakeFromJoiner();
  const long long v = versionOf(first);
  if (v != kWireVersion)
    return Refusal{RefusalReason::IncompatibleVersion,
                   "Incompatible version: the joiner speaks wire version " + std::to_string(v) +
                       ", the host " + std::to_string(kWireVersion)};
  const std::string app = stringField(first, "app");
  if (app != appId)
    return Refusal{RefusalReason::IncompatibleApp,
                   "Incompatible app: the joiner is \"" + app + "\", the host \"" + appId + "\""};
  if (!password.empty() && !constantTimeEquals(stringField(first, "pw"), password))
    return Refusal{RefusalReason::WrongPassword, "Wrong password"};
  token = stringField(first, "tok");
  return std::nullopt;
}

Reply judgeReply(const json& first, const std::string& linkPeer) {
  Reply reply;
  const std::string t = typeOf(first);
  if (t == "H") {
    const long long v = versionOf(first);
    const std::string host = stringField(first, "host");
    if (v != kWireVersion) {
      reply.kind = Reply::Kind::Refused;
      reply.refusal = {RefusalReason::IncompatibleVersion,
                       "Incompatible version: the joiner speaks wire version " +
                           std::to_string(kWireVersion) + ", the host " + std::to_string(v)};
    } else if (host.empty() || host != linkPeer) {
      reply.kind = Reply::Kind::Refused;
      reply.refusal = {RefusalReason::HandshakeFailed, "Handshake failed: the host at " + linkPeer +
                                                           " named itself \"" + host + "\""};
    } else {
      reply.kind = Reply::Kind::Welcome;
      reply.hostId = host;
      auto st = first.find("st");
      if (st != first.end() && st->is_number()) {
        const double ms = st->get<double>();
        if (std::isfinite(ms) && ms >= 0) reply.sessionMs = ms;
      }
    }
    return reply;
  }
  if (t == "R") {
    // A seed-era host's refusal has no code: Clayground maps it to `refused`.
    const std::string code = stringField(first, "code");
    const std::string text = stringField(first, "r");
    reply.kind = Reply::Kind::Refused;
    reply.refusal.message = text.empty() ? "Connection rejected" : text;
    reply.refusal.reason = RefusalReason::Refused;
    for (auto r : {RefusalReason::IncompatibleVersion, RefusalReason::IncompatibleApp,
                   RefusalReason::WrongPassword, RefusalReason::HandshakeFailed})
      if (code == toString(r)) reply.refusal.reason = r;
    if (reasonCode(reply.refusal) != code && !code.empty()) reply.refusal.otherCode = code;
    return reply;
  }
  reply.kind = Reply::Kind::Legacy;
  return reply;
}

// ---- PendingJoiners ----

void PendingJoiners::configure(std::string appId, std::string password, bool legacyAllowed) {
  appId_ = std::move(appId);
  password_ = std::move(password);
  legacyAllowed_ = legacyAllowed;
}

std::optional<PendingJoiners::Decision> PendingJoiners::opened(const std::string& id,
                                                               Clock::time_point now) {
  if (legacy_.count(id)) return legacy(id);
  joiners_[id] = now;
  return std::nullopt;
}

std::optional<PendingJoiners::Decision> PendingJoiners::legacySign(const std::string& id) {
  if (joiners_.count(id)) return legacy(id);
  legacy_[id] = true;
  return std::nullopt;
}

PendingJoiners::Decision PendingJoiners::firstMessage(const std::string& id, const json& value) {
  if (typeOf(value) != "h") return legacy(id);
  forget(id);
  Decision d;
  d.id = id;
  if (auto refusal = judgeHello(value, appId_, password_, d.clientToken)) {
    d.kind = Decision::Kind::Refuse;
    d.refusal = std::move(*refusal);
  } else {
    d.kind = Decision::Kind::Admit;
  }
  return d;
}

PendingJoiners::Decision PendingJoiners::legacy(const std::string& id) {
  forget(id);
  Decision d;
  d.id = id;
  if (legacyAllowed_) {
    d.kind = Decision::Kind::AdmitLegacy;
  } else {
    d.kind = Decision::Kind::Refuse;
    d.refusal = noHandshakeFromJoiner();
  }
  return d;
}

std::vector<PendingJoiners::Decision> PendingJoiners::due(Clock::time_point now) {
  std::vector<std::string> ids;
  for (const auto& [id, opened] : joiners_)
    if (now >= opened + (legacyAllowed_ ? kLegacyHelloWait : kHelloTimeout)) ids.push_back(id);
  std::vector<Decision> out;
  for (const auto& id : ids) out.push_back(legacy(id));
  return out;
}

std::optional<PendingJoiners::Clock::time_point> PendingJoiners::nextDeadline() const {
  std::optional<Clock::time_point> next;
  for (const auto& [id, opened] : joiners_) {
    const auto at = opened + (legacyAllowed_ ? kLegacyHelloWait : kHelloTimeout);
    if (!next || at < *next) next = at;
  }
  return next;
}

}  // namespace claynet::network
