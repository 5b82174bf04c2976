#include "network/relay.hpp"

#include <algorithm>

namespace claynet::network {

HostRoute routeAtHost(const Envelope& in, const std::string& sender, const std::string& hostId,
                      const std::vector<std::string>& joiners, bool autoRelay) {
  HostRoute route;
  route.origin = sender;
  route.forwarded = in;
  route.forwarded.from = sender;
  if (in.to && *in.to != hostId) {
    const bool known = std::find(joiners.begin(), joiners.end(), *in.to) != joiners.end();
    if (!known || *in.to == sender) {
      route.unknownTarget = !known;
      // Addressed to itself: deliver nowhere rather than echo.
      return route;
    }
    route.forwardTo.push_back(*in.to);
    return route;
  }
  route.deliverLocally = true;
  if (in.to) return route;  // addressed to the host
  if (autoRelay) {
    for (const auto& j : joiners) {
      if (j != sender) route.forwardTo.push_back(j);
    }
  }
  route.forwarded.to.reset();
  return route;
}

std::string originAtReceiver(const Envelope& in, const std::string& sender,
                             const std::string& hostId) {
  if (sender == hostId && in.from && !in.from->empty()) return *in.from;
  return sender;
}

bool SequenceGuard::accept(const std::string& origin, std::uint32_t seq) {
  auto [it, inserted] = last_.try_emplace(origin);
  if (inserted) {
    it->second.seq = seq;
    return true;
  }
  const auto delta = static_cast<std::int32_t>(seq - it->second.seq);
  if (delta <= 0) {
    ++it->second.dropped;
    ++dropped_;
    return false;
  }
  it->second.seq = seq;
  return true;
}

std::uint64_t SequenceGuard::droppedFrom(const std::string& origin) const {
  auto it = last_.find(origin);
  return it == last_.end() ? 0 : it->second.dropped;
}

}  // namespace claynet::network
