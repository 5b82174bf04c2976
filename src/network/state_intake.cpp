#include "network/state_intake.hpp"

#include <algorithm>

namespace claynet::network {

StateIntake::Outcome StateIntake::accept(const std::string& origin, const Envelope& env,
                                         double nowMs) {
  Outcome out;
  if (env.kind == EnvelopeKind::Message) {
    out.fresh.emplace();
    return out;
  }
  OriginStats& stats = stats_[origin];
  auto count = [&](StreamStats& stream, bool accepted) {
    if (accepted) {
      stream.seq = env.seq;
      ++stream.recv;
      ++stats.recv;
      stream.lastLocal = nowMs;
    } else {
      ++stream.dropped;
      ++stats.dropped;
    }
  };
  if (env.kind == EnvelopeKind::State) {
    const bool accepted = guard_.accept(origin, env.seq);
    count(stats.unkeyed, accepted);
    if (accepted) out.fresh.emplace();
    return out;
  }
  ++stats.batches;
  stats.maxBatchBytes = std::max(stats.maxBatchBytes, encodeEnvelope(env).size());
  std::vector<std::size_t> fresh;
  for (std::size_t i = 0; i < env.entries.size(); ++i) {
    const std::string& key = env.entries[i].key;
    if (key.size() > kMaxKeyBytes) {
      ++stats.dropped;
      continue;
    }
    if (stats.keys.size() >= kMaxKeysPerOrigin && !stats.keys.count(key)) {
      ++stats.dropped;
      if (!stats.keysCapped) stats.keysCapped = out.keysCappedNow = true;
      continue;
    }
    const bool accepted = guard_.accept(origin, key, env.seq);
    count(stats.keys[key], accepted);
    if (accepted) fresh.push_back(i);
  }
  if (!fresh.empty()) out.fresh = std::move(fresh);
  return out;
}

double StateIntake::ageMs(const std::string& origin, const std::optional<std::string>& key,
                          double nowMs) const {
  auto it = stats_.find(origin);
  if (it == stats_.end()) return -1;
  const OriginStats& o = it->second;
  double newest = -1;
  if (!key || key->empty()) newest = o.unkeyed.lastLocal;
  for (const auto& [k, stream] : o.keys)
    if (!key || k == *key) newest = std::max(newest, stream.lastLocal);
  return newest < 0 ? -1 : nowMs - newest;
}

nlohmann::json StateIntake::syncStats(double nowMs) const {
  nlohmann::json out = nlohmann::json::object();
  auto stream = [&](const StreamStats& st) {
    return nlohmann::json{{"seq", st.seq},
                          {"recv", st.recv},
                          {"dropped", st.dropped},
                          {"ageMs", st.lastLocal < 0 ? -1.0 : nowMs - st.lastLocal}};
  };
  for (const auto& [origin, o] : stats_) {
    nlohmann::json j = {{"seq", o.unkeyed.seq},
                        {"recv", o.recv},
                        {"dropped", o.dropped},
                        {"ageMs", ageMs(origin, std::nullopt, nowMs)}};
    if (!o.keys.empty()) {
      j["keys"] = nlohmann::json::object();
      for (const auto& [k, st] : o.keys) j["keys"][k] = stream(st);
      j["batches"] = o.batches;
      j["maxBatchBytes"] = o.maxBatchBytes;
    }
    out[origin] = std::move(j);
  }
  return out;
}

void StateIntake::forget(const std::string& origin) {
  guard_.forget(origin);
  stats_.erase(origin);
}

void StateIntake::clear() {
  guard_.clear();
  stats_.clear();
}

}  // namespace claynet::network
