#include "signaling/signal_router.hpp"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "signaling/utf8.hpp"

namespace claynet::signaling {

namespace {

// ---- JSON scanning ----

inline void skipWs(const char*& p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
}

// Eight bytes at a time: true when any byte is a quote, a backslash, a control character or
// non-ASCII, i.e. when the slow path must look at this word. Strings (SDP blobs) are most of a
// signaling message, so this loop is where the scanning time goes.
constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
inline std::uint64_t zeroBytes(std::uint64_t v) { return (v - kOnes) & ~v & kHighs; }
inline bool plainStringWord(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  std::uint64_t special = zeroBytes(w ^ (kOnes * '"')) | zeroBytes(w ^ (kOnes * '\\')) |
                          ((w - kOnes * 0x20) & ~w & kHighs) | (w & kHighs);
  return special == 0;
}
inline bool noQuoteOrBackslash(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return (zeroBytes(w ^ (kOnes * '"')) | zeroBytes(w ^ (kOnes * '\\'))) == 0;
}

inline int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0 when it is invalid.
std::size_t utf8SequenceLength(const unsigned char* p, const unsigned char* end) {
  std::size_t consumed = 0;
  return utf8::sequenceLength(p, static_cast<std::size_t>(end - p), consumed);
}

// p is at the opening quote; on success p is just past the closing quote.
const char* scanString(const char*& p, const char* end, bool& escapes) {
  ++p;
  escapes = false;
  while (true) {
    while (end - p >= 8 && plainStringWord(p)) p += 8;
    if (p >= end) return "unterminated string";
    auto c = static_cast<unsigned char>(*p);
    if (c == '"') {
      ++p;
      return nullptr;
    }
    if (c == '\\') {
      escapes = true;
      if (end - p < 2) return "unterminated escape";
      char e = p[1];
      if (e == 'u') {
        if (end - p < 6) return "short \\u escape";
        for (int i = 2; i < 6; ++i)
          if (hexValue(p[i]) < 0) return "bad \\u escape";
        p += 6;
      } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                 e == 'r' || e == 't') {
        p += 2;
      } else {
        return "bad escape";
      }
      continue;
    }
    if (c < 0x20) return "control character in a string";
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n = utf8SequenceLength(reinterpret_cast<const unsigned char*>(p),
                                       reinterpret_cast<const unsigned char*>(end));
    if (n == 0) return "invalid UTF-8 in a string";
    p += n;
  }
}

const char* scanNumber(const char*& p, const char* end, bool& zero) {
  zero = true;
  if (p < end && *p == '-') ++p;
  if (p >= end) return "bad number";
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    zero = false;
    while (p < end && *p >= '0' && *p <= '9') ++p;
  } else {
    return "bad number";
  }
  if (p < end && *p == '.') {
    ++p;
    if (p >= end || *p < '0' || *p > '9') return "bad number";
    while (p < end && *p >= '0' && *p <= '9') {
      if (*p != '0') zero = false;
      ++p;
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (p >= end || *p < '0' || *p > '9') return "bad number";
    while (p < end && *p >= '0' && *p <= '9') ++p;
  }
  return nullptr;
}

const char* scanLiteral(const char*& p, const char* end, std::string_view word) {
  if (static_cast<std::size_t>(end - p) < word.size() ||
      std::memcmp(p, word.data(), word.size()) != 0)
    return "unexpected character";
  p += word.size();
  return nullptr;
}

// One JSON value, iteratively (no recursion, so nesting depth costs heap, not stack).
const char* scanValue(const char*& p, const char* end) {
  std::string stack;  // '{' or '[' per open container
  bool escapes = false;
  while (true) {
    skipWs(p, end);
    if (p >= end) return "unexpected end";
    // A value starts here.
    const char* err = nullptr;
    switch (*p) {
      case '{':
        ++p;
        skipWs(p, end);
        if (p < end && *p == '}') {
          ++p;
          break;
        }
        stack.push_back('{');
        if (p >= end || *p != '"') return "expected a key";
        if ((err = scanString(p, end, escapes))) return err;
        skipWs(p, end);
        if (p >= end || *p != ':') return "expected ':'";
        ++p;
        continue;  // the member's value
      case '[':
        ++p;
        skipWs(p, end);
        if (p < end && *p == ']') {
          ++p;
          break;
        }
        stack.push_back('[');
        continue;
      case '"':
        err = scanString(p, end, escapes);
        break;
      case 't':
        err = scanLiteral(p, end, "true");
        break;
      case 'f':
        err = scanLiteral(p, end, "false");
        break;
      case 'n':
        err = scanLiteral(p, end, "null");
        break;
      default: {
        bool zero;
        if (*p == '-' || (*p >= '0' && *p <= '9'))
          err = scanNumber(p, end, zero);
        else
          err = "unexpected character";
      }
    }
    if (err) return err;
    // After a value: close containers or move to the next element.
    while (true) {
      if (stack.empty()) return nullptr;
      skipWs(p, end);
      if (p >= end) return "unexpected end";
      char top = stack.back();
      if (*p == ',') {
        ++p;
        if (top == '{') {
          skipWs(p, end);
          if (p >= end || *p != '"') return "expected a key";
          if ((err = scanString(p, end, escapes))) return err;
          skipWs(p, end);
          if (p >= end || *p != ':') return "expected ':'";
          ++p;
        }
        break;  // scan the next value
      }
      if ((top == '{' && *p == '}') || (top == '[' && *p == ']')) {
        ++p;
        stack.pop_back();
        continue;
      }
      return top == '{' ? "expected ',' or '}'" : "expected ',' or ']'";
    }
  }
}

void appendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {  // includes lone surrogates, kept in their 3-byte form
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes a string token that scanString accepted (quotes included).
std::string decodeString(std::string_view token, bool escapes) {
  std::string_view body = token.substr(1, token.size() - 2);
  if (!escapes) return std::string(body);
  std::string out;
  out.reserve(body.size());
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    char e = body[++i];
    switch (e) {
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        auto hex4 = [&](std::size_t at) {
          std::uint32_t v = 0;
          for (std::size_t k = 0; k < 4; ++k)
            v = (v << 4) | static_cast<std::uint32_t>(hexValue(body[at + k]));
          return v;
        };
        std::uint32_t cp = hex4(i + 1);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < body.size() && body[i + 1] == '\\' &&
            body[i + 2] == 'u') {
          bool hex = true;
          for (std::size_t k = 3; k < 7; ++k)
            if (hexValue(body[i + k]) < 0) hex = false;
          if (hex) {
            std::uint32_t low = hex4(i + 3);
            if (low >= 0xDC00 && low <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
              i += 6;
            }
          }
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        out.push_back(e);
        break;  // " \ /
    }
  }
  return out;
}

constexpr char kHex[] = "0123456789abcdef";

std::string_view typeName(int t) {
  static constexpr std::string_view names[] = {"HEARTBEAT", "OFFER", "ANSWER",
                                               "CANDIDATE", "LEAVE", "EXPIRE"};
  return names[t];
}

std::string shortId(std::string_view id) {
  constexpr std::size_t kMax = 64;
  std::string s = id.size() > kMax ? std::string(id.substr(0, kMax)) + "..." : std::string(id);
  return "'" + s + "'";
}

constexpr std::string_view kNoParams =
    R"({"type":"ERROR","payload":{"msg":"No id, token, or key supplied to websocket server"}})";
constexpr std::string_view kInvalidKey =
    R"({"type":"ERROR","payload":{"msg":"Invalid key provided"}})";
constexpr std::string_view kIdTaken = R"({"type":"ID-TAKEN","payload":{"msg":"ID is taken"}})";
constexpr std::string_view kLimit =
    R"({"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}})";
constexpr std::string_view kOpen = R"({"type":"OPEN"})";
constexpr std::string_view kWrongLanCode = R"({"type":"ERROR","payload":{"msg":"Wrong LAN code"}})";
// Cluster mode without Redis: the id cannot be registered atomically, so it is not registered.
constexpr std::string_view kUnavailable =
    R"({"type":"ERROR","payload":{"msg":"Server cannot register ids now: its cluster store (Redis) is unreachable"}})";
// What a client may send before its registration is decided (cluster mode), at most.
constexpr std::size_t kMaxHeldFrames = 64;
constexpr std::size_t kMaxHeldBytes = 256 * 1024;
// A message that meets an instance that lost its destination is routed again, a few times.
constexpr int kMaxHops = 3;

// Close codes the router asks for (see signal_server_frames.hpp).
constexpr std::uint16_t kCloseEmpty = 1005;  // an empty close frame, as npm `peer` sends
constexpr std::uint16_t kCloseNormal = 1000;
constexpr std::uint16_t kClosePolicy = 1008;
constexpr std::uint16_t kCloseTooBig = 1009;

}  // namespace

// ---- public scanner helpers ----

const char* scanMessage(std::string_view text, ScannedMessage& out) {
  out = ScannedMessage{};
  const char* p = text.data();
  const char* end = p + text.size();
  skipWs(p, end);
  if (p >= end || *p != '{') return "not a JSON object";
  ++p;
  skipWs(p, end);
  if (p < end && *p == '}') {
    ++p;
  } else {
    while (true) {
      if (p >= end || *p != '"') return "expected a key";
      const char* keyStart = p;
      bool keyEscapes = false;
      if (const char* err = scanString(p, end, keyEscapes)) return err;
      std::string_view keyToken(keyStart, static_cast<std::size_t>(p - keyStart));
      std::string keyStore;
      std::string_view key = keyToken.substr(1, keyToken.size() - 2);
      if (keyEscapes) {
        keyStore = decodeString(keyToken, true);
        key = keyStore;
      }
      skipWs(p, end);
      if (p >= end || *p != ':') return "expected ':'";
      ++p;
      skipWs(p, end);
      if (p >= end) return "unexpected end";
      const char* valueStart = p;
      const char first = *p;
      bool valueEscapes = false;
      bool zero = false;
      const char* err;
      if (first == '"')
        err = scanString(p, end, valueEscapes);
      else if (first == '-' || (first >= '0' && first <= '9'))
        err = scanNumber(p, end, zero);
      else
        err = scanValue(p, end);
      if (err) return err;
      std::string_view value(valueStart, static_cast<std::size_t>(p - valueStart));
      if (key == "type") {
        out.hasType = first == '"';
        out.type = out.hasType ? decodeString(value, valueEscapes) : std::string();
      } else if (key == "dst") {
        out.dst.clear();
        if (first == '"') {
          if (value.size() == 2) {
            out.dstKind = ScannedMessage::Dst::Falsy;
          } else {
            out.dstKind = ScannedMessage::Dst::String;
            out.dst = decodeString(value, valueEscapes);
          }
        } else if (first == 'n' || first == 'f' || zero) {
          out.dstKind = ScannedMessage::Dst::Falsy;
        } else {
          out.dstKind = ScannedMessage::Dst::Other;
        }
      } else if (key == "payload") {
        out.hasPayload = true;
        out.payload = value;
      }
      skipWs(p, end);
      if (p >= end) return "unexpected end";
      if (*p == ',') {
        ++p;
        skipWs(p, end);
        continue;
      }
      if (*p == '}') {
        ++p;
        break;
      }
      return "expected ',' or '}'";
    }
  }
  skipWs(p, end);
  if (p != end) return "text after the JSON object";
  return nullptr;
}

void appendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  std::size_t runStart = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    const char* esc = nullptr;
    char buf[7];
    std::size_t skip = 1;
    if (c == '"') {
      esc = "\\\"";
    } else if (c == '\\') {
      esc = "\\\\";
    } else if (c < 0x20) {
      switch (c) {
        case '\b':
          esc = "\\b";
          break;
        case '\f':
          esc = "\\f";
          break;
        case '\n':
          esc = "\\n";
          break;
        case '\r':
          esc = "\\r";
          break;
        case '\t':
          esc = "\\t";
          break;
        default:
          buf[0] = '\\', buf[1] = 'u', buf[2] = '0', buf[3] = '0';
          buf[4] = kHex[c >> 4], buf[5] = kHex[c & 15], buf[6] = 0;
          esc = buf;
      }
    } else if (c == 0xED && i + 2 < s.size() &&
               (static_cast<unsigned char>(s[i + 1]) & 0xE0) == 0xA0) {
      // A lone surrogate kept in 3-byte form: JSON.stringify writes it as an escape.
      std::uint32_t cp = 0xD000 | ((static_cast<unsigned char>(s[i + 1]) & 0x3F) << 6) |
                         (static_cast<unsigned char>(s[i + 2]) & 0x3F);
      buf[0] = '\\', buf[1] = 'u';
      for (int k = 0; k < 4; ++k) buf[2 + k] = kHex[(cp >> (12 - 4 * k)) & 15];
      buf[6] = 0;
      esc = buf;
      skip = 3;
    }
    if (!esc) continue;
    out.append(s.data() + runStart, i - runStart);
    out.append(esc);
    i += skip - 1;
    runStart = i + 1;
  }
  out.append(s.data() + runStart, s.size() - runStart);
  out.push_back('"');
}

void appendMinifiedJson(std::string& out, std::string_view json) {
  const std::size_t n = json.size();
  const char* d = json.data();
  std::size_t runStart = 0;
  std::size_t i = 0;
  while (i < n) {
    char c = d[i];
    if (c == '"') {  // copy strings whole: whitespace inside them is content
      ++i;
      while (true) {
        while (n - i >= 8 && noQuoteOrBackslash(d + i)) i += 8;
        if (i >= n) break;
        if (d[i] == '\\') {
          i += 2;
        } else if (d[i] == '"') {
          ++i;
          break;
        } else {
          ++i;
        }
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      out.append(d + runStart, i - runStart);
      runStart = i + 1;
    }
    ++i;
  }
  if (runStart < n) out.append(d + runStart, n - runStart);
}

std::string makeValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    if (*p < 0x80) {
      out.push_back(static_cast<char>(*p++));
      continue;
    }
    std::size_t n = utf8SequenceLength(p, end);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++p;
    } else {
      out.append(reinterpret_cast<const char*>(p), n);
      p += n;
    }
  }
  return out;
}

// ---- the router ----

SignalRouter::SignalRouter(RouterOptions options) : options_(std::move(options)) {
  if (options_.maxConnections == 0) options_.maxConnections = options_.concurrentLimit + 1024;
  if (options_.cluster) {
    cluster_ = std::make_unique<ClusterCore>(options_.clusterOptions);
    if (options_.clusterLog)
      cluster_->setLog(options_.clusterLog);
    else
      cluster_->setLog([this](std::string_view line) { log(line); });
  }
}

void SignalRouter::log(std::string_view line) {
  if (options_.log) options_.log(line);
}

void SignalRouter::send(ClientHandle handle, std::string text) {
  actions_.push_back({RouterAction::Kind::Send, handle, std::move(text), 0});
}

template <class It>
void SignalRouter::eraseClient(It client) {
  if (cluster_) cluster_->release(client->first, client->second.serial);
  clients_.erase(client);
}

void SignalRouter::dropConnection(ClientHandle handle) {
  auto it = connections_.find(handle);
  if (it == connections_.end()) return;
  if (it->second.pending) {
    --pendingClaims_;
    auto p = pendingIds_.find(it->second.id);
    if (p != pendingIds_.end() && p->second == handle) pendingIds_.erase(p);
  } else {
    auto client = clients_.find(it->second.id);
    if (client != clients_.end() && client->second.handle == handle) eraseClient(client);
  }
  connections_.erase(it);
}

void SignalRouter::close(ClientHandle handle, std::uint16_t code, std::string reason) {
  dropConnection(handle);
  actions_.push_back({RouterAction::Kind::Close, handle, std::move(reason), code});
}

void SignalRouter::reject(ClientHandle handle, std::string text) {
  ++stats_.rejected;
  send(handle, std::move(text));
  actions_.push_back({RouterAction::Kind::Close, handle, std::string(), kCloseEmpty});
}

bool SignalRouter::isRegistered(std::string_view id) const {
  return clients_.find(id) != clients_.end();
}

std::vector<std::string> SignalRouter::peerIds() const {
  std::vector<std::pair<std::uint64_t, const std::string*>> order;
  order.reserve(clients_.size());
  for (const auto& [id, client] : clients_) order.emplace_back(client.serial, &id);
  std::sort(order.begin(), order.end());
  std::vector<std::string> ids;
  ids.reserve(order.size());
  for (const auto& [serial, id] : order) ids.push_back(*id);
  return ids;
}

void SignalRouter::connect(ClientHandle handle, const ConnectRequest& request, TimePoint now) {
  lastNow_ = now;
  if (!options_.secret.empty()) {
    // Nothing is registered before the client has shown the LAN code's secret.
    if (connections_.count(handle) || awaitingSecret_.count(handle)) return;
    if (awaitingSecret_.size() + connections_.size() >= options_.maxConnections)
      return reject(handle, std::string(kLimit));
    awaitingSecret_[handle] = {request, now};
    return;
  }
  registerClient(handle, request, now);
}

void SignalRouter::registerClient(ClientHandle handle, const ConnectRequest& request,
                                  TimePoint now) {
  if (connections_.count(handle)) {
    log("connect: handle " + std::to_string(handle) + " is already connected; ignored");
    return;
  }
  // Clayground's own Local client sends its id alone (no token, no key) and no HEARTBEAT
  // (clayground-wire.md §4.3): behind a LAN secret it is taken as Clayground's server takes it.
  // Not in a cluster, whose claims over Redis trust equal tokens and lapse without HEARTBEAT.
  const bool lanClient = !options_.secret.empty() && !cluster_ && request.token.empty();
  if (request.id.empty() || (!lanClient && (request.token.empty() || request.key.empty())))
    return reject(handle, std::string(kNoParams));
  if ((!lanClient || !request.key.empty()) && request.key != options_.key)
    return reject(handle, std::string(kInvalidKey));
  // Ids and tokens end up inside JSON text frames, which must be valid UTF-8.
  std::string id = makeValidUtf8(request.id);
  std::string token = makeValidUtf8(request.token);
  Connection connection;
  connection.lastHeartbeat = now;
  connection.lastRefill = now;
  connection.frameTokens = options_.floodFrameBurst;
  connection.byteTokens = options_.floodByteBurst;
  connection.id = id;
  connection.heartbeats = !lanClient;

  if (auto existing = clients_.find(id); existing != clients_.end()) {
    // Without a token nobody can show that the id is theirs: Clayground's text, its server's rule.
    if (lanClient)
      return reject(handle, R"({"type":"ID-TAKEN","payload":{"msg":)" +
                                nlohmann::json("ID \"" + id + "\" is taken").dump() + "}}");
    if (existing->second.token != token) return reject(handle, std::string(kIdTaken));
    // The same client reconnecting (a PeerJS reconnect): it takes over silently, without OPEN.
    // npm `peer` leaves the old socket open; claynet closes it, so one id holds one socket.
    // (In a cluster the id stays this instance's in Redis: nothing to ask.)
    ClientHandle old = existing->second.handle;
    existing->second.handle = handle;
    connections_.erase(old);
    actions_.push_back({RouterAction::Kind::Close, old,
                        "replaced by a new connection with the same id and token", kCloseNormal});
    connections_.emplace(handle, std::move(connection));
    ++stats_.replaced;
    flushQueue(id, handle);
    return;
  }
  if (clients_.size() + pendingClaims_ >= options_.concurrentLimit ||
      connections_.size() >= options_.maxConnections)
    return reject(handle, std::string(kLimit));
  if (cluster_) {
    // Redis decides: registered, taken over from another connection, or ID-TAKEN.
    connection.pending = true;
    connection.token = token;
    connections_.emplace(handle, std::move(connection));
    pendingIds_[id] = handle;
    ++pendingClaims_;
    cluster_->claim(handle, id, token, now);
    applyCluster(now);
    return;
  }
  clients_.emplace(id, Client{token, handle, nextSerial_++});
  connections_.emplace(handle, std::move(connection));
  ++stats_.registered;
  send(handle, std::string(kOpen));
  flushQueue(id, handle);
}

bool SignalRouter::takeTokens(Connection& c, std::size_t bytes, TimePoint now) {
  double dt = std::chrono::duration<double>(now - c.lastRefill).count();
  if (dt < 0) dt = 0;
  c.lastRefill = now;
  if (options_.floodFramesPerSecond > 0) {
    c.frameTokens =
        std::min(options_.floodFrameBurst, c.frameTokens + dt * options_.floodFramesPerSecond);
    if (c.frameTokens < 1) return false;
    c.frameTokens -= 1;
  }
  if (options_.floodBytesPerSecond > 0) {
    c.byteTokens =
        std::min(options_.floodByteBurst, c.byteTokens + dt * options_.floodBytesPerSecond);
    if (c.byteTokens < static_cast<double>(bytes)) return false;
    c.byteTokens -= static_cast<double>(bytes);
  }
  return true;
}

void SignalRouter::frame(ClientHandle handle, std::string_view text, TimePoint now) {
  lastNow_ = now;
  if (auto a = awaitingSecret_.find(handle); a != awaitingSecret_.end()) {
    const ConnectRequest request = a->second.request;
    awaitingSecret_.erase(a);
    std::string given;
    if (text.size() <= options_.maxFrameBytes) {
      nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_object() && j.contains("secret") && j["secret"].is_string()) given = j["secret"];
    }
    // Constant time over the longer of the two, so the reply time says nothing of the secret.
    const std::string& want = options_.secret;
    unsigned diff = given.size() == want.size() ? 0u : 1u;
    for (std::size_t i = 0; i < std::max(given.size(), want.size()); ++i)
      diff |= static_cast<unsigned>((i < given.size() ? given[i] : 0) ^
                                    (i < want.size() ? want[i] : 0));
    if (diff != 0) {
      log("refused a client without the LAN code's secret");
      return reject(handle, std::string(kWrongLanCode));
    }
    return registerClient(handle, request, now);
  }
  auto it = connections_.find(handle);
  if (it == connections_.end()) return;  // closed or never registered: nothing to route
  Connection& c = it->second;
  if (!takeTokens(c, text.size(), now)) {
    ++stats_.floodClosed;
    std::string reason =
        "flood: more than " +
        std::to_string(static_cast<long long>(options_.floodFramesPerSecond)) + " messages or " +
        std::to_string(static_cast<long long>(options_.floodBytesPerSecond)) + " bytes per second";
    log("closed " + shortId(c.id) + ": " + reason);
    close(handle, kClosePolicy, std::move(reason));
    return;
  }
  if (text.size() > options_.maxFrameBytes) {
    ++stats_.oversizeClosed;
    std::string reason = "frame of " + std::to_string(text.size()) +
                         " bytes is larger than the limit of " +
                         std::to_string(options_.maxFrameBytes);
    log("closed " + shortId(c.id) + ": " + reason);
    close(handle, kCloseTooBig, std::move(reason));
    return;
  }
  if (c.pending) {
    // A PeerJS client sends what it queued as soon as its socket opens, before OPEN; it is
    // routed once Redis has answered the registration.
    if (c.held.size() >= kMaxHeldFrames || c.heldBytes + text.size() > kMaxHeldBytes) {
      log("closed " + shortId(c.id) + ": too many messages before its registration finished");
      close(handle, kClosePolicy, "too many messages before the registration finished");
      return;
    }
    c.heldBytes += text.size();
    c.held.emplace_back(text);
    return;
  }
  route(c, handle, text, now);
  if (cluster_) applyCluster(now);
}

void SignalRouter::route(Connection& c, ClientHandle handle, std::string_view text, TimePoint now) {
  ScannedMessage m;
  if (const char* why = scanMessage(text, m)) {
    ++stats_.ignored;
    if (options_.log) log("ignored a frame from " + shortId(c.id) + ": invalid JSON (" + why + ")");
    return;
  }
  if (!m.hasType) {
    ++stats_.ignored;
    if (options_.log) log("ignored a frame from " + shortId(c.id) + ": no string \"type\"");
    return;
  }
  Type type = Type::Other;
  if (m.type == "HEARTBEAT")
    type = Type::Heartbeat;
  else if (m.type == "OFFER")
    type = Type::Offer;
  else if (m.type == "ANSWER")
    type = Type::Answer;
  else if (m.type == "CANDIDATE")
    type = Type::Candidate;
  else if (m.type == "LEAVE")
    type = Type::Leave;
  else if (m.type == "EXPIRE")
    type = Type::Expire;
  if (type == Type::Heartbeat) {
    c.lastHeartbeat = now;
    if (cluster_) {
      auto client = clients_.find(c.id);
      if (client != clients_.end() && client->second.handle == handle)
        cluster_->refresh(c.id, client->second.serial, client->second.token);
    }
    return;
  }
  if (type == Type::Other) {
    ++stats_.ignored;
    if (options_.log)
      log("ignored a frame from " + shortId(c.id) + ": unknown type " + shortId(m.type));
    return;
  }
  if (m.dstKind == ScannedMessage::Dst::Other) {
    ++stats_.ignored;
    if (options_.log)
      log("ignored a " + m.type + " from " + shortId(c.id) + ": dst is not a string");
    return;
  }
  if (m.dstKind != ScannedMessage::Dst::String) {
    // No destination. Only LEAVE means something then: the sender unregisters (its socket stays
    // open, as with npm `peer`, and can still send).
    if (type == Type::Leave) {
      auto client = clients_.find(c.id);
      if (client != clients_.end() && client->second.handle == handle) eraseClient(client);
    }
    return;
  }
  // The forwarded form is exactly {type, src, dst, payload}: src is who sent it, nothing else
  // the sender wrote survives.
  std::string out;
  out.reserve(48 + c.id.size() + m.dst.size() + m.payload.size());
  out += "{\"type\":\"";
  out += typeName(static_cast<int>(type));
  out += "\",\"src\":";
  appendJsonString(out, c.id);
  out += ",\"dst\":";
  appendJsonString(out, m.dst);
  if (m.hasPayload) {
    out += ",\"payload\":";
    appendMinifiedJson(out, m.payload);
  }
  out += '}';
  transmit(c.id, type, m.dst, out, now);
}

void SignalRouter::transmit(const std::string& src, Type type, std::string_view dst,
                            const std::string& text, TimePoint now) {
  auto target = clients_.find(dst);
  if (target != clients_.end()) {
    deliver(target->second.handle, target->first, src, text);
    return;
  }
  const bool queueable = type != Type::Leave && type != Type::Expire;
  if (cluster_) {
    // Not here: Redis forwards it to the instance that holds dst, or queues it.
    cluster_->route(std::string(dst), src, text, queueable, 0, now);
    return;
  }
  // LEAVE and EXPIRE are never queued: they only matter to someone who is there.
  if (!queueable) return;
  enqueue(std::string(dst), src, text, now);
}

void SignalRouter::deliver(ClientHandle dstHandle, const std::string& dstId,
                           const std::string& srcId, std::string text) {
  auto dc = connections_.find(dstHandle);
  if (dc != connections_.end() && dc->second.congested) {
    // A failed forward: the destination does not read. Close it and tell the sender it left.
    ++stats_.failedForwards;
    std::string src = srcId, dst = dstId;  // the close below may free what these refer to
    log("closed " + shortId(dst) + ": it does not read its messages (failed forward from " +
        shortId(src) + ")");
    close(dstHandle, kClosePolicy, "not reading: too many unsent messages");
    notify(src, clusterNotice("LEAVE", dst, src));
    return;
  }
  ++stats_.forwarded;
  send(dstHandle, std::move(text));
}

void SignalRouter::notify(const std::string& to, std::string text) {
  if (to.empty()) return;
  auto target = clients_.find(to);
  if (target == clients_.end()) {
    if (cluster_) cluster_->route(to, std::string(), std::move(text), false, 0, lastNow_);
    return;
  }
  auto dc = connections_.find(target->second.handle);
  if (dc == connections_.end() || dc->second.congested) return;
  send(target->second.handle, std::move(text));
}

void SignalRouter::enqueue(const std::string& dst, const std::string& src, std::string text,
                           TimePoint now) {
  auto q = queues_.find(dst);
  const std::size_t count = q == queues_.end() ? 0 : q->second.messages.size();
  const std::size_t bytes = q == queues_.end() ? 0 : q->second.bytes;
  if (count >= options_.maxQueuedPerDestination ||
      bytes + text.size() > options_.maxQueuedBytesPerDestination ||
      queuedTotal_ >= options_.maxQueuedTotal ||
      queuedBytes_ + text.size() > options_.maxQueuedBytesTotal) {
    ++stats_.queueOverflows;
    ++stats_.expired;
    log("queue for " + shortId(dst) + " is full; dropped a message from " + shortId(src) +
        " and sent it EXPIRE");
    notify(src, clusterNotice("EXPIRE", dst, src));
    return;
  }
  if (q == queues_.end()) q = queues_.emplace(dst, Queue{now, {}, 0}).first;
  q->second.bytes += text.size();
  q->second.messages.push_back({src, std::move(text)});
  ++queuedTotal_;
  queuedBytes_ += q->second.messages.back().text.size();
  ++stats_.queued;
}

void SignalRouter::flushQueue(const std::string& id, ClientHandle handle) {
  auto q = queues_.find(id);
  if (q == queues_.end()) return;
  Queue queue = std::move(q->second);
  queues_.erase(q);
  queuedTotal_ -= queue.messages.size();
  queuedBytes_ -= queue.bytes;
  for (auto& m : queue.messages) {
    ++stats_.forwarded;
    send(handle, std::move(m.text));
  }
}

void SignalRouter::congested(ClientHandle handle) {
  auto it = connections_.find(handle);
  if (it != connections_.end()) it->second.congested = true;
}

void SignalRouter::closed(ClientHandle handle) {
  awaitingSecret_.erase(handle);
  dropConnection(handle);
  if (cluster_) applyCluster(lastNow_);
}

void SignalRouter::tick(TimePoint now) {
  lastNow_ = now;
  for (auto it = awaitingSecret_.begin(); it != awaitingSecret_.end();) {
    if (now - it->second.since >= options_.aliveTimeout) {
      actions_.push_back({RouterAction::Kind::Close, it->first, "no LAN code secret", kCloseEmpty});
      it = awaitingSecret_.erase(it);
    } else {
      ++it;
    }
  }
  // Alive check: only HEARTBEAT refreshes a connection, whatever else it sends.
  std::vector<ClientHandle> dead;
  for (const auto& [handle, c] : connections_)
    if (c.heartbeats && now - c.lastHeartbeat >= options_.aliveTimeout) dead.push_back(handle);
  for (ClientHandle handle : dead) {
    auto it = connections_.find(handle);
    std::string id = it->second.id;
    ++stats_.aliveTimeouts;
    log("closed " + shortId(id) + ": no HEARTBEAT for " +
        std::to_string(options_.aliveTimeout.count()) + " ms");
    auto client = clients_.find(id);
    if (client != clients_.end() && client->second.handle == handle) {
      // As npm `peer` does: messages waiting for this id go too.
      if (auto q = queues_.find(id); q != queues_.end()) {
        queuedTotal_ -= q->second.messages.size();
        queuedBytes_ -= q->second.bytes;
        queues_.erase(q);
      }
    }
    close(
        handle, kCloseNormal,
        "alive timeout: no HEARTBEAT for " + std::to_string(options_.aliveTimeout.count()) + " ms");
  }

  // Queue expiry: a queue lives expireTimeout from its first message; then every distinct sender
  // in it hears EXPIRE once.
  std::vector<std::string> expiredQueues;
  for (const auto& [dst, q] : queues_)
    if (now - q.created >= options_.expireTimeout) expiredQueues.push_back(dst);
  for (const std::string& dst : expiredQueues) {
    auto q = queues_.find(dst);
    Queue queue = std::move(q->second);
    queues_.erase(q);
    queuedTotal_ -= queue.messages.size();
    queuedBytes_ -= queue.bytes;
    std::vector<const std::string*> senders;
    for (const auto& m : queue.messages) {
      bool seen = false;
      for (const auto* s : senders) seen = seen || *s == m.src;
      if (seen) continue;
      senders.push_back(&m.src);
      ++stats_.expired;
      notify(m.src, clusterNotice("EXPIRE", dst, m.src));
    }
  }
  if (cluster_) {
    cluster_->tick(now);
    applyCluster(now);
  }
}

// ---- cluster mode ----

std::vector<RedisCommand>& SignalRouter::clusterCommands() {
  static std::vector<RedisCommand> none;
  return cluster_ ? cluster_->commands() : none;
}

void SignalRouter::clusterUp(TimePoint now) {
  if (!cluster_) return;
  lastNow_ = now;
  std::vector<ClusterRegistration> local;
  local.reserve(clients_.size());
  for (const auto& [id, client] : clients_) local.push_back({id, client.serial, client.token});
  cluster_->linkUp(local, now);
  applyCluster(now);
}

void SignalRouter::clusterDown(const std::string& why, TimePoint now) {
  if (!cluster_) return;
  lastNow_ = now;
  cluster_->linkDown(why, now);
  applyCluster(now);
}

void SignalRouter::clusterReply(std::uint64_t cookie, const RedisValue& value, TimePoint now) {
  if (!cluster_) return;
  lastNow_ = now;
  cluster_->reply(cookie, value, now);
  applyCluster(now);
}

void SignalRouter::clusterMessage(std::string_view payload, TimePoint now) {
  if (!cluster_) return;
  lastNow_ = now;
  cluster_->channelMessage(payload, now);
  applyCluster(now);
}

void SignalRouter::clusterFlush(TimePoint now) {
  if (cluster_) cluster_->flush(now);
}

void SignalRouter::applyCluster(TimePoint now) {
  if (applying_) return;  // the outer call drains what this one would
  applying_ = true;
  std::vector<ClusterEvent> events;
  while (!cluster_->events().empty()) {
    events.clear();
    events.swap(cluster_->events());
    for (auto& e : events) {
      switch (e.kind) {
        case ClusterEvent::Kind::Claimed:
          onClaimed(e, now);
          break;
        case ClusterEvent::Kind::Deliver:
          onRemoteDeliver(e, now);
          break;
        case ClusterEvent::Kind::Kick:
          onKick(e);
          break;
      }
    }
  }
  applying_ = false;
}

void SignalRouter::onClaimed(ClusterEvent& e, TimePoint now) {
  auto it = connections_.find(e.handle);
  const bool success = e.outcome == ClusterEvent::Outcome::Registered ||
                       e.outcome == ClusterEvent::Outcome::TakenOver ||
                       e.outcome == ClusterEvent::Outcome::Moved;
  if (it == connections_.end() || !it->second.pending) {
    // The client left while Redis was deciding: give the id back.
    if (success) cluster_->release(e.dst, e.serial);
    return;
  }
  Connection& c = it->second;
  c.pending = false;
  --pendingClaims_;
  if (auto p = pendingIds_.find(c.id); p != pendingIds_.end() && p->second == e.handle)
    pendingIds_.erase(p);
  if (!success) {
    connections_.erase(it);
    reject(e.handle,
           std::string(e.outcome == ClusterEvent::Outcome::Taken ? kIdTaken : kUnavailable));
    return;
  }
  if (auto old = clients_.find(c.id); old != clients_.end()) {
    // Another local connection still holds the id (its close is on the way): this one wins.
    ClientHandle oldHandle = old->second.handle;
    clients_.erase(old);
    connections_.erase(oldHandle);
    actions_.push_back({RouterAction::Kind::Close, oldHandle,
                        "replaced by a new connection with the same id and token", kCloseNormal});
  }
  clients_.emplace(c.id, Client{std::move(c.token), e.handle, e.serial});
  c.token.clear();
  if (e.outcome == ClusterEvent::Outcome::TakenOver) {
    ++stats_.replaced;  // silently, as on one instance
  } else {
    // A takeover from another instance gets OPEN too: that instance may have died with the old
    // socket, and a PeerJS client that called reconnect() waits for OPEN.
    if (e.outcome == ClusterEvent::Outcome::Moved)
      ++stats_.replaced;
    else
      ++stats_.registered;
    send(e.handle, std::string(kOpen));
  }
  // What waited in Redis came first, then what arrived here during the claim.
  for (auto& text : e.texts) {
    ++stats_.forwarded;
    send(e.handle, std::move(text));
  }
  auto inbox = std::move(c.inbox);
  auto held = std::move(c.held);
  c.heldBytes = 0;
  for (auto& text : inbox) {
    ++stats_.forwarded;
    send(e.handle, std::move(text));
  }
  for (const auto& text : held) {
    auto again = connections_.find(e.handle);
    if (again == connections_.end()) break;
    route(again->second, e.handle, text, now);
  }
}

void SignalRouter::onRemoteDeliver(ClusterEvent& e, TimePoint now) {
  auto target = clients_.find(e.dst);
  if (target != clients_.end()) {
    deliver(target->second.handle, target->first, e.src, std::move(e.text));
    return;
  }
  if (auto p = pendingIds_.find(e.dst); p != pendingIds_.end()) {
    auto c = connections_.find(p->second);
    if (c != connections_.end() && c->second.pending) {
      c->second.inbox.push_back(std::move(e.text));
      return;
    }
  }
  // Redis sent it here, but the id left meanwhile: ask Redis again (it queues it, or knows
  // where the id went).
  if (e.hops >= kMaxHops) {
    log("cluster: dropped a message for " + shortId(e.dst) + " routed " + std::to_string(e.hops) +
        " times without finding it");
    return;
  }
  cluster_->route(e.dst, e.src, std::move(e.text), e.queueable, e.hops + 1, now);
}

void SignalRouter::onKick(const ClusterEvent& e) {
  auto client = clients_.find(e.dst);
  if (client == clients_.end() || client->second.serial != e.serial) return;
  ClientHandle handle = client->second.handle;
  clients_.erase(client);  // not ours in Redis any more: no release
  connections_.erase(handle);
  ++stats_.replaced;
  actions_.push_back({RouterAction::Kind::Close, handle,
                      "replaced by a new connection with the same id and token", kCloseNormal});
}

}  // namespace claynet::signaling
