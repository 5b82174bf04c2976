// libFuzzer target: LAN codes, network codes and IPv4 literals (what a user types or pastes).
#include <claynet/lan_code.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::string address;
  std::uint16_t port = 0;
  if (claynet::decodeLanCode(text, address, port).ok()) {
    // A code that decodes names a real address and port, and re-encodes to the same ones.
    std::uint32_t ip = 0;
    if (!claynet::parseIPv4(address, ip) || port == 0) std::abort();
    if (!claynet::isLanCode(text.substr(text.find_first_not_of(" \t")))) std::abort();
    const std::string code = claynet::encodeLanCode(ip, port);
    std::string address2;
    std::uint16_t port2 = 0;
    if (!claynet::decodeLanCode(code, address2, port2).ok()) std::abort();
    if (address2 != address || port2 != port) std::abort();
  }

  if (claynet::isValidNetworkCode(text)) {
    if (!claynet::isValidNetworkCode(claynet::normalizeNetworkCode(text))) std::abort();
    if (claynet::isLanCode(text)) std::abort();  // the two kinds of code never overlap
  }

  std::uint32_t ip = 0;
  if (claynet::parseIPv4(text, ip) && claynet::formatIPv4(ip) != text) std::abort();

  // Lines as address candidates.
  std::vector<std::string> candidates;
  std::size_t start = 0;
  while (start <= text.size() && candidates.size() < 64) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    candidates.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (!claynet::isIPv4Literal(claynet::pickLanAddress(candidates))) std::abort();
  return 0;
}
