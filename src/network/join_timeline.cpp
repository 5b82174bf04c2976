#include "network/join_timeline.hpp"

namespace claynet::network {

std::int64_t JoinTimeline::since(Clock::time_point mark, Clock::time_point now) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - mark).count();
}

std::int64_t JoinTimeline::elapsedMs(Clock::time_point now) const { return since(start_, now); }

void JoinTimeline::begin(Clock::time_point now) {
  start_ = mark_ = now;
  timing_ = nlohmann::json::object();
  phase_ = "signaling";
}

void JoinTimeline::enter(const char* phase, Clock::time_point now) {
  mark_ = now;
  phase_ = phase;
}

bool JoinTimeline::transportConnecting(Clock::time_point now) {
  if (phase_ != "signaling") return false;
  timing_["signaling"] = since(mark_, now);
  enter("ice", now);
  return true;
}

bool JoinTimeline::transportConnected(Clock::time_point now) {
  if (phase_ == "signaling") {
    timing_["signaling"] = since(mark_, now);
    timing_["ice"] = 0;
  } else if (phase_ == "ice") {
    timing_["ice"] = since(mark_, now);
  } else {
    return false;
  }
  enter("datachannel", now);
  return true;
}

bool JoinTimeline::channelOpen(Clock::time_point now) {
  if (phase_.empty() || phase_ == "handshake") return false;
  if (phase_ == "datachannel") {
    timing_["datachannel"] = since(mark_, now);
  } else {
    // The transport's state events were not seen (they always come first): time it here.
    if (!timing_.contains("signaling")) timing_["signaling"] = since(mark_, now);
    if (!timing_.contains("ice")) timing_["ice"] = 0;
    timing_["datachannel"] = 0;
  }
  enter("handshake", now);
  return true;
}

nlohmann::json JoinTimeline::joined(Clock::time_point now) {
  timing_["handshake"] = phase_ == "handshake" ? since(mark_, now) : 0;
  timing_["total"] = since(start_, now);
  for (const char* p : {"signaling", "ice", "datachannel"})
    if (!timing_.contains(p)) timing_[p] = 0;
  phase_.clear();
  return timing_;
}

nlohmann::json JoinTimeline::hosted(Clock::time_point now) {
  const std::int64_t ms = since(start_, now);
  timing_ = {{"signaling", ms}, {"ice", 0}, {"datachannel", 0}, {"handshake", 0}, {"total", ms}};
  phase_.clear();
  return timing_;
}

}  // namespace claynet::network
