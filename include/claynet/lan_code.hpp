// Join codes of Clayground.Network (protocols.md §3): network codes for Cloud mode and LAN codes
// for Local mode, plus the choice of the LAN address a host puts in its LAN code.
//
// A LAN code is "L" + base36(IPv4 address as a 32-bit number) + "-" + base36(port) + "-" + an
// 8-character secret, upper case: 192.168.1.42 port 9000 -> "L1HGE14A-6Y0-K7QP2MXA" (Clayground's
// form since wire version 5; the host's embedded server turns away a client without the secret).
// claynet's older codes have no secret ("L1HGE14A-6Y0") and are still accepted for joining. A
// network code is 6 characters from ABCDEFGHJKLMNPQRSTUVWXYZ23456789 (no 0/O, 1/I); in Cloud mode
// the host's PeerJS id is the code.
#pragma once

#include <claynet/result.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace claynet {

/// "L" + base36(ipv4HostOrder) + "-" + base36(port), upper case. `ipv4HostOrder` is the address as
/// a number, most significant byte first in dotted form (192.168.1.42 is 0xC0A8012A).
std::string encodeLanCode(std::uint32_t ipv4HostOrder, std::uint16_t port);

/// Decodes a LAN code, case-insensitively; surrounding spaces and tabs are ignored. On success
/// `address` is the dotted IPv4 address and `port` the port; on failure both are left unchanged
/// and the error says what is wrong: no leading L, not exactly one '-', an empty part, a character
/// that is not base36, an address beyond 32 bits or equal to 0.0.0.0, a port of 0 or above 65535.
Result decodeLanCode(std::string_view code, std::string& address, std::uint16_t& port);

/// Characters of a LAN code's secret, from the network-code alphabet (about 40 bits).
inline constexpr std::size_t kLanSecretLength = 8;
/// A fresh secret from OpenSSL's cryptographic random generator.
std::string generateLanSecret();
/// The code with the secret as its third part (none when `secret` is empty).
std::string encodeLanCode(std::uint32_t ipv4HostOrder, std::uint16_t port, std::string_view secret);
/// decodeLanCode() for both forms: `secret` is the third part in upper case, or empty for a code
/// without one. A third part must be exactly 8 characters of the network-code alphabet.
Result decodeLanCode(std::string_view code, std::string& address, std::uint16_t& port,
                     std::string& secret);

/// True when `code` is meant as a LAN code: it starts with L or l and contains '-'. (Network codes
/// never contain '-'.) Says nothing about whether it decodes.
bool isLanCode(std::string_view code);

/// A fresh network code: 6 characters from ABCDEFGHJKLMNPQRSTUVWXYZ23456789, drawn from OpenSSL's
/// cryptographic random generator (std::random_device if that fails).
std::string generateNetworkCode();

/// True when `code` has exactly 6 characters from the network-code alphabet, in any case.
bool isValidNetworkCode(std::string_view code);

/// `code` in upper case (ASCII only), the form in which a host registers it.
std::string normalizeNetworkCode(std::string_view code);

/// Parses a strict dotted-quad IPv4 literal ("10.0.0.1": four decimal parts 0–255, no leading
/// zeros, nothing else). Returns false and leaves `hostOrder` unchanged otherwise.
bool parseIPv4(std::string_view text, std::uint32_t& hostOrder);

/// The dotted-quad form of an address given as a number (see encodeLanCode).
std::string formatIPv4(std::uint32_t hostOrder);

/// True when `text` is a strict dotted-quad IPv4 literal (see parseIPv4).
bool isIPv4Literal(std::string_view text);

/// The address a LAN host advertises, chosen from `candidates` (IPv4 literals; anything else is
/// skipped): the first private one (RFC 1918: 10/8, 172.16/12, 192.168/16), else the first one
/// that is neither loopback (127/8), link-local (169.254/16), 0.0.0.0 nor multicast/broadcast,
/// else the first link-local one, else "127.0.0.1".
std::string pickLanAddress(const std::vector<std::string>& candidates);

/// The IPv4 addresses of this machine's interfaces that are up (getifaddrs), loopback included,
/// in the order the system lists them. Empty if they cannot be listed.
std::vector<std::string> localIPv4Addresses();

/// `override` when it is a valid IPv4 literal (see parseIPv4), else
/// pickLanAddress(localIPv4Addresses()). Check the override with isIPv4Literal() first to report a
/// mistyped one.
std::string lanAddress(std::string_view override = {});

}  // namespace claynet
