// claynet serializations of a PeerJS DataConnection: "binary" (BinaryPack, see binarypack.hpp),
// "json" and "raw". Sans-IO helpers for the json one live here.
//
// - json: the UTF-8 bytes of JSON.stringify(value), sent as a *binary* data-channel message (a
//   PeerJS 1.5 receiver throws on a text message). The sender refuses 16300 bytes or more; never
//   chunked.
// - raw: strings go as text messages, bytes as binary messages, untouched; nothing to encode.
#pragma once

#include <claynet/result.hpp>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>
#include <vector>

namespace claynet {

/// The `serialization` field of a PeerJS OFFER payload.
enum class Serialization { Binary, Json, Raw };

/// "binary", "json" or "raw": the spelling used on the wire.
std::string_view toString(Serialization serialization);

/// Parses the wire spelling (exact, lower case, as PeerJS sends it). Returns false and leaves
/// `out` unchanged for anything else (a PeerJS 1.5 browser fails on those too).
bool parseSerialization(std::string_view text, Serialization& out);

/// The json serialization refuses encoded messages of this many bytes or more (PeerJS's limit).
inline constexpr std::size_t kJsonMessageLimit = 16300;

/// The most nesting decodeJson() accepts (arrays and objects), so that a hostile message cannot
/// make the code that walks the value recurse too deep.
inline constexpr std::size_t kJsonMaxDepth = 512;

/// Compact JSON text of `value` as UTF-8 bytes into `out` (cleared first). Invalid UTF-8 inside
/// strings is replaced by U+FFFD. Errors (out is empty then): the value contains a binary value
/// (JSON.stringify cannot carry bytes; use the binary or raw serialization), or the text has
/// kJsonMessageLimit bytes or more (the message names the limit and the size). `why`, when
/// given, says which, for callers that word the error their own way.
enum class JsonEncodeFailure { None, Binary, Unwritable, TooLarge };
Result encodeJson(const nlohmann::json& value, std::vector<std::uint8_t>& out,
                  JsonEncodeFailure* why = nullptr);

/// Parses one received json-serialization message. Never throws. Errors (out is null then) say
/// where the JSON is invalid, or that it nests deeper than kJsonMaxDepth.
Result decodeJson(std::span<const std::uint8_t> bytes, nlohmann::json& out);

}  // namespace claynet
