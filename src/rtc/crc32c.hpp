// CRC32c for SCTP packets (RFC 4960 appendix B), with the SSE4.2 instruction when the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace claynet::rtc {

/// True when the hardware path is available and agrees with usrsctp's own implementation.
bool fastCrc32cAvailable();
/// The checksum as it is stored in the SCTP common header (same as usrsctp_crc32c()).
uint32_t sctpChecksum(const uint8_t* packet, std::size_t size);
/// Writes the checksum of `packet` into its header (bytes 8..11, which must be zero before).
void fillSctpChecksum(uint8_t* packet, std::size_t size);
/// Whether the packet's stored checksum is right.
bool sctpChecksumValid(const uint8_t* packet, std::size_t size);

}  // namespace claynet::rtc
