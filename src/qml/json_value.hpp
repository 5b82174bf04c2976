// Conversion between QML's values (QJSValue, QVariant) and nlohmann::json, for the data that
// Network sends and receives.
#pragma once

#include <QJSValue>
#include <QString>
#include <QVariant>
#include <nlohmann/json.hpp>
#include <optional>

namespace claynet::qml {

/// Deepest nesting accepted from QML; also what stops a JavaScript object that contains itself.
inline constexpr int kMaxJsonDepth = 128;

/// What a conversion changed on the way: numbers JSON cannot hold, written as null.
struct JsonConversionNotes {
  bool nan = false;
  bool infinity = false;
  bool negativeInfinity = false;
};

/// A JavaScript value as JSON: objects, arrays, numbers, strings, booleans and null. A number
/// with an integral value (within +-2^53) becomes a JSON integer, so 10 stays "10" on the wire.
/// As JSON.stringify() does: undefined and functions inside objects are left out, and NaN and
/// the infinities become null (noted in `notes` when given). Returns nullopt and sets `error`
/// for undefined at the top, a function at the top or nesting deeper than kMaxJsonDepth.
std::optional<nlohmann::json> jsonFromJs(const QJSValue& value, QString& error,
                                         JsonConversionNotes* notes = nullptr);

/// The same for a QVariant (as a `var` property holds it); a QJSValue inside is unwrapped.
std::optional<nlohmann::json> jsonFromVariant(const QVariant& value, QString& error,
                                              JsonConversionNotes* notes = nullptr);

/// JSON as a QVariant that QML sees as the matching JavaScript value (QVariantMap as an object,
/// QVariantList as an array, null as null).
QVariant variantFromJson(const nlohmann::json& value);

}  // namespace claynet::qml
