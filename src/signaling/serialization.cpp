// The json and raw serializations of a PeerJS DataConnection (binary is binarypack.cpp).
#include <claynet/serialization.hpp>
#include <exception>
#include <string>
#include <utility>

#include "signaling/utf8.hpp"

namespace claynet {

using nlohmann::json;

std::string_view toString(Serialization serialization) {
  switch (serialization) {
    case Serialization::Binary:
      return "binary";
    case Serialization::Json:
      return "json";
    case Serialization::Raw:
      return "raw";
  }
  return "binary";
}

bool parseSerialization(std::string_view text, Serialization& out) {
  if (text == "binary") {
    out = Serialization::Binary;
  } else if (text == "json") {
    out = Serialization::Json;
  } else if (text == "raw") {
    out = Serialization::Raw;
  } else {
    return false;
  }
  return true;
}

namespace {

// Iterative, so that an application's deeply nested value cannot overflow the stack here.
bool containsBinary(const json& value) {
  std::vector<const json*> todo{&value};
  while (!todo.empty()) {
    const json* v = todo.back();
    todo.pop_back();
    if (v->is_binary()) return true;
    if (v->is_structured()) {
      for (const auto& element : *v) todo.push_back(&element);
    }
  }
  return false;
}

// Builds the value like nlohmann's own DOM parser, and in addition stops at kJsonMaxDepth and
// keeps the parser's message instead of throwing it.
class BoundedDomBuilder {
 public:
  explicit BoundedDomBuilder(json& root) : root_(root) {}

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
    if (stack_.size() >= kJsonMaxDepth) {
      error_ = "JSON nests deeper than " + std::to_string(kJsonMaxDepth) + " levels";
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
  std::vector<json*> stack_;
  std::string key_;
  std::string error_;
};

}  // namespace

Result encodeJson(const json& value, std::vector<std::uint8_t>& out, JsonEncodeFailure* why) {
  out.clear();
  auto failed = [why](JsonEncodeFailure kind, std::string text) {
    if (why) *why = kind;
    return Result::failure(std::move(text));
  };
  if (why) *why = JsonEncodeFailure::None;
  if (containsBinary(value)) {
    return failed(
        JsonEncodeFailure::Binary,
        "json serialization: the value contains raw bytes, which JSON cannot carry (use the "
        "binary or raw serialization for bytes)");
  }
  std::string text;
  try {
    text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (const std::exception& e) {
    return failed(JsonEncodeFailure::Unwritable,
                  std::string("json serialization: cannot write the value: ") + e.what());
  }
  if (text.size() >= kJsonMessageLimit) {
    return failed(JsonEncodeFailure::TooLarge,
                  "json serialization: the message is " + std::to_string(text.size()) +
                      " bytes; PeerJS's json serialization allows fewer than " +
                      std::to_string(kJsonMessageLimit) +
                      " (use the binary serialization, which chunks large values)");
  }
  out.assign(text.begin(), text.end());
  return {};
}

Result decodeJson(std::span<const std::uint8_t> bytes, json& out) {
  out = nullptr;
  // A browser decodes with TextDecoder, which turns ill-formed UTF-8 into U+FFFD before
  // JSON.parse sees it; do the same rather than refuse the message.
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::string repairedText;
  if (!signaling::utf8::isValid(text)) {
    repairedText = signaling::utf8::repaired(text);
    text = repairedText;
  }
  json result;
  BoundedDomBuilder builder(result);
  bool ok = false;
  try {
    ok = json::sax_parse(text, &builder, json::input_format_t::json, /*strict=*/true);
  } catch (const std::exception& e) {
    return Result::failure(std::string("json serialization: ") + e.what());
  }
  if (!ok) {
    return Result::failure("json serialization: " + (builder.error().empty()
                                                         ? std::string("invalid JSON")
                                                         : builder.error()));
  }
  out = std::move(result);
  return {};
}

}  // namespace claynet
