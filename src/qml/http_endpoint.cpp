#include "http_endpoint.hpp"

#include <QFile>
#include <QRegularExpression>
#include <QUrl>

namespace claynet::qml {

std::optional<HttpEndpoint> parseHttpEndpoint(const QString& spec, QString& error) {
  const QStringList parts = spec.simplified().split(QLatin1Char(' '), Qt::SkipEmptyParts);
  if (parts.size() < 2 || parts.size() > 3) {
    error = QStringLiteral("\"%1\" is not \"METHOD path\" or \"METHOD path {body}\"").arg(spec);
    return std::nullopt;
  }
  HttpEndpoint e;
  e.verb = parts[0].toUpper().toLatin1();
  static const QList<QByteArray> kVerbs = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  if (!kVerbs.contains(e.verb)) {
    error = QStringLiteral("\"%1\": method %2 is not GET, POST, PUT, PATCH or DELETE")
                .arg(spec, parts[0]);
    return std::nullopt;
  }
  e.path = parts[1];
  static const QRegularExpression kPlaceholder(QStringLiteral("\\{([^{}/]*)\\}"));
  for (auto it = kPlaceholder.globalMatch(e.path); it.hasNext();) {
    const QString name = it.next().captured(1);
    if (name.isEmpty()) {
      error = QStringLiteral("\"%1\": empty {} in the path").arg(spec);
      return std::nullopt;
    }
    e.pathParams.push_back(name);
  }
  if (parts.size() == 3) {
    static const QRegularExpression kBody(QStringLiteral("^\\{([^{}]+)\\}$"));
    const auto m = kBody.match(parts[2]);
    if (!m.hasMatch()) {
      error = QStringLiteral("\"%1\": after the path only a {body} argument may follow, not %2")
                  .arg(spec, parts[2]);
      return std::nullopt;
    }
    e.bodyParam = m.captured(1);
  }
  return e;
}

QString buildHttpUrl(const QString& baseUrl, const HttpEndpoint& endpoint,
                     const QStringList& pathArgs) {
  QString path = endpoint.path;
  for (qsizetype i = 0; i < endpoint.pathParams.size() && i < pathArgs.size(); ++i) {
    const QString placeholder = QLatin1Char('{') + endpoint.pathParams[i] + QLatin1Char('}');
    path.replace(path.indexOf(placeholder), placeholder.size(),
                 QString::fromLatin1(QUrl::toPercentEncoding(pathArgs[i])));
  }
  if (baseUrl.isEmpty()) return path;
  const bool baseSlash = baseUrl.endsWith(QLatin1Char('/'));
  const bool pathSlash = path.startsWith(QLatin1Char('/'));
  if (baseSlash && pathSlash) return baseUrl + path.mid(1);
  if (!baseSlash && !pathSlash) return baseUrl + QLatin1Char('/') + path;
  return baseUrl + path;
}

std::optional<QString> resolveCredential(const char* property, const QString& value,
                                         QString& error) {
  const QString what = QLatin1String(property);
  if (value.startsWith(QLatin1String("env:")) || value.startsWith(QLatin1String("env."))) {
    const QString name = value.mid(4);
    const QString resolved = qEnvironmentVariable(name.toLocal8Bit().constData());
    if (resolved.trimmed().isEmpty()) {
      error = QStringLiteral("%1: environment variable %2 is not set or empty").arg(what, name);
      return std::nullopt;
    }
    return resolved.trimmed();
  }
  if (value.startsWith(QLatin1String("file://"))) {
    const QString file = what == QLatin1String("bearerToken") ? QStringLiteral("token file")
                                                              : QStringLiteral("file");
    const QString path = QUrl(value).toLocalFile();
    QFile f(path);
    if (path.isEmpty() || !f.open(QIODevice::ReadOnly)) {
      error = QStringLiteral("%1: cannot read %2 %3: %4")
                  .arg(what, file, path.isEmpty() ? value : path, f.errorString());
      return std::nullopt;
    }
    const QString content = QString::fromUtf8(f.readAll()).trimmed();
    if (content.isEmpty()) {
      error = QStringLiteral("%1: %2 %3 is empty").arg(what, file, path);
      return std::nullopt;
    }
    return content;
  }
  return value;
}

namespace {

// RFC 9110 token: what a header name may be made of.
bool isHeaderName(const QString& s) {
  static const QRegularExpression kToken(QStringLiteral("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"));
  return kToken.match(s).hasMatch();
}

// The resolved value of one property, refused with a line break (it would start a header).
std::optional<QString> headerValue(const char* property, const QString& value, QString& error) {
  auto v = resolveCredential(property, value, error);
  if (v && (v->contains(QLatin1Char('\r')) || v->contains(QLatin1Char('\n')) ||
            v->contains(QChar(u'\0')))) {
    error = QStringLiteral("%1: the value contains a line break").arg(QLatin1String(property));
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::optional<HttpAuthHeaders> buildHttpAuthHeaders(const HttpCredentials& c, QString& error) {
  // Only what is sent is resolved: an unset variable behind a credential that a bearer token
  // overrides is no error.
  HttpAuthHeaders h;
  if (!c.bearerToken.isEmpty()) {
    auto token = headerValue("bearerToken", c.bearerToken, error);
    if (!token) return std::nullopt;
    h.authorization = "Bearer " + token->toUtf8();
  } else if (!c.basicAuthUser.isEmpty()) {
    auto user = headerValue("basicAuthUser", c.basicAuthUser, error);
    if (!user) return std::nullopt;
    if (user->contains(QLatin1Char(':'))) {
      error = QStringLiteral(
          "basicAuthUser: a user name for basic authentication cannot contain "
          "a colon (RFC 7617)");
      return std::nullopt;
    }
    auto password = headerValue("basicAuthPassword", c.basicAuthPassword, error);
    if (!password) return std::nullopt;
    h.authorization = "Basic " + (*user + QLatin1Char(':') + *password).toUtf8().toBase64();
  }
  if (!c.apiKey.isEmpty() && !c.apiKeyHeader.isEmpty()) {
    if (!isHeaderName(c.apiKeyHeader)) {
      error = QStringLiteral("apiKeyHeader: \"%1\" is not an HTTP header name").arg(c.apiKeyHeader);
      return std::nullopt;
    }
    auto key = headerValue("apiKey", c.apiKey, error);
    if (!key) return std::nullopt;
    h.apiKeyName = c.apiKeyHeader.toLatin1();
    h.apiKeyValue = key->toUtf8();
  }
  return h;
}

}  // namespace claynet::qml
