// claynet::Network — Clayground.Network's `Network` type in C++, without Qt: one node hosts a
// network, others join it with a short code; messages, state updates and node events flow over
// WebRTC data channels, in Clayground's wire format (envelope and channels of protocols.md §3).
// Usage: the README's Network section.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "claynet/configuration.hpp"
#include "claynet/result.hpp"
#include "claynet/runtime.hpp"

namespace claynet {

namespace network {
class NetworkImpl;
struct NetworkTesting;
}  // namespace network

/// A peer-to-peer network of up to 8 nodes, as Clayground's `Network` QML type.
///
/// A host calls host(); networkCreated() gives the code to share. Others call join(code). Then
/// broadcast() (reliable, ordered), broadcastState() (lossy, unordered, newest wins) and sendTo()
/// reach the other nodes, which get messageReceived() / stateReceived().
///
/// Signaling modes:
/// - Cloud (default): the host registers with a PeerJS server under a 6-character code (the PeerJS
///   cloud, 0.peerjs.com, unless signalingUrl names another server, e.g. `claynet signal`).
/// - Local: the host runs an embedded PeerJS-compatible server on an ephemeral port and its code
///   is a LAN code ("L" + base36(IPv4) + "-" + base36(port) + "-" + an 8-character secret that
///   its server asks every client for); no internet is needed. signalingUrl
///   is not used in Local mode.
/// join() takes either form of code, in any case; a LAN code says by itself where its server is.
///
/// Topologies: Star (default) — joiners connect only to the host, which relays (see autoRelay);
/// Mesh — every node connects to every other node and messages go directly.
///
/// Threading: a Network belongs to the one thread that calls Runtime::poll() (the Runtime must
/// use Delivery::Poll). Every method is called from that thread, and every callback runs inside
/// poll() on it. Callbacks may call any method of the Network (even leave() or host()); the
/// Network must not be destroyed from inside one of its own callbacks. The Runtime must outlive
/// the Network.
///
/// Callbacks are set with the on...() members (one callback each; setting another replaces it).
/// The ...Changed() callbacks fire only when the value really changed.
class Network {
 public:
  enum class Topology { Star, Mesh };
  enum class SignalingMode { Cloud, Local };
  enum class Status { Disconnected, Connecting, Connected, Error };
  /// What went wrong, for a program to switch on (errorOccurred's text is for people).
  enum class ErrorCode {
    None,
    InvalidCode,  ///< join() with a malformed code ("Invalid LAN code", "Invalid network code ...")
    WrongLanCode,        ///< the host's server wants another secret ("Wrong LAN code")
    NoSuchNetwork,       ///< the server knows no host with that code
    SignalingFailed,     ///< the signaling server could not be used while connecting
    CannotHost,          ///< host(): no embedded server, no LAN address, no free code
    TimedOut,            ///< connectionTimeout ran out (after connectionTimedOut())
    CouldNotConnect,     ///< the connection to the host failed before its channel opened
    NetworkFull,         ///< the host has maxNodes nodes ("Network full")
    JoinRefused,         ///< the host's handshake refused us (joinRefused() says why)
    Rejected,            ///< the host sent a refusal after it had welcomed us
    HostLeft,            ///< hostLost("host-left")
    HostTimeout,         ///< hostLost("host-timeout")
    HostConnectionLost,  ///< hostLost("connection-lost")
  };
  /// An error as errorOccurred() reports it, with its code.
  struct Error {
    ErrorCode code = ErrorCode::None;
    std::string message;  ///< exactly errorOccurred()'s text
    /// The connection phase the node was in ("signaling", "ice", "datachannel", "handshake"), or
    /// "" when it was connected: a TimedOut in "ice" means no path formed (TURN may help).
    std::string phase;
  };

  static constexpr int kDefaultMaxNodes = 8;
  static constexpr int kMinNodes = 2;
  static constexpr int kMaxNodes = 8;
  static constexpr int kDefaultConnectionTimeoutMs = 15000;
  /// The largest data (as compact JSON, plus the envelope around it) that broadcast(),
  /// broadcastState() and sendTo() accept: PeerJS's json serialization refuses messages of 16300
  /// bytes or more, and a relay through the host adds the origin's id, so some room is kept.
  static constexpr std::size_t kMaxEnvelopeBytes = 16300 - 128;
  /// Clayground's wire version that this Network speaks (clayground-wire.md). It also takes
  /// nodes of the seeds' protocol, which has no handshake; see the README's Network section.
  static constexpr int kWireVersion = 5;

  /// The error a joiner gets when the host's network already has maxNodes nodes.
  static constexpr const char* kNetworkFullMessage = "Network full";
  static constexpr int kDefaultGracePeriodMs = 5000;
  /// errorOccurred() of join() with a malformed LAN code (Clayground's text); join()'s Result
  /// says what is wrong with it.
  static constexpr const char* kInvalidLanCodeMessage = "Invalid LAN code";
  /// errorOccurred() of a joiner whose LAN code has the wrong secret (the host's server said so).
  static constexpr const char* kWrongLanCodeMessage = "Wrong LAN code";
  /// A Local-mode host's node id, as Clayground's: the host registers at its own embedded server
  /// under this id, and a joiner of a LAN code with a secret dials it (networkId stays the code).
  static constexpr const char* kLocalHostId = "HOST";
  /// Clayground's texts of a host loss (hostLost(), then errorOccurred(); status Disconnected):
  /// the host said goodbye (reason "host-left")...
  static constexpr const char* kHostLeftMessage = "The host left the network";
  /// ... its connection closed or failed without one ("connection-lost") ...
  static constexpr const char* kHostLostMessage = "The connection to the host failed";
  /// ... or it left a ping unanswered for gracePeriod ("host-timeout"): this, then the
  /// gracePeriod in ms and " ms".
  static constexpr const char* kHostTimeoutMessagePrefix = "The host did not answer for ";

  explicit Network(Runtime& runtime);
  /// Leaves the network (as leave()) and stops every callback.
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // ---- configuration (read/write) ----

  /// Star only: the host forwards broadcasts and state between joiners (default true), setting
  /// the origin itself. Off: the host's application receives everything and relays by itself
  /// with broadcast(). sendTo() through the host works either way. May change at any time.
  bool autoRelay() const;
  void setAutoRelay(bool on);

  /// Milliseconds from host()/join() until the node is connected; when it runs out,
  /// connectionTimedOut() and errorOccurred("Connection timed out after <ms> ms in phase
  /// <phase>") follow and the attempt is torn down (status Error). 0 disables. Default 15000.
  /// Fails on a negative value. Takes effect at the next host()/join().
  int connectionTimeout() const;
  Result setConnectionTimeout(int ms);

  /// STUN/TURN servers for the peer connections. Empty (the default) means Google's public STUN
  /// servers (stun:stun.l.google.com:19302, stun:stun1.l.google.com:19302). Fails (value
  /// unchanged) on a URL that does not parse, or while in a network.
  const std::vector<IceServer>& iceServers() const;
  Result setIceServers(std::vector<IceServer> servers);
  /// The QML form: an array of URL strings and/or {urls, username, credential} objects
  /// (`urls` a string or an array of strings). Fails with what is wrong on anything else.
  Result setIceServers(const nlohmann::json& servers);
  /// The list in the QML form.
  nlohmann::json iceServersJson() const;

  /// Most nodes in the network, the host included: 2–8, default 8. Outside that range the call
  /// fails with "maxNodes must be between 2 and 8" and the value stays. Set before host().
  int maxNodes() const;
  Result setMaxNodes(int n);

  /// Cloud (default) or Local; see the class comment. Set before host().
  SignalingMode signalingMode() const;
  Result setSignalingMode(SignalingMode mode);

  /// A PeerJS server for Cloud mode instead of the PeerJS cloud: "ws://10.0.0.5:9000/peerjs",
  /// "wss://host:8090/peerjs", a base URL ("ws://host:9000", "https://host/app/"), an optional
  /// "?key=..." for a key other than "peerjs". Empty (default): the PeerJS cloud. Fails (value
  /// unchanged) on a URL that does not parse, or while in a network.
  const std::string& signalingUrl() const;
  Result setSignalingUrl(std::string url);

  /// Star (default) or Mesh. Set before host() or join(); a joiner follows the host's choice only
  /// if both agree, so set the same on every node.
  Topology topology() const;
  Result setTopology(Topology topology);

  /// Diagnostics: diagnosticMessage() for signaling events, every local and remote ICE candidate
  /// with its type, ICE/DTLS/SCTP state changes and the selected pair. (latency, peerStats and
  /// syncStats are always on.)
  /// May change at any time.
  bool verbose() const;
  void setVerbose(bool on);

  /// Local mode: the IPv4 address a host puts in its LAN code and binds its embedded server to.
  /// Empty (default): the first private address of this machine (0.0.0.0 is bound then). Fails
  /// on anything but an IPv4 literal, or while in a network.
  const std::string& localAddress() const;
  Result setLocalAddress(std::string address);

  /// Restricts the ICE host candidates of this node's peer connections to these local addresses
  /// (e.g. {"127.0.0.1"} to keep a game on one machine). Empty (default): every interface.
  const std::vector<std::string>& iceLocalAddresses() const;
  Result setIceLocalAddresses(std::vector<std::string> addresses);

  /// A PEM file of CA certificates trusted for TURN over TLS (`turns:` servers), besides the
  /// system's: for a TURN server whose certificate a private CA signed. Empty (default): the
  /// system's CAs only. Fails while in a network.
  const std::string& iceCaFile() const;
  Result setIceCaFile(std::string path);

  /// Clayground's verifySignalingCertificate: with a wss:// signalingUrl, check the server's
  /// certificate against the system's CAs and its name (default true). false accepts any
  /// certificate, e.g. a LAN server with a self-signed one. Anyone on the path can then read
  /// and change the signaling, and with it the DTLS fingerprints in the offers, so the data
  /// too. Fails while in a network.
  bool verifySignalingCertificate() const;
  Result setVerifySignalingCertificate(bool on);

  /// Clayground's appId: a host admits only joiners with the same app id (exact comparison;
  /// empty equals empty); others are refused with joinRefused("incompatible-app", ...). Default
  /// empty. Fails while in a network.
  const std::string& appId() const;
  Result setAppId(std::string appId);
  /// Clayground's password: a host with one admits only joiners that give the same (compared in
  /// constant time), others get joinRefused("wrong-password", "Wrong password"); a joiner sends
  /// its own. Empty (default): a host takes any. A host with an app id or a password refuses
  /// nodes of the seeds' protocol, which cannot present them. Fails while in a network.
  const std::string& password() const;
  Result setPassword(std::string password);
  /// Clayground's clientToken: any text a joiner hands the host in its hello (a player name, a
  /// session ticket); the host reads it in clientTokens(). Fails while in a network.
  const std::string& clientToken() const;
  Result setClientToken(std::string token);

  /// Clayground's gracePeriod: a linked node that leaves a ping unanswered this long (with
  /// nothing else heard from it meanwhile) is gone. Pings go every 2 s, and at once to a link
  /// silent for 0.5 s, so a dead node is noticed within about gracePeriod + 0.75 s, and a link
  /// that blinks for less loses nobody. 0 disables the check (only a closed connection then
  /// ends a link). Default 5000. Fails on a negative value; may change at any time.
  int gracePeriod() const;
  Result setGracePeriod(int ms);

  // ---- state (read-only) ----

  Status status() const;
  /// status() == Connected.
  bool connected() const;
  /// While connecting: "signaling" (registering, offer/answer), "ice" (ICE checks and the DTLS
  /// handshake), "datachannel" (SCTP and the channel opening), "handshake" (a joiner: from its
  /// hello to the host's welcome and roster); "" otherwise.
  const std::string& connectionPhase() const;
  /// Milliseconds spent in each phase of the last connection, measured:
  /// {"signaling", "ice", "datachannel", "handshake", "total"}. A host has only registration to
  /// do, so its other phases are 0 and total equals signaling. Empty object before the first one.
  const nlohmann::json& phaseTiming() const;
  bool isHost() const;
  /// The host's node id: this node's on a host, the host's on a joiner (the code it joined in
  /// Cloud mode, kLocalHostId for a LAN code with a secret; the host's welcome confirms it); ""
  /// when not in a network. Changes with networkId().
  const std::string& hostId() const;
  /// A host that its signaling server registers right now, so new joiners can find it. False on
  /// a joiner, and on a host between signalingLost() and its registering again.
  bool acceptingJoins() const;
  /// The newest error of this Network (code None before the first); set when the error happens,
  /// before its callbacks run.
  const Error& lastError() const;
  /// Why this joiner's last network ended with its host: "host-left", "host-timeout" or
  /// "connection-lost"; "" before, after host()/join(), and when it left by itself.
  const std::string& hostLostReason() const;
  /// Host: the clientToken of each joiner admitted after a hello, by node id (a node of the
  /// seeds' protocol has none); a node's entry goes when it leaves. Empty on a joiner.
  const std::map<std::string, std::string>& clientTokens() const;
  /// The code of the network (the one to share, for a host); "" when not in a network.
  const std::string& networkId() const;
  /// This node's id: for a host its code in Cloud mode and kLocalHostId in Local mode, for a
  /// joiner a random 12-character id; "" when not in a network.
  const std::string& nodeId() const;
  /// The other nodes in the network (this node not included), in the order they joined.
  const std::vector<std::string>& nodes() const;
  /// nodes().size() + 1 when connected; 0 otherwise.
  int nodeCount() const;
  /// Clayground's session clock: the host's monotonic milliseconds since it created the network.
  /// A joiner estimates it from the welcome and its pings to a wire-5 host (the first 64 pings go
  /// 50 ms apart); it never goes back. -1 when not in a network, or when a joiner's host gave no
  /// session time (a seed-era host). Read it when needed: it changes continuously.
  double sessionTime() const;
  /// True on a host, and on a joiner once 32 clock samples are in (onSessionTimeSyncedChanged).
  bool sessionTimeSynced() const;
  /// The one-way delay of state from `nodeId` in session ms: the fastest of the last 3 s,
  /// a relayed state counting both hops. NaN when none came with a send time.
  double transitMs(const std::string& nodeId) const;
  /// Milliseconds since the newest state (unkeyed or keyed) from `nodeId` was accepted; -1
  /// when none (or the node left).
  double stateAgeMs(const std::string& nodeId) const;
  /// The same for one key ("" is the unkeyed state).
  double stateAgeMs(const std::string& nodeId, const std::string& key) const;
  /// Best smoothed round-trip time over the directly linked nodes, in ms; -1 if unknown.
  /// Pings go every 2 s.
  int latency() const;
  /// For each node: {latency, msgSent, msgRecv, bytesSent, bytesRecv, stateSent, stateRecv,
  /// stateDropped, stateLink, stateChannel, stateBacklog, stateOrdered, stateMaxRetransmits}.
  /// Counts are of data channel messages and bytes on the direct link to that node (0 for a node
  /// reached through the host); stateDropped counts stale state updates from that origin; stateLink
  /// is "unreliable" (the lossy state channel is open), "fallback" (state goes on the reliable
  /// channel), or "relayed" (no direct link); stateChannel, stateOrdered and
  /// stateMaxRetransmits are Clayground's names for the same ("unreliable", false, 0 or
  /// "fallback", true, -1); stateBacklog is the bytes waiting to leave on the channel state goes
  /// on (0 for a relayed node). Refreshed with each pong (onPeerStatsChanged).
  nlohmann::json peerStats() const;
  /// Clayground's syncStats: for each node state came from, {seq, recv, dropped, ageMs}, and for
  /// one that sent keyed state also keys: {key: {seq, recv, dropped, ageMs}}, batches and
  /// maxBatchBytes (keyed counts are in recv and dropped too). ageMs is -1 when none was taken.
  /// Refreshed with each pong (onSyncStatsChanged).
  nlohmann::json syncStats() const;

  // ---- methods ----

  /// Creates a network and becomes its host; networkCreated() follows (or errorOccurred()).
  /// Fails, changing nothing, when already in a network (call leave() first). Fails also (and
  /// reports through errorOccurred(), status Error) when the embedded server cannot start.
  Result host();
  /// Joins the network with this code (Cloud code or LAN code, any case, spaces around ignored).
  /// Fails, changing nothing, on an empty code or when already in a network. An invalid code
  /// fails and is reported through errorOccurred() too (status Error).
  Result join(const std::string& code);
  /// Leaves the network. A host closes it for everyone (they get nodeLeft(host) and
  /// errorOccurred(kHostLeftMessage)); a joiner's departure reaches the others as nodeLeft.
  /// Status becomes Disconnected. Nothing happens when not in a network.
  void leave();

  /// Sends `data` to every other node, reliably and in order. Fails when not connected or when
  /// the data is too large (see kMaxEnvelopeBytes). NaN and the infinities anywhere in `data`
  /// go as null, as JSON.stringify does, whatever the connection's serialization; the same holds
  /// for broadcastState(), sendTo() and what a host relays.
  Result broadcast(const nlohmann::json& data);
  /// Sends a state update to every other node over the lossy, unordered state channel; each
  /// receiver drops an update older than the last one it took from this node. Same failures as
  /// broadcast().
  Result broadcastState(const nlohmann::json& data);
  /// Keyed state (Clayground's broadcastState(data, key)): the newest update per key is queued
  /// and sent when the application's current turn of the event loop ends (the next poll()), in
  /// batches of at most about 1200 bytes over the state channel; receivers keep a sequence per
  /// sender and key, so one key's update never makes another's stale. Fails as broadcast() does
  /// (too large: one entry must fit kMaxEnvelopeBytes with a relay's "from").
  Result broadcastState(const nlohmann::json& data, const std::string& key);
  /// Sends the keyed state queued so far now.
  void flushState();
  /// Sends `data` to one node (reliable, ordered): directly when linked, else through the host.
  /// Fails when not connected, on a node not in nodes(), or when too large.
  Result sendTo(const std::string& nodeId, const nlohmann::json& data);

  // ---- signals ----

  void onNetworkCreated(std::function<void(const std::string& networkId)> callback);
  void onNodeJoined(std::function<void(const std::string& nodeId)> callback);
  void onNodeLeft(std::function<void(const std::string& nodeId)> callback);
  /// With the sender's session time: sentAt is -1 when the message carried none.
  using MessageCallback =
      std::function<void(const std::string& fromId, const nlohmann::json& data, double sentAt)>;
  /// With the sender's session time (-1 when unknown) and the key ("" for unkeyed state).
  using StateCallback = std::function<void(const std::string& fromId, const nlohmann::json& data,
                                           double sentAt, const std::string& key)>;
  void onMessageReceived(
      std::function<void(const std::string& fromId, const nlohmann::json& data)> callback);
  void onMessageReceived(MessageCallback callback);
  void onStateReceived(
      std::function<void(const std::string& fromId, const nlohmann::json& data)> callback);
  void onStateReceived(StateCallback callback);
  void onErrorOccurred(std::function<void(const std::string& message)> callback);
  /// Every error errorOccurred() reports, with its code; runs right after errorOccurred().
  void onError(std::function<void(const Error& error)> callback);
  /// Only when verbose.
  void onDiagnosticMessage(
      std::function<void(const std::string& phase, const std::string& detail)> callback);
  void onConnectionTimedOut(std::function<void()> callback);
  /// The signaling server went away while in a network (once per outage). The links and
  /// messages go on; the node registers again under the same id after 1 s, 2 s, then every 4 s
  /// (each ±25 %, but never over 4 s: the later ones come after 3 to 4 s), a host taking no new
  /// joiners meanwhile (acceptingJoins()).
  void onSignalingLost(std::function<void()> callback);
  /// A joiner lost its host (Clayground's hostLost): reason is "host-left", "host-timeout" or
  /// "connection-lost" (treat unknown future reasons as the last), message one of the
  /// kHost...Message texts. Status is already Disconnected and nodeLeft came for every node;
  /// errorOccurred(message) follows.
  void onHostLost(
      std::function<void(const std::string& reason, const std::string& message)> callback);
  /// A joiner's host refused it (Clayground's joinRefused): reason is "incompatible-version",
  /// "incompatible-app", "wrong-password", "handshake-failed" or "refused" (e.g. "Network
  /// full"), or a code none of these names as the host sent it (a newer host's);
  /// message is the host's text. errorOccurred(message) follows and the status is Error.
  void onJoinRefused(
      std::function<void(const std::string& reason, const std::string& message)> callback);

  // ---- change notifications (for property bindings) ----

  void onStatusChanged(std::function<void()> callback);  ///< status and connected
  void onConnectionPhaseChanged(std::function<void()> callback);
  void onPhaseTimingChanged(std::function<void()> callback);
  void onIsHostChanged(std::function<void()> callback);
  void onNetworkIdChanged(std::function<void()> callback);
  void onNodeIdChanged(std::function<void()> callback);
  void onNodesChanged(std::function<void()> callback);  ///< nodes and nodeCount
  void onLatencyChanged(std::function<void()> callback);
  void onPeerStatsChanged(std::function<void()> callback);
  void onClientTokensChanged(std::function<void()> callback);
  void onSessionTimeSyncedChanged(std::function<void()> callback);
  void onHostLostReasonChanged(std::function<void()> callback);
  void onAcceptingJoinsChanged(std::function<void()> callback);
  void onSyncStatsChanged(std::function<void()> callback);

 private:
  friend struct network::NetworkTesting;
  std::shared_ptr<network::NetworkImpl> impl_;
};

/// "Star", "Mesh" / "Cloud", "Local" / "Disconnected", "Connecting", "Connected", "Error".
const char* toString(Network::Topology topology);
const char* toString(Network::SignalingMode mode);
const char* toString(Network::Status status);
/// "invalid-code", "wrong-lan-code", "no-such-network", "signaling-failed", "cannot-host",
/// "timed-out", "could-not-connect", "network-full", "join-refused", "rejected", "host-left",
/// "host-timeout", "connection-lost" ("none" for None).
const char* toString(Network::ErrorCode code);

}  // namespace claynet
