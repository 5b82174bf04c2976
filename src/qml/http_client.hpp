// The `ClayHttpClient` QML type of Clayground.Network: a REST client whose methods are generated
// from a table of endpoints.
#pragma once

#include <QtQml/qqmlregistration.h>

#include <QHash>
#include <QJSValue>
#include <QNetworkAccessManager>
#include <QPointer>
#include <QQmlParserStatus>
#include <QQmlPropertyMap>
#include <QString>
#include <QVariant>

#include "http_endpoint.hpp"

class QNetworkReply;

namespace claynet::qml {

/// Each entry of `endpoints` ("name": "VERB path/{arg} [{body}]") becomes a method `name(...)`:
/// its arguments fill the path's placeholders in order (percent-encoded), then the body if the
/// entry names one; it returns a request id. The answer comes as reply(requestId, code, response)
/// for a 2xx status, else error(requestId, code, error) with the status and the body; code 0
/// means no HTTP answer, or a 2xx whose body did not arrive whole (the error says why: refused,
/// "timed out after N ms without progress", connection closed, bad URL, missing token).
///
/// The methods are properties of this object (a QQmlPropertyMap) holding JavaScript functions;
/// they are made when the component completes and again whenever endpoints or baseUrl change.
/// A method whose entry was removed becomes undefined.
///
/// As in Clayground, the methods are also reachable through `api` (`client.api.getUser(1)`), so
/// no endpoint can be named `api` (nor like any other member of this type).
class HttpClient : public QQmlPropertyMap, public QQmlParserStatus {
  Q_OBJECT
  Q_INTERFACES(QQmlParserStatus)
  QML_NAMED_ELEMENT(ClayHttpClient)

  /// Prefix of every endpoint path, e.g. "https://api.example.com" (a "/" is put between).
  Q_PROPERTY(QString baseUrl READ baseUrl WRITE setBaseUrl NOTIFY baseUrlChanged)
  /// {"methodName": "VERB path [{body}]"}; VERB is GET, POST, PUT, PATCH or DELETE.
  Q_PROPERTY(QVariant endpoints READ endpoints WRITE setEndpoints NOTIFY endpointsChanged)
  /// Every credential below is the value itself, "env.NAME" or "env:NAME" (an environment
  /// variable) or "file:///path" (a file's content, trimmed), read at each request. One that
  /// cannot be read fails the request with error(id, 0, "<property>: ...") and sends nothing.
  ///
  /// Sent as "Authorization: Bearer <token>"; wins over basicAuthUser. Empty: none.
  Q_PROPERTY(QString bearerToken READ bearerToken WRITE setBearerToken NOTIFY bearerTokenChanged)
  /// With no bearerToken, a non-empty user sends "Authorization: Basic base64(user:password)".
  Q_PROPERTY(
      QString basicAuthUser READ basicAuthUser WRITE setBasicAuthUser NOTIFY basicAuthUserChanged)
  Q_PROPERTY(QString basicAuthPassword READ basicAuthPassword WRITE setBasicAuthPassword NOTIFY
                 basicAuthPasswordChanged)
  /// Sent as "<apiKeyHeader>: <apiKey>" when both are non-empty, beside any Authorization.
  Q_PROPERTY(QString apiKey READ apiKey WRITE setApiKey NOTIFY apiKeyChanged)
  /// Default "X-API-Key".
  Q_PROPERTY(
      QString apiKeyHeader READ apiKeyHeader WRITE setApiKeyHeader NOTIFY apiKeyHeaderChanged)
  /// claynet extension: milliseconds a request may go without progress before it fails with
  /// code 0. Default 30000; 0 disables.
  Q_PROPERTY(int timeout READ timeout WRITE setTimeout NOTIFY timeoutChanged)
  /// The object holding the generated methods, which is this client itself (Clayground's
  /// `ClayHttpClient::api`).
  Q_PROPERTY(QObject* api READ api CONSTANT)

 public:
  static constexpr int kDefaultTimeoutMs = 30000;

  explicit HttpClient(QObject* parent = nullptr);
  /// Aborts the requests still running; no signal follows.
  ~HttpClient() override;

  QString baseUrl() const { return baseUrl_; }
  void setBaseUrl(const QString& url);
  QVariant endpoints() const { return endpoints_; }
  void setEndpoints(const QVariant& endpoints);
  QString bearerToken() const { return credentials_.bearerToken; }
  void setBearerToken(const QString& token);
  QString basicAuthUser() const { return credentials_.basicAuthUser; }
  void setBasicAuthUser(const QString& user);
  QString basicAuthPassword() const { return credentials_.basicAuthPassword; }
  void setBasicAuthPassword(const QString& password);
  QString apiKey() const { return credentials_.apiKey; }
  void setApiKey(const QString& key);
  QString apiKeyHeader() const { return credentials_.apiKeyHeader; }
  void setApiKeyHeader(const QString& header);
  int timeout() const { return timeoutMs_; }
  void setTimeout(int ms);
  QObject* api() { return this; }

  /// What every generated method calls: sends the request of endpoint `name` with `args` (an
  /// array) and returns its request id. Unknown names and wrong argument counts come back as
  /// error(id, 0, message).
  Q_INVOKABLE int invokeEndpoint(const QString& name, const QJSValue& args);

  void classBegin() override {}
  void componentComplete() override;

 signals:
  /// A 2xx answer; `response` is the body as text (JSON.parse it for JSON).
  void reply(int requestId, int code, const QString& response);
  /// Any other answer (code = HTTP status, error = the body), or no answer (code 0, error says
  /// why).
  void error(int requestId, int code, const QString& error);
  void baseUrlChanged();
  void endpointsChanged();
  void bearerTokenChanged();
  void basicAuthUserChanged();
  void basicAuthPasswordChanged();
  void apiKeyChanged();
  void apiKeyHeaderChanged();
  void timeoutChanged();

 private:
  void regenerateMethods();
  /// Sets one property and notifies, only on change.
  void setText(QString& field, const QString& value, void (HttpClient::*changed)());
  /// Emits error() from the event loop, so the caller has the request id before it arrives.
  void failLater(int requestId, const QString& message);
  void finished(int requestId, int timeoutMs, QNetworkReply* networkReply);

  QString baseUrl_;
  QVariant endpoints_;
  HttpCredentials credentials_{{}, {}, {}, {}, QStringLiteral("X-API-Key")};
  int timeoutMs_ = kDefaultTimeoutMs;
  bool complete_ = false;
  int nextRequestId_ = 1;
  QHash<QString, HttpEndpoint> parsed_;
  QNetworkAccessManager manager_;
  /// What the generated functions call into instead of this object's own JavaScript wrapper:
  /// capturing that would keep a client made with createObject(null) from ever being collected.
  QObject* invoker_ = nullptr;
};

/// Forwards a generated method's call to its client while the client lives.
class HttpInvoker : public QObject {
  Q_OBJECT
  QML_ANONYMOUS

 public:
  explicit HttpInvoker(HttpClient* client) : QObject(client), client_(client) {}
  Q_INVOKABLE int invoke(const QString& name, const QJSValue& args);

 private:
  QPointer<HttpClient> client_;
};

}  // namespace claynet::qml
