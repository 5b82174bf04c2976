#include "signaling/bounded_json.hpp"

#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace claynet::signaling {

using nlohmann::json;

namespace {

// Builds the value like nlohmann's own DOM parser, and in addition stops at the depth limit and
// keeps the parser's message instead of throwing it.
class BoundedDomBuilder {
 public:
  BoundedDomBuilder(json& root, std::size_t maxDepth) : root_(root), maxDepth_(maxDepth) {}

  bool null() { return add(nullptr); }
  bool boolean(bool v) { return add(v); }
  bool number_integer(json::number_integer_t v) { return add(v); }
  bool number_unsigned(json::number_unsigned_t v) { return add(v); }
  bool number_float(json::number_float_t v, const json::string_t&) { return add(v); }
  bool string(json::string_t& v) { return add(std::move(v)); }
  bool binary(json::binary_t& v) { return add(json::binary(std::move(v))); }

  bool start_object(std::size_t) { return open(json::object()); }
  bool key(json::string_t& k) {
    key_ = std::move(k);
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_array() { return close(); }

  bool parse_error(std::size_t position, const std::string&, const json::exception& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." -> "parse error ..."
    if (auto end = what.find("] "); what.rfind("[json.exception.", 0) == 0 && end != what.npos) {
      what.erase(0, end + 2);
    }
    error_ = "invalid JSON (byte " + std::to_string(position) + "): " + what;
    return false;
  }

  const std::string& error() const { return error_; }
  bool tooDeep() const { return tooDeep_; }

 private:
  // Places `v` where the parser is, returning it for containers that will be filled next.
  json* place(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    json& slot = parent[key_];
    slot = std::move(v);
    return &slot;
  }
  bool add(json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(json&& container) {
    if (stack_.size() >= maxDepth_) {
      error_ = "JSON nests deeper than " + std::to_string(maxDepth_) + " levels";
      tooDeep_ = true;
      return false;
    }
    stack_.push_back(place(std::move(container)));
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  json& root_;
  const std::size_t maxDepth_;
  std::vector<json*> stack_;
  std::string key_;
  std::string error_;
  bool tooDeep_ = false;
};

}  // namespace

Result parseBoundedJson(std::string_view text, json& out, std::size_t maxDepth,
                        JsonParseFailure* why) {
  out = nullptr;
  if (why) *why = JsonParseFailure::None;
  json result;
  BoundedDomBuilder builder(result, maxDepth);
  bool ok = false;
  try {
    ok = json::sax_parse(text, &builder, json::input_format_t::json, /*strict=*/true);
  } catch (const std::exception& e) {
    if (why) *why = JsonParseFailure::Invalid;
    return Result::failure(e.what());
  }
  if (!ok) {
    if (why) *why = builder.tooDeep() ? JsonParseFailure::TooDeep : JsonParseFailure::Invalid;
    return Result::failure(builder.error().empty() ? std::string("invalid JSON") : builder.error());
  }
  out = std::move(result);
  return {};
}

}  // namespace claynet::signaling
