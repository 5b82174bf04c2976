// Sans-IO Data Channel Establishment Protocol (RFC 8832) messages.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "claynet/result.hpp"

namespace claynet::rtc::dcep {

constexpr uint8_t kMessageAck = 0x02;
constexpr uint8_t kMessageOpen = 0x03;

// Channel types; kUnorderedBit may be or-ed into each.
constexpr uint8_t kReliable = 0x00;
constexpr uint8_t kPartialReliableRexmit = 0x01;
constexpr uint8_t kPartialReliableTimed = 0x02;
constexpr uint8_t kUnorderedBit = 0x80;

// SCTP payload protocol identifiers (RFC 8831 §8).
constexpr uint32_t kPpidDcep = 50;
constexpr uint32_t kPpidString = 51;
constexpr uint32_t kPpidBinaryPartial = 52;  // deprecated, accepted on receive
constexpr uint32_t kPpidBinary = 53;
constexpr uint32_t kPpidStringPartial = 54;  // deprecated, accepted on receive
constexpr uint32_t kPpidStringEmpty = 56;
constexpr uint32_t kPpidBinaryEmpty = 57;

struct Open {
  uint8_t channelType = kReliable;
  uint16_t priority = 0;
  uint32_t reliabilityParameter = 0;
  std::string label;
  std::string protocol;

  bool ordered() const { return (channelType & kUnorderedBit) == 0; }
  /// Set when the type is partial-reliable by retransmissions.
  std::optional<uint16_t> maxRetransmits() const;
  /// Set when the type is partial-reliable by lifetime (ms).
  std::optional<uint16_t> maxPacketLifeTime() const;

  /// Builds an OPEN from W3C-style options (at most one of the two limits set).
  static Open fromOptions(bool ordered, std::optional<uint16_t> maxRetransmits,
                          std::optional<uint16_t> maxPacketLifeTime, std::string label,
                          std::string protocol);
};

std::vector<uint8_t> encodeOpen(const Open& open);
std::vector<uint8_t> encodeAck();

enum class Kind { Open, Ack };

/// Parses a DCEP message (PPID 50). Fails on a short or inconsistent message or an unknown
/// message type, with a message that says which.
claynet::Result parse(std::span<const uint8_t> bytes, Kind& kind, Open& open);

}  // namespace claynet::rtc::dcep
