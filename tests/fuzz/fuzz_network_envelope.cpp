// libFuzzer target: every message claynet's Network decodes from a data channel, down to the
// Clayground envelope. The first input byte picks the way the rest arrives:
//   0: PeerJS json serialization (decodeJson), 1: PeerJS binary serialization (BinaryPack),
//   2: the native state channel (bounded JSON text), 3: envelope text (decodeEnvelope's own parse).
// Whatever decodes is written back and must decode again to the same kind.
#include <claynet/binarypack.hpp>
#include <claynet/serialization.hpp>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "network/envelope.hpp"
#include "signaling/bounded_json.hpp"

namespace net = claynet::network;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  const std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
  net::Envelope envelope;
  bool decoded = false;
  switch (data[0] % 4) {
    case 0: {
      nlohmann::json value;
      decoded = claynet::decodeJson(rest, value).ok() && net::decodeEnvelope(value, envelope).ok();
      break;
    }
    case 1: {
      nlohmann::json value;
      decoded = claynet::binarypack::decode(rest, value).ok() &&
                net::decodeEnvelope(value, envelope).ok();
      break;
    }
    case 2: {
      nlohmann::json value;
      decoded = claynet::signaling::parseBoundedJson(text, value).ok() &&
                net::decodeEnvelope(value, envelope).ok();
      break;
    }
    default:
      decoded = net::decodeEnvelope(text, envelope).ok();
      break;
  }
  if (!decoded) return 0;
  const std::string written = net::encodeEnvelope(envelope);
  net::Envelope again;
  if (!net::decodeEnvelope(std::string_view(written), again).ok()) std::abort();
  if (again.kind != envelope.kind || again.from != envelope.from || again.to != envelope.to)
    std::abort();
  return 0;
}
