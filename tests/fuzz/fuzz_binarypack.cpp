// libFuzzer target: BinaryPack decoding, re-encoding and reassembly of chunks.
// Input: the bytes of one data-channel message.
#include <algorithm>
#include <claynet/binarypack.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

namespace bp = claynet::binarypack;

namespace {

// Copies of [data, data+size) over [out, out+n), block by block (a byte loop here would be
// instrumented and dominate the run time).
void fill(std::uint8_t* out, std::size_t n, const std::uint8_t* data, std::size_t size) {
  for (std::size_t at = 0; at < n; at += size) std::memcpy(out + at, data, std::min(size, n - at));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  nlohmann::json value;
  if (bp::decode(input, value).ok()) {
    // Whatever decodes must re-encode to bytes that decode, and from then on the encoding is
    // stable (the first pass may differ: non-canonical integer forms, float32, repaired UTF-8).
    const std::vector<std::uint8_t> again = bp::encode(value);
    nlohmann::json second;
    if (!bp::decode(again, second).ok()) std::abort();
    if (bp::encode(second) != again) std::abort();
    (void)value.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);  // valid UTF-8
  } else if (!value.is_null()) {
    std::abort();  // the contract: null after an error
  }

  // The same bytes as a stream of chunk messages: split them, feed the pieces out of order into a
  // Reassembler with small limits, and also feed the input itself as one message.
  bp::Reassembler::Limits limits;
  limits.maxPendingBytes = 1 << 20;
  limits.maxPendingValues = 4;
  limits.maxChunksPerValue = 64;
  bp::Reassembler reassembler(limits);
  std::optional<nlohmann::json> complete;
  (void)reassembler.feedPacked(input, complete);
  // And as a sequence of messages, each prefixed by its length in one byte, into one Reassembler:
  // chunks of several ids, repeated, inconsistent or interleaved with plain values.
  bp::Reassembler sequence(limits);
  for (std::size_t at = 0; at < size;) {
    const std::size_t len = std::min<std::size_t>(data[at], size - at - 1);
    (void)sequence.feedPacked(input.subspan(at + 1, len), complete);
    at += 1 + len;
  }
  if (sequence.pendingValues() > limits.maxPendingValues ||
      sequence.pendingBytes() > limits.maxPendingBytes)
    std::abort();

  bp::Chunker chunker;
  std::vector<std::uint8_t> packed = bp::encode(value);
  // For a quarter of the inputs, make it large enough to be chunked (copies of the input after
  // the value, so the reassembled bytes do not decode: the error path gets its share too).
  if (size > 16 && (data[0] & 3) == 1 && packed.size() <= bp::Chunker::kChunkSize) {
    const std::size_t start = packed.size();
    packed.resize(bp::Chunker::kChunkSize + 1 + (data[1] & 1) * bp::Chunker::kChunkSize);
    fill(packed.data() + start, packed.size() - start, data, size);
  } else if (size > 16 && (data[0] & 3) == 3) {
    // A big valid value: the input as raw bytes, repeated.
    std::vector<std::uint8_t> raw(bp::Chunker::kChunkSize + data[1] * 64u);
    fill(raw.data(), raw.size(), data, size);
    packed = bp::encode(nlohmann::json::binary(std::move(raw)));
  }
  auto messages = chunker.split(packed);
  if (messages.size() > 1) {
    // Fed last to first: every chunk but the last one fed is only stored, which must work; the
    // last one completes the value, which then decodes exactly as the packed bytes do.
    bp::Reassembler whole;
    for (std::size_t i = messages.size(); i-- > 1;) {
      if (!whole.feedPacked(messages[i], complete).ok() || complete.has_value()) std::abort();
    }
    const claynet::Result last = whole.feedPacked(messages[0], complete);
    nlohmann::json direct;
    const bool decodes = bp::decode(packed, direct).ok();
    if (last.ok() && !decodes) std::abort();
    if (complete.has_value() && bp::encode(*complete) != bp::encode(direct)) std::abort();
    if (whole.pendingValues() != 0 || whole.pendingBytes() != 0) std::abort();
  }
  return 0;
}
