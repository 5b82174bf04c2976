// claynet::PeerJsSignaling — a client of the PeerJS signaling server protocol (npm `peer`, the
// PeerJS cloud, claynet-signal), the low level under PeerJsPeer (claynet/peerjs.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "claynet/result.hpp"
#include "claynet/runtime.hpp"

namespace claynet {

namespace impl {
class PeerJsSignalingShared;
}

/// The kinds of error, named as the PeerJS client names them (`err.type` in PeerJS), plus
/// claynet's `invalid-data` for a data-channel message that cannot be decoded.
enum class PeerJsErrorType {
  BrowserIncompatible,  ///< "browser-incompatible" (never from claynet; listed for completeness)
  Disconnected,         ///< "disconnected": connect() after disconnect()/destroy()
  InvalidId,            ///< "invalid-id": the own id breaks PeerJS's id rule
  InvalidKey,           ///< "invalid-key": the server refused the key
  Network,              ///< "network": the server cannot be reached, or the connection to it broke
  PeerUnavailable,      ///< "peer-unavailable": the server expired our messages to that peer
  SslUnavailable,       ///< "ssl-unavailable": TLS cannot be used (no TLS backend)
  ServerError,          ///< "server-error": the server said ERROR, or gave no id
  SocketError,          ///< "socket-error": the WebSocket reported an error
  SocketClosed,         ///< "socket-closed": the WebSocket closed unexpectedly
  UnavailableId,        ///< "unavailable-id": the id is registered by someone else (ID-TAKEN)
  WebRtc,               ///< "webrtc": the peer connection refused a description or candidate
  NegotiationFailed,    ///< "negotiation-failed": the peer connection failed (ICE, DTLS, SCTP)
  ConnectionClosed,     ///< "connection-closed"
  NotOpenYet,           ///< "not-open-yet": send() before the connection is open
  MessageTooBig,        ///< "message-too-big": json serialization at or over 16300 bytes
  InvalidData,          ///< "invalid-data" (claynet): a received message could not be decoded
  OfferRefused,  ///< "offer-refused" (claynet): an inbound OFFER was over PeerJsOptions' limits
  /// "peer-rejected" (claynet): the peer refused our connection at signaling with REJECT, a
  /// Clayground extension (a full native Clayground host does); `message` is its reason
  PeerRejected,
};

/// The PeerJS spelling, e.g. "unavailable-id".
const char* toString(PeerJsErrorType type);

/// An error with its PeerJS type and a message that says what and why.
struct PeerJsError {
  PeerJsErrorType type = PeerJsErrorType::ServerError;
  std::string message;
  /// The client tries again by itself (a refusal while re-registering): nothing is lost yet.
  bool willRetry = false;
  /// The remote peer it concerns, where there is one (PeerRejected, PeerUnavailable); empty
  /// otherwise.
  std::string peer = {};
  /// "type: message", e.g. `unavailable-id: ID "alice" is taken`.
  std::string text() const { return std::string(toString(type)) + ": " + message; }
};

/// Where the PeerJS server is. Defaults: the PeerJS cloud (0.peerjs.com:443 over TLS, path "/",
/// key "peerjs").
struct PeerJsServer {
  std::string host = "0.peerjs.com";
  uint16_t port = 443;
  bool secure = true;  ///< wss:// and https://
  /// The server's mount path; a leading and a trailing '/' are added when missing.
  std::string path = "/";
  std::string key = "peerjs";
  /// With `secure`: verify the server's certificate against the system's trusted CAs (and
  /// `caFile`) and its name. Turning it off accepts any certificate: for tests only.
  bool verifyCertificate = true;
  /// With `secure`: a PEM file of extra CA certificates to trust besides the system's.
  std::string caFile;
  /// A LAN code's secret (Clayground's Local mode): sent as the first frame, {"id","secret"},
  /// as soon as the WebSocket opens; a server without a secret ignores it. Empty: none sent.
  std::string lanSecret;
};

/// Options of PeerJsSignaling::open().
struct PeerJsSignalingOptions {
  PeerJsServer server;
  /// The id to register. Empty: ask the server for one (`GET {path}{key}/id`), as PeerJS does.
  /// A given id must follow PeerJS's rule (letters and digits, single ' ', '_' or '-' inside).
  std::string id;
  /// The secret that proves the id is ours when re-registering. Empty: a random one.
  std::string token;
  /// HEARTBEAT period; the server drops a client that is silent for its alive_timeout.
  std::chrono::milliseconds heartbeatInterval{5000};
  /// Reconnect (and re-register with the same id and token) when the server connection drops or
  /// cannot be made, with a delay that starts at reconnectDelayMin and doubles up to
  /// reconnectDelayMax (with jitter). Fatal errors (ID-TAKEN, an invalid key) stop it.
  bool reconnect = true;
  std::chrono::milliseconds reconnectDelayMin{250};
  std::chrono::milliseconds reconnectDelayMax{10000};
  /// A server connection from which nothing arrives this long is taken as dead, closed and
  /// replaced (with `reconnect`). WebSocket pings go out every third of it, which PeerJS servers
  /// answer, so only a dead path stays this silent: a client that moved to another network, a NAT
  /// that forgot the connection. Without it such a connection would look open until TCP gives up,
  /// many minutes later. 0: never.
  std::chrono::milliseconds silenceLimit{6000};
};

enum class PeerJsSignalingState {
  Idle,          ///< open() not called yet
  Connecting,    ///< fetching an id, connecting the WebSocket, or waiting for OPEN
  Open,          ///< registered: messages flow
  Reconnecting,  ///< the connection dropped; waiting to try again
  Closed,        ///< destroy(), or a fatal error
};
const char* toString(PeerJsSignalingState state);

/// A PeerJS signaling server connection: registers an id, keeps it alive with HEARTBEATs,
/// forwards frames to and from other peers, and reconnects with backoff when the server drops.
///
/// Thread-safety: every member may be called from any thread; the work runs on the Runtime's
/// network thread. Callbacks run where the Runtime's Delivery says. Destroying the
/// object closes the connection; no callback of it runs afterwards.
class PeerJsSignaling {
 public:
  explicit PeerJsSignaling(Runtime& runtime);
  ~PeerJsSignaling();
  PeerJsSignaling(const PeerJsSignaling&) = delete;
  PeerJsSignaling& operator=(const PeerJsSignaling&) = delete;

  /// Starts registering. Success means it has started; onOpen (or onError) says how it went.
  /// Fails at once on an invalid id, an empty host or key, or when already opened.
  Result open(PeerJsSignalingOptions options);
  Result open(const PeerJsServer& server, std::string id = {}, std::string token = {});

  /// Sends {"type": type, "payload": payload, "dst": dst} (payload left out when null) through
  /// the server, which sets "src". Until registered (also while reconnecting) frames are queued,
  /// at most 1024 of them. Fails when destroyed, when the queue is full, or on an empty type.
  Result send(std::string_view type, const std::string& dst, const nlohmann::json& payload);

  /// Closes the connection for good (no reconnection). Idempotent.
  void destroy();

  /// The registered id (given, or fetched from the server); empty before.
  std::string id() const;
  std::string token() const;
  PeerJsSignalingState state() const;
  bool isOpen() const { return state() == PeerJsSignalingState::Open; }

  /// Registered (OPEN received, or the server silently re-attached our id after a reconnect).
  /// Fires again after each successful reconnection.
  void onOpen(std::function<void(const std::string& id)> callback);
  /// Every frame other than OPEN, ERROR, ID-TAKEN and HEARTBEAT: OFFER, ANSWER, CANDIDATE, LEAVE,
  /// EXPIRE and unknown types, with the sender (src) and payload (null when absent).
  void onMessage(std::function<void(const std::string& type, const std::string& src,
                                    const nlohmann::json& payload)>
                     callback);
  void onError(std::function<void(const PeerJsError&)> callback);
  /// The server connection was lost after having been open; reconnection follows if enabled.
  void onDisconnected(std::function<void(const std::string& reason)> callback);

 private:
  std::shared_ptr<impl::PeerJsSignalingShared> shared_;
};

}  // namespace claynet
