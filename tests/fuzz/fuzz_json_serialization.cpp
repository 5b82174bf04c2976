// libFuzzer target: the json serialization of a PeerJS DataConnection (a received message, then
// the same value sent back).
#include <claynet/serialization.hpp>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nlohmann::json value;
  if (!claynet::decodeJson(std::span<const std::uint8_t>(data, size), value).ok()) {
    if (!value.is_null()) std::abort();
    return 0;
  }
  std::vector<std::uint8_t> out;
  if (claynet::encodeJson(value, out).ok()) {
    nlohmann::json back;
    if (!claynet::decodeJson(out, back).ok()) std::abort();
    if (back.dump() != value.dump()) std::abort();
  } else if (!out.empty()) {
    std::abort();
  }
  return 0;
}
