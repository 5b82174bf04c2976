#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>
#include <string_view>
#include <utility>

#include "claynet/configuration.hpp"

namespace claynet {
namespace {

constexpr uint16_t kDefaultStunPort = 3478;
constexpr uint16_t kDefaultTurnsPort = 5349;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trimSpace(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

bool isHostnameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

bool isIpv6Char(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
}

}  // namespace

Result IceServerUrl::parse(const std::string& url, IceServerUrl& out) {
  const std::string_view text = trimSpace(url);
  auto fail = [&](const std::string& what) {
    return Result::failure("ICE server URL \"" + std::string(text) + "\": " + what);
  };

  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return fail("has no scheme (expected stun:, turn: or turns:)");
  }
  IceServerUrl parsed;
  const std::string scheme = lower(text.substr(0, colon));  // RFC 7064: case-insensitive
  if (scheme == "stun") {
    parsed.scheme = Scheme::Stun;
  } else if (scheme == "turn") {
    parsed.scheme = Scheme::Turn;
  } else if (scheme == "turns") {
    parsed.scheme = Scheme::Turns;
    parsed.transport = Transport::Tcp;
  } else if (scheme == "stuns") {
    return fail("scheme \"stuns:\" (STUN over TLS) is not supported; use stun: or turns:");
  } else {
    return fail("scheme \"" + std::string(text.substr(0, colon)) +
                ":\" is not supported (expected stun:, turn: or turns:)");
  }
  parsed.port = parsed.scheme == Scheme::Turns ? kDefaultTurnsPort : kDefaultStunPort;

  std::string_view rest = text.substr(colon + 1);
  std::string_view query;
  bool hasQuery = false;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
    hasQuery = true;
  }

  // A common slip: these URIs have no authority part (RFC 7064/7065), unlike http://.
  if (rest.starts_with("//")) {
    return fail("\"//\" does not belong after the scheme; write " + scheme + ":host[:port]");
  }
  if (rest.find('@') != std::string_view::npos) {
    return fail(
        "user info (\"...@\") is not allowed in the URL; put the TURN user name and "
        "credential in IceServer.username and IceServer.credential");
  }
  if (rest.find('/') != std::string_view::npos) {
    return fail("has a path (\"" + std::string(rest.substr(rest.find('/'))) +
                "\"); expected host[:port]");
  }

  std::string_view host;
  std::string_view portText;
  bool hasPort = false;
  if (rest.starts_with("[")) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return fail("IPv6 address has no closing \"]\"");
    host = rest.substr(1, close - 1);
    if (host.empty()) return fail("host is empty");
    if (host.find(':') == std::string_view::npos ||
        !std::all_of(host.begin(), host.end(), isIpv6Char)) {
      return fail("\"[" + std::string(host) + "]\" is not an IPv6 address");
    }
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return fail("unexpected \"" + std::string(after) + "\" after the IPv6 address");
      }
      portText = after.substr(1);
      hasPort = true;
    }
  } else {
    auto portColon = rest.find(':');
    host = rest.substr(0, portColon);
    if (portColon != std::string_view::npos) {
      portText = rest.substr(portColon + 1);
      hasPort = true;
      if (portText.find(':') != std::string_view::npos) {
        return fail("host \"" + std::string(rest) +
                    "\" has several colons; write an IPv6 address in brackets, e.g. [::1]:3478");
      }
    }
    if (host.empty()) return fail("host is empty");
    if (!std::all_of(host.begin(), host.end(), isHostnameChar)) {
      return fail("host \"" + std::string(host) + "\" contains characters not allowed in a host");
    }
  }
  parsed.host = std::string(host);

  if (hasPort) {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (portText.empty() || !std::all_of(portText.begin(), portText.end(), digit)) {
      return fail("port \"" + std::string(portText) + "\" is not a number");
    }
    unsigned long port = 0;
    auto [ptr, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
    if (ec != std::errc() || port == 0 || port > 65535) {
      return fail("port " + std::string(portText) + " is out of range (1-65535)");
    }
    parsed.port = static_cast<uint16_t>(port);
  }

  if (hasQuery) {
    if (parsed.scheme == Scheme::Stun) {
      return fail("a stun: URL takes no query (\"?" + std::string(query) + "\")");
    }
    bool sawTransport = false;
    while (true) {
      auto amp = query.find('&');
      std::string_view param = query.substr(0, amp);
      auto eq = param.find('=');
      std::string_view key = param.substr(0, eq);
      std::string_view value =
          eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1);
      if (lower(key) != "transport") {
        return fail("unknown query parameter \"" + std::string(param) +
                    "\" (only transport=udp|tcp is known)");
      }
      if (sawTransport) return fail("transport is given more than once");
      sawTransport = true;
      const std::string v = lower(value);
      if (v == "udp") {
        if (parsed.scheme == Scheme::Turns) {
          return fail("turns: runs over TLS and needs transport=tcp, not \"" + std::string(value) +
                      "\"");
        }
        parsed.transport = Transport::Udp;
      } else if (v == "tcp") {
        parsed.transport = Transport::Tcp;
      } else {
        return fail("transport \"" + std::string(value) + "\" is not supported (expected " +
                    (parsed.scheme == Scheme::Turns ? "tcp" : "udp or tcp") + ")");
      }
      if (amp == std::string_view::npos) break;
      query = query.substr(amp + 1);
    }
  }

  out = std::move(parsed);
  return {};
}

}  // namespace claynet
