// libFuzzer target: a Data Channel Establishment Protocol message (RFC 8832) from a peer, as
// claynet parses it on PPID 50, and the OPEN claynet would write from what it parsed.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "rtc/dcep.hpp"

namespace dcep = claynet::rtc::dcep;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dcep::Kind kind;
  dcep::Open open;
  if (!dcep::parse(std::span<const std::uint8_t>(data, size), kind, open).ok()) return 0;
  if (kind == dcep::Kind::Ack) return 0;
  (void)open.ordered();
  (void)open.maxRetransmits();
  (void)open.maxPacketLifeTime();
  const auto bytes = dcep::encodeOpen(open);
  dcep::Kind kind2;
  dcep::Open again;
  if (!dcep::parse(bytes, kind2, again).ok() || kind2 != dcep::Kind::Open) std::abort();
  if (again.channelType != open.channelType || again.priority != open.priority ||
      again.reliabilityParameter != open.reliabilityParameter || again.label != open.label ||
      again.protocol != open.protocol)
    std::abort();
  return 0;
}
