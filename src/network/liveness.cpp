#include "network/liveness.hpp"

#include <algorithm>

namespace claynet::network {

void LinkLiveness::stalled(std::chrono::steady_clock::duration stall, Clock::time_point now) {
  lastHeard_ = std::min(now, lastHeard_ + stall);
  if (unansweredSince_) unansweredSince_ = std::min(now, *unansweredSince_ + stall);
}

LinkLiveness::Action LinkLiveness::check(Clock::time_point now,
                                         std::chrono::milliseconds grace) const {
  if (grace.count() > 0 && unansweredSince_ && now - *unansweredSince_ >= grace)
    return Action::Gone;
  if (now - lastPing_ >= kPingInterval) return Action::Ping;
  if (!unansweredSince_ && now - lastHeard_ >= kQuietProbe) return Action::Ping;
  return Action::None;
}

}  // namespace claynet::network
