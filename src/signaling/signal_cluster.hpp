// The cluster side of claynet-signal, sans-IO: several `claynet signal` instances share one id
// space and route to each other through one Redis server. This core turns the router's requests
// (claim an id, release it, refresh it, route a message to an id that is not here) into Redis
// commands, and Redis's answers and channel messages back into events for the router. It opens
// no socket: the I/O layer (signal_server.cpp, through hiredis) sends the commands and feeds the
// replies in; tests feed them directly.
//
// The Redis scheme (every key under `prefix`, default "claynet:"):
//   id:<id>     "<instance> <serial> <token>", with a TTL of the alive timeout. One key per
//               registered id: the id space. Registration is a Lua script (atomic): absent ->
//               set; same token -> taken over (the old holder is told to let go); else ID-TAKEN.
//               HEARTBEATs refresh the TTL, so the ids of a dead instance free themselves.
//   serial      a counter; every registration gets the next value (the discovery order).
//   peers       a sorted set of ids by serial, for GET {path}{key}/peers (only with discovery).
//   q:<id>      messages waiting for an id that is not registered ("<n>:<src><text>" each), and
//   qm:<id>     the queue's deadline (d, Redis time in ms) and size (b, bytes).
//   alive:<instance>  set by each instance every second with a 3 s TTL. An id held by an
//               instance whose key lapsed, or which has no subscriber on its channel (a killed
//               process's connection closes at once), counts as free, and messages for it queue.
//   inst:<instance>  the channel of one instance. A message for an id registered elsewhere is
//               published there, once: each message crosses Redis once and reaches the one
//               instance that needs it, so Redis's work per message does not grow with the
//               number of instances (a shared channel would make every instance read every
//               message).
// Routing runs in batches: the messages produced in one main-loop iteration go to Redis as one
// script call that looks up each destination and publishes one record batch per instance, and
// tells where it found each id. Later messages for an id found that way go as one plain PUBLISH
// per instance (no script: Redis only copies bytes), until the cache entry ages out; an instance
// that gets a message for an id it no longer holds routes it again through the script. One
// command connection carries everything an instance asks, in order, so messages from one sender
// to one receiver arrive in the order they were sent (a message overtaken while its receiver
// moves between instances is the exception).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace claynet::signaling {

using ClusterHandle = std::uint64_t;  // the router's client handle
using ClusterClock = std::chrono::steady_clock;
using ClusterTime = ClusterClock::time_point;

/// A Redis reply, as much of it as the cluster reads.
struct RedisValue {
  enum class Kind : std::uint8_t { Nil, Integer, String, Status, Error, Array };
  Kind kind = Kind::Nil;
  long long integer = 0;
  std::string str;  ///< String, Status and Error
  std::vector<RedisValue> elements;
};

/// A command for the I/O layer to send on the command connection. Its reply (or its failure,
/// when the connection goes) comes back through ClusterCore::reply with the same cookie.
struct RedisCommand {
  std::uint64_t cookie = 0;
  std::vector<std::string> args;
};

/// A Lua script the I/O layer loads (SCRIPT LOAD) on every new command connection, before any
/// other command; commands call it as EVALSHA <sha1>.
struct ClusterScript {
  std::string_view name;
  std::string_view source;
  std::string sha1;  ///< hex
};

struct ClusterOptions {
  std::string prefix = "claynet:";
  /// This instance's name on Redis: unique per process run (the channel is inst:<instanceId>).
  std::string instanceId;
  std::chrono::milliseconds aliveTimeout{60000};
  std::chrono::milliseconds expireTimeout{5000};
  /// Queue bounds per destination id, enforced in Redis.
  std::size_t maxQueuedPerDestination = 256;
  std::size_t maxQueuedBytesPerDestination = 1024 * 1024;
  /// Bound on what this instance's clients keep queued in Redis (counted until each queue's
  /// deadline passes) and on the bytes of commands in flight to Redis. Over either, a message
  /// for another instance is refused and its sender gets EXPIRE at once.
  std::size_t maxQueuedBytesTotal = 64 * 1024 * 1024;
  std::size_t maxInFlightBytes = 32 * 1024 * 1024;
  /// Maintain the discovery list (sorted set `peers`).
  bool discovery = false;
  /// Messages per routing script call at most (a larger batch is split).
  std::size_t maxBatch = 256;
  /// How long registrations wait for the link to come up before they are refused.
  std::chrono::milliseconds connectWait{3000};
};

/// What the router learns from the cluster.
struct ClusterEvent {
  enum class Kind : std::uint8_t {
    /// The claim for `handle` was decided: `outcome`; on success `serial` and, in `texts`, the
    /// messages that were queued for the id (send them after OPEN, in order).
    Claimed,
    /// A message for the local id `dst` from `src` (`text` is the frame to send). `queueable`:
    /// it may be queued if `dst` is gone by now (OFFER, ANSWER, CANDIDATE); `hops`: how often it
    /// was routed already.
    Deliver,
    /// Another registration took the id over (or the link found the id held by someone else):
    /// close the local client of `dst` if its serial is `serial`.
    Kick,
  };
  /// TakenOver: from a connection of this instance (silent, as on one instance). Moved: from
  /// another instance, which may be dead, so the client gets OPEN (a PeerJS client waits for it
  /// after reconnect()).
  enum class Outcome : std::uint8_t { Registered, TakenOver, Moved, Taken, Unavailable };
  explicit ClusterEvent(Kind k) : kind(k) {}
  Kind kind;
  ClusterHandle handle = 0;
  Outcome outcome = Outcome::Registered;
  std::uint64_t serial = 0;
  std::string dst;
  std::string src;
  std::string text;
  bool queueable = false;
  int hops = 0;
  std::vector<std::string> texts;
};

/// A registration this instance holds, for re-asserting after a reconnect.
struct ClusterRegistration {
  std::string id;
  std::uint64_t serial = 0;
  std::string token;
};

struct ClusterStats {
  std::uint64_t routed = 0;     ///< messages sent to Redis for another instance
  std::uint64_t received = 0;   ///< records received on this instance's channel
  std::uint64_t queued = 0;     ///< messages Redis queued for an absent id
  std::uint64_t refused = 0;    ///< routes refused (link down, queue full, bounds): EXPIRE sent
  std::uint64_t lost = 0;       ///< routes whose command failed with the link
  std::uint64_t linkDrops = 0;  ///< times the link went down
};

class ClusterCore {
 public:
  explicit ClusterCore(ClusterOptions options);

  /// The scripts to load on every new command connection (with their SHA1s).
  static const std::vector<ClusterScript>& scripts();
  /// The channel this instance subscribes to.
  std::string channel() const { return options_.prefix + "inst:" + options_.instanceId; }

  // ---- from the router ----
  /// Register `id` with `token` for the connection `handle`. Answered by a Claimed event.
  void claim(ClusterHandle handle, const std::string& id, const std::string& token,
             ClusterTime now);
  /// The local registration (`id`, `serial`) ended: free the id if it is still ours.
  void release(const std::string& id, std::uint64_t serial);
  /// The client of `id` sent a HEARTBEAT: its id's TTL restarts (batched until flush()).
  void refresh(const std::string& id, std::uint64_t serial, const std::string& token);
  /// Route `text` from `src` to `dst`, which is not registered here (batched until flush()).
  /// `viaScript`: never from the owner cache (a message routed again after a miss).
  void route(const std::string& dst, const std::string& src, std::string text, bool queueable,
             int hops, ClusterTime now, bool viaScript = false);
  /// Send what was batched. Call at the end of every main-loop iteration that routed.
  void flush(ClusterTime now);
  bool hasBatch() const { return !batch_.empty() || !refreshBatch_.empty() || !direct_.empty(); }

  // ---- from the I/O layer ----
  /// Both connections are up, the scripts are loaded and the channel is subscribed.
  /// `local` is every registration this instance holds: they are asserted again (Redis may have
  /// restarted empty).
  void linkUp(const std::vector<ClusterRegistration>& local, ClusterTime now);
  /// The link to Redis went down (`why` is logged). Commands in flight fail with it.
  void linkDown(const std::string& why, ClusterTime now);
  bool up() const { return state_ == State::Up; }
  void reply(std::uint64_t cookie, const RedisValue& value, ClusterTime now);
  /// A message on this instance's channel.
  void channelMessage(std::string_view payload, ClusterTime now);
  /// Queue deadlines, refused-message summaries, the connect wait. Every 100 ms is plenty.
  void tick(ClusterTime now);
  /// True when the oldest command has waited kReplyTimeout for its reply: Redis hangs (or the
  /// connection is dead without a reset). The I/O layer then drops the link and reconnects.
  bool stalled(ClusterTime now);
  static constexpr std::chrono::milliseconds kReplyTimeout{5000};

  // ---- outputs ----
  std::vector<RedisCommand>& commands() { return commands_; }
  std::vector<ClusterEvent>& events() { return events_; }
  /// `GET peers`: issues the command; `done` gets the ids (or nullopt-like empty + false).
  void listPeers(std::function<void(bool ok, std::vector<std::string> ids)> done);

  const ClusterStats& stats() const { return stats_; }
  const ClusterOptions& options() const { return options_; }
  void setLog(std::function<void(std::string_view)> log) { log_ = std::move(log); }

 private:
  enum class State : std::uint8_t { Connecting, Up, Down };
  enum class Op : std::uint8_t { Claim, Release, Route, Publish, Expire, Peers, Assert, Alive };
  /// Where an id was found lives in a cache this long: messages for it are then PUBLISHed to
  /// that instance's channel directly, without a script call.
  static constexpr std::chrono::milliseconds kOwnerTtl{5000};
  static constexpr std::size_t kMaxOwners = 200000;
  static constexpr std::size_t kMaxBatchBytes = 128 * 1024;  // hiredis moves what a write leaves
  /// How often an instance renews its liveness key, and that key's TTL: the ids of a killed
  /// instance are free (and messages for them queued) at most kAliveTtl after it died.
  static constexpr std::chrono::milliseconds kAliveEvery{1000};
  static constexpr std::chrono::milliseconds kAliveTtl{3000};
  struct Routed {
    std::string dst;
    std::string src;
    std::size_t bytes = 0;
    bool queueable = false;
  };
  struct Pending {
    explicit Pending(Op o) : op(o) {}
    Op op;
    ClusterHandle handle = 0;    // Claim
    std::string id;              // Claim, Expire
    std::vector<Routed> routed;  // Route: what was in the batch (for results and failures)
    std::size_t bytes = 0;       // in flight
    std::function<void(bool, std::vector<std::string>)> peersDone;
    std::string payload;  // Publish: the records, for a retry through the script
    ClusterTime issued{};
  };
  struct Owner {
    std::string iid;
    ClusterTime expires;
  };
  struct HeldClaim {
    ClusterHandle handle;
    std::string id;
    std::string token;
  };
  struct QueueWatch {
    ClusterTime deadline;
    std::size_t bytes = 0;  // what this instance's clients queued there
    bool checking = false;
  };

  std::uint64_t issue(std::vector<std::string> args, Pending pending);
  std::vector<std::string> assertArgs() const;  // the assert script's call, before its triples
  void renewAlive();
  std::string sha(std::string_view name) const;
  void sendClaim(ClusterHandle handle, const std::string& id, const std::string& token);
  void unavailable(ClusterHandle handle);  // a Claimed event: Redis cannot be asked
  void refuseHeldClaims();
  void refuse(const std::string& dst, const std::string& src, bool queueable, std::string_view why,
              ClusterTime now);
  void expireNotice(const std::string& to, const std::string& about);
  void onClaimReply(const Pending& p, const RedisValue& v);
  void onRouteReply(Pending& p, const RedisValue& v, ClusterTime now);
  void lose(std::string_view records, std::string_view why, ClusterTime now);
  void log(std::string_view line);

  ClusterOptions options_;
  State state_ = State::Connecting;
  ClusterTime connectingSince_{};
  ClusterTime lastAlive_{};
  bool connectingStarted_ = false;
  std::vector<RedisCommand> commands_;
  std::vector<ClusterEvent> events_;
  std::unordered_map<std::uint64_t, Pending> inFlight_;
  std::deque<std::uint64_t> issueOrder_;  // cookies in the order issued (some answered)
  ClusterTime clock_{};                   // the latest time an input brought
  std::uint64_t nextCookie_ = 1;
  std::size_t inFlightBytes_ = 0;
  std::deque<HeldClaim> held_;  // claims waiting for the link
  // the batch being built
  std::vector<std::string> batch_;  // script args after the fixed ones
  std::vector<Routed> batchRouted_;
  std::size_t batchBytes_ = 0;
  std::unordered_map<std::string, std::string> direct_;  // instance -> records for its channel
  std::vector<std::string> directOrder_;
  std::unordered_map<std::string, Owner> owners_;  // id -> the instance it was found on
  std::vector<std::string> refreshBatch_;
  std::unordered_set<std::string> refreshIds_;
  std::unordered_map<std::string, QueueWatch> queues_;  // queues our clients wrote to
  std::size_t queuedBytes_ = 0;
  // refused-message summary, so an outage gives one line per few seconds, not one per message
  std::uint64_t refusedSinceLog_ = 0;
  std::string lastRefusal_;
  ClusterTime lastRefusalLog_{};
  ClusterStats stats_;
  std::function<void(std::string_view)> log_;
};

/// The notice texts the router and the cluster both build.
std::string clusterNotice(std::string_view type, const std::string& src, const std::string& dst);

}  // namespace claynet::signaling
