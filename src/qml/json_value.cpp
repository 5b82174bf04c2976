#include "json_value.hpp"

#include <QAssociativeIterable>
#include <QDateTime>
#include <QJSValueIterator>
#include <QJsonArray>
#include <QJsonObject>
#include <QJsonValue>
#include <QSequentialIterable>
#include <QVariantList>
#include <QVariantMap>
#include <cmath>

namespace claynet::qml {
namespace {

// JavaScript numbers are doubles; integral ones in this range are exact as int64 and keep the
// wire format of a browser's JSON.stringify ("10", not "10.0").
constexpr double kMaxSafeInteger = 9007199254740992.0;  // 2^53

// As JSON.stringify and Qt's JSON writer (Clayground's two backends) do: NaN and the infinities
// go out as null, and the rest of the value with them.
nlohmann::json fromNumber(double d, JsonConversionNotes* notes) {
  if (!std::isfinite(d)) {
    if (notes) {
      if (std::isnan(d))
        notes->nan = true;
      else if (d > 0)
        notes->infinity = true;
      else
        notes->negativeInfinity = true;
    }
    return nlohmann::json(nullptr);
  }
  if (std::trunc(d) == d && std::fabs(d) <= kMaxSafeInteger)
    return nlohmann::json(static_cast<std::int64_t>(d));
  return nlohmann::json(d);
}

std::string utf8(const QString& s) { return s.toStdString(); }

std::optional<nlohmann::json> fromVariant(const QVariant& v, int depth, QString& error,
                                          JsonConversionNotes* notes);

std::optional<nlohmann::json> fromJs(const QJSValue& v, int depth, QString& error,
                                     JsonConversionNotes* notes) {
  if (depth > kMaxJsonDepth) {
    error = QStringLiteral("data is nested deeper than %1 levels (or contains itself)")
                .arg(kMaxJsonDepth);
    return std::nullopt;
  }
  if (v.isNull()) return nlohmann::json(nullptr);
  if (v.isBool()) return nlohmann::json(v.toBool());
  if (v.isNumber()) return fromNumber(v.toNumber(), notes);
  if (v.isString()) return nlohmann::json(utf8(v.toString()));
  if (v.isUndefined()) {
    error = QStringLiteral("data is undefined");
    return std::nullopt;
  }
  if (v.isCallable()) {
    error = QStringLiteral("data is a function");
    return std::nullopt;
  }
  if (v.isArray()) {
    auto out = nlohmann::json::array();
    const auto length = v.property(QStringLiteral("length")).toUInt();
    for (quint32 i = 0; i < length; ++i) {
      const QJSValue item = v.property(i);
      if (item.isUndefined() || item.isCallable()) {  // as JSON.stringify: null in arrays
        out.push_back(nullptr);
        continue;
      }
      auto j = fromJs(item, depth + 1, error, notes);
      if (!j) return std::nullopt;
      out.push_back(std::move(*j));
    }
    return out;
  }
  if (v.isVariant() || v.isQObject() || v.isDate() || v.isRegExp() || v.isUrl())
    return fromVariant(v.toVariant(), depth, error, notes);
  if (v.isObject()) {
    // A list property (QStringList, list<T>) reads as a sequence wrapper, which isArray() does
    // not count; unconverted it would go out as {"0": ..}. Only those have a length, which
    // spares plain objects the conversion.
    if (v.property(QStringLiteral("length")).isNumber()) {
      const QVariant variant = v.toVariant();
      if (variant.metaType() != QMetaType::fromType<QVariantMap>() &&
          variant.canConvert<QSequentialIterable>())
        return fromVariant(variant, depth, error, notes);
    }
    auto out = nlohmann::json::object();
    QJSValueIterator it(v);
    while (it.hasNext()) {
      it.next();
      const QJSValue item = it.value();
      if (item.isUndefined() || item.isCallable()) continue;  // as JSON.stringify
      auto j = fromJs(item, depth + 1, error, notes);
      if (!j) return std::nullopt;
      out[utf8(it.name())] = std::move(*j);
    }
    return out;
  }
  error = QStringLiteral("data has a type JSON cannot hold");
  return std::nullopt;
}

std::optional<nlohmann::json> fromVariant(const QVariant& v, int depth, QString& error,
                                          JsonConversionNotes* notes) {
  if (depth > kMaxJsonDepth) {
    error = QStringLiteral("data is nested deeper than %1 levels").arg(kMaxJsonDepth);
    return std::nullopt;
  }
  if (v.metaType() == QMetaType::fromType<QJSValue>())
    return fromJs(v.value<QJSValue>(), depth, error, notes);
  if (!v.isValid()) {
    error = QStringLiteral("data is undefined");
    return std::nullopt;
  }
  switch (v.metaType().id()) {
    case QMetaType::Nullptr:
      return nlohmann::json(nullptr);
    case QMetaType::Bool:
      return nlohmann::json(v.toBool());
    case QMetaType::Int:
    case QMetaType::LongLong:
    case QMetaType::Short:
    case QMetaType::Long:
      return nlohmann::json(v.toLongLong());
    case QMetaType::UInt:
    case QMetaType::ULongLong:
    case QMetaType::UShort:
    case QMetaType::ULong:
      return nlohmann::json(v.toULongLong());
    case QMetaType::Double:
    case QMetaType::Float:
      return fromNumber(v.toDouble(), notes);
    case QMetaType::QString:
      return nlohmann::json(utf8(v.toString()));
    case QMetaType::QVariantList:
    case QMetaType::QStringList: {
      auto out = nlohmann::json::array();
      for (const QVariant& item : v.toList()) {
        auto j = fromVariant(item, depth + 1, error, notes);
        if (!j) return std::nullopt;
        out.push_back(std::move(*j));
      }
      return out;
    }
    case QMetaType::QVariantMap: {
      auto out = nlohmann::json::object();
      const QVariantMap map = v.toMap();
      for (auto it = map.cbegin(); it != map.cend(); ++it) {
        auto j = fromVariant(it.value(), depth + 1, error, notes);
        if (!j) return std::nullopt;
        out[utf8(it.key())] = std::move(*j);
      }
      return out;
    }
    case QMetaType::QDateTime:  // as JSON.stringify does: UTC with milliseconds and "Z"
      return nlohmann::json(utf8(v.toDateTime().toUTC().toString(Qt::ISODateWithMs)));
    case QMetaType::QJsonValue:
    case QMetaType::QJsonObject:
    case QMetaType::QJsonArray:
    case QMetaType::QJsonDocument:
      return fromVariant(v.toJsonValue().toVariant(), depth, error, notes);
    default:
      break;
  }
  // Other containers: QVariantHash, QList<int>, QList<QString>, ...
  if (v.canConvert<QAssociativeIterable>()) {
    auto out = nlohmann::json::object();
    const QAssociativeIterable map = v.value<QAssociativeIterable>();
    for (auto it = map.begin(); it != map.end(); ++it) {
      auto j = fromVariant(it.value(), depth + 1, error, notes);
      if (!j) return std::nullopt;
      out[utf8(it.key().toString())] = std::move(*j);
    }
    return out;
  }
  if (v.canConvert<QSequentialIterable>()) {
    auto out = nlohmann::json::array();
    const QSequentialIterable list = v.value<QSequentialIterable>();
    for (const QVariant& item : list) {
      auto j = fromVariant(item, depth + 1, error, notes);
      if (!j) return std::nullopt;
      out.push_back(std::move(*j));
    }
    return out;
  }
  if (v.canConvert<QString>()) return nlohmann::json(utf8(v.toString()));  // dates, URLs
  error = QStringLiteral("data has a type JSON cannot hold (%1)").arg(v.typeName());
  return std::nullopt;
}

}  // namespace

std::optional<nlohmann::json> jsonFromJs(const QJSValue& value, QString& error,
                                         JsonConversionNotes* notes) {
  return fromJs(value, 0, error, notes);
}

std::optional<nlohmann::json> jsonFromVariant(const QVariant& value, QString& error,
                                              JsonConversionNotes* notes) {
  return fromVariant(value, 0, error, notes);
}

QVariant variantFromJson(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return QVariant::fromValue(nullptr);
    case nlohmann::json::value_t::boolean:
      return QVariant(value.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return QVariant(static_cast<qlonglong>(value.get<std::int64_t>()));
    case nlohmann::json::value_t::number_unsigned:
      return QVariant(static_cast<qulonglong>(value.get<std::uint64_t>()));
    case nlohmann::json::value_t::number_float:
      return QVariant(value.get<double>());
    case nlohmann::json::value_t::string:
      return QVariant(QString::fromStdString(value.get_ref<const std::string&>()));
    case nlohmann::json::value_t::array: {
      QVariantList list;
      list.reserve(static_cast<qsizetype>(value.size()));
      for (const auto& item : value) list.push_back(variantFromJson(item));
      return list;
    }
    case nlohmann::json::value_t::object: {
      QVariantMap map;
      for (auto it = value.begin(); it != value.end(); ++it)
        map.insert(QString::fromStdString(it.key()), variantFromJson(it.value()));
      return map;
    }
    case nlohmann::json::value_t::binary:
    case nlohmann::json::value_t::discarded:
      break;
  }
  return QVariant::fromValue(nullptr);
}

}  // namespace claynet::qml
