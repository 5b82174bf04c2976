#include "network/session_clock.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace claynet::network {

void SessionClock::start(double localNow) {
  reset();
  valid_ = synced_ = true;
  offset_ = target_ = -localNow;
  lastLocal_ = localNow;
}

void SessionClock::reset() { *this = SessionClock(); }

void SessionClock::seed(double sessionMs, double localNow) {
  if (!window_.empty() || !std::isfinite(sessionMs) || sessionMs < 0) return;
  valid_ = true;
  offset_ = target_ = sessionMs - localNow;
  lastLocal_ = localNow;
}

bool SessionClock::sample(double sentLocal, double receivedLocal, double sessionMs) {
  const double rtt = receivedLocal - sentLocal;
  if (!std::isfinite(rtt) || rtt < 0 || !std::isfinite(sessionMs) || sessionMs < 0) return false;
  window_.push_back({receivedLocal, rtt, sessionMs - (sentLocal + receivedLocal) / 2});
  while (window_.size() > kWindow) window_.pop_front();
  while (window_.size() > kMinKept && receivedLocal - window_.front().at > kMaxSampleAgeMs)
    window_.pop_front();
  const double now = std::max(receivedLocal, lastLocal_);
  if (synced_) {
    offset_ = offsetAt(now);  // what has slewed so far stays
    target_ = estimate();
  } else {
    // Until synced the offset steps to each estimate.
    offset_ = target_ = estimate();
    lastLocal_ = now;
    valid_ = true;
    synced_ = window_.size() >= kSyncedAfter;
  }
  return true;
}

double SessionClock::estimate() const {
  // The fastest half of the window: the samples least skewed by queueing on one leg.
  std::vector<Sample> byRtt(window_.begin(), window_.end());
  std::sort(byRtt.begin(), byRtt.end(),
            [](const Sample& a, const Sample& b) { return a.rtt < b.rtt; });
  const std::size_t n = std::clamp<std::size_t>(byRtt.size() / 2, 1, kSyncedAfter);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += byRtt[i].offset;
  return sum / static_cast<double>(n);
}

double SessionClock::offsetAt(double localNow) {
  if (localNow <= lastLocal_) return offset_;
  const double step = kSlewRate * (localNow - lastLocal_);
  offset_ += std::clamp(target_ - offset_, -step, step);
  lastLocal_ = localNow;
  return offset_;
}

double SessionClock::sessionTime(double localNow) {
  if (!valid_) return -1;
  const double t = std::max(localNow + offsetAt(localNow), lastSession_);
  lastSession_ = t;
  return t;
}

void TransitTracker::arrived(const std::string& origin, double sentAt, double localNow) {
  if (!std::isfinite(sentAt) || sentAt < 0) return;
  auto& q = byOrigin_[origin];
  const double raw = localNow - sentAt;
  // A sliding minimum: an older entry at least as slow as this one can never be the fastest.
  while (!q.empty() && q.back().raw >= raw) q.pop_back();
  q.push_back({localNow, raw});
  while (q.size() > 1 && localNow - q.front().at > kWindowMs) q.pop_front();
}

double TransitTracker::transitMs(const std::string& origin, double localNow, double offset) const {
  auto it = byOrigin_.find(origin);
  if (it == byOrigin_.end() || it->second.empty()) return std::numeric_limits<double>::quiet_NaN();
  // The front is the fastest within the window; the newest stays even when it is old.
  for (const auto& e : it->second)
    if (localNow - e.at <= kWindowMs || &e == &it->second.back()) return e.raw + offset;
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace claynet::network
