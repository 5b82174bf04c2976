// `claynet bench transport`: the figures of shared/bench-method.md for claynet's own stack.
#pragma once

#include <chrono>
#include <string>

namespace claynet::bench {

struct TransportFigures {
  double connect_ms = 0;
  double rtt_p50_us = 0;
  double rtt_p99_us = 0;
  double small_msgs_per_s = 0;
  double goodput_MBps = 0;
  std::string error;  // empty on success
};

struct TransportOptions {
  std::chrono::milliseconds throughputDuration{5000};
  int pings = 2000;
  /// Measure one figure only ("rtt", "small", "goodput"); empty runs all. For profiling.
  std::string only;
};

/// Two peer connections in one process, ICE restricted to 127.0.0.1, callbacks on the network
/// thread, signaling handed over the moment it exists.
TransportFigures runTransportBench(const TransportOptions& options);

}  // namespace claynet::bench
