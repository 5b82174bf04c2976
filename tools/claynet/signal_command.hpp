// `claynet signal`: claynet-signal, the PeerJS-compatible signaling server, in the foreground
// until SIGINT or SIGTERM. The flags (registered in main.cpp) follow the npm `peer` server's.
#pragma once

#include <string>

namespace claynet::cli {

struct SignalFlags {
  std::string host = "0.0.0.0";
  int port = 9000;
  std::string path = "/";
  std::string key = "peerjs";
  long long aliveTimeout = 60000;
  long long expireTimeout = 5000;
  long long concurrentLimit = 5000;
  bool allowDiscovery = false;
  std::string sslKey, sslCert;
  double floodLimit = 1000;
  std::string redis;  ///< cluster mode when set
  std::string redisPrefix = "claynet:";
  bool verbose = false;
};

/// Returns the exit code: 0 stopped by a signal, 1 the server could not start.
int runSignal(const SignalFlags& flags);

}  // namespace claynet::cli
