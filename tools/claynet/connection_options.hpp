// The connection options `claynet host` and `claynet join` share (--local, --signal, --topology,
// ...), their command-line flags, and applying them to a claynet::Network.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "claynet/network.hpp"
#include "claynet/result.hpp"

namespace claynet::cli {

struct ConnectionOptions {
  bool local = false;
  std::string signalUrl;
  int maxNodes = Network::kDefaultMaxNodes;
  std::string topology = "star";
  bool noRelay = false;
  std::vector<std::string> ice;
  bool verbose = false;
  bool json = false;
  double timeoutSeconds = 15;
  std::string localAddress;
  std::vector<std::string> iceLocal;
  std::string iceCa;
};

/// Adds the shared flags to a `host` or `join` subcommand.
void addConnectionOptions(CLI::App& command, ConnectionOptions& options);

/// Configures `net` from the options; the failure names the option at fault.
Result applyConnectionOptions(Network& net, const ConnectionOptions& options);

}  // namespace claynet::cli
