// `claynet bench signaling`: the signaling-server figures of shared/bench-method.md, measured the
// same way against claynet-signal and the npm `peer` server, each in its own process on
// 127.0.0.1, one after the other in the same run.
#pragma once

#include <string>
#include <vector>

namespace claynet::bench {

struct SignalingOptions {
  int clients = 10000;  ///< (a) registered WebSocket clients to open and hold at once
  int pairs = 1000;     ///< (b) sender/receiver pairs exchanging OFFERs
  int seconds = 5;      ///< (b) measurement window (after a 1 s warm-up)
  int holdSeconds = 3;  ///< (a) how long all clients are held (heartbeating) once open
  int window = 32;      ///< (b) OFFERs in flight per pair at most
};

/// How to start one server. `argv` gets "--port <port>" appended.
struct ServerCommand {
  std::string name;  ///< "claynet" or "peerjs"
  std::vector<std::string> argv;
  /// Cluster mode: this many instances of `argv`, each with "--redis redis://127.0.0.1:<port>"
  /// of a redis-server the benchmark starts on loopback. 0: one server, no Redis.
  int instances = 0;
};

struct SignalingFigures {
  std::string error;  ///< empty on success
  int clients_target = 0;
  int clients_held = 0;      ///< open (OPEN received, not closed) at the end of the hold
  double open_s = 0;         ///< time to get OPEN on every client
  double server_rss_mb = 0;  ///< server resident memory while holding them
  int pairs = 0;
  double offers_per_s = 0;    ///< OFFERs received per second, over all receivers
  double server_cpu_pct = 0;  ///< server CPU during the window, % of one core
  double client_cpu_pct = 0;  ///< this load generator's CPU during the window
  long long errors = 0;       ///< failed connections, unexpected frames or closes
  std::string first_problem;  ///< the first of those, for the log
  // Cluster mode (instances > 0): server_rss_mb and server_cpu_pct add up every instance; the
  // two halves of each pair sit on different instances (when there are two or more).
  int instances = 0;
  double rss_kb_per_client = 0;  ///< server_rss_mb (all instances) / clients_held
  double redis_cpu_pct = 0;      ///< redis-server CPU during the OFFER window, % of one core
  double redis_rss_mb = 0;       ///< redis-server resident memory while holding the clients
};

/// Starts the server, measures (a) then (b), stops the server. Bounded in time: every phase has a
/// deadline. Raises this process's open-file limit to its hard limit.
SignalingFigures runSignalingBench(const ServerCommand& server, const SignalingOptions& options);

}  // namespace claynet::bench
