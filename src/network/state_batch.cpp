#include "network/state_batch.hpp"

#include <algorithm>

namespace claynet::network {

void StateBatcher::queue(const std::string& key, nlohmann::json data, std::size_t bytes) {
  auto it =
      std::find_if(queued_.begin(), queued_.end(), [&](const Queued& q) { return q.key == key; });
  if (it != queued_.end()) {
    it->data = std::move(data);
    it->bytes = bytes;
    return;
  }
  queued_.push_back({key, std::move(data), bytes});
}

std::size_t StateBatcher::entryBytes(const std::string& key, const nlohmann::json& data) {
  const nlohmann::json entry = {{"k", key}, {"d", data}};
  return entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size();
}

std::vector<Envelope> StateBatcher::flush(std::uint32_t& seq, std::optional<double> sentAt) {
  std::vector<Envelope> out;
  std::vector<BatchEntry> current;
  std::size_t size = kHeader;
  auto close = [&] {
    if (current.empty()) return;
    Envelope e = makeBatch(++seq, std::move(current));
    e.sentAt = sentAt;
    out.push_back(std::move(e));
    current.clear();
    size = kHeader;
  };
  for (auto& q : queued_) {
    const std::size_t add = q.bytes + (current.empty() ? 0 : 1);  // the comma
    if (!current.empty() && size + add > kBudget) close();
    size += q.bytes + (current.empty() ? 0 : 1);
    current.push_back({q.key, std::move(q.data)});
  }
  close();
  queued_.clear();
  return out;
}

}  // namespace claynet::network
