// Keyed state batching (Clayground's "b" messages, clayground-wire.md §2.5), sans-IO: updates
// queued by key between flushes, the newest per key winning, packed into batches of at most about
// 1200 bytes so that each fits one unfragmented datagram of the lossy state channel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "network/envelope.hpp"

namespace claynet::network {

class StateBatcher {
 public:
  /// Clayground's budget: 1200 bytes less 64 kept for the "from" a relaying host adds.
  static constexpr std::size_t kBudget = 1200 - 64;
  /// The longest header a batch can have ({"t":"b","q":<u32>,"ts":<ms>,"e":[]}).
  static constexpr std::size_t kHeader = 56;

  /// Queues `data` under `key`; an update already queued for that key is replaced and keeps its
  /// place. `bytes` is the size of the entry's compact JSON, as the caller measured it.
  void queue(const std::string& key, nlohmann::json data, std::size_t bytes);
  bool empty() const { return queued_.empty(); }
  void clear() { queued_.clear(); }

  /// Packs everything queued into batches, in the order keys were first queued; each batch takes
  /// the next value of `seq` (shared with unkeyed state). An entry too large for an empty batch
  /// goes alone.
  std::vector<Envelope> flush(std::uint32_t& seq, std::optional<double> sentAt);

  /// The compact JSON size of {"k":key,"d":data} (what queue() wants as `bytes`).
  static std::size_t entryBytes(const std::string& key, const nlohmann::json& data);

 private:
  struct Queued {
    std::string key;
    nlohmann::json data;
    std::size_t bytes;
  };
  std::vector<Queued> queued_;
};

}  // namespace claynet::network
