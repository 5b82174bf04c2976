#include "http_client.hpp"

#include <QJSEngine>
#include <QJsonDocument>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QQmlEngine>
#include <QRegularExpression>
#include <QTimer>
#include <QUrl>
#include <QtDebug>

#include "json_value.hpp"

namespace claynet::qml {
namespace {

// A generated method must not hide a property, signal or method of the object itself.
bool isOwnMember(const QString& name) {
  const QMetaObject& meta = HttpClient::staticMetaObject;
  const QByteArray latin1 = name.toLatin1();
  if (meta.indexOfProperty(latin1.constData()) >= 0) return true;
  for (int i = 0; i < meta.methodCount(); ++i)
    if (meta.method(i).name() == latin1) return true;
  return false;
}

}  // namespace

HttpClient::HttpClient(QObject* parent)
    : QQmlPropertyMap(this, parent), invoker_(new HttpInvoker(this)) {
  QJSEngine::setObjectOwnership(invoker_, QJSEngine::CppOwnership);
}

int HttpInvoker::invoke(const QString& name, const QJSValue& args) {
  return client_ ? client_->invokeEndpoint(name, args) : 0;
}

HttpClient::~HttpClient() {
  // Aborting emits finished(); this object is half gone by the time manager_ would do it.
  for (QNetworkReply* pending : manager_.findChildren<QNetworkReply*>()) {
    pending->disconnect(this);
    pending->abort();
  }
}

void HttpClient::setBaseUrl(const QString& url) {
  if (url == baseUrl_) return;
  baseUrl_ = url;
  emit baseUrlChanged();
  regenerateMethods();
}

void HttpClient::setEndpoints(const QVariant& endpoints) {
  QVariant value = endpoints;
  if (value.metaType() == QMetaType::fromType<QJSValue>())
    value = value.value<QJSValue>().toVariant();
  if (value == endpoints_) return;
  endpoints_ = value;
  emit endpointsChanged();
  regenerateMethods();
}

void HttpClient::setText(QString& field, const QString& value, void (HttpClient::*changed)()) {
  if (value == field) return;
  field = value;
  emit(this->*changed)();
}

void HttpClient::setBearerToken(const QString& token) {
  setText(credentials_.bearerToken, token, &HttpClient::bearerTokenChanged);
}
void HttpClient::setBasicAuthUser(const QString& user) {
  setText(credentials_.basicAuthUser, user, &HttpClient::basicAuthUserChanged);
}
void HttpClient::setBasicAuthPassword(const QString& password) {
  setText(credentials_.basicAuthPassword, password, &HttpClient::basicAuthPasswordChanged);
}
void HttpClient::setApiKey(const QString& key) {
  setText(credentials_.apiKey, key, &HttpClient::apiKeyChanged);
}
void HttpClient::setApiKeyHeader(const QString& header) {
  setText(credentials_.apiKeyHeader, header, &HttpClient::apiKeyHeaderChanged);
}

void HttpClient::setTimeout(int ms) {
  if (ms < 0) {
    qWarning().noquote() << "ClayHttpClient: timeout must not be negative, ignored:" << ms;
    return;
  }
  if (ms == timeoutMs_) return;
  timeoutMs_ = ms;
  emit timeoutChanged();
}

void HttpClient::componentComplete() {
  complete_ = true;
  regenerateMethods();
}

void HttpClient::regenerateMethods() {
  if (!complete_) return;  // the component's other properties may still be on their way
  QHash<QString, HttpEndpoint> parsed;
  const QVariantMap table = endpoints_.toMap();
  if (endpoints_.isValid() && !endpoints_.isNull() && table.isEmpty() &&
      endpoints_.metaType() != QMetaType::fromType<QVariantMap>())
    qWarning().noquote() << "ClayHttpClient: endpoints must be an object of name: \"VERB path\"";
  static const QRegularExpression kIdentifier(QStringLiteral("^[A-Za-z_$][A-Za-z0-9_$]*$"));
  for (auto it = table.cbegin(); it != table.cend(); ++it) {
    const QString& name = it.key();
    if (!kIdentifier.match(name).hasMatch() || isOwnMember(name)) {
      qWarning().noquote() << "ClayHttpClient: endpoint name" << name
                           << "is not an identifier or is taken by ClayHttpClient itself; skipped";
      continue;
    }
    QString error;
    auto endpoint = parseHttpEndpoint(it.value().toString(), error);
    if (!endpoint) {
      qWarning().noquote() << "ClayHttpClient: endpoint" << name << "skipped:" << error;
      continue;
    }
    parsed.insert(name, *endpoint);
  }

  QJSEngine* engine = qmlEngine(this);
  for (const QString& old : keys())
    if (!parsed.contains(old)) clear(old);
  parsed_ = std::move(parsed);
  if (!engine) return;  // made from C++ without QML: invokeEndpoint() still works
  // The closure holds the invoker rather than needing `this`, so `const f = api.getUser; f(1)`
  // works too.
  const QJSValue factory = engine->evaluate(
      QStringLiteral("(function (invoker, name) { return function () {"
                     " return invoker.invoke(name, Array.prototype.slice.call(arguments)); }; })"));
  const QJSValue self = engine->toScriptValue(invoker_);
  for (auto it = parsed_.cbegin(); it != parsed_.cend(); ++it)
    insert(it.key(), QVariant::fromValue(factory.call({self, QJSValue(it.key())})));
}

void HttpClient::failLater(int requestId, const QString& message) {
  QMetaObject::invokeMethod(
      this, [this, requestId, message] { emit error(requestId, 0, message); },
      Qt::QueuedConnection);
}

int HttpClient::invokeEndpoint(const QString& name, const QJSValue& args) {
  const int id = nextRequestId_++;
  const auto found = parsed_.constFind(name);
  if (found == parsed_.cend()) {
    failLater(id, QStringLiteral("no endpoint named %1").arg(name));
    return id;
  }
  const HttpEndpoint& endpoint = *found;
  const int given = args.isArray() ? args.property(QStringLiteral("length")).toInt() : 0;
  if (given != endpoint.argumentCount()) {
    QStringList names = endpoint.pathParams;
    if (!endpoint.bodyParam.isEmpty()) names.push_back(endpoint.bodyParam);
    failLater(id, QStringLiteral("%1 takes %2 argument(s) (%3), got %4")
                      .arg(name)
                      .arg(endpoint.argumentCount())
                      .arg(names.join(QStringLiteral(", ")))
                      .arg(given));
    return id;
  }
  QStringList pathArgs;
  for (int i = 0; i < endpoint.pathParams.size(); ++i)
    pathArgs.push_back(args.property(i).toString());

  QByteArray body;
  QByteArray contentType;
  if (!endpoint.bodyParam.isEmpty()) {
    const QJSValue value = args.property(static_cast<quint32>(endpoint.pathParams.size()));
    if (value.isString()) {
      // Text is sent as it is; it is labelled JSON when it is JSON (e.g. from JSON.stringify).
      body = value.toString().toUtf8();
      QJsonParseError parseError;
      QJsonDocument::fromJson(body, &parseError);
      contentType = parseError.error == QJsonParseError::NoError ? "application/json"
                                                                 : "text/plain; charset=utf-8";
    } else {
      QString error;
      auto json = jsonFromJs(value, error);
      if (!json) {
        failLater(id, QStringLiteral("%1: body %2: %3").arg(name, endpoint.bodyParam, error));
        return id;
      }
      body = QByteArray::fromStdString(json->dump());
      contentType = "application/json";
    }
  }

  const QUrl url(buildHttpUrl(baseUrl_, endpoint, pathArgs));
  if (!url.isValid() || url.isRelative()) {
    failLater(id, QStringLiteral("%1: invalid URL \"%2\" (baseUrl \"%3\")")
                      .arg(name, url.toString(), baseUrl_));
    return id;
  }
  QString authError;
  const auto auth = buildHttpAuthHeaders(credentials_, authError);
  if (!auth) {  // nothing is sent without the credentials the user asked for
    failLater(id, authError);
    return id;
  }

  QNetworkRequest request(url);
  request.setRawHeader("Accept", "application/json");
  if (!auth->authorization.isEmpty()) request.setRawHeader("Authorization", auth->authorization);
  if (!auth->apiKeyName.isEmpty()) request.setRawHeader(auth->apiKeyName, auth->apiKeyValue);
  if (!contentType.isEmpty()) request.setHeader(QNetworkRequest::ContentTypeHeader, contentType);
  const int timeoutMs = timeoutMs_;
  request.setTransferTimeout(timeoutMs);
  QNetworkReply* networkReply = endpoint.bodyParam.isEmpty()
                                    ? manager_.sendCustomRequest(request, endpoint.verb)
                                    : manager_.sendCustomRequest(request, endpoint.verb, body);
  connect(networkReply, &QNetworkReply::finished, this,
          [this, id, timeoutMs, networkReply] { finished(id, timeoutMs, networkReply); });
  return id;
}

void HttpClient::finished(int requestId, int timeoutMs, QNetworkReply* networkReply) {
  networkReply->deleteLater();
  const QVariant status = networkReply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
  // An aborted reply (transfer timeout) is closed, and reading it would only print a warning.
  const QString body =
      networkReply->isOpen() ? QString::fromUtf8(networkReply->readAll()) : QString();
  // The destructor disconnects before it aborts, so a cancel that gets here is the transfer
  // timeout, which Qt reports as "Operation canceled".
  const QString failure =
      networkReply->error() == QNetworkReply::OperationCanceledError
          ? QStringLiteral("timed out after %1 ms without progress").arg(timeoutMs)
          : networkReply->errorString();
  if (!status.isValid()) {  // no HTTP answer at all
    emit error(requestId, 0, failure);
    return;
  }
  const int code = status.toInt();
  if (code >= 200 && code < 300) {
    // The status line came, but the body did not arrive whole (connection dropped, timeout):
    // a truncated body must not pass for the answer.
    if (networkReply->error() != QNetworkReply::NoError)
      emit error(requestId, 0, failure);
    else
      emit reply(requestId, code, body);
    return;
  }
  if (!body.isEmpty()) {
    emit error(requestId, code, body);
    return;
  }
  const QString reason =
      networkReply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString();
  emit error(requestId, code, QStringLiteral("HTTP %1 %2").arg(code).arg(reason).trimmed());
}

}  // namespace claynet::qml
