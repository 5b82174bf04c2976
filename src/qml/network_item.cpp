#include "network_item.hpp"

#include <QMetaObject>
#include <QPointer>
#include <QtDebug>
#include <mutex>

#include "json_value.hpp"
#include "network/network_config.hpp"

namespace claynet::qml {

/// What the Runtime's wake-up hook holds. The hook runs on the network thread and may still be
/// running after setWakeupHook() replaced it, so it cannot point at the item directly: the item
/// clears `target` (under the mutex) before it goes away.
struct PollWaker {
  std::mutex mutex;
  NetworkItem* target = nullptr;
};

namespace {

// Events run per queued poll before the GUI thread gets its turn again (rendering, input).
constexpr std::size_t kEventsPerPoll = 256;

QString qs(const std::string& s) { return QString::fromStdString(s); }

QStringList toQStringList(const std::vector<std::string>& v) {
  QStringList out;
  out.reserve(static_cast<qsizetype>(v.size()));
  for (const auto& s : v) out.push_back(qs(s));
  return out;
}

}  // namespace

NetworkItem::NetworkItem(QObject* parent)
    : QObject(parent),
      runtime_(std::make_unique<claynet::Runtime>()),
      waker_(std::make_shared<PollWaker>()),
      network_(std::make_unique<claynet::Network>(*runtime_)) {
  waker_->target = this;
  runtime_->setWakeupHook([waker = waker_] {
    std::lock_guard lock(waker->mutex);
    if (waker->target)
      QMetaObject::invokeMethod(
          waker->target, [target = waker->target] { target->pollRuntime(); }, Qt::QueuedConnection);
  });
  connectCallbacks();
}

NetworkItem::~NetworkItem() {
  {
    std::lock_guard lock(waker_->mutex);
    waker_->target = nullptr;
  }
  runtime_->setWakeupHook({});
  network_.reset();  // leaves the network while the Runtime still runs
  runtime_.reset();
}

void NetworkItem::pollRuntime() {
  if (runtime_->poll(kEventsPerPoll) == kEventsPerPoll)  // more may wait: come back soon
    QMetaObject::invokeMethod(this, &NetworkItem::pollRuntime, Qt::QueuedConnection);
}

void NetworkItem::connectCallbacks() {
  auto& n = *network_;
  n.onNetworkCreated([this](const std::string& id) { emit networkCreated(qs(id)); });
  n.onNodeJoined([this](const std::string& id) { emit nodeJoined(qs(id)); });
  n.onNodeLeft([this](const std::string& id) { emit nodeLeft(qs(id)); });
  n.onMessageReceived([this](const std::string& from, const nlohmann::json& data, double sentAt) {
    emit messageReceived(qs(from), variantFromJson(data), sentAt);
  });
  n.onStateReceived([this](const std::string& from, const nlohmann::json& data, double sentAt,
                           const std::string& key) {
    emit stateReceived(qs(from), variantFromJson(data), sentAt, qs(key));
  });
  n.onSessionTimeSyncedChanged([this] { emit sessionTimeSyncedChanged(); });
  n.onHostLostReasonChanged([this] { emit hostLostReasonChanged(); });
  n.onAcceptingJoinsChanged([this] { emit acceptingJoinsChanged(); });
  n.onSignalingLost([this] { emit signalingLost(); });
  n.onHostLost([this](const std::string& reason, const std::string& message) {
    emit hostLost(qs(reason), qs(message));
  });
  n.onErrorOccurred([this](const std::string& message) { emit errorOccurred(qs(message)); });
  n.onDiagnosticMessage([this](const std::string& phase, const std::string& detail) {
    emit diagnosticMessage(qs(phase), qs(detail));
  });
  n.onConnectionTimedOut([this] { emit connectionTimedOut(); });
  n.onJoinRefused([this](const std::string& reason, const std::string& message) {
    emit joinRefused(qs(reason), qs(message));
  });
  n.onClientTokensChanged([this] { emit clientTokensChanged(); });

  n.onStatusChanged([this] {
    emit statusChanged();
    updateNodeCount();
  });
  n.onConnectionPhaseChanged([this] { emit connectionPhaseChanged(); });
  n.onPhaseTimingChanged([this] { emit phaseTimingChanged(); });
  n.onIsHostChanged([this] { emit isHostChanged(); });
  n.onNetworkIdChanged([this] { emit networkIdChanged(); });
  n.onNodeIdChanged([this] { emit nodeIdChanged(); });
  n.onNodesChanged([this] {
    emit nodesChanged();
    updateNodeCount();
  });
  n.onLatencyChanged([this] { emit latencyChanged(); });
  n.onPeerStatsChanged([this] { emit peerStatsChanged(); });
  n.onSyncStatsChanged([this] { emit syncStatsChanged(); });
}

void NetworkItem::updateNodeCount() {
  const int count = network_->nodeCount();
  if (count == lastNodeCount_) return;
  lastNodeCount_ = count;
  emit nodeCountChanged();
}

void NetworkItem::warn(const char* what, const std::string& why) const {
  qWarning().noquote() << "Network:" << what << "ignored:" << qs(why);
}

// ---- configuration ----

bool NetworkItem::autoRelay() const { return network_->autoRelay(); }
void NetworkItem::setAutoRelay(bool on) {
  if (on == network_->autoRelay()) return;
  network_->setAutoRelay(on);
  emit autoRelayChanged();
}

int NetworkItem::connectionTimeout() const { return network_->connectionTimeout(); }
void NetworkItem::setConnectionTimeout(int ms) {
  if (ms == network_->connectionTimeout()) return;
  if (auto r = network_->setConnectionTimeout(ms); !r) return warn("connectionTimeout", r.error());
  emit connectionTimeoutChanged();
}

QVariant NetworkItem::iceServers() const { return variantFromJson(network_->iceServersJson()); }
void NetworkItem::setIceServers(const QVariant& servers) {
  QString error;
  auto json = jsonFromVariant(servers, error);
  if (!json) return warn("iceServers", error.toStdString());
  // The getter returns the normalised form (one entry per URL, empty fields dropped), so an
  // equivalent value must be normalised before it is compared, or it would count as a change.
  std::vector<claynet::IceServer> parsed;
  if (network::parseIceServers(*json, parsed) &&
      network::iceServersToJson(parsed) == network_->iceServersJson())
    return;
  if (auto r = network_->setIceServers(*json); !r) return warn("iceServers", r.error());
  emit iceServersChanged();
}

int NetworkItem::maxNodes() const { return network_->maxNodes(); }
void NetworkItem::setMaxNodes(int n) {
  if (n == network_->maxNodes()) return;
  if (auto r = network_->setMaxNodes(n); !r) return warn("maxNodes", r.error());
  emit maxNodesChanged();
}

NetworkItem::SignalingMode NetworkItem::signalingMode() const {
  return network_->signalingMode() == claynet::Network::SignalingMode::Local ? SignalingMode::Local
                                                                             : SignalingMode::Cloud;
}
void NetworkItem::setSignalingMode(SignalingMode mode) {
  if (mode == signalingMode()) return;
  auto r = network_->setSignalingMode(mode == SignalingMode::Local
                                          ? claynet::Network::SignalingMode::Local
                                          : claynet::Network::SignalingMode::Cloud);
  if (!r) return warn("signalingMode", r.error());
  emit signalingModeChanged();
}

QString NetworkItem::signalingUrl() const { return qs(network_->signalingUrl()); }
void NetworkItem::setSignalingUrl(const QString& url) {
  if (url == signalingUrl()) return;
  if (auto r = network_->setSignalingUrl(url.toStdString()); !r)
    return warn("signalingUrl", r.error());
  emit signalingUrlChanged();
}

NetworkItem::Topology NetworkItem::topology() const {
  return network_->topology() == claynet::Network::Topology::Mesh ? Topology::Mesh : Topology::Star;
}
void NetworkItem::setTopology(Topology topology) {
  if (topology == this->topology()) return;
  auto r = network_->setTopology(topology == Topology::Mesh ? claynet::Network::Topology::Mesh
                                                            : claynet::Network::Topology::Star);
  if (!r) return warn("topology", r.error());
  emit topologyChanged();
}

bool NetworkItem::verbose() const { return network_->verbose(); }
void NetworkItem::setVerbose(bool on) {
  if (on == network_->verbose()) return;
  network_->setVerbose(on);
  emit verboseChanged();
}

QString NetworkItem::localAddress() const { return qs(network_->localAddress()); }
void NetworkItem::setLocalAddress(const QString& address) {
  if (address == localAddress()) return;
  if (auto r = network_->setLocalAddress(address.toStdString()); !r)
    return warn("localAddress", r.error());
  emit localAddressChanged();
}

QStringList NetworkItem::iceLocalAddresses() const {
  return toQStringList(network_->iceLocalAddresses());
}
void NetworkItem::setIceLocalAddresses(const QStringList& addresses) {
  if (addresses == iceLocalAddresses()) return;
  std::vector<std::string> v;
  for (const auto& a : addresses) v.push_back(a.toStdString());
  if (auto r = network_->setIceLocalAddresses(std::move(v)); !r)
    return warn("iceLocalAddresses", r.error());
  emit iceLocalAddressesChanged();
}

QString NetworkItem::iceCaFile() const { return qs(network_->iceCaFile()); }
void NetworkItem::setIceCaFile(const QString& path) {
  if (path == iceCaFile()) return;
  if (auto r = network_->setIceCaFile(path.toStdString()); !r) return warn("iceCaFile", r.error());
  emit iceCaFileChanged();
}

bool NetworkItem::verifySignalingCertificate() const {
  return network_->verifySignalingCertificate();
}
void NetworkItem::setVerifySignalingCertificate(bool on) {
  if (on == verifySignalingCertificate()) return;
  if (auto r = network_->setVerifySignalingCertificate(on); !r)
    return warn("verifySignalingCertificate", r.error());
  emit verifySignalingCertificateChanged();
}

void NetworkItem::setGracePeriod(int ms) {
  if (ms == gracePeriod()) return;
  if (auto r = network_->setGracePeriod(ms); !r) return warn("gracePeriod", r.error());
  emit gracePeriodChanged();
}
QString NetworkItem::hostLostReason() const { return qs(network_->hostLostReason()); }

QString NetworkItem::appId() const { return qs(network_->appId()); }
void NetworkItem::setAppId(const QString& appId) {
  if (appId == this->appId()) return;
  if (auto r = network_->setAppId(appId.toStdString()); !r) return warn("appId", r.error());
  emit appIdChanged();
}

QString NetworkItem::password() const { return qs(network_->password()); }
void NetworkItem::setPassword(const QString& password) {
  if (password == this->password()) return;
  if (auto r = network_->setPassword(password.toStdString()); !r)
    return warn("password", r.error());
  emit passwordChanged();
}

QString NetworkItem::clientToken() const { return qs(network_->clientToken()); }
void NetworkItem::setClientToken(const QString& token) {
  if (token == clientToken()) return;
  if (auto r = network_->setClientToken(token.toStdString()); !r)
    return warn("clientToken", r.error());
  emit clientTokenChanged();
}

// ---- state ----

bool NetworkItem::connected() const { return network_->connected(); }
NetworkItem::Status NetworkItem::status() const {
  switch (network_->status()) {
    case claynet::Network::Status::Disconnected:
      return Status::Disconnected;
    case claynet::Network::Status::Connecting:
      return Status::Connecting;
    case claynet::Network::Status::Connected:
      return Status::Connected;
    case claynet::Network::Status::Error:
      return Status::Error;
  }
  return Status::Error;
}
QString NetworkItem::connectionPhase() const { return qs(network_->connectionPhase()); }
QVariant NetworkItem::phaseTiming() const { return variantFromJson(network_->phaseTiming()); }
bool NetworkItem::isHost() const { return network_->isHost(); }
QString NetworkItem::networkId() const { return qs(network_->networkId()); }
QString NetworkItem::nodeId() const { return qs(network_->nodeId()); }
QString NetworkItem::hostId() const { return qs(network_->hostId()); }
QVariant NetworkItem::clientTokens() const {
  QVariantMap map;
  for (const auto& [id, token] : network_->clientTokens()) map.insert(qs(id), qs(token));
  return map;
}
QStringList NetworkItem::nodes() const { return toQStringList(network_->nodes()); }
int NetworkItem::nodeCount() const { return network_->nodeCount(); }
int NetworkItem::latency() const { return network_->latency(); }
QVariant NetworkItem::peerStats() const { return variantFromJson(network_->peerStats()); }
QVariant NetworkItem::syncStats() const { return variantFromJson(network_->syncStats()); }

QQmlListProperty<QObject> NetworkItem::data() {
  return QQmlListProperty<QObject>(
      this, nullptr,
      [](QQmlListProperty<QObject>* list, QObject* object) {
        auto* self = static_cast<NetworkItem*>(list->object);
        // Parented as an Item's children are, so they live exactly as long as the Network.
        if (object && !object->parent()) object->setParent(self);
        self->data_.push_back(object);
      },
      [](QQmlListProperty<QObject>* list) {
        return static_cast<NetworkItem*>(list->object)->data_.size();
      },
      [](QQmlListProperty<QObject>* list, qsizetype i) -> QObject* {
        return static_cast<NetworkItem*>(list->object)->data_.at(i).data();
      },
      [](QQmlListProperty<QObject>* list) {
        static_cast<NetworkItem*>(list->object)->data_.clear();
      });
}

// ---- methods ----

void NetworkItem::host() {
  if (auto r = network_->host(); !r) warn("host()", r.error());
}

void NetworkItem::join(const QString& networkId) {
  if (auto r = network_->join(networkId.toStdString()); !r) warn("join()", r.error());
}

void NetworkItem::leave() { network_->leave(); }

std::optional<nlohmann::json> NetworkItem::toJson(const char* method, const QJSValue& data) {
  QString error;
  JsonConversionNotes notes;
  auto json = jsonFromJs(data, error, &notes);
  if (!json) {
    warn(method, error.toStdString());
    return json;
  }
  for (auto [seen, kind] : {std::pair{notes.nan, "NaN"}, std::pair{notes.infinity, "Infinity"},
                            std::pair{notes.negativeInfinity, "-Infinity"}}) {
    if (!seen || !nonFiniteWarned_.insert(std::string(method) + " " + kind).second) continue;
    qWarning().noquote() << "Network:" << method << "data contains" << kind
                         << "- sent as null, as JSON.stringify does (said once per call and kind)";
  }
  return json;
}

void NetworkItem::broadcast(const QJSValue& data) {
  if (auto json = toJson("broadcast()", data))
    if (auto r = network_->broadcast(*json); !r) warn("broadcast()", r.error());
}

void NetworkItem::broadcastState(const QJSValue& data, const QString& key) {
  if (auto json = toJson("broadcastState()", data))
    if (auto r = network_->broadcastState(*json, key.toStdString()); !r)
      warn("broadcastState()", r.error());
}

void NetworkItem::flushState() { network_->flushState(); }
double NetworkItem::transitMs(const QString& nodeId) const {
  return network_->transitMs(nodeId.toStdString());
}
double NetworkItem::stateAgeMs(const QString& nodeId) const {
  return network_->stateAgeMs(nodeId.toStdString());
}
double NetworkItem::stateAgeMs(const QString& nodeId, const QString& key) const {
  return network_->stateAgeMs(nodeId.toStdString(), key.toStdString());
}

void NetworkItem::broadcastState(const QJSValue& data) {
  if (auto json = toJson("broadcastState()", data))
    if (auto r = network_->broadcastState(*json); !r) warn("broadcastState()", r.error());
}

void NetworkItem::sendTo(const QString& nodeId, const QJSValue& data) {
  if (auto json = toJson("sendTo()", data))
    if (auto r = network_->sendTo(nodeId.toStdString(), *json); !r) warn("sendTo()", r.error());
}

}  // namespace claynet::qml
