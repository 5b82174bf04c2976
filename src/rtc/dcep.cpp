#include "rtc/dcep.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>

namespace claynet::rtc::dcep {
namespace {

using claynet::Result;

// RFC 8832 §5.1: type, channel type, priority, reliability parameter, label and protocol lengths.
constexpr std::size_t kOpenHeaderSize = 12;
constexpr uint8_t kChannelTypeMask = 0x7f;
constexpr std::size_t kMaxFieldLength = std::numeric_limits<uint16_t>::max();

void putU16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void putU32(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

uint16_t getU16(std::span<const uint8_t> b, std::size_t at) {
  return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}

uint32_t getU32(std::span<const uint8_t> b, std::size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         uint32_t{b[at + 3]};
}

std::string hexByte(uint8_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", v);
  return buf;
}

uint16_t clampU16(uint32_t v) {
  return static_cast<uint16_t>(std::min<uint32_t>(v, std::numeric_limits<uint16_t>::max()));
}

}  // namespace

std::optional<uint16_t> Open::maxRetransmits() const {
  if ((channelType & kChannelTypeMask) != kPartialReliableRexmit) return std::nullopt;
  // The wire field is 32 bits but the W3C API exposes 16; saturate rather than wrap.
  return clampU16(reliabilityParameter);
}

std::optional<uint16_t> Open::maxPacketLifeTime() const {
  if ((channelType & kChannelTypeMask) != kPartialReliableTimed) return std::nullopt;
  return clampU16(reliabilityParameter);
}

Open Open::fromOptions(bool ordered, std::optional<uint16_t> maxRetransmits,
                       std::optional<uint16_t> maxPacketLifeTime, std::string label,
                       std::string protocol) {
  Open open;
  // The W3C API forbids setting both limits; callers validate that, and if they do not the
  // retransmission limit wins because it is the tighter guarantee of not piling up data.
  if (maxRetransmits) {
    open.channelType = kPartialReliableRexmit;
    open.reliabilityParameter = *maxRetransmits;
  } else if (maxPacketLifeTime) {
    open.channelType = kPartialReliableTimed;
    open.reliabilityParameter = *maxPacketLifeTime;
  } else {
    open.channelType = kReliable;
    open.reliabilityParameter = 0;
  }
  if (!ordered) open.channelType |= kUnorderedBit;
  open.label = std::move(label);
  open.protocol = std::move(protocol);
  return open;
}

std::vector<uint8_t> encodeOpen(const Open& open) {
  // The length fields are 16 bits; callers reject longer strings (the W3C API throws for them),
  // so clamping only keeps the message self-consistent if one slips through.
  const std::size_t labelLength = std::min(open.label.size(), kMaxFieldLength);
  const std::size_t protocolLength = std::min(open.protocol.size(), kMaxFieldLength);
  std::vector<uint8_t> out;
  out.reserve(kOpenHeaderSize + labelLength + protocolLength);
  out.push_back(kMessageOpen);
  out.push_back(open.channelType);
  putU16(out, open.priority);
  putU32(out, open.reliabilityParameter);
  putU16(out, static_cast<uint16_t>(labelLength));
  putU16(out, static_cast<uint16_t>(protocolLength));
  out.insert(out.end(), open.label.begin(), open.label.begin() + labelLength);
  out.insert(out.end(), open.protocol.begin(), open.protocol.begin() + protocolLength);
  return out;
}

std::vector<uint8_t> encodeAck() { return {kMessageAck}; }

Result parse(std::span<const uint8_t> bytes, Kind& kind, Open& open) {
  if (bytes.empty()) return Result::failure("DCEP message is empty");
  const uint8_t type = bytes[0];
  // Trailing bytes after a complete message are ignored, as Chromium and libdatachannel do,
  // so that a future extension does not break the channel.
  if (type == kMessageAck) {
    kind = Kind::Ack;
    return {};
  }
  if (type != kMessageOpen) {
    return Result::failure("DCEP message type " + hexByte(type) +
                           " is unknown (expected 0x03 OPEN or 0x02 ACK)");
  }
  if (bytes.size() < kOpenHeaderSize) {
    return Result::failure("DCEP OPEN is truncated: " + std::to_string(bytes.size()) +
                           " bytes, the fixed header alone needs " +
                           std::to_string(kOpenHeaderSize));
  }
  Open parsed;
  parsed.channelType = bytes[1];
  const uint8_t baseType = parsed.channelType & kChannelTypeMask;
  if (baseType != kReliable && baseType != kPartialReliableRexmit &&
      baseType != kPartialReliableTimed) {
    return Result::failure("DCEP OPEN has unknown channel type " + hexByte(parsed.channelType));
  }
  parsed.priority = getU16(bytes, 2);
  parsed.reliabilityParameter = getU32(bytes, 4);
  const std::size_t labelLength = getU16(bytes, 8);
  const std::size_t protocolLength = getU16(bytes, 10);
  const std::size_t needed = kOpenHeaderSize + labelLength + protocolLength;
  if (bytes.size() < needed) {
    return Result::failure("DCEP OPEN is truncated: label (" + std::to_string(labelLength) +
                           " bytes) and protocol (" + std::to_string(protocolLength) +
                           " bytes) need " + std::to_string(needed) + " bytes, got " +
                           std::to_string(bytes.size()));
  }
  auto text = [&](std::size_t at, std::size_t length) {
    return std::string(reinterpret_cast<const char*>(bytes.data() + at), length);
  };
  parsed.label = text(kOpenHeaderSize, labelLength);
  parsed.protocol = text(kOpenHeaderSize + labelLength, protocolLength);
  kind = Kind::Open;
  open = std::move(parsed);
  return {};
}

}  // namespace claynet::rtc::dcep
