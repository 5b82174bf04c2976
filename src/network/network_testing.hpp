// Test hooks of claynet::Network, for the network tests and claynet-network-node: they let a test
// put on the wire what a misbehaving node would (a spoofed `from`, a stale state sequence).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "claynet/network.hpp"

namespace claynet::network {

struct NetworkTesting {
  /// Sends `envelope` unchanged to a node this one has a direct link to, on its data link or (if
  /// open) its state link. Fails when there is no such open link.
  static Result sendRaw(Network& network, const std::string& nodeId, const nlohmann::json& envelope,
                        bool stateLink);
  /// The nodes this one has an open direct data link to.
  static std::vector<std::string> directLinks(const Network& network);
  /// Cloud host: the codes the next host() tries, in order, before random ones.
  static void forceCodes(Network& network, std::vector<std::string> codes);
  /// How long a link's channel may take to open before it is given up, from the next session on
  /// (kOpenLimit otherwise): a test of a channel that never opens need not wait 20 s.
  static void setOpenLimit(Network& network, std::chrono::milliseconds limit);
};

}  // namespace claynet::network
