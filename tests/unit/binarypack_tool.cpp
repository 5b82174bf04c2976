// Line-based driver of claynet's BinaryPack for tests/unit/binarypack_js.mjs, which compares it
// with the real JavaScript implementation. One command per stdin line, one answer per line:
//   E <json>        -> hex of encode(json)
//   D <hex>         -> JSON of decode(bytes)
//   C <hex>         -> hex of each message Chunker::split(bytes) gives, space-separated
//                      (one Chunker for the whole run, so ids count up as on one connection)
//   R <hex> <hex>.. -> JSON of the value a fresh Reassembler puts together from those messages
// In the JSON both ways, raw bytes are {"$bin": "<hex>"}. Errors answer "ERR <message>".
#include <claynet/binarypack.hpp>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nlohmann::json;
namespace bp = claynet::binarypack;

std::string toHex(const std::vector<std::uint8_t>& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

bool fromHex(const std::string& s, std::vector<std::uint8_t>& out) {
  auto nibble = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (s.size() % 2 != 0) return false;
  out.clear();
  for (std::size_t i = 0; i < s.size(); i += 2) {
    const int hi = nibble(s[i]), lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return true;
}

// {"$bin": hex} -> binary, recursively.
bool fromTransport(json& v) {
  if (v.is_object()) {
    if (v.size() == 1 && v.contains("$bin") && v["$bin"].is_string()) {
      std::vector<std::uint8_t> b;
      if (!fromHex(v["$bin"].get<std::string>(), b)) return false;
      v = json::binary(std::move(b));
      return true;
    }
    for (auto& [k, e] : v.items()) {
      if (!fromTransport(e)) return false;
    }
  } else if (v.is_array()) {
    for (auto& e : v) {
      if (!fromTransport(e)) return false;
    }
  }
  return true;
}

json toTransport(const json& v) {
  if (v.is_binary()) return json{{"$bin", toHex(v.get_binary())}};
  if (v.is_object()) {
    json o = json::object();
    for (const auto& [k, e] : v.items()) o[k] = toTransport(e);
    return o;
  }
  if (v.is_array()) {
    json a = json::array();
    for (const auto& e : v) a.push_back(toTransport(e));
    return a;
  }
  return v;
}

std::string run(const std::string& line, bp::Chunker& chunker) {
  if (line.size() < 2 || line[1] != ' ') return "ERR bad command";
  const std::string arg = line.substr(2);
  switch (line[0]) {
    case 'E': {
      json v = json::parse(arg, nullptr, false);
      if (v.is_discarded() || !fromTransport(v)) return "ERR bad json";
      return toHex(bp::encode(v));
    }
    case 'D': {
      std::vector<std::uint8_t> b;
      if (!fromHex(arg, b)) return "ERR bad hex";
      json v;
      if (claynet::Result r = bp::decode(b, v); !r) return "ERR " + r.error();
      return toTransport(v).dump();
    }
    case 'C': {
      std::vector<std::uint8_t> b;
      if (!fromHex(arg, b)) return "ERR bad hex";
      std::string out;
      for (const auto& m : chunker.split(std::move(b))) out += (out.empty() ? "" : " ") + toHex(m);
      return out;
    }
    case 'R': {
      bp::Reassembler reassembler;
      std::istringstream parts(arg);
      std::string part;
      std::optional<json> complete;
      while (parts >> part) {
        std::vector<std::uint8_t> b;
        if (!fromHex(part, b)) return "ERR bad hex";
        if (claynet::Result r = reassembler.feedPacked(b, complete); !r) return "ERR " + r.error();
      }
      if (!complete) return "ERR incomplete";
      return toTransport(*complete).dump();
    }
    default:
      return "ERR unknown command";
  }
}

}  // namespace

int main() {
  bp::Chunker chunker;
  std::string line;
  while (std::getline(std::cin, line)) std::cout << run(line, chunker) << '\n';
  return 0;
}
