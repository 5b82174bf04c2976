#include "network/network_config.hpp"

#include <charconv>
#include <random>

namespace claynet::network {

using nlohmann::json;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool validKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

}  // namespace

Result parseSignalingUrl(std::string_view url, PeerJsServer& out) {
  auto fail = [&](const std::string& why) {
    return Result::failure("invalid signaling URL \"" + std::string(url) + "\": " + why);
  };
  std::string_view rest = url;
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
  auto schemeEnd = rest.find("://");
  if (schemeEnd == std::string_view::npos)
    return fail("it needs a scheme (ws://, wss://, http:// or https://)");
  std::string scheme = lower(rest.substr(0, schemeEnd));
  PeerJsServer s = out;
  if (scheme == "ws" || scheme == "http") {
    s.secure = false;
    s.port = 80;
  } else if (scheme == "wss" || scheme == "https") {
    s.secure = true;
    s.port = 443;
  } else {
    return fail("unknown scheme \"" + scheme + "\" (use ws, wss, http or https)");
  }
  rest.remove_prefix(schemeEnd + 3);
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (auto h = rest.find('#'); h != std::string_view::npos) rest = rest.substr(0, h);
  std::string_view authority = rest, path = "/";
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash);
  }
  if (authority.find('@') != std::string_view::npos)
    return fail("user information (user@host) is not supported");
  std::string_view host = authority, portText;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("an IPv6 address lacks its closing ']'");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("unexpected text after the IPv6 address");
      portText = after.substr(1);
      if (portText.empty()) return fail("the port is empty");
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    portText = authority.substr(colon + 1);
    if (portText.empty()) return fail("the port is empty");
  }
  if (host.empty()) return fail("the host is empty");
  if (!portText.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
    if (ec != std::errc() || end != portText.data() + portText.size() || port == 0 || port > 65535)
      return fail("the port \"" + std::string(portText) + "\" is not a number from 1 to 65535");
    s.port = static_cast<uint16_t>(port);
  }
  s.host = std::string(host);
  // The WebSocket endpoint is {mount}peerjs: a URL that names it gives the mount path before it.
  std::string p(path);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  constexpr std::string_view kEndpoint = "/peerjs";
  if (p.size() >= kEndpoint.size() &&
      p.compare(p.size() - kEndpoint.size(), kEndpoint.size(), kEndpoint) == 0) {
    p.erase(p.size() - kEndpoint.size() + 1);  // keep the '/' before "peerjs"
  }
  if (p.empty() || p.front() != '/') p.insert(p.begin(), '/');
  if (p.back() != '/') p.push_back('/');
  s.path = p;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (pair.substr(0, eq) == "key") {
      std::string_view key = pair.substr(eq + 1);
      if (key.empty()) return fail("the key is empty");
      for (char c : key)
        if (!validKeyChar(c)) return fail("the key may hold letters, digits and -_.~ only");
      s.key = std::string(key);
    }
  }
  out = std::move(s);
  return {};
}

Result validateIceServers(const std::vector<IceServer>& servers) {
  for (const auto& server : servers) {
    IceServerUrl parsed;
    if (Result r = IceServerUrl::parse(server.url, parsed); !r)
      return Result::failure("invalid ICE server \"" + server.url + "\": " + r.error());
    if (parsed.scheme != IceServerUrl::Scheme::Stun &&
        (server.username.empty() || server.credential.empty()))
      return Result::failure("the TURN server \"" + server.url +
                             "\" needs a username and a credential");
  }
  return {};
}

Result parseIceServers(const json& value, std::vector<IceServer>& out) {
  if (value.is_null()) {
    out.clear();
    return {};
  }
  if (!value.is_array())
    return Result::failure(
        "iceServers must be an array of URL strings and {urls, username, "
        "credential} objects, not " +
        std::string(value.type_name()));
  std::vector<IceServer> list;
  std::size_t index = 0;
  for (const auto& entry : value) {
    const std::string where = "iceServers[" + std::to_string(index++) + "]";
    if (entry.is_string()) {
      list.push_back({entry.get<std::string>(), {}, {}});
      continue;
    }
    if (!entry.is_object())
      return Result::failure(where + " must be a URL string or an object, not " +
                             std::string(entry.type_name()));
    auto text = [&](const char* key, std::string& field) -> Result {
      auto it = entry.find(key);
      if (it == entry.end() || it->is_null()) return {};
      if (!it->is_string()) return Result::failure(where + "." + key + " must be a string");
      field = it->get<std::string>();
      return {};
    };
    std::string username, credential;
    if (Result r = text("username", username); !r) return r;
    if (Result r = text("credential", credential); !r) return r;
    auto urls = entry.find("urls");
    if (urls == entry.end()) urls = entry.find("url");  // the old W3C spelling
    if (urls == entry.end()) return Result::failure(where + " has no \"urls\"");
    if (urls->is_string()) {
      list.push_back({urls->get<std::string>(), username, credential});
    } else if (urls->is_array() && !urls->empty()) {
      for (const auto& u : *urls) {
        if (!u.is_string()) return Result::failure(where + ".urls must hold strings only");
        list.push_back({u.get<std::string>(), username, credential});
      }
    } else {
      return Result::failure(where + ".urls must be a string or a non-empty array of strings");
    }
  }
  if (Result r = validateIceServers(list); !r) return r;
  out = std::move(list);
  return {};
}

json iceServersToJson(const std::vector<IceServer>& servers) {
  json out = json::array();
  for (const auto& s : servers) {
    if (s.username.empty() && s.credential.empty()) {
      out.push_back(s.url);
    } else {
      out.push_back({{"urls", s.url}, {"username", s.username}, {"credential", s.credential}});
    }
  }
  return out;
}

std::vector<IceServer> defaultIceServers() {
  return {{"stun:stun.l.google.com:19302", {}, {}}, {"stun:stun1.l.google.com:19302", {}, {}}};
}

std::string randomNodeId() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{(static_cast<std::uint64_t>(std::random_device{}()) << 32) ^
                                   std::random_device{}()};
  std::uniform_int_distribution<int> pick(0, 35);
  std::string id(12, 'a');
  for (auto& c : id) c = kChars[pick(rng)];
  return id;
}

std::string describeCandidate(std::string_view line) {
  // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
  std::string_view s = line;
  if (s.rfind("a=", 0) == 0) s.remove_prefix(2);
  std::vector<std::string_view> parts;
  while (!s.empty() && parts.size() < 8) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    auto sp = s.find(' ');
    parts.push_back(s.substr(0, sp));
    s = sp == std::string_view::npos ? std::string_view() : s.substr(sp + 1);
  }
  if (parts.size() < 8 || parts[0].rfind("candidate:", 0) != 0 || parts[6] != "typ")
    return std::string(line);
  return std::string(parts[7]) + " " + std::string(parts[4]) + ":" + std::string(parts[5]) + " " +
         lower(parts[2]);
}

}  // namespace claynet::network
