// ClayHttpClient's endpoint descriptions ("GET users/{userId}", "POST posts {postData}") and
// credentials (bearer, basic, API key), without network I/O.
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

/// The value a credential property names: the text itself, an environment variable ("env.NAME",
/// Clayground's form, or "env:NAME", the seeds'), or the trimmed content of a file
/// ("file:///path"). Empty for an empty property. Returns nullopt and sets `error` (starting
/// with `property`) when the variable is unset or empty, or the file unreadable or empty.
std::optional<QString> resolveCredential(const char* property, const QString& value,
                                         QString& error);

/// ClayHttpClient's credential properties, as set (unresolved).
struct HttpCredentials {
  QString bearerToken;
  QString basicAuthUser;
  QString basicAuthPassword;
  QString apiKey;
  QString apiKeyHeader;
};

/// The headers credentials make. Empty fields: no such header.
struct HttpAuthHeaders {
  QByteArray authorization;  ///< "Bearer <token>", else "Basic base64(user:password)"
  QByteArray apiKeyName;     ///< apiKeyHeader, when it and apiKey are both non-empty
  QByteArray apiKeyValue;
};

/// As Clayground builds them: a bearer token wins over basic (one Authorization header), and
/// the API key header goes beside either. Each value is resolved with resolveCredential().
/// nullopt, with `error` naming the property, for a value that cannot be resolved, a line break
/// in a header value (it would start a header of its own), a colon in basicAuthUser (RFC 7617)
/// or an apiKeyHeader that is not an HTTP header name.
std::optional<HttpAuthHeaders> buildHttpAuthHeaders(const HttpCredentials& credentials,
                                                    QString& error);

}  // namespace claynet::qml
