// claynet::binarypack — PeerJS's "binary" serialization (BinaryPack), sans-IO.
//
// BinaryPack is a MessagePack relative used by the PeerJS client (npm `peerjs-js-binarypack`):
// big-endian, one value per data-channel message, strings with their own type bytes (b0–bf,
// d8, d9) separate from raw bytes (a0–af, da, db). Values larger than 16300 bytes once packed are
// sent as several chunk messages and put together again by the receiver (Chunker, Reassembler).
//
// Values are nlohmann::json: raw bytes are json binary values
// (`nlohmann::json::binary(std::vector<std::uint8_t>{...})`), strings are json strings (UTF-8).
// nlohmann::json keeps object keys sorted, so maps are encoded in key order; the receiver does
// not depend on the order.
#pragma once

#include <claynet/result.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <vector>

namespace claynet::binarypack {

/// Packs one value.
/// - Integers (and floating-point values with an integral value that fits in 64 bits, as
///   JavaScript has only one number type) take the first type that fits, in the order fixint,
///   uint8, int8, uint16, int16, uint32, int32, int64, uint64.
/// - Every other number is a float64 (cb), including NaN and the infinities.
/// - null (and a discarded value) is c0, booleans c2/c3.
/// - Strings are b0–bf / d8 / d9 with their UTF-8 byte length; bytes that are not valid UTF-8
///   are replaced by U+FFFD, as a browser's TextEncoder would.
/// - Binary values are raw a0–af / da / db; arrays 90–9f / dc / dd; objects 80–8f / de / df.
/// Never fails; a string, raw or container longer than 2^32 - 1 cannot occur in practice (the
/// caller would have built a value of more than 4 GiB).
std::vector<std::uint8_t> encode(const nlohmann::json& value);

/// Bounds for decode(); the defaults suit untrusted input from a data channel.
struct DecodeLimits {
  /// Deepest nesting of arrays and maps (the top-level container is depth 1).
  std::size_t maxDepth = 512;
  /// Most values (containers, scalars and map keys) in one message. Every value costs at least one
  /// input byte, but memory per value is far larger than one byte (a map entry is ~100 bytes), so
  /// this caps what a hostile message can make the decoder allocate.
  std::size_t maxValues = 1'000'000;
};

/// Unpacks exactly one value that fills `bytes` completely.
/// - c1 (undefined) becomes null; float32 (ca) becomes a double.
/// - Map keys that are not strings: numbers, booleans and null become their JSON text (as a
///   JavaScript object key would: 1 -> "1", true -> "true"; c1 -> "undefined"); raw, array and
///   map keys are rejected.
/// - Strings keep their bytes when they are valid UTF-8; invalid sequences become U+FFFD (as the
///   browser's TextDecoder does for the json serialization), so the result can always be dumped.
/// - Errors (out is null then): empty input, truncation, bytes left after the value, type bytes
///   BinaryPack does not define (c4–c9, d4–d7), keys of the wrong type, and exceeding `limits`.
///   A length or count larger than the rest of the input is reported as truncation before
///   anything is allocated.
Result decode(std::span<const std::uint8_t> bytes, nlohmann::json& out,
              const DecodeLimits& limits = {});

/// The flush-close message a PeerJS connection sends before closing when asked to flush:
/// {"__peerData": {"type": "close"}}. Send it packed (binary) or as JSON (json serialization).
nlohmann::json closeMessage();

/// True for a value the PeerJS client takes as the flush-close message: an object whose
/// "__peerData" is an object with "type" == "close" (in any serialization).
bool isCloseMessage(const nlohmann::json& value);

/// Cuts packed values into the chunk messages PeerJS sends, one Chunker per connection (chunk ids
/// count up from 1 on each connection, as in the PeerJS client).
class Chunker {
 public:
  /// The most bytes a packed value may have and still go out as one message; also the slice size.
  static constexpr std::size_t kChunkSize = 16300;

  /// `packed` (the output of encode()) unchanged as the only message when it has at most
  /// kChunkSize bytes; otherwise ceil(size / kChunkSize) messages, each the packed map
  /// {"__peerData": id, "n": index from 0, "data": raw slice, "total": count}, keys in that order
  /// (the order the PeerJS client packs them in). An empty input gives one empty message.
  std::vector<std::vector<std::uint8_t>> split(std::vector<std::uint8_t> packed);

  /// The id the next chunked value will get.
  std::uint64_t nextId() const { return nextId_; }

 private:
  std::uint64_t nextId_ = 1;
};

/// Puts chunked values back together, one Reassembler per connection. Not thread-safe.
class Reassembler {
 public:
  struct Limits {
    /// Most chunks one value may have (`total`); 8192 chunks are ~127 MiB at 16300 bytes each.
    std::uint32_t maxChunksPerValue = 8192;
    /// Most bytes held for all incomplete values together (chunk data plus ~64 bytes per chunk).
    std::size_t maxPendingBytes = 64u << 20;
    /// Most values being put together at the same time.
    std::size_t maxPendingValues = 16;
    /// Limits for decoding a reassembled value.
    DecodeLimits decode = {};
  };

  Reassembler() = default;
  explicit Reassembler(const Limits& limits) : limits_(limits) {}

  /// Feeds one decoded message (the output of decode() for one data-channel message).
  /// - A chunk ({"__peerData": integer id, "n", "data": binary, "total"}) is stored; when all
  ///   `total` chunks of its id have arrived, in any order, their data is concatenated, decoded,
  ///   and the value is set in `complete`.
  /// - The flush-close message {"__peerData": {"type": "close"}} sets closeRequested(); the
  ///   connection should then be closed. `complete` stays empty.
  /// - Anything else (also objects whose "__peerData" is absent, 0, false, null or "", which the
  ///   PeerJS client treats as plain data) is passed straight to `complete`.
  /// `complete` is reset first. Errors: a chunk with missing or wrong-typed fields, n >= total,
  /// a total that differs from earlier chunks of the id, a repeated n, a limit exceeded, a
  /// reassembled value that does not decode, or (not supported) a chunk inside a chunk. Such an
  /// error drops the id with everything held for it, and later chunks of a dropped id give an
  /// error too; other ids are not affected.
  Result feed(nlohmann::json decoded, std::optional<nlohmann::json>& complete);

  /// decode() then feed(): one received binary data-channel message in.
  Result feedPacked(std::span<const std::uint8_t> message, std::optional<nlohmann::json>& complete);

  /// True once the flush-close message has been fed.
  bool closeRequested() const { return closeRequested_; }
  /// Values waiting for more chunks.
  std::size_t pendingValues() const { return pending_.size(); }
  /// Bytes counted against Limits::maxPendingBytes.
  std::size_t pendingBytes() const { return pendingBytes_; }

 private:
  struct Pending {
    std::uint32_t total = 0;
    std::size_t bytes = 0;
    std::map<std::uint32_t, std::vector<std::uint8_t>> pieces;
  };
  Result feedChunk(nlohmann::json& chunk, std::optional<nlohmann::json>& complete);
  void drop(std::int64_t id);

  Limits limits_{};
  std::map<std::int64_t, Pending> pending_;
  std::size_t pendingBytes_ = 0;
  std::deque<std::int64_t> dropped_;  // bounded; ids whose later chunks are refused
  bool closeRequested_ = false;
};

}  // namespace claynet::binarypack
