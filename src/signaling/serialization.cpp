// The json and raw serializations of a PeerJS DataConnection (binary is binarypack.cpp).
#include <claynet/serialization.hpp>
#include <exception>
#include <string>
#include <utility>

#include "signaling/bounded_json.hpp"
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
  if (Result r = signaling::parseBoundedJson(text, result, kJsonMaxDepth); !r)
    return Result::failure("json serialization: " + r.error());
  out = std::move(result);
  return {};
}

}  // namespace claynet
