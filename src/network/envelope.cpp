#include "network/envelope.hpp"

#include <cmath>
#include <cstdint>

#include "signaling/bounded_json.hpp"

namespace claynet::network {
namespace {

using nlohmann::json;

char kindLetter(EnvelopeKind k) {
  switch (k) {
    case EnvelopeKind::Message:
      return 'm';
    case EnvelopeKind::State:
      return 's';
    case EnvelopeKind::Ping:
      return 'p';
    case EnvelopeKind::Pong:
      return 'P';
    case EnvelopeKind::Reject:
      return 'R';
    case EnvelopeKind::System:
      return 'y';
    case EnvelopeKind::Batch:
      return 'b';
  }
  return 'm';
}

Result fieldError(const char* field, const char* want) {
  return Result::failure(std::string("envelope field \"") + field + "\" must be " + want);
}

// An optional finite number (a session time); anything else there counts as absent, as
// Clayground reads a missing or odd ts as -1.
std::optional<double> optionalNumber(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

Result sequenceField(const json& j, std::uint32_t& out) {
  auto q = j.find("q");
  // A value built in C++ holds a non-negative integer as signed; parsed text as unsigned.
  const bool nonNegative = q != j.end() && q->is_number_integer() &&
                           (q->is_number_unsigned() || q->get<std::int64_t>() >= 0);
  if (!nonNegative || q->get<std::uint64_t>() > 0xFFFFFFFFu)
    return fieldError("q", "an unsigned 32-bit integer");
  out = static_cast<std::uint32_t>(q->get<std::uint64_t>());
  return {};
}

// Reads an optional string member; fails if present with another type.
Result optionalString(const json& j, const char* key, std::optional<std::string>& out) {
  auto it = j.find(key);
  if (it == j.end()) return {};
  if (!it->is_string()) return fieldError(key, "a string");
  out = it->get<std::string>();
  return {};
}

Result requiredString(const json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return fieldError(key, "a string");
  out = it->get<std::string>();
  return {};
}

}  // namespace

std::size_t nullNonFiniteNumbers(json& value) {
  std::size_t replaced = 0;
  std::vector<json*> todo{&value};
  while (!todo.empty()) {
    json* v = todo.back();
    todo.pop_back();
    if (v->is_number_float()) {
      if (!std::isfinite(v->get<double>())) {
        *v = nullptr;
        ++replaced;
      }
    } else if (v->is_structured()) {
      for (auto& item : *v) todo.push_back(&item);
    }
  }
  return replaced;
}

std::string encodeEnvelope(const Envelope& e) {
  // Invalid UTF-8 inside user strings is replaced rather than thrown on: the caller validated
  // nothing, and a send must not throw.
  return envelopeToJson(e).dump(-1, ' ', false, json::error_handler_t::replace);
}

json envelopeToJson(const Envelope& e) {
  json j = json::object();
  j["t"] = std::string(1, kindLetter(e.kind));
  switch (e.kind) {
    case EnvelopeKind::Message:
      j["d"] = e.data;
      if (e.sentAt) j["ts"] = *e.sentAt;
      break;
    case EnvelopeKind::State:
      j["q"] = e.seq;
      j["d"] = e.data;
      if (e.sentAt) j["ts"] = *e.sentAt;
      break;
    case EnvelopeKind::Batch:
      j["q"] = e.seq;
      // Clayground writes a batch's ts as an integer.
      // (A received one is relayed as it came, whatever its size.)
      if (e.sentAt) {
        const double ts = std::floor(*e.sentAt);
        if (std::abs(ts) < 9.0e15) {
          j["ts"] = static_cast<std::int64_t>(ts);
        } else {
          j["ts"] = *e.sentAt;
        }
      }
      if (!e.rawEntries.is_null()) {
        j["e"] = e.rawEntries;
      } else {
        j["e"] = json::array();
        for (const auto& entry : e.entries) j["e"].push_back({{"k", entry.key}, {"d", entry.data}});
      }
      break;
    case EnvelopeKind::Ping:
      j["ts"] = e.ts;
      break;
    case EnvelopeKind::Pong:
      j["ts"] = e.ts;
      if (e.sessionMs) j["st"] = *e.sessionMs;
      break;
    case EnvelopeKind::Reject:
      j["r"] = e.reason;
      break;
    case EnvelopeKind::System:
      j["sys"] = e.sys;
      if (e.sys == "roster") {
        j["nodes"] = e.nodes;
      } else if (e.sys != "bye") {
        j["nodeId"] = e.nodeId;
      }
      break;
  }
  if (e.from) j["from"] = *e.from;
  if (e.to) j["to"] = *e.to;
  return j;
}

Result decodeEnvelope(std::span<const std::byte> bytes, Envelope& out) {
  return decodeEnvelope(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                        out);
}

Result decodeEnvelope(std::string_view text, Envelope& out) {
  json j;
  signaling::JsonParseFailure why;
  if (Result r = signaling::parseBoundedJson(text, j, signaling::kMaxJsonDepth, &why); !r) {
    return Result::failure(why == signaling::JsonParseFailure::TooDeep
                               ? "envelope: " + r.error()
                               : "envelope is not valid JSON");
  }
  return decodeEnvelope(j, out);
}

Result decodeEnvelope(const json& j, Envelope& out) {
  if (!j.is_object()) return Result::failure("envelope is not a JSON object");
  auto t = j.find("t");
  if (t == j.end() || !t->is_string() || t->get_ref<const std::string&>().size() != 1) {
    return fieldError("t", "a one-letter string");
  }
  Envelope e;
  switch (t->get_ref<const std::string&>()[0]) {
    case 'm':
      e.kind = EnvelopeKind::Message;
      if (!j.contains("d")) return fieldError("d", "present");
      e.data = j.at("d");
      e.sentAt = optionalNumber(j, "ts");
      break;
    case 's': {
      e.kind = EnvelopeKind::State;
      if (auto r = sequenceField(j, e.seq); !r) return r;
      if (!j.contains("d")) return fieldError("d", "present");
      e.data = j.at("d");
      e.sentAt = optionalNumber(j, "ts");
      break;
    }
    case 'b': {
      e.kind = EnvelopeKind::Batch;
      if (auto r = sequenceField(j, e.seq); !r) return r;
      e.sentAt = optionalNumber(j, "ts");
      auto entries = j.find("e");
      if (entries == j.end() || !entries->is_array()) return fieldError("e", "an array");
      e.rawEntries = *entries;
      // Object entries ({"o": id, "d"}) belong to replicated objects: relayed, not delivered.
      // Entries of any other form are skipped, as Clayground skips them.
      for (const auto& entry : *entries) {
        if (!entry.is_object()) continue;
        auto k = entry.find("k");
        auto d = entry.find("d");
        if (k == entry.end() || !k->is_string() || d == entry.end()) continue;
        e.entries.push_back({k->get<std::string>(), *d});
      }
      break;
    }
    case 'p':
    case 'P': {
      e.kind = (*t == "p") ? EnvelopeKind::Ping : EnvelopeKind::Pong;
      auto ts = j.find("ts");
      if (ts == j.end() || !ts->is_number()) return fieldError("ts", "a number");
      // A peer may send any float (NaN too, through BinaryPack): only what fits an int64 converts.
      constexpr double kLimit = 9.2e18;
      if (ts->is_number_float()) {
        const double v = ts->get<double>();
        if (!std::isfinite(v) || v <= -kLimit || v >= kLimit)
          return fieldError("ts", "a finite number of milliseconds");
        e.ts = static_cast<std::int64_t>(v);
      } else if (ts->is_number_unsigned() &&
                 ts->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
        return fieldError("ts", "a finite number of milliseconds");
      } else {
        e.ts = ts->get<std::int64_t>();
      }
      if (e.kind == EnvelopeKind::Pong) e.sessionMs = optionalNumber(j, "st");
      break;
    }
    case 'R':
      e.kind = EnvelopeKind::Reject;
      if (auto r = requiredString(j, "r", e.reason); !r) return r;
      break;
    case 'y': {
      e.kind = EnvelopeKind::System;
      if (auto r = requiredString(j, "sys", e.sys); !r) return r;
      if (e.sys == "roster") {
        auto nodes = j.find("nodes");
        if (nodes == j.end() || !nodes->is_array()) return fieldError("nodes", "an array");
        for (const auto& n : *nodes) {
          if (!n.is_string()) return fieldError("nodes", "an array of strings");
          e.nodes.push_back(n.get<std::string>());
        }
      } else if (e.sys == "node_joined" || e.sys == "node_left") {
        if (auto r = requiredString(j, "nodeId", e.nodeId); !r) return r;
      } else if (e.sys != "bye") {
        return Result::failure("unknown system message \"" + e.sys + "\"");
      }
      break;
    }
    default:
      return Result::failure("unknown envelope type \"" + t->get<std::string>() + "\"");
  }
  if (auto r = optionalString(j, "from", e.from); !r) return r;
  if (auto r = optionalString(j, "to", e.to); !r) return r;
  out = std::move(e);
  return {};
}

Envelope makeMessage(nlohmann::json data) {
  Envelope e;
  e.kind = EnvelopeKind::Message;
  e.data = std::move(data);
  return e;
}

Envelope makeState(std::uint32_t seq, nlohmann::json data) {
  Envelope e;
  e.kind = EnvelopeKind::State;
  e.seq = seq;
  e.data = std::move(data);
  return e;
}

Envelope makePing(std::int64_t ts) {
  Envelope e;
  e.kind = EnvelopeKind::Ping;
  e.ts = ts;
  return e;
}

Envelope makePong(std::int64_t ts) {
  Envelope e = makePing(ts);
  e.kind = EnvelopeKind::Pong;
  return e;
}

Envelope makeReject(std::string reason) {
  Envelope e;
  e.kind = EnvelopeKind::Reject;
  e.reason = std::move(reason);
  return e;
}

Envelope makeRoster(std::vector<std::string> nodes) {
  Envelope e;
  e.kind = EnvelopeKind::System;
  e.sys = "roster";
  e.nodes = std::move(nodes);
  return e;
}

Envelope makeNodeJoined(std::string nodeId) {
  Envelope e;
  e.kind = EnvelopeKind::System;
  e.sys = "node_joined";
  e.nodeId = std::move(nodeId);
  return e;
}

Envelope makeNodeLeft(std::string nodeId) {
  Envelope e = makeNodeJoined(std::move(nodeId));
  e.sys = "node_left";
  return e;
}

Envelope makeBatch(std::uint32_t seq, std::vector<BatchEntry> entries) {
  Envelope e;
  e.kind = EnvelopeKind::Batch;
  e.seq = seq;
  e.entries = std::move(entries);
  return e;
}

Envelope makeGoodbye() {
  Envelope e;
  e.kind = EnvelopeKind::System;
  e.sys = "bye";
  return e;
}

}  // namespace claynet::network
