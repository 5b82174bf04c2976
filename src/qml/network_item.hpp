// The `Network` QML type of Clayground.Network: claynet::Network on the GUI thread.
#pragma once

#include <QtQml/qqmlregistration.h>

#include <QJSValue>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QQmlListProperty>
#include <QStringList>
#include <QVariant>
#include <claynet/network.hpp>
#include <claynet/runtime.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

namespace claynet::qml {

struct PollWaker;

/// Peer-to-peer networking for QML: one node calls host() and shares the code from
/// networkCreated(); the others call join(code). Names, enums and behaviour follow Clayground's
/// Network type; the README's QML section shows it in use.
///
/// Each item owns a claynet::Runtime (one network thread). Its events reach the GUI thread as a
/// queued poll() scheduled by the Runtime's wake-up hook, so signals and NOTIFY signals are emitted
/// on the GUI thread and nothing waits for the network.
///
/// Three properties are claynet extensions, not in Clayground: localAddress, iceLocalAddresses
/// and iceCaFile (extra CAs for `turns:` servers).
class NetworkItem : public QObject {
  Q_OBJECT
  QML_NAMED_ELEMENT(Network)
  // Clayground's Network is an Item, so QML declares children in it (`Network { Timer {} }`).
  Q_CLASSINFO("DefaultProperty", "data")

  // ---- configuration ----
  /// Star only: the host forwards messages and state between joiners. Default true.
  Q_PROPERTY(bool autoRelay READ autoRelay WRITE setAutoRelay NOTIFY autoRelayChanged)
  /// Milliseconds allowed for host()/join() to connect; 0 disables. Default 15000. Used at the
  /// next host()/join().
  Q_PROPERTY(int connectionTimeout READ connectionTimeout WRITE setConnectionTimeout NOTIFY
                 connectionTimeoutChanged)
  /// STUN/TURN servers: URL strings and/or {urls, username, credential} objects. Empty (default):
  /// Google's public STUN servers. Set before host()/join().
  Q_PROPERTY(QVariant iceServers READ iceServers WRITE setIceServers NOTIFY iceServersChanged)
  /// Most nodes in the network including the host, 2–8. Default 8. Set before host().
  Q_PROPERTY(int maxNodes READ maxNodes WRITE setMaxNodes NOTIFY maxNodesChanged)
  /// Network.SignalingMode.Cloud (PeerJS server, default) or .Local (embedded server, LAN code).
  /// Set before host().
  Q_PROPERTY(SignalingMode signalingMode READ signalingMode WRITE setSignalingMode NOTIFY
                 signalingModeChanged)
  /// Cloud mode: a PeerJS server to use instead of the PeerJS cloud, e.g.
  /// "ws://192.168.1.5:9000/peerjs". Set before host()/join().
  Q_PROPERTY(
      QString signalingUrl READ signalingUrl WRITE setSignalingUrl NOTIFY signalingUrlChanged)
  /// Network.Topology.Star (default) or .Mesh; the same on every node. Set before host()/join().
  Q_PROPERTY(Topology topology READ topology WRITE setTopology NOTIFY topologyChanged)
  /// diagnosticMessage() signals. May change at any time.
  Q_PROPERTY(bool verbose READ verbose WRITE setVerbose NOTIFY verboseChanged)
  /// claynet extension. Local mode: the IPv4 address the host puts into its LAN code and binds
  /// its signaling server to ("127.0.0.1" keeps a network on this machine). Empty (default): the
  /// first private address of this machine. Set before host().
  Q_PROPERTY(
      QString localAddress READ localAddress WRITE setLocalAddress NOTIFY localAddressChanged)
  /// claynet extension. The local addresses ICE may use for peer connections, e.g.
  /// ["127.0.0.1"]. Empty (default): every interface. Set before host()/join().
  Q_PROPERTY(QStringList iceLocalAddresses READ iceLocalAddresses WRITE setIceLocalAddresses NOTIFY
                 iceLocalAddressesChanged)
  Q_PROPERTY(QString iceCaFile READ iceCaFile WRITE setIceCaFile NOTIFY iceCaFileChanged)
  /// Clayground's: check a wss:// signaling server's certificate (default true). false accepts
  /// any certificate (a LAN server with a self-signed one). Set before host()/join().
  Q_PROPERTY(bool verifySignalingCertificate READ verifySignalingCertificate WRITE
                 setVerifySignalingCertificate NOTIFY verifySignalingCertificateChanged)
  /// Clayground's handshake: a host admits only joiners with the same appId (default "").
  Q_PROPERTY(QString appId READ appId WRITE setAppId NOTIFY appIdChanged)
  /// A host with a password admits only joiners that give it; a joiner gives its own.
  Q_PROPERTY(QString password READ password WRITE setPassword NOTIFY passwordChanged)
  /// Ms a linked node may leave a ping unanswered before it is gone (default 5000; 0: never).
  Q_PROPERTY(int gracePeriod READ gracePeriod WRITE setGracePeriod NOTIFY gracePeriodChanged)
  /// Why the last network ended with the host: "host-left", "host-timeout", "connection-lost".
  Q_PROPERTY(QString hostLostReason READ hostLostReason NOTIFY hostLostReasonChanged)
  /// A host its signaling server registers right now (new joiners can find it).
  Q_PROPERTY(bool acceptingJoins READ acceptingJoins NOTIFY acceptingJoinsChanged)
  /// Any text a joiner hands the host (see clientTokens).
  Q_PROPERTY(QString clientToken READ clientToken WRITE setClientToken NOTIFY clientTokenChanged)

  // ---- state (read-only) ----
  /// True while status is Connected.
  Q_PROPERTY(bool connected READ connected NOTIFY statusChanged)
  /// Disconnected, Connecting, Connected or Error.
  Q_PROPERTY(Status status READ status NOTIFY statusChanged)
  /// While connecting: "signaling", "ice", "datachannel" or "handshake"; "" otherwise.
  Q_PROPERTY(QString connectionPhase READ connectionPhase NOTIFY connectionPhaseChanged)
  /// Milliseconds per phase of the last connection: {signaling, ice, datachannel, handshake,
  /// total}.
  Q_PROPERTY(QVariant phaseTiming READ phaseTiming NOTIFY phaseTimingChanged)
  /// True on the node that called host() while it is in the network.
  Q_PROPERTY(bool isHost READ isHost NOTIFY isHostChanged)
  /// The network's code (the one to share); "" when not in a network.
  Q_PROPERTY(QString networkId READ networkId NOTIFY networkIdChanged)
  /// This node's id (a Cloud host's equals networkId, a Local host's is "HOST"); "" when not in a
  /// network.
  Q_PROPERTY(QString nodeId READ nodeId NOTIFY nodeIdChanged)
  /// The host's node id (on a host its own: networkId in Cloud mode, "HOST" in Local mode); ""
  /// when not in a network.
  Q_PROPERTY(QString hostId READ hostId NOTIFY networkIdChanged)
  /// Host: {joiner id: the clientToken of its hello}; {} on a joiner.
  Q_PROPERTY(QVariant clientTokens READ clientTokens NOTIFY clientTokensChanged)
  /// Clayground's wire version this module speaks: 5.
  Q_PROPERTY(int wireVersion READ wireVersion CONSTANT)
  /// The host's session time in ms (-1 outside a network). It changes continuously and has no
  /// NOTIFY: read it when needed (a binding to it is not re-evaluated).
  Q_PROPERTY(double sessionTime READ sessionTime)
  /// True on a host, and on a joiner once its clock has 32 samples.
  Q_PROPERTY(bool sessionTimeSynced READ sessionTimeSynced NOTIFY sessionTimeSyncedChanged)
  /// The other nodes' ids, in the order they joined.
  Q_PROPERTY(QStringList nodes READ nodes NOTIFY nodesChanged)
  /// Nodes in the network, this one included; 0 when not connected.
  Q_PROPERTY(int nodeCount READ nodeCount NOTIFY nodeCountChanged)
  /// Best round-trip time over the direct links in ms; -1 if unknown. Measured every 2 s.
  Q_PROPERTY(int latency READ latency NOTIFY latencyChanged)
  /// {nodeId: {latency, msgSent, msgRecv, bytesSent, bytesRecv, ...}}, refreshed with the pongs.
  Q_PROPERTY(QVariant peerStats READ peerStats NOTIFY peerStatsChanged)
  /// Clayground's: {origin: {seq, recv, dropped, ageMs[, keys, batches, maxBatchBytes]}}.
  Q_PROPERTY(QVariant syncStats READ syncStats NOTIFY syncStatsChanged)
  /// Objects declared inside the item (timers, helpers); the default property.
  Q_PROPERTY(QQmlListProperty<QObject> data READ data CONSTANT)

 public:
  enum class Topology { Star, Mesh };
  Q_ENUM(Topology)
  enum class SignalingMode { Cloud, Local };
  Q_ENUM(SignalingMode)
  enum class Status { Disconnected, Connecting, Connected, Error };
  Q_ENUM(Status)

  explicit NetworkItem(QObject* parent = nullptr);
  /// Leaves the network; no signal follows.
  ~NetworkItem() override;

  bool autoRelay() const;
  void setAutoRelay(bool on);
  int connectionTimeout() const;
  void setConnectionTimeout(int ms);
  QVariant iceServers() const;
  void setIceServers(const QVariant& servers);
  int maxNodes() const;
  void setMaxNodes(int n);
  SignalingMode signalingMode() const;
  void setSignalingMode(SignalingMode mode);
  QString signalingUrl() const;
  void setSignalingUrl(const QString& url);
  Topology topology() const;
  void setTopology(Topology topology);
  bool verbose() const;
  void setVerbose(bool on);
  QString localAddress() const;
  void setLocalAddress(const QString& address);
  QStringList iceLocalAddresses() const;
  void setIceLocalAddresses(const QStringList& addresses);
  QString iceCaFile() const;
  void setIceCaFile(const QString& path);
  bool verifySignalingCertificate() const;
  void setVerifySignalingCertificate(bool on);
  int gracePeriod() const { return network_->gracePeriod(); }
  void setGracePeriod(int ms);
  QString hostLostReason() const;
  bool acceptingJoins() const { return network_->acceptingJoins(); }
  QString appId() const;
  void setAppId(const QString& appId);
  QString password() const;
  void setPassword(const QString& password);
  QString clientToken() const;
  void setClientToken(const QString& token);
  QString hostId() const;
  QVariant clientTokens() const;
  int wireVersion() const { return claynet::Network::kWireVersion; }
  double sessionTime() const { return network_->sessionTime(); }
  bool sessionTimeSynced() const { return network_->sessionTimeSynced(); }

  bool connected() const;
  Status status() const;
  QString connectionPhase() const;
  QVariant phaseTiming() const;
  bool isHost() const;
  QString networkId() const;
  QString nodeId() const;
  QStringList nodes() const;
  int nodeCount() const;
  int latency() const;
  QVariant peerStats() const;
  QVariant syncStats() const;
  QQmlListProperty<QObject> data();

  /// Creates a network and becomes its host; networkCreated() follows. Does nothing (with a
  /// warning) when already in a network.
  Q_INVOKABLE void host();
  /// Joins the network with this code. Does nothing on an empty code or when already in one.
  Q_INVOKABLE void join(const QString& networkId);
  /// Leaves the network; a host closes it for everyone.
  Q_INVOKABLE void leave();
  /// Sends `data` (any JSON-compatible value) to every other node, reliably and in order.
  Q_INVOKABLE void broadcast(const QJSValue& data);
  /// Sends a state update to every other node: lossy, unordered, the newest wins.
  Q_INVOKABLE void broadcastState(const QJSValue& data);
  /// Keyed state (Clayground's): the newest per key, sent in batches when the current turn of
  /// the event loop ends; receivers get stateReceived(fromId, data, sentAt, key).
  Q_INVOKABLE void broadcastState(const QJSValue& data, const QString& key);
  /// Sends the keyed state queued so far now.
  Q_INVOKABLE void flushState();
  /// One-way delay of state from the node in session ms (the fastest of the last 3 s); NaN
  /// when unknown.
  Q_INVOKABLE double transitMs(const QString& nodeId) const;
  /// Ms since the newest state from the node (of any key, or of `key`); -1 when none.
  Q_INVOKABLE double stateAgeMs(const QString& nodeId) const;
  Q_INVOKABLE double stateAgeMs(const QString& nodeId, const QString& key) const;
  /// Sends `data` to one node of `nodes`, reliably and in order.
  Q_INVOKABLE void sendTo(const QString& nodeId, const QJSValue& data);

 signals:
  /// A network was created; `networkId` is the code to share.
  void networkCreated(const QString& networkId);
  void nodeJoined(const QString& nodeId);
  void nodeLeft(const QString& nodeId);
  /// A broadcast() or sendTo() arrived; `data` is the JavaScript value that was sent.
  void messageReceived(const QString& fromId, const QVariant& data, double sentAt);
  /// A broadcastState() arrived.
  void stateReceived(const QString& fromId, const QVariant& data, double sentAt,
                     const QString& key);
  void errorOccurred(const QString& message);
  /// Only with verbose.
  void diagnosticMessage(const QString& phase, const QString& detail);
  void connectionTimedOut();
  /// The host refused this joiner: reason is "incompatible-version", "incompatible-app",
  /// "wrong-password", "handshake-failed" or "refused"; errorOccurred(message) follows.
  void joinRefused(const QString& reason, const QString& message);
  /// The joiner lost its host: reason "host-left", "host-timeout" or "connection-lost";
  /// status is Disconnected and nodeLeft came for every node; errorOccurred(message) follows.
  void hostLost(const QString& reason, const QString& message);
  /// The signaling server went away while in a network; the node registers again by itself.
  void signalingLost();

  void autoRelayChanged();
  void connectionTimeoutChanged();
  void iceServersChanged();
  void maxNodesChanged();
  void signalingModeChanged();
  void signalingUrlChanged();
  void topologyChanged();
  void verboseChanged();
  void localAddressChanged();
  void iceLocalAddressesChanged();
  void iceCaFileChanged();
  void verifySignalingCertificateChanged();
  void appIdChanged();
  void passwordChanged();
  void clientTokenChanged();
  void clientTokensChanged();
  void sessionTimeSyncedChanged();
  void gracePeriodChanged();
  void hostLostReasonChanged();
  void acceptingJoinsChanged();
  void statusChanged();
  void connectionPhaseChanged();
  void phaseTimingChanged();
  void isHostChanged();
  void networkIdChanged();
  void nodeIdChanged();
  void nodesChanged();
  void nodeCountChanged();
  void latencyChanged();
  void peerStatsChanged();
  void syncStatsChanged();

 private:
  void connectCallbacks();
  /// nodeCount follows both status and nodes, so either may change it.
  void updateNodeCount();
  void pollRuntime();
  /// Reports a failed configuration change or call as a QML warning.
  void warn(const char* what, const std::string& why) const;
  /// `data` as JSON, or nullopt after a warning saying why it cannot be sent. NaN and the
  /// infinities go as null, with one warning per method and kind for the item's lifetime: a
  /// 20 Hz update that divides by zero must neither be dropped nor flood the log.
  std::optional<nlohmann::json> toJson(const char* method, const QJSValue& data);

  std::unique_ptr<claynet::Runtime> runtime_;
  std::shared_ptr<PollWaker> waker_;
  std::unique_ptr<claynet::Network> network_;
  int lastNodeCount_ = 0;
  std::set<std::string> nonFiniteWarned_;  // "method kind" pairs already warned about
  QList<QPointer<QObject>> data_;          // a child destroyed by hand reads as null
};

}  // namespace claynet::qml
