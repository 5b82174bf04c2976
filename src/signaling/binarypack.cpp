// BinaryPack (PeerJS "binary" serialization): encoder, bounded decoder, chunking.
#include <algorithm>
#include <claynet/binarypack.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "signaling/utf8.hpp"

namespace claynet::binarypack {

using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------
// Encoding

class Writer {
 public:
  explicit Writer(std::vector<std::uint8_t>& out) : out_(out) {}

  void byte(std::uint8_t b) { out_.push_back(b); }

  void bigEndian(std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }

  void bytes(const std::uint8_t* p, std::size_t n) {
    if (n > 0) out_.insert(out_.end(), p, p + n);
  }

  // The order of the PeerJS packer: fixint, uint8, int8, uint16, int16, uint32, int32, int64,
  // uint64. For a non-negative value the signed forms never win over the unsigned ones.
  void unsignedInt(std::uint64_t v) {
    if (v <= 0x7f) {
      byte(static_cast<std::uint8_t>(v));
    } else if (v <= 0xff) {
      byte(0xcc);
      bigEndian(v, 1);
    } else if (v <= 0xffff) {
      byte(0xcd);
      bigEndian(v, 2);
    } else if (v <= 0xffffffffu) {
      byte(0xce);
      bigEndian(v, 4);
    } else if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      byte(0xd3);
      bigEndian(v, 8);
    } else {
      byte(0xcf);
      bigEndian(v, 8);
    }
  }

  void signedInt(std::int64_t v) {
    if (v >= 0) {
      unsignedInt(static_cast<std::uint64_t>(v));
      return;
    }
    const auto bits = static_cast<std::uint64_t>(v);
    if (v >= -0x20) {
      byte(static_cast<std::uint8_t>(bits));
    } else if (v >= -0x80) {
      byte(0xd0);
      bigEndian(bits, 1);
    } else if (v >= -0x8000) {
      byte(0xd1);
      bigEndian(bits, 2);
    } else if (v >= -0x80000000LL) {
      byte(0xd2);
      bigEndian(bits, 4);
    } else {
      byte(0xd3);
      bigEndian(bits, 8);
    }
  }

  // JavaScript has one number type; the packer sends every number with an integral value as an
  // integer (Math.floor(x) === x), so a double such as 2.0 or -0.0 is packed as an integer too.
  void number(double d) {
    if (std::isfinite(d) && std::trunc(d) == d) {
      if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        signedInt(static_cast<std::int64_t>(d));
        return;
      }
      if (d >= 0 && d < 18446744073709551616.0) {
        unsignedInt(static_cast<std::uint64_t>(d));
        return;
      }
    }
    // Beyond 64 bits, NaN and the infinities (which the JavaScript packer cannot send at all) go
    // as float64, which any decoder reads back.
    std::uint64_t bits = 0;
    std::memcpy(&bits, &d, sizeof bits);
    byte(0xcb);
    bigEndian(bits, 8);
  }

  // Header of a typed length: the short form when it fits in the low nibble, else 16 or 32 bits.
  // Lengths above 32 bits cannot be expressed; they are clamped (see encode()'s contract).
  void lengthHeader(std::uint8_t shortBase, std::uint8_t code16, std::uint8_t code32,
                    std::size_t length) {
    if (length <= 0x0f) {
      byte(static_cast<std::uint8_t>(shortBase + length));
    } else if (length <= 0xffff) {
      byte(code16);
      bigEndian(length, 2);
    } else {
      byte(code32);
      bigEndian(length > 0xffffffffu ? 0xffffffffu : length, 4);
    }
  }

  void string(std::string_view s) {
    if (signaling::utf8::isValid(s)) {
      lengthHeader(0xb0, 0xd8, 0xd9, s.size());
      bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
      return;
    }
    const std::string fixed = signaling::utf8::repaired(s);
    lengthHeader(0xb0, 0xd8, 0xd9, fixed.size());
    bytes(reinterpret_cast<const std::uint8_t*>(fixed.data()), fixed.size());
  }

  void raw(const std::uint8_t* p, std::size_t n) {
    lengthHeader(0xa0, 0xda, 0xdb, n);
    bytes(p, n);
  }

 private:
  std::vector<std::uint8_t>& out_;
};

// Writes a scalar, or the header of a container; returns true for a non-empty container whose
// elements must follow.
bool writeHead(Writer& w, const json& v) {
  switch (v.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      w.byte(0xc0);
      return false;
    case json::value_t::boolean:
      w.byte(v.get<bool>() ? 0xc3 : 0xc2);
      return false;
    case json::value_t::number_integer:
      w.signedInt(v.get<std::int64_t>());
      return false;
    case json::value_t::number_unsigned:
      w.unsignedInt(v.get<std::uint64_t>());
      return false;
    case json::value_t::number_float:
      w.number(v.get<double>());
      return false;
    case json::value_t::string:
      w.string(v.get_ref<const std::string&>());
      return false;
    case json::value_t::binary: {
      const auto& b = v.get_binary();
      w.raw(b.data(), b.size());
      return false;
    }
    case json::value_t::array:
      w.lengthHeader(0x90, 0xdc, 0xdd, v.size());
      return !v.empty();
    case json::value_t::object:
      w.lengthHeader(0x80, 0xde, 0xdf, v.size());
      return !v.empty();
  }
  w.byte(0xc0);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Decoding

std::string hexByte(std::uint8_t b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return std::string("0x") + kDigits[b >> 4] + kDigits[b & 0x0f];
}

// JavaScript's String(x) for a number used as an object key.
std::string numberKey(const json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  const double d = v.get<double>();
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (std::trunc(d) == d && std::fabs(d) < 1e21) {
    // Integral: "2", not nlohmann's "2.0". Below 1e21 JavaScript prints all digits.
    if (std::fabs(d) < 9.2e18) return std::to_string(static_cast<std::int64_t>(d));
  }
  return v.dump();
}

class Decoder {
 public:
  Decoder(std::span<const std::uint8_t> in, const DecodeLimits& limits) : in_(in), lim_(limits) {}

  Result run(json& out) {
    if (in_.empty()) return fail("empty message (a BinaryPack message holds one value)");
    if (Result r = value(out, 0); !r) return r;
    if (pos_ != in_.size()) {
      return fail(std::to_string(in_.size() - pos_) + " byte(s) left after the value at offset " +
                  std::to_string(pos_) + " (a BinaryPack message holds exactly one value)");
    }
    return {};
  }

 private:
  static Result fail(std::string why) { return Result::failure("BinaryPack: " + std::move(why)); }

  std::size_t remaining() const { return in_.size() - pos_; }

  Result truncated(const char* what, std::uint64_t need) const {
    return fail(std::string("truncated: ") + what + " needs " + std::to_string(need) +
                " byte(s) at offset " + std::to_string(pos_) + " but only " +
                std::to_string(remaining()) + " remain");
  }

  // Reads an n-byte big-endian unsigned number (n <= 8); the caller checked the length.
  std::uint64_t readBE(int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | in_[pos_++];
    return v;
  }

  Result fixed(const char* what, int n, std::uint64_t& v) {
    if (remaining() < static_cast<std::size_t>(n)) return truncated(what, n);
    v = readBE(n);
    return {};
  }

  Result countValue() {
    if (++values_ > lim_.maxValues) {
      return fail("more than " + std::to_string(lim_.maxValues) + " values in one message");
    }
    return {};
  }

  Result value(json& out, std::size_t depth) {
    if (Result r = countValue(); !r) return r;
    if (remaining() == 0) return truncated("a value", 1);
    const std::size_t at = pos_;
    const std::uint8_t t = in_[pos_++];
    if (t < 0x80) {
      out = static_cast<std::uint64_t>(t);
      return {};
    }
    if (t >= 0xe0) {
      out = static_cast<std::int64_t>(static_cast<std::int8_t>(t));
      return {};
    }
    if (t >= 0xa0 && t <= 0xaf) return rawBytes(out, t & 0x0f);
    if (t >= 0xb0 && t <= 0xbf) return stringBytes(out, t & 0x0f);
    if (t >= 0x90 && t <= 0x9f) return array(out, t & 0x0f, depth);
    if (t >= 0x80 && t <= 0x8f) return map(out, t & 0x0f, depth);
    std::uint64_t v = 0;
    switch (t) {
      case 0xc0:
      case 0xc1:  // undefined: JSON has no such thing
        out = nullptr;
        return {};
      case 0xc2:
        out = false;
        return {};
      case 0xc3:
        out = true;
        return {};
      case 0xca: {
        if (Result r = fixed("a float32", 4, v); !r) return r;
        float f = 0;
        const auto bits = static_cast<std::uint32_t>(v);
        std::memcpy(&f, &bits, sizeof f);
        out = static_cast<double>(f);
        return {};
      }
      case 0xcb: {
        if (Result r = fixed("a float64", 8, v); !r) return r;
        double d = 0;
        std::memcpy(&d, &v, sizeof d);
        out = d;
        return {};
      }
      case 0xcc:
      case 0xcd:
      case 0xce:
      case 0xcf: {
        const int n = 1 << (t - 0xcc);
        if (Result r = fixed("an unsigned integer", n, v); !r) return r;
        out = v;
        return {};
      }
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3: {
        const int n = 1 << (t - 0xd0);
        if (Result r = fixed("a signed integer", n, v); !r) return r;
        std::int64_t s = 0;
        if (n == 8) {
          s = static_cast<std::int64_t>(v);
        } else {
          const std::uint64_t sign = std::uint64_t{1} << (8 * n - 1);
          s = static_cast<std::int64_t>(v ^ sign) - static_cast<std::int64_t>(sign);
        }
        if (s >= 0) {
          out = static_cast<std::uint64_t>(s);
        } else {
          out = s;
        }
        return {};
      }
      case 0xd8:
      case 0xd9:
        if (Result r = fixed("a string length", t == 0xd8 ? 2 : 4, v); !r) return r;
        return stringBytes(out, v);
      case 0xda:
      case 0xdb:
        if (Result r = fixed("a raw length", t == 0xda ? 2 : 4, v); !r) return r;
        return rawBytes(out, v);
      case 0xdc:
      case 0xdd:
        if (Result r = fixed("an array count", t == 0xdc ? 2 : 4, v); !r) return r;
        return array(out, v, depth);
      case 0xde:
      case 0xdf:
        if (Result r = fixed("a map count", t == 0xde ? 2 : 4, v); !r) return r;
        return map(out, v, depth);
      default:
        break;
    }
    return fail("type byte " + hexByte(t) + " at offset " + std::to_string(at) +
                " is not a BinaryPack type");
  }

  Result rawBytes(json& out, std::uint64_t n) {
    if (n > remaining()) return truncated("raw bytes", n);
    const std::uint8_t* p = in_.data() + pos_;
    out = json::binary(std::vector<std::uint8_t>(p, p + n));
    pos_ += n;
    return {};
  }

  Result stringBytes(json& out, std::uint64_t n) {
    if (n > remaining()) return truncated("a string", n);
    const std::string_view s(reinterpret_cast<const char*>(in_.data() + pos_), n);
    out = signaling::utf8::repaired(s);
    pos_ += n;
    return {};
  }

  Result enter(std::size_t depth) const {
    if (depth + 1 > lim_.maxDepth) {
      return fail("nesting deeper than " + std::to_string(lim_.maxDepth) + " at offset " +
                  std::to_string(pos_));
    }
    return {};
  }

  Result array(json& out, std::uint64_t count, std::size_t depth) {
    if (Result r = enter(depth); !r) return r;
    // Every element takes at least one byte: a count beyond the input is truncation, found
    // before anything is allocated.
    if (count > remaining()) return truncated("an array", count);
    out = json::array();
    for (std::uint64_t i = 0; i < count; ++i) {
      json element;
      if (Result r = value(element, depth + 1); !r) return r;
      out.push_back(std::move(element));
    }
    return {};
  }

  Result map(json& out, std::uint64_t count, std::size_t depth) {
    if (Result r = enter(depth); !r) return r;
    if (count > remaining() / 2) {
      return fail("truncated: a map of " + std::to_string(count) + " entries needs at least " +
                  std::to_string(count * 2) + " byte(s) at offset " + std::to_string(pos_) +
                  " but only " + std::to_string(remaining()) + " remain");
    }
    out = json::object();
    for (std::uint64_t i = 0; i < count; ++i) {
      std::string key;
      if (Result r = mapKey(key); !r) return r;
      json element;
      if (Result r = value(element, depth + 1); !r) return r;
      out[key] = std::move(element);  // a repeated key: the last one wins, as in JavaScript
    }
    return {};
  }

  // A JavaScript object turns every key into a string; keys that would become "[object ...]" or a
  // joined list are refused instead.
  Result mapKey(std::string& key) {
    if (remaining() == 0) return truncated("a map key", 1);
    const std::uint8_t t = in_[pos_];
    const char* refused = nullptr;
    if ((t >= 0xa0 && t <= 0xaf) || t == 0xda || t == 0xdb) refused = "raw bytes";
    if ((t >= 0x90 && t <= 0x9f) || t == 0xdc || t == 0xdd) refused = "an array";
    if ((t >= 0x80 && t <= 0x8f) || t == 0xde || t == 0xdf) refused = "a map";
    if (refused != nullptr) {
      return fail("map key at offset " + std::to_string(pos_) + " is " + refused +
                  "; keys must be strings, numbers, booleans or null");
    }
    json k;
    if (Result r = value(k, 0); !r) return r;
    if (k.is_string()) {
      key = std::move(k.get_ref<std::string&>());
    } else if (k.is_null()) {
      key = t == 0xc1 ? "undefined" : "null";
    } else if (k.is_boolean()) {
      key = k.get<bool>() ? "true" : "false";
    } else {
      key = numberKey(k);
    }
    return {};
  }

  std::span<const std::uint8_t> in_;
  const DecodeLimits& lim_;
  std::size_t pos_ = 0;
  std::size_t values_ = 0;
};

bool truthy(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      return false;
    case json::value_t::boolean:
      return v.get<bool>();
    case json::value_t::number_integer:
      return v.get<std::int64_t>() != 0;
    case json::value_t::number_unsigned:
      return v.get<std::uint64_t>() != 0;
    case json::value_t::number_float: {
      const double d = v.get<double>();
      return d != 0 && !std::isnan(d);
    }
    case json::value_t::string:
      return !v.get_ref<const std::string&>().empty();
    default:
      return true;
  }
}

// The value of "__peerData" when the PeerJS client would treat `v` as a chunk or a close.
const json* peerData(const json& v) {
  if (!v.is_object()) return nullptr;
  auto it = v.find("__peerData");
  if (it == v.end() || !truthy(*it)) return nullptr;
  return &*it;
}

constexpr std::size_t kChunkOverhead = 64;  // bookkeeping per stored chunk, counted as bytes
constexpr std::size_t kRememberDropped = 64;

}  // namespace

std::vector<std::uint8_t> encode(const json& value) {
  std::vector<std::uint8_t> out;
  Writer w(out);
  // Iterative walk: a deeply nested value built by the application cannot overflow the stack.
  struct Frame {
    const json* container;
    json::const_iterator it;
  };
  std::vector<Frame> stack;
  if (writeHead(w, value)) stack.push_back({&value, value.cbegin()});
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.it == top.container->cend()) {
      stack.pop_back();
      continue;
    }
    if (top.container->is_object()) w.string(top.it.key());
    const json& element = *top.it;
    ++top.it;
    if (writeHead(w, element)) stack.push_back({&element, element.cbegin()});  // top is stale now
  }
  return out;
}

Result decode(std::span<const std::uint8_t> bytes, json& out, const DecodeLimits& limits) {
  json result;
  Decoder decoder(bytes, limits);
  if (Result r = decoder.run(result); !r) {
    out = nullptr;
    return r;
  }
  out = std::move(result);
  return {};
}

json closeMessage() { return json{{"__peerData", json{{"type", "close"}}}}; }

bool isCloseMessage(const json& value) {
  const json* pd = peerData(value);
  if (pd == nullptr || !pd->is_object()) return false;
  auto type = pd->find("type");
  return type != pd->end() && type->is_string() && type->get_ref<const std::string&>() == "close";
}

std::vector<std::vector<std::uint8_t>> Chunker::split(std::vector<std::uint8_t> packed) {
  std::vector<std::vector<std::uint8_t>> messages;
  if (packed.size() <= kChunkSize) {
    messages.push_back(std::move(packed));
    return messages;
  }
  const std::size_t total = (packed.size() + kChunkSize - 1) / kChunkSize;
  const std::uint64_t id = nextId_++;
  messages.reserve(total);
  for (std::size_t n = 0; n < total; ++n) {
    const std::size_t start = n * kChunkSize;
    const std::size_t len = std::min(kChunkSize, packed.size() - start);
    std::vector<std::uint8_t> m;
    m.reserve(len + 48);
    Writer w(m);
    // Written by hand: a json object would sort the keys, and the PeerJS client packs them in
    // this order.
    w.byte(0x84);
    w.string("__peerData");
    w.unsignedInt(id);
    w.string("n");
    w.unsignedInt(n);
    w.string("data");
    w.raw(packed.data() + start, len);
    w.string("total");
    w.unsignedInt(total);
    messages.push_back(std::move(m));
  }
  return messages;
}

Result Reassembler::feedPacked(std::span<const std::uint8_t> message,
                               std::optional<json>& complete) {
  complete.reset();
  json decoded;
  if (Result r = decode(message, decoded, limits_.decode); !r) return r;
  return feed(std::move(decoded), complete);
}

Result Reassembler::feed(json decoded, std::optional<json>& complete) {
  complete.reset();
  const json* pd = peerData(decoded);
  if (pd == nullptr) {
    complete = std::move(decoded);
    return {};
  }
  if (isCloseMessage(decoded)) {
    closeRequested_ = true;
    return {};
  }
  return feedChunk(decoded, complete);
}

void Reassembler::drop(std::int64_t id) {
  if (auto it = pending_.find(id); it != pending_.end()) {
    pendingBytes_ -= it->second.bytes;
    pending_.erase(it);
  }
  for (std::int64_t d : dropped_) {
    if (d == id) return;
  }
  dropped_.push_back(id);
  if (dropped_.size() > kRememberDropped) dropped_.pop_front();
}

Result Reassembler::feedChunk(json& chunk, std::optional<json>& complete) {
  auto fail = [](std::string why) { return Result::failure("PeerJS chunk: " + std::move(why)); };
  const json& idValue = chunk["__peerData"];
  if (!idValue.is_number_integer() ||
      (idValue.is_number_unsigned() &&
       idValue.get<std::uint64_t>() >
           static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
    return fail("\"__peerData\" is " + idValue.dump() +
                "; a chunk id must be an integer (and only {\"type\":\"close\"} is a control "
                "message)");
  }
  const std::int64_t id = idValue.get<std::int64_t>();
  const std::string name = "value " + std::to_string(id);
  for (std::int64_t d : dropped_) {
    if (d == id) return fail(name + " was dropped after an earlier error; chunk ignored");
  }

  auto field = [&](const char* key) -> const json* {
    auto it = chunk.find(key);
    return it == chunk.end() ? nullptr : &*it;
  };
  const json* total = field("total");
  const json* n = field("n");
  json* data = nullptr;
  if (auto it = chunk.find("data"); it != chunk.end()) data = &*it;
  auto isCount = [](const json* v) {
    return v != nullptr && v->is_number_integer() &&
           (v->is_number_unsigned() || v->get<std::int64_t>() >= 0);
  };
  if (!isCount(total) || !isCount(n) || data == nullptr || !data->is_binary()) {
    drop(id);
    return fail(name +
                ": needs \"n\" and \"total\" as non-negative integers and \"data\" as raw "
                "bytes");
  }
  const std::uint64_t totalCount = total->get<std::uint64_t>();
  const std::uint64_t index = n->get<std::uint64_t>();
  if (totalCount == 0 || totalCount > limits_.maxChunksPerValue) {
    drop(id);
    return fail(name + ": total " + std::to_string(totalCount) + " is outside 1.." +
                std::to_string(limits_.maxChunksPerValue));
  }
  if (index >= totalCount) {
    drop(id);
    return fail(name + ": chunk n=" + std::to_string(index) + " but total is " +
                std::to_string(totalCount));
  }

  auto it = pending_.find(id);
  if (it == pending_.end()) {
    if (pending_.size() >= limits_.maxPendingValues) {
      drop(id);
      return fail(name + ": already " + std::to_string(pending_.size()) +
                  " values being reassembled (the limit); this one is dropped");
    }
    it = pending_.emplace(id, Pending{}).first;
    it->second.total = static_cast<std::uint32_t>(totalCount);
  }
  Pending& p = it->second;
  if (p.total != totalCount) {
    Result error = fail(name + ": total " + std::to_string(totalCount) + " differs from the " +
                        std::to_string(p.total) + " of its earlier chunks");
    drop(id);  // p is gone after this
    return error;
  }
  const auto key = static_cast<std::uint32_t>(index);
  if (p.pieces.count(key) != 0) {
    drop(id);
    return fail(name + ": chunk n=" + std::to_string(index) + " arrived twice");
  }
  auto& bytes = data->get_binary();
  const std::size_t cost = bytes.size() + kChunkOverhead;
  if (cost > limits_.maxPendingBytes - std::min(limits_.maxPendingBytes, pendingBytes_)) {
    drop(id);
    return fail(name + ": holding this chunk of " + std::to_string(bytes.size()) +
                " bytes would exceed the limit of " + std::to_string(limits_.maxPendingBytes) +
                " bytes for values being reassembled");
  }
  p.bytes += cost;
  pendingBytes_ += cost;
  p.pieces.emplace(key, std::move(static_cast<std::vector<std::uint8_t>&>(bytes)));
  if (p.pieces.size() < p.total) return {};

  // Complete: take it out of the pending set before decoding, whatever the outcome.
  std::size_t size = 0;
  for (const auto& [i, piece] : p.pieces) size += piece.size();
  std::vector<std::uint8_t> whole;
  whole.reserve(size);
  for (const auto& [i, piece] : p.pieces) whole.insert(whole.end(), piece.begin(), piece.end());
  pendingBytes_ -= p.bytes;
  pending_.erase(it);

  json value;
  if (Result r = decode(whole, value, limits_.decode); !r) {
    return fail(name + " (" + std::to_string(whole.size()) +
                " bytes reassembled) does not decode: " + r.error());
  }
  if (isCloseMessage(value)) {
    closeRequested_ = true;
    return {};
  }
  if (peerData(value) != nullptr) {
    return fail(name + " is itself a chunk; chunks inside chunks are not supported");
  }
  complete = std::move(value);
  return {};
}

}  // namespace claynet::binarypack
