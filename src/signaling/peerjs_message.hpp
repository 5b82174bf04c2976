// The PeerJS signaling protocol as plain data: parsing server frames, building client frames and
// the OFFER / ANSWER / CANDIDATE payloads of a PeerJS 1.5.5 DataConnection, the WebSocket and
// HTTP URLs, tokens and ids. Sans-IO: no sockets, no threads, never throws.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "claynet/peer_connection.hpp"
#include "claynet/result.hpp"
#include "claynet/serialization.hpp"

namespace claynet::signaling {

/// The PeerJS client version claynet presents itself as (the server ignores it).
inline constexpr std::string_view kPeerJsVersion = "1.5.5";

/// Server frames larger than this are refused by the parser (a real one is a few KiB).
inline constexpr std::size_t kMaxServerFrame = 1 << 20;

/// One frame from the server (or forwarded by it from another peer).
struct ServerMessage {
  enum class Type {
    Open,       ///< registration accepted
    Heartbeat,  ///< never sent by the npm server, but harmless
    IdTaken,
    Error,   ///< payload.msg says why
    Expire,  ///< src: the peer that never showed up
    Leave,   ///< src: the peer that left
    Offer,
    Answer,
    Candidate,
    Reject,   ///< Clayground's extension: src refused our connection (payload.reason)
    Unknown,  ///< any other type; typeText has it
  };
  Type type = Type::Unknown;
  std::string typeText;
  std::string src;         ///< empty when absent
  std::string dst;         ///< empty when absent
  nlohmann::json payload;  ///< null when absent
};

const char* toString(ServerMessage::Type type);

/// Parses one text frame. Fails (with what is wrong) on invalid JSON, a frame that is not an
/// object, a missing or non-string "type", a non-string "src"/"dst", or a frame over
/// kMaxServerFrame bytes. Unknown types are not an error (Type::Unknown).
Result parseServerMessage(std::string_view text, ServerMessage& out);

/// The text of payload.msg of an ERROR / ID-TAKEN frame, or "" when there is none.
std::string errorText(const ServerMessage& message);

// ---- client frames (compact JSON text) ----

/// {"type":"HEARTBEAT"}
std::string buildHeartbeat();
/// {"type":T,"payload":P,"dst":D}; the payload is left out when it is null, dst when empty.
std::string buildClientMessage(std::string_view type, std::string_view dst,
                               const nlohmann::json& payload);
/// {"type":"LEAVE","dst":D}: tells D we are gone; with an empty dst the server unregisters us.
std::string buildLeave(std::string_view dst = {});

// ---- DataConnection payloads, exactly as PeerJS 1.5.5 sends and expects them ----

/// OFFER: {"sdp":{"type":"offer","sdp":...},"type":"data","connectionId":...,"label":...,
///         "reliable":...,"serialization":...,"metadata":...} (metadata left out when unset).
struct OfferPayload {
  std::string sdp;
  std::string connectionId;
  std::string label;
  bool reliable = false;
  Serialization serialization = Serialization::Binary;
  std::optional<nlohmann::json> metadata;
  /// claynet's mark (`"claynet":1`): the sender is claynet and answers an ICE restart (a new
  /// OFFER for the same connection). PeerJS ignores the field; the servers pass it on untouched.
  bool claynet = false;
};

/// ANSWER: {"sdp":{"type":"answer","sdp":...},"type":"data","connectionId":...}
struct AnswerPayload {
  std::string sdp;
  std::string connectionId;
  bool claynet = false;  ///< as OfferPayload::claynet
};

/// CANDIDATE: {"candidate":{"candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0,
///             "usernameFragment":...},"type":"data","connectionId":...}
struct CandidatePayload {
  Candidate candidate;
  std::optional<std::string> usernameFragment;  ///< null on the wire when unset
  std::string connectionId;
};

nlohmann::json buildOfferPayload(const OfferPayload& offer);
nlohmann::json buildAnswerPayload(const AnswerPayload& answer);
nlohmann::json buildCandidatePayload(const CandidatePayload& candidate);

/// Parses an OFFER payload. Fails on a missing sdp object or connectionId, a media connection
/// (type "media"), an unknown serialization, or wrong field types. A missing label defaults to the
/// connection id, a missing reliable to false, a missing serialization to binary (PeerJS's
/// "default").
Result parseOfferPayload(const nlohmann::json& payload, OfferPayload& out);
Result parseAnswerPayload(const nlohmann::json& payload, AnswerPayload& out);
/// Null sdpMid / sdpMLineIndex fall back to "0" / 0 (a data-only session has one m-line).
Result parseCandidatePayload(const nlohmann::json& payload, CandidatePayload& out);

/// The connectionId field of any payload, or "" when there is none (or it is not a string).
std::string payloadConnectionId(const nlohmann::json& payload);

// ---- URLs, ids, tokens ----

/// Adds a leading and a trailing '/' when missing (PeerJS does the same); "" becomes "/".
std::string normalizePath(std::string_view path);

/// Percent-encodes everything but RFC 3986 unreserved characters.
std::string queryEscape(std::string_view text);

/// `ws[s]://HOST:PORT{path}peerjs?key=K&id=I&token=T&version=1.5.5`, with the path normalized,
/// the query values escaped and an IPv6 host put in brackets.
std::string buildSocketUrl(bool secure, std::string_view host, uint16_t port, std::string_view path,
                           std::string_view key, std::string_view id, std::string_view token);

/// `http[s]://HOST:PORT{path}{key}/id?ts=...&version=1.5.5`: where PeerJS asks for a fresh id.
std::string buildIdUrl(bool secure, std::string_view host, uint16_t port, std::string_view path,
                       std::string_view key, std::string_view cacheBuster);

/// PeerJS's rule for a peer's own id: `^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$`.
bool isValidPeerId(std::string_view id);

/// A random base-36 string of `length` characters (from the system's random source), as PeerJS's
/// tokens are.
std::string randomToken(std::size_t length = 11);

/// "dc_" + randomToken(): the id of a new DataConnection.
std::string newConnectionId();

/// The value of `a=ice-ufrag:` in an SDP, or "" when there is none.
std::string iceUfragOf(std::string_view sdp);

}  // namespace claynet::signaling
