// `claynet bench nat`: the connectivity figures of shared/bench-method.md. In the NAT lab
// (tests/nat/lab.sh: namespaces, NAT routers, coturn, DNS), for each path (host, srflx, relay
// over UDP, TCP and TLS): the time from connect() to the channel's open event, and the round trip
// on the selected path, for claynet and for Chromium (the real PeerJS, default settings) in the
// same run. Needs root, and what tests/nat needs (scripts/setup.sh, npm ci).
#pragma once

#include <string>

namespace claynet::bench {

struct NatOptions {
  int runs = 3;         ///< each path and stack this many times; medians are reported
  int roundTrips = 50;  ///< ping-pongs per run for the round trip
  bool chromium = true;
};

/// Runs the lab cases through tests/nat/run_nat.mjs (from `sourceDir`), with `claynet` and
/// `natPeer` as the claynet executables. Prints a table, or (`asJson`) one JSON object. Returns
/// the process exit code.
int natBenchMain(const std::string& sourceDir, const std::string& claynet,
                 const std::string& natPeer, const NatOptions& options, bool asJson);

}  // namespace claynet::bench
