// ClayHttpClient's endpoint descriptions ("GET users/{userId}", "POST posts {postData}") and
// bearer token forms, without I/O.
#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>
#include <optional>

namespace claynet::qml {

/// One entry of ClayHttpClient.endpoints.
struct HttpEndpoint {
  QByteArray verb;         ///< GET, POST, PUT, PATCH or DELETE
  QString path;            ///< relative to baseUrl, with {placeholders}
  QStringList pathParams;  ///< the placeholders' names, in order
  QString bodyParam;       ///< the trailing {name}, or empty when there is no body argument

  /// Arguments the generated method takes.
  int argumentCount() const {
    return static_cast<int>(pathParams.size()) + (bodyParam.isEmpty() ? 0 : 1);
  }
};

/// Parses "VERB path [{body}]". Returns nullopt and sets `error` on anything else.
std::optional<HttpEndpoint> parseHttpEndpoint(const QString& spec, QString& error);

/// baseUrl joined with the endpoint's path, each placeholder replaced by its argument
/// (percent-encoded, so "a/b c" stays one path segment: "a%2Fb%20c").
QString buildHttpUrl(const QString& baseUrl, const HttpEndpoint& endpoint,
                     const QStringList& pathArgs);

/// The token a bearerToken property names: the text itself, the environment variable of
/// "env:NAME", or the trimmed content of the file of "file:///path". Empty for an empty property.
/// Returns nullopt and sets `error` when the variable is unset or empty or the file unreadable.
std::optional<QString> resolveBearerToken(const QString& bearerToken, QString& error);

}  // namespace claynet::qml
