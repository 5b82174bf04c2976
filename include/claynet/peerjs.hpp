// claynet::PeerJsPeer and claynet::PeerJsConnection — PeerJS DataConnections, compatible with
// browsers running the PeerJS 1.5 library, through any PeerJS signaling server.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "claynet/configuration.hpp"
#include "claynet/data_channel.hpp"
#include "claynet/peer_connection.hpp"
#include "claynet/peerjs_signaling.hpp"
#include "claynet/result.hpp"
#include "claynet/runtime.hpp"
#include "claynet/serialization.hpp"

namespace claynet {

namespace impl {
class PeerJsPeerShared;
}  // namespace impl

/// Options of a PeerJsPeer.
struct PeerJsOptions {
  PeerJsServer server;
  /// Our peer id. Empty: the server gives one (see PeerJsSignalingOptions::id).
  std::string id;
  /// Empty: a random token.
  std::string token;
  std::chrono::milliseconds heartbeatInterval{5000};
  /// The peer connections' configuration. The default uses Google's public STUN server, as
  /// PeerJS does; a name that does not resolve never delays a connection host candidates can make.
  Configuration rtc = defaultRtc();
  /// Reconnect to the server (same id and token) when it drops; peer connections stay up.
  bool reconnect = true;
  std::chrono::milliseconds reconnectDelayMin{250};
  std::chrono::milliseconds reconnectDelayMax{10000};
  /// Transport events of every connection this peer opens or accepts (local and remote
  /// candidates, ICE/DTLS/SCTP states, the selected pair), for verbose diagnostics. Set here
  /// rather than on each connection's PeerConnection because gathering starts inside connect()
  /// and inside the OFFER's handling, before the application could attach a callback: this way
  /// not even the first candidate is missed. Runs where the Runtime's Delivery says; `label` is
  /// the connection's channel label.
  std::function<void(const std::string& remoteId, const std::string& label,
                     const std::string& phase, const std::string& detail)>
      onTransportDiagnostic;

  /// Inbound OFFERs build a whole peer connection (ICE agent, sockets, buffers) before the
  /// application can refuse them, so anyone who knows this peer's id could make it allocate
  /// without bound. An OFFER is refused, before anything is allocated for it, while its sender
  /// already has this many inbound connections that are not open yet...
  std::size_t maxPendingOffersPerPeer = 4;
  /// ... or while this many inbound connections from all senders together are not open yet.
  /// Refusals are counted (PeerJsPeer::refusedOffers()) and reported to onError as offer-refused
  /// (the first from each sender, then every tenfold). 0 in either: no limit.
  std::size_t maxPendingOffers = 64;

  static Configuration defaultRtc() {
    Configuration c;
    c.iceServers = {IceServer{"stun:stun.l.google.com:19302", {}, {}}};
    return c;
  }
};

/// Options of PeerJsPeer::connect(), as in PeerJS's `peer.connect(id, options)`.
struct PeerJsConnectOptions {
  /// The channel label; empty: the connection id (PeerJS's default).
  std::string label;
  Serialization serialization = Serialization::Binary;
  /// true: an ordered channel. false (PeerJS's default): unordered. Both retransmit until
  /// delivered (PeerJS sets no retransmit limit).
  bool reliable = false;
  /// Any JSON value handed to the other side with the OFFER; unset: not sent.
  std::optional<nlohmann::json> metadata;
  /// Empty: "dc_" + a random token.
  std::string connectionId;
  /// claynet's extension: a retransmission limit for the channel (0 = lossy, as for game state).
  /// Unset, as PeerJS always does: retransmit until delivered. The other side learns it in the
  /// channel's open message, so a browser peer gets the same lossy channel.
  std::optional<uint16_t> maxRetransmits;
};

/// One PeerJS DataConnection: a peer connection carrying one data channel, with a serialization.
///
/// Obtained from PeerJsPeer::connect() or PeerJsPeer::onConnection. The peer keeps it until it
/// closes. Thread-safety: every member may be called from any thread; callbacks run where the
/// Runtime's Delivery says. Set callbacks right after connect() or inside onConnection.
class PeerJsConnection : public std::enable_shared_from_this<PeerJsConnection> {
 public:
  ~PeerJsConnection();
  PeerJsConnection(const PeerJsConnection&) = delete;
  PeerJsConnection& operator=(const PeerJsConnection&) = delete;

  /// Sends one value:
  /// - binary: BinaryPack; values over 16300 bytes packed go as several chunks;
  /// - json: the JSON text as a binary message; fails (message-too-big) at 16300 bytes or more,
  ///   and on values holding bytes;
  /// - raw: a string as a text message, bytes (a json binary value) as a binary message; anything
  ///   else fails.
  /// Fails (not-open-yet) before onOpen and after close. Errors are returned, not sent to onError.
  Result send(const nlohmann::json& value);

  /// Closes the connection (its channel and peer connection); the remote sees it closed. onClose
  /// follows. Idempotent.
  void close();

  /// Restarts ICE on this connection (PeerConnection::restartIce), the new OFFER and ANSWER
  /// going through the signaling server under the same connection id. Only with a claynet peer
  /// (remoteIsClaynet()): PeerJS 1.5.5 takes a second OFFER for a connection as a new connection
  /// that replaces it. claynet restarts by itself when a connection with a claynet peer becomes
  /// Disconnected (the side that opened it restarts, then every 4 s while it stays so); call this
  /// when the application knows its network changed.
  Result restartIce();
  /// The remote marked its OFFER or ANSWER as claynet's (`"claynet":1` in the payload, which
  /// PeerJS ignores): it answers ICE restarts.
  bool remoteIsClaynet() const;

  /// The remote peer's id.
  const std::string& peer() const { return peer_; }
  const std::string& connectionId() const { return connectionId_; }
  const std::string& label() const { return label_; }
  Serialization serialization() const { return serialization_; }
  bool reliable() const { return reliable_; }
  /// What the offering side passed as metadata (null when none).
  const nlohmann::json& metadata() const { return metadata_; }
  /// True on the side that called connect().
  bool originator() const { return originator_; }
  bool isOpen() const;

  /// The underlying peer connection and channel, for advanced use (state, counters, selected
  /// pair). Null once the connection is closed (the channel also before it has arrived).
  std::shared_ptr<PeerConnection> peerConnection() const;
  std::shared_ptr<DataChannel> dataChannel() const;

  /// The channel opened: send() works from now on.
  void onOpen(std::function<void()> callback);
  /// One received value (strings, numbers, objects, arrays, booleans, null, and bytes as json
  /// binary values).
  void onData(std::function<void(const nlohmann::json&)> callback);
  /// The connection ended (closed by either side, LEAVE, failure). Fires once, whether or not
  /// the connection had opened. Afterwards the connection drops all its callbacks, so callbacks
  /// that captured the connection's shared_ptr do not keep it alive.
  void onClose(std::function<void()> callback);
  void onError(std::function<void(const PeerJsError&)> callback);
  /// The underlying peer connection's state (Connecting, Connected, …), e.g. to time the phases
  /// of a connection.
  void onStateChange(std::function<void(PeerState)> callback);
  /// Data channels the remote opens on this connection besides its PeerJS channel (a Clayground
  /// node adds a "state" channel this way). A channel labelled "state" on a connection of another
  /// label always comes here, never becomes the connection's own channel, even when it opens
  /// first, as Clayground routes it. Without a callback they are closed.
  void onExtraChannel(std::function<void(std::shared_ptr<DataChannel>)> callback);

 private:
  friend class impl::PeerJsPeerShared;
  friend class PeerJsPeer;
  struct Private;
  PeerJsConnection(std::string peer, std::string connectionId, std::string label,
                   Serialization serialization, bool reliable, nlohmann::json metadata,
                   bool originator);
  void markOpen();
  void handleMessage(Message&& message);
  void closeWith(const PeerJsError* error);  // error: reported before onClose, may be null

  const std::string peer_;
  const std::string connectionId_;
  const std::string label_;
  const Serialization serialization_;
  const bool reliable_;
  const nlohmann::json metadata_;
  const bool originator_;
  std::unique_ptr<Private> p_;
};

/// A PeerJS peer: registers with a PeerJS server, opens DataConnections to other peers and
/// accepts theirs. The same model as PeerJS's `Peer`.
///
/// Thread-safety: every member may be called from any thread; the work runs on the Runtime's
/// network thread and callbacks run where the Runtime's Delivery says. The Runtime must outlive
/// the peer. Destroying the last reference destroys the peer (as destroy()).
class PeerJsPeer {
 public:
  static std::shared_ptr<PeerJsPeer> create(Runtime& runtime, PeerJsOptions options = {});
  ~PeerJsPeer();
  PeerJsPeer(const PeerJsPeer&) = delete;
  PeerJsPeer& operator=(const PeerJsPeer&) = delete;

  /// Starts registering with the server; onOpen follows. Fails at once on an invalid own id
  /// (invalid-id), an empty host or key, or when already opened or destroyed.
  Result open();

  /// Our id: the given one, or the server's once it has answered; empty before.
  std::string id() const;
  /// Registered with the server right now.
  bool isOpen() const;
  /// disconnect() was called (or a fatal server error happened); connections may still be up.
  bool isDisconnected() const;
  bool isDestroyed() const;

  /// Opens a DataConnection to `remoteId` (an OFFER through the server). The connection comes
  /// back at once; its onOpen fires when the channel is open. Can be called before onOpen (the
  /// signaling waits for the registration). Fails after disconnect()/destroy() (disconnected), or
  /// when the peer connection cannot be set up.
  Result connect(const std::string& remoteId, const PeerJsConnectOptions& options,
                 std::shared_ptr<PeerJsConnection>& out);
  /// Convenience form: nullptr on failure (the reason goes to onError).
  std::shared_ptr<PeerJsConnection> connect(const std::string& remoteId,
                                            const PeerJsConnectOptions& options = {});

  /// The connections that are not closed.
  std::vector<std::shared_ptr<PeerJsConnection>> connections() const;
  /// Inbound OFFERs refused so far because of maxPendingOffersPerPeer / maxPendingOffers.
  std::uint64_t refusedOffers() const;

  /// Leaves the server but keeps the connections; no new ones can be made. reconnect() undoes it.
  void disconnect();
  /// Registers again with the same id and token after disconnect().
  Result reconnect();
  /// Closes every connection and leaves the server for good; onClose follows. Idempotent.
  void destroy();

  /// Registered with the server; fires again after every reconnection.
  void onOpen(std::function<void(const std::string& id)> callback);
  /// A remote peer opened a DataConnection to us (its OFFER arrived). Set the connection's
  /// callbacks inside this callback.
  void onConnection(std::function<void(std::shared_ptr<PeerJsConnection>)> callback);
  /// Errors of the peer and of what the server or other peers send. With Delivery::Poll at most
  /// 64 reports of each PeerJsErrorType wait for poll(); further ones of that type are counted,
  /// and once the waiting ones are taken one report of that type says "N more errors were left
  /// out while the application did not poll; the last: <its message>".
  void onError(std::function<void(const PeerJsError&)> callback);
  /// The server connection was lost (reconnection follows when enabled) or disconnect() was
  /// called. Connections stay up.
  void onDisconnected(std::function<void(const std::string& reason)> callback);
  /// The peer was destroyed. Afterwards the peer drops all its callbacks.
  void onClose(std::function<void()> callback);

 private:
  PeerJsPeer(Runtime& runtime, PeerJsOptions options);
  std::shared_ptr<impl::PeerJsPeerShared> shared_;
};

}  // namespace claynet
