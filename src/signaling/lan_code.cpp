// Network codes, LAN codes and the LAN address of a Local-mode host (protocols.md §3).
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/rand.h>

#include <array>
#include <claynet/lan_code.hpp>
#include <random>

namespace claynet {

namespace {

constexpr std::string_view kBase36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr std::string_view kNetworkAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
constexpr std::size_t kNetworkCodeLength = 6;

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

std::string base36(std::uint64_t v) {
  std::string digits;
  do {
    digits.insert(digits.begin(), kBase36[v % 36]);
    v /= 36;
  } while (v != 0);
  return digits;
}

int base36Digit(char c) {
  c = upper(c);
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return -1;
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Parses a non-empty base36 number no larger than `max`.
Result parseBase36(std::string_view digits, std::uint64_t max, const char* what,
                   std::string_view code, std::uint64_t& out) {
  if (digits.empty()) {
    return Result::failure("LAN code " + quoted(code) + ": the " + what + " part is empty");
  }
  std::uint64_t v = 0;
  for (char c : digits) {
    const int d = base36Digit(c);
    if (d < 0) {
      static constexpr char kHex[] = "0123456789abcdef";
      const auto byte = static_cast<unsigned char>(c);
      const std::string shown = byte > 0x20 && byte < 0x7f
                                    ? quoted(std::string(1, c))
                                    : std::string("byte 0x") + kHex[byte >> 4] + kHex[byte & 15];
      return Result::failure("LAN code " + quoted(code) + ": " + shown + " in the " + what +
                             " part is not a base-36 digit (0-9, A-Z)");
    }
    v = v * 36 + static_cast<std::uint64_t>(d);
    if (v > max) {
      return Result::failure("LAN code " + quoted(code) + ": the " + what + " part " +
                             quoted(digits) + " is larger than " + std::to_string(max));
    }
  }
  out = v;
  return {};
}

bool inRange(std::uint32_t a, std::uint32_t net, int prefix) {
  const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return (a & mask) == net;
}

bool isPrivate(std::uint32_t a) {
  return inRange(a, 0x0A000000, 8) || inRange(a, 0xAC100000, 12) || inRange(a, 0xC0A80000, 16);
}
bool isLoopback(std::uint32_t a) { return inRange(a, 0x7F000000, 8); }
bool isLinkLocal(std::uint32_t a) { return inRange(a, 0xA9FE0000, 16); }
bool isUnusable(std::uint32_t a) {
  return a == 0 || inRange(a, 0xE0000000, 4) /* multicast */ || a == 0xFFFFFFFF;
}

}  // namespace

std::string encodeLanCode(std::uint32_t ipv4HostOrder, std::uint16_t port) {
  return "L" + base36(ipv4HostOrder) + "-" + base36(port);
}

Result decodeLanCode(std::string_view code, std::string& address, std::uint16_t& port) {
  std::string secret;
  return decodeLanCode(code, address, port, secret);
}

std::string encodeLanCode(std::uint32_t ipv4HostOrder, std::uint16_t port,
                          std::string_view secret) {
  std::string code = encodeLanCode(ipv4HostOrder, port);
  if (!secret.empty()) {
    code += '-';
    for (char ch : secret) code += upper(ch);
  }
  return code;
}

std::string generateLanSecret() {
  std::array<unsigned char, kLanSecretLength> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    std::random_device device;
    for (auto& b : random) b = static_cast<unsigned char>(device());
  }
  std::string secret;
  for (unsigned char b : random) secret += kNetworkAlphabet[b % kNetworkAlphabet.size()];
  return secret;
}

Result decodeLanCode(std::string_view code, std::string& address, std::uint16_t& port,
                     std::string& secret) {
  std::string_view c = code;
  while (!c.empty() && (c.front() == ' ' || c.front() == '\t')) c.remove_prefix(1);
  while (!c.empty() && (c.back() == ' ' || c.back() == '\t')) c.remove_suffix(1);
  if (c.empty()) return Result::failure("LAN code is empty");
  if (upper(c.front()) != 'L') {
    return Result::failure("LAN code " + quoted(code) + " does not start with L");
  }
  c.remove_prefix(1);
  const std::size_t dash = c.find('-');
  if (dash == c.npos) {
    return Result::failure("LAN code " + quoted(code) +
                           " has no '-' between the address and the port");
  }
  // Clayground's codes have a third part, the secret; claynet's older ones do not.
  const std::size_t dash2 = c.find('-', dash + 1);
  std::string foundSecret;
  if (dash2 != c.npos) {
    if (c.find('-', dash2 + 1) != c.npos)
      return Result::failure("LAN code " + quoted(code) + " has more than two '-'");
    const std::string_view s = c.substr(dash2 + 1);
    if (s.size() != kLanSecretLength)
      return Result::failure("LAN code " + quoted(code) + ": the secret after the second '-' has " +
                             std::to_string(s.size()) + " characters, not " +
                             std::to_string(kLanSecretLength));
    for (char ch : s) {
      if (kNetworkAlphabet.find(upper(ch)) == std::string_view::npos)
        return Result::failure("LAN code " + quoted(code) + ": the secret has '" +
                               std::string(1, ch) + "', which is not one of " +
                               std::string(kNetworkAlphabet));
      foundSecret += upper(ch);
    }
    c = c.substr(0, dash2);
  }
  std::uint64_t ip = 0, p = 0;
  if (Result r = parseBase36(c.substr(0, dash), 0xFFFFFFFFu, "address", code, ip); !r) return r;
  if (Result r = parseBase36(c.substr(dash + 1), 65535, "port", code, p); !r) return r;
  if (ip == 0) return Result::failure("LAN code " + quoted(code) + ": the address is 0.0.0.0");
  if (p == 0) return Result::failure("LAN code " + quoted(code) + ": the port is 0");
  address = formatIPv4(static_cast<std::uint32_t>(ip));
  port = static_cast<std::uint16_t>(p);
  secret = std::move(foundSecret);
  return {};
}

bool isLanCode(std::string_view code) {
  return !code.empty() && upper(code.front()) == 'L' && code.find('-') != code.npos;
}

std::string generateNetworkCode() {
  std::array<unsigned char, kNetworkCodeLength> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    std::random_device device;
    for (auto& b : random) b = static_cast<unsigned char>(device());
  }
  std::string code;
  // 256 is a multiple of the alphabet's 32 letters, so the low five bits are uniform.
  for (unsigned char b : random) code += kNetworkAlphabet[b % kNetworkAlphabet.size()];
  return code;
}

bool isValidNetworkCode(std::string_view code) {
  if (code.size() != kNetworkCodeLength) return false;
  for (char c : code) {
    if (kNetworkAlphabet.find(upper(c)) == std::string_view::npos) return false;
  }
  return true;
}

std::string normalizeNetworkCode(std::string_view code) {
  std::string out(code);
  for (char& c : out) c = upper(c);
  return out;
}

bool parseIPv4(std::string_view text, std::uint32_t& hostOrder) {
  std::uint32_t value = 0;
  std::size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= text.size() || text[i] != '.') return false;
      ++i;
    }
    const std::size_t start = i;
    unsigned octet = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 3) {
      octet = octet * 10 + static_cast<unsigned>(text[i] - '0');
      ++i;
    }
    const std::size_t len = i - start;
    if (len == 0 || octet > 255 || (len > 1 && text[start] == '0')) return false;
    value = (value << 8) | octet;
  }
  if (i != text.size()) return false;
  hostOrder = value;
  return true;
}

std::string formatIPv4(std::uint32_t hostOrder) {
  return std::to_string(hostOrder >> 24) + "." + std::to_string((hostOrder >> 16) & 0xff) + "." +
         std::to_string((hostOrder >> 8) & 0xff) + "." + std::to_string(hostOrder & 0xff);
}

bool isIPv4Literal(std::string_view text) {
  std::uint32_t ignored = 0;
  return parseIPv4(text, ignored);
}

std::string pickLanAddress(const std::vector<std::string>& candidates) {
  const std::string* other = nullptr;
  const std::string* linkLocal = nullptr;
  for (const std::string& candidate : candidates) {
    std::uint32_t a = 0;
    if (!parseIPv4(candidate, a) || isUnusable(a) || isLoopback(a)) continue;
    if (isPrivate(a)) return candidate;
    if (isLinkLocal(a)) {
      if (linkLocal == nullptr) linkLocal = &candidate;
    } else if (other == nullptr) {
      other = &candidate;
    }
  }
  if (other != nullptr) return *other;
  if (linkLocal != nullptr) return *linkLocal;
  return "127.0.0.1";
}

std::vector<std::string> localIPv4Addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_UP) == 0) continue;
    char text[INET_ADDRSTRLEN] = {};
    const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text) != nullptr) out.emplace_back(text);
  }
  freeifaddrs(list);
  return out;
}

std::string lanAddress(std::string_view override) {
  if (!override.empty() && isIPv4Literal(override)) return std::string(override);
  return pickLanAddress(localIPv4Addresses());
}

}  // namespace claynet
