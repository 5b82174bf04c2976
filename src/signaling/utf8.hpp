// UTF-8 checks shared by the serializations: validation, and repair the way a browser's
// TextDecoder does it (each maximal ill-formed subpart becomes one U+FFFD).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace claynet::signaling::utf8 {

/// Length of the well-formed sequence starting at p[0] (1–4), or 0 when it is ill-formed; in that
/// case `consumed` is the length of the maximal subpart to replace (at least 1).
inline std::size_t sequenceLength(const std::uint8_t* p, std::size_t n, std::size_t& consumed) {
  const std::uint8_t lead = p[0];
  consumed = 1;
  if (lead < 0x80) return 1;
  std::size_t need = 0;
  std::uint8_t lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    need = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    need = 3;
    if (lead == 0xe0) lo = 0xa0;  // no overlong forms
    if (lead == 0xed) hi = 0x9f;  // no surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    need = 4;
    if (lead == 0xf0) lo = 0x90;  // no overlong forms
    if (lead == 0xf4) hi = 0x8f;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  for (std::size_t i = 1; i < need; ++i) {
    if (i >= n) return 0;
    const std::uint8_t b = p[i];
    const std::uint8_t l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xbf;
    if (b < l || b > h) return 0;
    consumed = i + 1;
  }
  return need;
}

/// True when `bytes` is well-formed UTF-8.
inline bool isValid(std::string_view bytes) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const std::size_t n = bytes.size();
  for (std::size_t i = 0; i < n;) {
    if (p[i] < 0x80) {  // the common case, without the call
      ++i;
      continue;
    }
    std::size_t consumed = 0;
    const std::size_t len = sequenceLength(p + i, n - i, consumed);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

/// Appends `bytes` to `out`, each ill-formed subpart replaced by U+FFFD (EF BF BD).
inline void appendRepaired(std::string& out, std::string_view bytes) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    std::size_t consumed = 0;
    const std::size_t len = sequenceLength(p + i, n - i, consumed);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      i += consumed;
    } else {
      out.append(bytes.data() + i, len);
      i += len;
    }
  }
}

/// `bytes` itself when well-formed, else a repaired copy.
inline std::string repaired(std::string_view bytes) {
  if (isValid(bytes)) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size() + 16);
  appendRepaired(out, bytes);
  return out;
}

}  // namespace claynet::signaling::utf8
