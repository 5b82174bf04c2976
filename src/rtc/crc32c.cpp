#include "rtc/crc32c.hpp"

#include <usrsctp.h>

#include <cstring>
#include <random>
#include <vector>

namespace claynet::rtc {

namespace {

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crcUpdate(uint32_t crc, const uint8_t* p,
                                                     std::size_t n) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<uint32_t>(c);
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
bool cpuHasSse42() { return __builtin_cpu_supports("sse4.2"); }
#else
uint32_t crcUpdate(uint32_t, const uint8_t*, std::size_t) { return 0; }
bool cpuHasSse42() { return false; }
#endif

// The checksum field (bytes 8..11) counts as zero.
uint32_t compute(const uint8_t* p, std::size_t n) {
  static const uint8_t zeros[4] = {0, 0, 0, 0};
  uint32_t crc = crcUpdate(0xffffffffu, p, 8);
  crc = crcUpdate(crc, zeros, 4);
  crc = crcUpdate(crc, p + 12, n - 12);
  return ~crc;  // little-endian hosts store the final value as is
}

bool selfTest() {
  if (!cpuHasSse42()) return false;
  std::mt19937 rng(7);
  for (std::size_t n : {12u, 13u, 20u, 64u, 1200u, 1201u}) {
    std::vector<uint8_t> buf(n);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    std::memset(buf.data() + 8, 0, 4);
    if (compute(buf.data(), n) != usrsctp_crc32c(buf.data(), n)) return false;
  }
  return true;
}

}  // namespace

bool fastCrc32cAvailable() {
  static const bool ok = selfTest();
  return ok;
}

uint32_t sctpChecksum(const uint8_t* packet, std::size_t size) {
  if (size < 12) return 0;
  if (fastCrc32cAvailable()) return compute(packet, size);
  std::vector<uint8_t> copy(packet, packet + size);
  std::memset(copy.data() + 8, 0, 4);
  return usrsctp_crc32c(copy.data(), size);
}

void fillSctpChecksum(uint8_t* packet, std::size_t size) {
  if (size < 12) return;
  uint32_t c = sctpChecksum(packet, size);
  std::memcpy(packet + 8, &c, 4);
}

bool sctpChecksumValid(const uint8_t* packet, std::size_t size) {
  if (size < 12) return false;
  uint32_t stored;
  std::memcpy(&stored, packet + 8, 4);
  return stored == sctpChecksum(packet, size);
}

}  // namespace claynet::rtc
