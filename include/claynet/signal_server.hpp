// claynet::SignalServer — claynet-signal, a signaling server compatible with the PeerJS server
// (npm `peer` 1.0.2). The same class is the standalone server (`claynet signal`) and the server a
// Local-mode host embeds next to its peer connections on one Runtime.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "claynet/result.hpp"
#include "claynet/runtime.hpp"

namespace claynet {

struct SignalServerOptions {
  /// Address to listen on: an IPv4 or IPv6 literal ("0.0.0.0", "::", "127.0.0.1"), or
  /// "localhost".
  std::string host = "0.0.0.0";
  /// TCP port; 0 picks a free one (read it back with SignalServer::port()).
  std::uint16_t port = 9000;
  /// Mount path. Leading and trailing '/' are added when missing: "/" serves the WebSocket at
  /// "/peerjs", "/app" at "/app/peerjs".
  std::string path = "/";
  /// The key clients must present (`?key=`).
  std::string key = "peerjs";
  /// Clayground's Local mode: a LAN code's secret. When set, a client's first frame must be
  /// {"id":…,"secret":<this>} (what PeerJsServer::lanSecret sends) before it is registered;
  /// others get ERROR "Wrong LAN code" and are closed. Then a client that came with an id alone
  /// (a native Clayground node: no token, no key) is registered too, is never disconnected for
  /// sending no HEARTBEAT (it sends none; it leaves when its socket closes), and cannot take over
  /// a live id. Not with redisUrl: there a token is required. Empty (default): PeerJS as usual.
  std::string lanSecret;
  /// A client that sends no HEARTBEAT for this long is disconnected. Only HEARTBEAT counts.
  /// (A token-less client behind lanSecret, above, is spared.)
  std::chrono::milliseconds aliveTimeout{60000};
  /// Messages for an id that is not connected wait this long; then each sender gets EXPIRE.
  std::chrono::milliseconds expireTimeout{5000};
  /// Registered clients at most; the next one gets the concurrent-limit ERROR.
  std::size_t concurrentLimit = 5000;
  /// Serve `GET {path}{key}/peers` (the list of connected ids); otherwise it answers 401.
  bool allowDiscovery = false;
  /// PEM files. Both set: the server speaks https and wss. One without the other is an error.
  std::string tlsCertFile;
  std::string tlsKeyFile;

  // ---- Defences (npm `peer` has none; see the README) ----
  /// Largest WebSocket message accepted. A client sending a larger one is closed with code 1009
  /// and a reason; the check uses the frame header, so the payload is never buffered.
  std::size_t maxMessageBytes = 64 * 1024;
  /// Per-client flood limit: messages per second sustained, and the burst allowed above it.
  /// A client over it is closed with code 1008. 0 disables.
  double floodMessagesPerSecond = 1000;
  double floodMessageBurst = 2000;
  /// A client whose unsent output (beyond what the kernel buffers) grows past this does not read;
  /// the next message forwarded to it closes it, and the sender gets LEAVE (a failed forward).
  std::size_t maxUnsentBytes = 1024 * 1024;
  /// A TCP connection that has not upgraded to a WebSocket this long after it was accepted is
  /// closed (idle HTTP keep-alive, or a client that never finishes its request).
  std::chrono::milliseconds handshakeTimeout{30000};
  /// How long a closing WebSocket waits for the client's close frame before the socket is cut.
  std::chrono::milliseconds closeTimeout{2000};

  // ---- Cluster: several instances, one id space (see the README, "Several instances") ----
  /// "redis://[user:password@]host:port[/db]": instances given the same Redis (and prefix) act
  /// as one server: an id is registered once across all of them, messages reach an id on any
  /// of them, queued messages wait in Redis. Empty: a single instance, nothing shared.
  /// start() fails when Redis does not answer; later outages are ridden out (see clusterLog).
  std::string redisUrl;
  /// Prefix of every key and channel this server uses in Redis.
  std::string redisPrefix = "claynet:";
  /// Cluster events worth a line even without `log`: Redis lost and back, messages to other
  /// instances refused meanwhile. Called on the network thread; empty: they go to `log`.
  std::function<void(const std::string&)> clusterLog;

  /// Diagnostics: connections, closes and why, ignored frames. Called on the Runtime's network
  /// thread; must not block. Empty: no diagnostics.
  std::function<void(const std::string&)> log;
};

/// Counters, for the CLI, benchmarks and tests.
struct SignalServerStats {
  std::size_t clients = 0;           ///< registered ids
  std::size_t connections = 0;       ///< open WebSocket connections
  std::size_t queued = 0;            ///< messages waiting for an id to connect
  std::uint64_t accepted = 0;        ///< TCP connections accepted
  std::uint64_t forwarded = 0;       ///< messages delivered to a connected client
  std::uint64_t expired = 0;         ///< EXPIRE notices sent
  std::uint64_t ignored = 0;         ///< frames ignored (invalid JSON, unknown type, bad dst)
  std::uint64_t closedByServer = 0;  ///< alive timeout, flood, oversize, failed forward, replaced
  // Cluster mode only:
  bool clusterUp = false;             ///< both Redis connections ready
  std::uint64_t clusterRouted = 0;    ///< messages sent through Redis to other instances
  std::uint64_t clusterReceived = 0;  ///< records received from other instances
  std::uint64_t clusterRefused = 0;   ///< messages refused for the cluster (EXPIRE sent)
};

/// A PeerJS-compatible signaling server on a Runtime's network thread.
///
/// Protocol (as npm `peer`): WebSocket at `{path}peerjs?key=&id=&token=&version=`; HTTP
/// `GET {path}` (server info JSON), `GET {path}{key}/id` (a fresh UUID), `GET {path}{key}/peers`
/// (discovery). Registration outcomes, queueing, EXPIRE, LEAVE, HEARTBEAT and the alive timeout
/// follow protocols.md §1.
///
/// Thread-safety: every member may be called from any thread (the work runs on the network
/// thread). Destroying the server stops it; destroying the Runtime stops it too.
class SignalServer {
 public:
  explicit SignalServer(Runtime& runtime, SignalServerOptions options = {});
  ~SignalServer();
  SignalServer(const SignalServer&) = delete;
  SignalServer& operator=(const SignalServer&) = delete;

  /// Binds and starts serving. Fails with a message when the address cannot be used ("address
  /// already in use", not an IP address), when the TLS files cannot be loaded, when Redis
  /// (redisUrl) is malformed or does not answer within 3 s, or when the server is already running.
  /// Also raises the process's open-file soft limit to its hard limit, so that many clients fit.
  Result start();
  /// Stops: closes every client (code 1001) and the listening socket. Idempotent.
  void stop();
  bool running() const;

  /// The port it listens on (the chosen one when options.port was 0); 0 when not running.
  std::uint16_t port() const;
  /// The WebSocket URL clients use, e.g. "ws://127.0.0.1:9000/peerjs" ("wss://" with TLS).
  std::string url() const;

  std::size_t clientCount() const;
  std::size_t connectionCount() const;
  SignalServerStats stats() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace claynet
