// The data-channel envelope of Clayground.Network (protocols.md §3), sans-IO.
//
// Every message between nodes is one compact JSON object sent as a binary UTF-8 message, so that
// a browser node using PeerJS's "json" serialization reads it unchanged.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "claynet/result.hpp"

namespace claynet::network {

enum class EnvelopeKind {
  Message,  ///< "m": broadcast / sendTo, reliable
  State,    ///< "s": broadcastState, lossy, sequenced per origin
  Ping,     ///< "p"
  Pong,     ///< "P"
  Reject,   ///< "R": the host refuses a joiner (e.g. "Network full")
  System,   ///< "y": roster, node_joined, node_left, bye
  Batch,    ///< "b": keyed state entries, sequenced per origin and key (wire version 2+)
};

/// One keyed entry of a batch: {"k": key, "d": data}.
struct BatchEntry {
  std::string key;
  nlohmann::json data;
};

struct Envelope {
  EnvelopeKind kind = EnvelopeKind::Message;
  nlohmann::json data;              ///< "d" (Message, State)
  std::uint32_t seq = 0;            ///< "q" (State)
  std::optional<std::string> from;  ///< "from": origin node, set only by the host when relaying
  /// "to": claynet's extension for sendTo through the host in Star (a node the sender has no
  /// direct channel to). Absent on everything else, so Clayground nodes never see it.
  std::optional<std::string> to;
  std::int64_t ts = 0;  ///< "ts" (Ping, Pong)
  /// "ts" on Message, State and Batch: the sender's session time in ms (wire version 3+);
  /// absent, or negative, when the sender's clock is not valid.
  std::optional<double> sentAt;
  /// "st" on a Pong: the responder's session time in ms.
  std::optional<double> sessionMs;
  /// "e" of a Batch as it came (object entries of replicated objects included): relayed as is.
  nlohmann::json rawEntries;
  std::vector<BatchEntry> entries;  ///< the keyed entries of "e" (Batch)
  std::string reason;               ///< "r" (Reject)
  std::string sys;                  ///< "sys" (System): "roster", "node_joined", "node_left", "bye"
  std::vector<std::string> nodes;   ///< "nodes" (roster)
  std::string nodeId;               ///< "nodeId" (node_joined, node_left)
};

/// Replaces NaN and the infinities anywhere in `value` with null, as JSON.stringify and Qt's
/// JSON writer do, so that the JSON text and BinaryPack carry the same value (BinaryPack could
/// hold them, and a browser would then read NaN where a Clayground node reads null). Returns
/// how many it replaced. Iterative: any depth.
std::size_t nullNonFiniteNumbers(nlohmann::json& value);

/// The compact JSON text of `e`, as bytes.
std::string encodeEnvelope(const Envelope& e);
/// `e` as a JSON object (what encodeEnvelope() prints).
nlohmann::json envelopeToJson(const Envelope& e);

/// Parses one received message. Fails, with what is wrong, on anything that is not an envelope
/// of a known kind with fields of the right types; never throws.
Result decodeEnvelope(std::span<const std::byte> bytes, Envelope& out);
Result decodeEnvelope(std::string_view text, Envelope& out);
/// The same checks on a value that is already parsed (a PeerJS connection's json serialization
/// hands over values, not bytes).
Result decodeEnvelope(const nlohmann::json& value, Envelope& out);

Envelope makeMessage(nlohmann::json data);
Envelope makeState(std::uint32_t seq, nlohmann::json data);
/// A batch of keyed entries, each {"k","d"}.
Envelope makeBatch(std::uint32_t seq, std::vector<BatchEntry> entries);
Envelope makePing(std::int64_t ts);
Envelope makePong(std::int64_t ts);
Envelope makeReject(std::string reason);
Envelope makeRoster(std::vector<std::string> nodes);
Envelope makeNodeJoined(std::string nodeId);
Envelope makeNodeLeft(std::string nodeId);
/// Clayground's goodbye (wire version 5): {"t":"y","sys":"bye"}.
Envelope makeGoodbye();

}  // namespace claynet::network
