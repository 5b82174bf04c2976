// The standard value sets of the PeerJS interop contract (tests/signaling/interop_contract.md),
// shared by claynet-peerjs-peer and the claynet-to-claynet signaling tests.
#pragma once

#include <claynet/serialization.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace claynet::interop {

inline nlohmann::json bytes(std::vector<std::uint8_t> b) {
  return nlohmann::json::binary(std::move(b));
}

/// BIG: 102400 bytes, byte i = (i*31 + 7) & 255; over 16300 bytes, so BinaryPack chunks it.
inline nlohmann::json big() {
  std::vector<std::uint8_t> b(102400);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>((i * 31 + 7) & 255);
  return bytes(std::move(b));
}

inline std::vector<nlohmann::json> standardSet(Serialization s) {
  using nlohmann::json;
  switch (s) {
    case Serialization::Binary:
      return {"hi",
              json::parse(R"({"a":1,"b":[true,null]})"),
              200,
              -100,
              1.5,
              bytes({1, 2, 3}),
              "ünïcødé ✓",
              big(),
              json::parse(R"([1,[2,[3,"deep"]]])"),
              70000,
              -40000,
              false};
    case Serialization::Json:
      return {"hi", json::parse(R"({"a":1,"b":[true,null]})"), 200,         -100,
              1.5,  json::parse(R"([1,[2,[3,"deep"]]])"),      "ünïcødé ✓", false};
    case Serialization::Raw:
      return {"hello raw ✓", bytes({1, 2, 3}), big()};
  }
  return {};
}

}  // namespace claynet::interop
