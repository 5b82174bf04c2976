#include "network/link_supervision.hpp"

namespace claynet::network {

LinkVerdict judgeLink(const LinkFacts& f, const LinkLiveness& liveness,
                      LinkLiveness::Clock::time_point now, std::chrono::milliseconds grace) {
  if (!f.dataOpen && !f.toHost && now - f.created >= f.openLimit) return LinkVerdict::NeverOpened;
  if (f.rejecting)
    return f.dataOpen && now >= f.rejectDeadline ? LinkVerdict::Unwanted : LinkVerdict::Keep;
  if (!f.dataOpen) return LinkVerdict::Keep;
  // Nothing but the handshake goes to a link whose handshake is not done: no pings either.
  if (!f.handshakeDone)
    return now - liveness.lastHeard() >= kHandshakeSilenceLimit ? LinkVerdict::Silent
                                                                : LinkVerdict::Keep;
  const LinkLiveness::Action action = liveness.check(now, grace);
  if (action == LinkLiveness::Action::Gone) return LinkVerdict::Silent;
  if (!f.weAreHost && !f.toHost && !f.member && now - f.created >= kUnannouncedLimit)
    return LinkVerdict::Unwanted;
  return action == LinkLiveness::Action::Ping ? LinkVerdict::Ping : LinkVerdict::Keep;
}

std::optional<LinkLiveness::Clock::duration> StallDetector::tick(
    LinkLiveness::Clock::time_point now) {
  std::optional<LinkLiveness::Clock::duration> stall;
  if (last_ && now - *last_ > kStallThreshold) stall = now - *last_ - kTickInterval;
  last_ = now;
  return stall;
}

}  // namespace claynet::network
