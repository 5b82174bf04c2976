// claynet::PeerConnection — a WebRTC peer connection that carries data channels.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

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
};

/// The candidate pair ICE selected.
struct SelectedPair {
  CandidateInfo local;
  CandidateInfo remote;
};

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
  Counters counters() const;

  void onLocalDescription(std::function<void(const Description&)> callback);
  void onLocalCandidate(std::function<void(const Candidate&)> callback);
  void onStateChange(std::function<void(PeerState)> callback);
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
