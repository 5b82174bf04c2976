// The PeerJS server the multiplayer process tests start; child processes: ../common/.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../common/child_process.hpp"

namespace claynet::test {

/// A PeerJS server for the test: the npm `peer` package (the reference), or `claynet signal`.
struct SignalServer {
  enum class Kind { NpmPeer, ClaynetSignal };

  /// Starts it on 127.0.0.1:port and waits until it listens; null when it cannot start.
  static std::unique_ptr<Child> start(Kind kind, uint16_t port, int expireTimeoutMs) {
    std::vector<std::string> argv;
    if (kind == Kind::NpmPeer) {
      argv = {"node",
              std::string(CLAYNET_SOURCE_DIR) + "/node_modules/peer/dist/bin/peerjs.js",
              "--port",
              std::to_string(port),
              "--expire_timeout",
              std::to_string(expireTimeoutMs)};
    } else {
      argv = {std::string(CLAYNET_BIN_DIR) + "/claynet",
              "signal",
              "--host",
              "127.0.0.1",
              "--port",
              std::to_string(port),
              "--expire-timeout",
              std::to_string(expireTimeoutMs)};
    }
    auto child = Child::spawn(argv, false);
    if (!child || !waitForPort("127.0.0.1", port, std::chrono::seconds(20))) return nullptr;
    return child;
  }
};

}  // namespace claynet::test
