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

bool SequenceGuard::newer(Last& last, std::uint32_t& current, bool first, std::uint32_t seq) {
  if (!first && static_cast<std::int32_t>(seq - current) <= 0) {
    ++last.dropped;
    ++dropped_;
    return false;
  }
  current = seq;
  return true;
}

bool SequenceGuard::accept(const std::string& origin, std::uint32_t seq) {
  Last& last = last_[origin];
  const bool first = !last.any;
  last.any = true;
  return newer(last, last.seq, first, seq);
}

bool SequenceGuard::accept(const std::string& origin, const std::string& key, std::uint32_t seq) {
  Last& last = last_[origin];
  auto [it, first] = last.keyed.try_emplace(key, seq);
  return newer(last, it->second, first, seq);
}

std::uint64_t SequenceGuard::droppedFrom(const std::string& origin) const {
  auto it = last_.find(origin);
  return it == last_.end() ? 0 : it->second.dropped;
}

}  // namespace claynet::network
