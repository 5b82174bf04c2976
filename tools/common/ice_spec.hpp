// The command lines' short form of an ICE server: "turn:user:pass@host:port" (and turns:) is a TURN
// server with credentials; anything else is taken as the URL it is (stun:host:port, ...).
#pragma once

#include <string>

#include "claynet/configuration.hpp"

namespace claynet::cli {

inline IceServer parseIceSpec(const std::string& spec) {
  auto colon = spec.find(':');
  auto at = spec.rfind('@');
  std::string scheme = colon == std::string::npos ? "" : spec.substr(0, colon);
  if (at == std::string::npos || at < colon || (scheme != "turn" && scheme != "turns"))
    return {spec, {}, {}};
  std::string credentials = spec.substr(colon + 1, at - colon - 1);
  auto sep = credentials.find(':');
  if (sep == std::string::npos) return {spec, {}, {}};
  return {scheme + ":" + spec.substr(at + 1), credentials.substr(0, sep),
          credentials.substr(sep + 1)};
}

}  // namespace claynet::cli
