// The exit codes of `claynet host`, `claynet join` and `claynet demo`, documented in the README's
// CLI section; scripts and the tests tell the failures apart by them.
#pragma once

namespace claynet::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;      // lost the network after joining; the demo's checks failed
constexpr int kExitUsage = 2;        // bad command line
constexpr int kExitBadCode = 3;      // the code given to `join` cannot be a network code
constexpr int kExitUnreachable = 4;  // signaling server unreachable, no such network, timed out
constexpr int kExitNetworkFull = 5;  // the host's network already has --max-nodes nodes
constexpr int kExitCannotHost = 6;   // Local mode: the host's own server or address failed

}  // namespace claynet::cli
