// claynet::PeerConnection — a WebRTC peer connection that carries data channels.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "claynet/configuration.hpp"
#include "claynet/data_channel.hpp"
#include "claynet/result.hpp"
#include "claynet/runtime.hpp"

namespace claynet {

namespace impl {
class PeerShared;
}

enum class PeerState { New, Connecting, Connected, Disconnected, Failed, Closed };
enum class GatheringState { New, Gathering, Complete };
enum class SdpType { Offer, Answer };

const char* toString(PeerState state);
const char* toString(GatheringState state);
const char* toString(SdpType type);

/// An SDP offer or answer, to be carried to the other side by whatever signaling you use.
struct Description {
  SdpType type = SdpType::Offer;
  std::string sdp;
};

/// An ICE candidate in the W3C form: `candidate` is "candidate:..." (no "a=").
struct Candidate {
  std::string candidate;
  std::string mid = "0";
  int mLineIndex = 0;
};

enum class CandidateType { Host, ServerReflexive, PeerReflexive, Relayed };
const char* toString(CandidateType type);  // "host", "srflx", "prflx", "relay"

struct CandidateInfo {
  CandidateType type = CandidateType::Host;
  std::string address;
  uint16_t port = 0;
  std::string transport;  // "udp" or "tcp"
  /// Local relayed candidates: how this side reaches its TURN server ("udp", "tcp" or "tls";
  /// "tcp or tls" when both kinds of server are configured: libnice does not say which one a
  /// candidate came from). Empty otherwise, and for remote candidates (not signaled).
  std::string relayProtocol;
};

/// The candidate pair ICE selected.
struct SelectedPair {
  CandidateInfo local;
  CandidateInfo remote;
};

/// What ICE gathered, received and learned about the configured servers: enough to tell why no
/// path formed (and what would help), and for diagnostics. PeerConnection::iceStats().
struct IceStats {
  /// Local candidates gathered, by type (srflx from STUN or TURN, relay from TURN).
  int localHost = 0, localSrflx = 0, localRelay = 0;
  /// Remote candidates handed to ICE, by type; and those skipped: mDNS (`.local`) names, which
  /// only peer-reflexive discovery can reach, and TCP candidates (only UDP is used).
  int remoteHost = 0, remoteSrflx = 0, remotePrflx = 0, remoteRelay = 0;
  int remoteMdnsSkipped = 0, remoteTcpSkipped = 0;
  /// Servers in the configuration (a malformed URL is not counted).
  int stunServers = 0, turnServers = 0;
  /// What went wrong with a server, one line each: a name that did not resolve, a TURN over TLS
  /// certificate that was refused, ...
  std::vector<std::string> serverProblems;
};

/// What `stats` say about a connection that found no path, in words for people: the candidates
/// of both sides, then advice that fits: add a TURN server when none is configured, check it when
/// one is configured but gave no relay candidate, look at the remote when only this side relayed,
/// what mDNS-only remote candidates mean; then any server problems. The detail of
/// StateReason::Code::IceFailed is made of this.
std::string explainIceFailure(const IceStats& stats);

/// Why a connection is in its state: a code to switch on and a detail for people.
struct StateReason {
  enum class Code {
    None,          ///< New, Connecting, Connected: nothing went wrong
    IceFailed,     ///< no candidate pair worked (checked them all, or `iceTimeout` passed)
    PathLost,      ///< Disconnected: nothing came from the remote for `disconnectedAfter`;
                   ///< Failed: for `failedAfter`, or ICE consent was lost (RFC 7675)
    DtlsFailed,    ///< the DTLS handshake failed (e.g. the fingerprint did not match)
    SctpFailed,    ///< the SCTP association could not start or was aborted
    RemoteClosed,  ///< the remote closed the connection
    LocalClosed,   ///< close(), the destructor, or the Runtime shutting down
  };
  Code code = Code::None;
  std::string detail;
};
const char* toString(StateReason::Code code);

/// Starts resolving the STUN/TURN server names of `configuration` in the background, so that
/// connections made later find them resolved (answers are kept for a minute). Optional: a
/// connection resolves its own names too, but then a STUN name still unresolved when gathering
/// starts holds the host candidates back for at most 200 ms (a TURN name never holds anything
/// back: its relay candidates follow when it resolves). PeerJsPeer::open() calls this.
void prefetchIceServers(Runtime& runtime, const Configuration& configuration);

/// A peer connection for data channels: ICE (libnice), DTLS 1.2 and SCTP.
///
/// Negotiation: the offering side creates its channels, then calls createOffer(); the local
/// description and each local candidate come out through onLocalDescription / onLocalCandidate.
/// The answering side calls setRemoteDescription(offer) and its answer comes out the same way.
/// Candidates are trickled: hand each one over with addRemoteCandidate().
///
/// Thread-safety: every member may be called from any thread; the work runs on the Runtime's
/// network thread. Destroying the object closes the connection.
class PeerConnection {
 public:
  explicit PeerConnection(Runtime& runtime, Configuration configuration = {});
  ~PeerConnection();
  PeerConnection(const PeerConnection&) = delete;
  PeerConnection& operator=(const PeerConnection&) = delete;

  /// Creates a channel. Non-negotiated channels are announced to the remote (DCEP) once the
  /// connection is up. Fails on an invalid init (both maxRetransmits and maxPacketLifeTime, a
  /// negotiated channel without id, an id already used or out of range, a closed connection).
  Result createDataChannel(const std::string& label, const DataChannelInit& init,
                           std::shared_ptr<DataChannel>& out);
  /// Convenience form: nullptr on failure (the reason goes to onError).
  std::shared_ptr<DataChannel> createDataChannel(const std::string& label,
                                                 const DataChannelInit& init = {});

  /// Starts the offering side: gathers candidates and emits the offer.
  Result createOffer();
  /// Applies the remote offer (an answer follows through onLocalDescription) or answer.
  /// Fails with the reason when the SDP cannot be parsed or does not fit the current state.
  Result setRemoteDescription(const Description& description);
  /// Adds a trickled remote candidate. Candidates that arrive before the remote description are
  /// held until it comes. Unresolvable ones (mDNS `.local` names) are skipped; the connection
  /// still forms through peer-reflexive discovery.
  Result addRemoteCandidate(const Candidate& candidate);

  /// Restarts ICE, as browsers' restartIce() does: new ICE credentials and freshly gathered
  /// candidates (so a moved client or a flushed NAT mapping gets a new path), carried by a new
  /// offer through onLocalDescription; the remote answers it with setRemoteDescription's usual
  /// flow. DTLS, SCTP and every data channel stay as they are, and data sent meanwhile is queued
  /// and delivered once the new path works. The old path keeps working until the new one is
  /// chosen. Fails before the connection has formed once, after close, and while a restart of
  /// either side is under way (for 3.5 s at most: a restart that got nowhere by then, say because
  /// its offer was lost, is replaced).
  /// A remote offer with new ICE credentials on an established connection is taken as the
  /// remote's restart and answered. Both sides restarting at once: the side that made the first
  /// offer of the connection keeps its restart (setRemoteDescription refuses the other's offer);
  /// the other side drops its own and answers.
  Result restartIce();

  /// Closes every channel and the connection. Idempotent.
  void close();

  PeerState state() const;
  GatheringState gatheringState() const;
  std::optional<Description> localDescription() const;
  std::optional<SelectedPair> selectedPair() const;
  /// The remote's a=max-message-size (0: unlimited); 65536 until the remote description is set.
  std::size_t remoteMaxMessageSize() const;
  /// Why the connection failed, e.g. a fingerprint mismatch naming both fingerprints.
  std::string failureReason() const;
  /// Why the connection is in its current state (the detail of Disconnected, Failed, Closed).
  StateReason stateReason() const;
  /// What ICE gathered and received, and what became of the STUN/TURN servers.
  IceStats iceStats() const;
  Counters counters() const;

  void onLocalDescription(std::function<void(const Description&)> callback);
  void onLocalCandidate(std::function<void(const Candidate&)> callback);
  void onStateChange(std::function<void(PeerState)> callback);
  /// The same, with the reason (stateReason() at the time of the change). Setting either form
  /// replaces the other.
  void onStateChange(std::function<void(PeerState, const StateReason&)> callback);
  void onGatheringStateChange(std::function<void(GatheringState)> callback);
  void onDataChannel(std::function<void(std::shared_ptr<DataChannel>)> callback);
  /// Errors that do not change the state (a bad candidate, a refused channel, ...).
  void onError(std::function<void(const std::string&)> callback);
  /// Human-readable transport events (candidates, ICE/DTLS/SCTP states, selected pair), for
  /// verbose diagnostics.
  void onDiagnostic(
      std::function<void(const std::string& phase, const std::string& detail)> callback);

 private:
  std::shared_ptr<impl::PeerShared> shared_;
};

}  // namespace claynet
