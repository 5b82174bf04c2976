// The routing core of claynet-signal, sans-IO: the PeerJS server protocol (protocols.md §1) as a
// state machine. Inputs are connect / frame / closed / congested / tick with the time injected;
// outputs are actions (send this text to that client, close that client). The I/O layer
// (signal_server.cpp) feeds it from WebSocket connections; tests feed it directly.
//
// Behaviour follows npm `peer` 1.0.2, checked against it in tests/signaling. Where claynet
// deliberately differs, the difference is a defence npm `peer` lacks (see RouterOptions and
// the README section on claynet signal):
//  - a replaced socket (same id and token) is closed instead of left open;
//  - per-client flood limit, frame size limit, bounded queues, a bound on undelivered output;
//  - a `dst` that is neither a string nor JSON-falsy is ignored (npm `peer` would queue the
//    message under that value);
//  - `payload` is forwarded as the sender wrote it minus insignificant whitespace, where npm
//    `peer` re-serialises it with JSON.stringify (identical for anything JSON.stringify wrote).
// In cluster mode (RouterOptions::cluster) ids, routing to other instances and queues live in
// Redis through a ClusterCore (signal_cluster.hpp) that the router owns.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "signaling/signal_cluster.hpp"

namespace claynet::signaling {

using ClientHandle = std::uint64_t;
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

struct RouterOptions {
  std::string key = "peerjs";
  /// A client that sends no HEARTBEAT for this long is closed and unregistered.
  std::chrono::milliseconds aliveTimeout{60000};
  /// Messages queued for an id that does not connect within this time are dropped, and each of
  /// their senders gets one EXPIRE.
  std::chrono::milliseconds expireTimeout{5000};
  /// Registered ids at most; the next registration gets the concurrent-limit ERROR.
  std::size_t concurrentLimit = 5000;
  /// Open sockets the router tracks at most: registered ones plus those that unregistered with a
  /// LEAVE without dst and stayed open. 0 means concurrentLimit + 1024.
  std::size_t maxConnections = 0;

  // ---- claynet's defences (npm `peer` has none of these) ----
  /// Frames larger than this close the client with 1009. (The server's WebSocket layer enforces
  /// the same limit from the frame header, so the router rarely sees one.)
  std::size_t maxFrameBytes = 64 * 1024;
  /// Per-client flood limit, a token bucket over frames and over bytes. A client that empties
  /// either bucket is closed with 1008 and a reason; others are unaffected. 0 disables a bucket.
  double floodFramesPerSecond = 1000;
  double floodFrameBurst = 2000;
  double floodBytesPerSecond = 4.0 * 1024 * 1024;
  double floodByteBurst = 8.0 * 1024 * 1024;
  /// Queue bounds. A message that does not fit is dropped and its sender gets an EXPIRE at once.
  std::size_t maxQueuedPerDestination = 256;
  std::size_t maxQueuedBytesPerDestination = 1024 * 1024;
  std::size_t maxQueuedTotal = 100000;
  std::size_t maxQueuedBytesTotal = 64 * 1024 * 1024;

  /// Clayground's LAN secret (Local mode): when set, a client is registered only after its first
  /// frame, a JSON object whose "secret" equals this (compared in constant time); another first
  /// frame gets ERROR "Wrong LAN code" and the close, and one that says nothing for
  /// aliveTimeout is closed. A client that connects with an id alone (a native Clayground node:
  /// no token, no key) is then registered too; it sends no HEARTBEAT, so the alive timeout
  /// spares it, and without a token it cannot take over a live id (ID-TAKEN, Clayground's text).
  /// Not with `cluster`: a cluster's claims trust equal tokens and lapse without HEARTBEAT.
  std::string secret;

  /// Diagnostics (ignored frames, closes and why). Called synchronously; may be empty.
  std::function<void(std::string_view)> log;

  /// Several instances sharing one id space through Redis (signal_cluster.hpp). Then a
  /// registration waits for Redis's answer, a message for an id that is not here goes to Redis
  /// (which forwards it to the instance holding the id, or queues it), and concurrentLimit
  /// counts this instance's clients.
  bool cluster = false;
  ClusterOptions clusterOptions;
  /// Where the cluster's own lines go (Redis lost, messages refused); empty: to `log`.
  std::function<void(std::string_view)> clusterLog;
};

/// The query parameters of a WebSocket connection; an empty string means missing.
struct ConnectRequest {
  std::string id;
  std::string token;
  std::string key;
};

struct RouterAction {
  enum class Kind : std::uint8_t {
    Send,   ///< send `text` as a text frame to `handle`
    Close,  ///< close `handle` with `code` and reason `text` (after the frames already sent)
  };
  Kind kind;
  ClientHandle handle;
  std::string text;
  std::uint16_t code = 0;
};

struct RouterStats {
  std::uint64_t registered = 0;      ///< OPEN sent
  std::uint64_t rejected = 0;        ///< ERROR or ID-TAKEN at connect
  std::uint64_t replaced = 0;        ///< same id and token reconnected
  std::uint64_t forwarded = 0;       ///< messages sent to a connected destination
  std::uint64_t queued = 0;          ///< messages queued for a missing destination
  std::uint64_t expired = 0;         ///< EXPIRE sent
  std::uint64_t ignored = 0;         ///< invalid JSON, unknown type, bad dst ...
  std::uint64_t queueOverflows = 0;  ///< messages refused by a full queue
  std::uint64_t floodClosed = 0;     ///< clients closed by the flood limit
  std::uint64_t oversizeClosed = 0;  ///< clients closed for an oversize frame
  std::uint64_t aliveTimeouts = 0;   ///< clients closed for missing HEARTBEATs
  std::uint64_t failedForwards = 0;  ///< destinations closed because they do not read
};

class SignalRouter {
 public:
  explicit SignalRouter(RouterOptions options = {});

  /// A WebSocket connection was upgraded. Always answers with actions (OPEN, or an error and a
  /// close) except for a silent same-token replacement.
  void connect(ClientHandle handle, const ConnectRequest& request, TimePoint now);
  /// A text (or binary) frame arrived.
  void frame(ClientHandle handle, std::string_view text, TimePoint now);
  /// The connection is gone (the peer closed it, it failed, or the router's own Close finished).
  /// Unknown handles are ignored.
  void closed(ClientHandle handle);
  /// The I/O layer cannot deliver to `handle`: its unsent output is over the bound. The next
  /// message forwarded to it is a failed forward (close it, LEAVE to the sender).
  void congested(ClientHandle handle);
  /// Runs the alive check and the queue expiry. Call it regularly (every 100 ms is plenty).
  void tick(TimePoint now);

  // ---- cluster mode (options.cluster): the I/O layer's side of the Redis link ----
  /// Commands for Redis, in order. The caller sends and clears them.
  std::vector<RedisCommand>& clusterCommands();
  /// Both Redis connections are ready (scripts loaded, channel subscribed).
  void clusterUp(TimePoint now);
  /// The link is gone: commands in flight fail, registrations are refused until clusterUp.
  void clusterDown(const std::string& why, TimePoint now);
  /// The reply to the command with this cookie (an Error value when it failed).
  void clusterReply(std::uint64_t cookie, const RedisValue& value, TimePoint now);
  /// A message on this instance's channel.
  void clusterMessage(std::string_view payload, TimePoint now);
  /// Sends the messages batched for Redis; call once per main-loop iteration that routed.
  void clusterFlush(TimePoint now);
  bool clusterHasBatch() const { return cluster_ && cluster_->hasBatch(); }
  /// The cluster core (null without cluster mode).
  ClusterCore* cluster() { return cluster_.get(); }

  /// Actions produced so far, in order. The caller executes and clears them.
  std::vector<RouterAction>& actions() { return actions_; }

  std::size_t clientCount() const { return clients_.size(); }
  std::size_t connectionCount() const { return connections_.size(); }
  std::size_t queuedCount() const { return queuedTotal_; }
  bool isRegistered(std::string_view id) const;
  /// Registered ids in registration order (the discovery list).
  std::vector<std::string> peerIds() const;
  const RouterStats& stats() const { return stats_; }
  const RouterOptions& options() const { return options_; }

 private:
  enum class Type : std::uint8_t { Heartbeat, Offer, Answer, Candidate, Leave, Expire, Other };
  struct Connection {
    std::string id;
    // Cluster mode, until Redis answers the registration: what the client sent meanwhile, and
    // messages for it that arrived through Redis before the answer did.
    bool pending = false;
    std::string token;
    std::vector<std::string> held;
    std::size_t heldBytes = 0;
    std::vector<std::string> inbox;
    TimePoint lastHeartbeat;
    // False for a native Clayground Local client, which never sends one: it stays until its
    // socket closes.
    bool heartbeats = true;
    TimePoint lastRefill;
    double frameTokens = 0;
    double byteTokens = 0;
    bool congested = false;
  };
  struct Client {
    std::string token;
    ClientHandle handle = 0;
    std::uint64_t serial = 0;  // registration order, for the discovery list; Redis's in a cluster
  };
  struct Queued {
    std::string src;
    std::string text;
  };
  struct Queue {
    TimePoint created;
    std::deque<Queued> messages;
    std::size_t bytes = 0;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class V>
  using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

  void send(ClientHandle handle, std::string text);
  void close(ClientHandle handle, std::uint16_t code, std::string reason);
  void reject(ClientHandle handle, std::string text);
  void registerClient(ClientHandle handle, const ConnectRequest& request, TimePoint now);
  struct AwaitingSecret {
    ConnectRequest request;
    TimePoint since;
  };
  std::unordered_map<ClientHandle, AwaitingSecret> awaitingSecret_;
  bool takeTokens(Connection& c, std::size_t bytes, TimePoint now);
  void transmit(const std::string& src, Type type, std::string_view dst, const std::string& text,
                TimePoint now);
  void deliver(ClientHandle dstHandle, const std::string& dstId, const std::string& srcId,
               std::string text);
  void notify(const std::string& to, std::string text);
  void enqueue(const std::string& dst, const std::string& src, std::string text, TimePoint now);
  void flushQueue(const std::string& id, ClientHandle handle);
  void log(std::string_view line);
  void route(Connection& c, ClientHandle handle, std::string_view text, TimePoint now);
  template <class It>
  void eraseClient(It client);
  void dropConnection(ClientHandle handle);
  void applyCluster(TimePoint now);
  void onClaimed(ClusterEvent& e, TimePoint now);
  void onRemoteDeliver(ClusterEvent& e, TimePoint now);
  void onKick(const ClusterEvent& e);

  RouterOptions options_;
  std::vector<RouterAction> actions_;
  std::unordered_map<ClientHandle, Connection> connections_;
  StringMap<Client> clients_;
  StringMap<Queue> queues_;
  std::size_t queuedTotal_ = 0;
  std::size_t queuedBytes_ = 0;
  std::uint64_t nextSerial_ = 1;
  RouterStats stats_;
  std::unique_ptr<ClusterCore> cluster_;
  std::size_t pendingClaims_ = 0;
  StringMap<ClientHandle> pendingIds_;  // id -> the latest connection waiting to register it
  TimePoint lastNow_{};
  bool applying_ = false;
};

// ---- The message scanner (exposed for tests) ----

/// What the router needs from a client frame, found in one validating pass without building a
/// document: the whole text must be one valid JSON object, like JSON.parse would accept.
struct ScannedMessage {
  enum class Dst : std::uint8_t {
    Absent,  ///< no dst key
    Falsy,   ///< null, false, 0 or "" (npm `peer` treats these as no dst)
    String,  ///< a non-empty string, decoded into `dst`
    Other,   ///< true, a non-zero number, an object or an array
  };
  bool hasType = false;  ///< a "type" key whose value is a string
  std::string type;      ///< decoded
  Dst dstKind = Dst::Absent;
  std::string dst;
  bool hasPayload = false;
  std::string_view payload;  ///< the raw JSON text of the payload value (a view into the input)
};

/// Scans `text`. Returns nullptr on success, else a static description of what is wrong.
/// Duplicate keys: the last one counts, as with JSON.parse.
const char* scanMessage(std::string_view text, ScannedMessage& out);

/// Appends `s` as a JSON string the way JSON.stringify writes it. `s` is UTF-8 in which lone
/// surrogates (from \uD800-style escapes) are kept as their 3-byte forms; those are written back
/// as \udxxx escapes.
void appendJsonString(std::string& out, std::string_view s);

/// Appends valid JSON text without its insignificant whitespace.
void appendMinifiedJson(std::string& out, std::string_view json);

/// Replaces invalid UTF-8 sequences with U+FFFD, as a URL parser does for query values.
std::string makeValidUtf8(std::string_view s);

}  // namespace claynet::signaling
