// `claynet bench network`: the Network figures of shared/bench-method.md. A host and N-1 joiners,
// each a `claynet bench network-node` child process, in Local signaling mode with ICE and the
// embedded signaling server on 127.0.0.1.
//
// The parent (network_bench.cpp) drives the children with JSON lines on their stdin and reads
// theirs on stdout (network_bench_node.cpp):
//   parent -> child: {"cmd":"host"} | {"cmd":"join","code":C} | {"cmd":"start"} | {"cmd":"report"}
//                    | {"cmd":"quit"}   (end of stdin is "quit")
//   child -> parent: {"event":"ready"} | {"event":"created","code":C} (host)
//                    | {"event":"allJoined","ms":X} (host) | {"event":"joined","ms":X} (joiner)
//                    | {"event":"status","status":S,"phase":P} | {"event":"error","message":M}
//                    | {"event":"sent","count":N,"failed":F,"cpu_s":C,"wall_s":W}
//                    | {"event":"report","received":R,"relayed_us":[...],"direct_us":[...]}
#pragma once

#include <string>

namespace claynet::bench {

/// What a run does; the defaults are those of shared/bench-method.md.
struct NetworkOptions {
  int nodes = 8;          ///< host included, 2..8
  int seconds = 10;       ///< state-update window
  int hz = 60;            ///< state updates per second from every node
  int bytes = 200;        ///< size of each update's data as compact JSON
  int joinTimeoutS = 30;  ///< from the code reaching the joiners to every node in
};

/// One run's figures, named as in shared/bench-method.md, and a few more that help read them.
struct NetworkFigures {
  std::string error;  ///< empty on success
  double join_ms_p50 = 0;
  double join_ms_max = 0;
  double all_joined_ms = 0;
  double state_latency_p50_us = 0;  ///< joiner -> host relay -> another joiner
  double state_latency_p99_us = 0;
  double direct_latency_p50_us = 0;  ///< one hop: host -> joiner and joiner -> host
  double state_delivered_ratio = 0;
  double host_cpu_pct = 0;
  double joiner_cpu_pct = 0;  ///< mean over the joiners
  long long state_sent = 0;   ///< updates sent times (nodes - 1) receivers
  long long state_received = 0;
  long long send_failures = 0;  ///< broadcastState() calls that failed
  int nodes = 0;
};

/// One run: starts `self` (the claynet executable) as each node, measures, stops every child.
/// Bounded in time: every phase has a deadline, and every child is killed and reaped on return.
NetworkFigures runNetworkBench(const std::string& self, const NetworkOptions& options);

/// `claynet bench network`: `runs` runs, their medians printed as a table or (`asJson`) as one
/// JSON object. Returns the process exit code (0, or 1 when a run failed, with the reason on
/// stderr).
int networkBenchMain(const std::string& self, const NetworkOptions& options, int runs, bool asJson);

/// The child side, `claynet bench network-node --role host|joiner ...`: one claynet::Network
/// driven by the JSON lines above. Returns the process exit code.
int runNetworkBenchNode(bool host, const NetworkOptions& options);

}  // namespace claynet::bench
