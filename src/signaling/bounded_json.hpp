// The one JSON parser for bytes that come from outside the process (PeerJS server frames,
// data-channel messages, Local-mode frames): nlohmann's SAX parser with a nesting limit.
//
// nlohmann's own parse() is iterative, but copying, comparing and dumping a value recurse once per
// level, so a value nested a few hundred thousand levels deep (well inside a 1 MiB frame)
// overflows the stack of whoever touches it next. Refusing it at parse time keeps every later use
// safe.
#pragma once

#include <claynet/result.hpp>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>

namespace claynet::signaling {

/// How deep a parsed value may nest (arrays and objects); the same as claynet::kJsonMaxDepth.
inline constexpr std::size_t kMaxJsonDepth = 512;

enum class JsonParseFailure { None, Invalid, TooDeep };

/// Parses `text` (strict JSON, one value, no comments). Never throws. On failure `out` is null and
/// the error says where the text is invalid ("invalid JSON (byte N): ...") or that it nests
/// deeper than `maxDepth` levels; `why`, when given, says which.
Result parseBoundedJson(std::string_view text, nlohmann::json& out,
                        std::size_t maxDepth = kMaxJsonDepth, JsonParseFailure* why = nullptr);

}  // namespace claynet::signaling
