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

std::optional<QString> resolveBearerToken(const QString& bearerToken, QString& error) {
  if (bearerToken.startsWith(QLatin1String("env:"))) {
    const QString name = bearerToken.mid(4);
    const QString value = qEnvironmentVariable(name.toLocal8Bit().constData());
    if (value.trimmed().isEmpty()) {
      error = QStringLiteral("bearerToken: environment variable %1 is not set or empty").arg(name);
      return std::nullopt;
    }
    return value.trimmed();
  }
  if (bearerToken.startsWith(QLatin1String("file://"))) {
    const QString path = QUrl(bearerToken).toLocalFile();
    QFile file(path);
    if (path.isEmpty() || !file.open(QIODevice::ReadOnly)) {
      error = QStringLiteral("bearerToken: cannot read token file %1: %2")
                  .arg(path.isEmpty() ? bearerToken : path, file.errorString());
      return std::nullopt;
    }
    const QString token = QString::fromUtf8(file.readAll()).trimmed();
    if (token.isEmpty()) {
      error = QStringLiteral("bearerToken: token file %1 is empty").arg(path);
      return std::nullopt;
    }
    return token;
  }
  return bearerToken;
}

}  // namespace claynet::qml
