// The network-thread side of PeerConnection and DataChannel.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "claynet/data_channel.hpp"
#include "claynet/peer_connection.hpp"
#include "rtc/callback_slot.hpp"
#include "rtc/dtls_transport.hpp"
#include "rtc/ice_transport.hpp"
#include "rtc/runtime_core.hpp"
#include "rtc/sctp_transport.hpp"
#include "rtc/sdp.hpp"

namespace claynet::impl {

class PeerShared;

struct AtomicCounters {
  std::atomic<uint64_t> messagesSent{0}, messagesReceived{0}, bytesSent{0}, bytesReceived{0};
  Counters snapshot() const {
    return {messagesSent.load(std::memory_order_relaxed),
            messagesReceived.load(std::memory_order_relaxed),
            bytesSent.load(std::memory_order_relaxed),
            bytesReceived.load(std::memory_order_relaxed)};
  }
};

class ChannelShared : public std::enable_shared_from_this<ChannelShared> {
 public:
  ChannelShared(std::weak_ptr<PeerShared> peer, std::string label, const DataChannelInit& init);

  // Fixed at creation.
  const std::string label;
  const std::string protocol;
  const bool ordered;
  const std::optional<uint16_t> maxRetransmits;
  const std::optional<uint16_t> maxPacketLifeTime;
  const bool negotiated;

  std::atomic<int> sid{-1};
  std::atomic<ChannelState> state{ChannelState::Connecting};
  std::atomic<std::size_t> buffered{0};
  std::atomic<std::size_t> lowThreshold{0};
  AtomicCounters counters;
  std::weak_ptr<PeerShared> peer;

  CallbackSlot<> onOpen, onClose, onBufferedAmountLow;
  CallbackSlot<Message&&> onMessage;
  CallbackSlot<const std::string&> onError;

  Result send(std::string&& data, bool binary);
  rtc::Reliability reliability() const { return {!ordered, maxRetransmits, maxPacketLifeTime}; }

  // Network thread only.
  bool awaitingAck = false;
  bool resetSent = false;
};

class PeerShared : public std::enable_shared_from_this<PeerShared> {
 public:
  PeerShared(std::shared_ptr<RuntimeCore> core, Configuration config);
  ~PeerShared();

  void init();  // registers with the runtime

  // Network thread.
  Result createDataChannel(const std::string& label, const DataChannelInit& init,
                           std::shared_ptr<ChannelShared>& out);
  Result createOffer();
  Result setRemoteDescription(const Description& description, rtc::sdp::Session&& session);
  Result addRemoteCandidate(const Candidate& candidate);
  Result restartIce();
  IceStats iceStats() const;
  void close(PeerState finalState, StateReason::Code code, const std::string& reason);
  void closeChannel(const std::shared_ptr<ChannelShared>& channel);

  // Any thread.
  void enqueue(const std::shared_ptr<ChannelShared>& channel, uint32_t ppid, std::string&& data);
  std::size_t sendLimit() const;

  const std::shared_ptr<RuntimeCore> core;
  const Configuration config;

  std::atomic<PeerState> state{PeerState::New};
  std::atomic<GatheringState> gathering{GatheringState::New};
  std::atomic<std::size_t> remoteMaxMessageSize{65536};
  AtomicCounters counters;
  mutable std::mutex infoMutex;
  std::optional<Description> localDescription;
  std::optional<SelectedPair> selectedPair;
  std::string failureReason;
  StateReason reason;

  CallbackSlot<const Description&> onLocalDescription;
  CallbackSlot<const Candidate&> onLocalCandidate;
  CallbackSlot<PeerState, const StateReason&> onStateChange;
  CallbackSlot<GatheringState> onGatheringStateChange;
  CallbackSlot<std::shared_ptr<DataChannel>> onDataChannel;
  CallbackSlot<const std::string&> onError;
  CallbackSlot<const std::string&, const std::string&> onDiagnostic;

 private:
  struct Outgoing {
    std::shared_ptr<ChannelShared> channel;
    uint32_t ppid;
    std::string data;
  };

  std::unique_ptr<rtc::IceTransport> createIce(bool controlling);
  void onIceConnected(rtc::IceTransport* which);
  void onIceFailed(rtc::IceTransport* which, const std::string& detail);
  void adoptRestartedIce();
  void publishPair(const SelectedPair& pair);
  void dropNextIce();
  static constexpr gint64 kRestartPatienceUs = 3'500'000;
  Result applyRestart(const Description& d, rtc::sdp::Session&& session);
  rtc::sdp::Session localSession(rtc::sdp::Setup setup, const rtc::IceTransport& ice);
  std::string iceFailureDetail(const std::string& what) const;
  void startTimers();
  void stopTimers();
  static gboolean onTick(gpointer self);
  static gboolean onRelayRelease(gpointer self);
  static constexpr gint64 kRelayHoldUs = 150'000;
  void startDtls();
  void startSctp();
  void onSctpConnected();
  void onSctpMessage(uint16_t sid, uint32_t ppid, std::string&& data);
  void onIncomingReset(const std::vector<uint16_t>& sids);
  void openChannel(const std::shared_ptr<ChannelShared>& channel);
  void markOpen(const std::shared_ptr<ChannelShared>& channel);
  void markClosed(const std::shared_ptr<ChannelShared>& channel);
  std::optional<uint16_t> allocateSid() const;
  void flush();
  void setState(PeerState s, StateReason::Code code = StateReason::Code::None,
                const std::string& detail = {});
  void setGathering(GatheringState s);
  void fail(StateReason::Code code, const std::string& reason);
  void diag(const std::string& phase, const std::string& detail);
  void emitLocalDescription(SdpType type, const rtc::sdp::Session& session);
  void emitError(const std::string& message);
  void releaseTransports();
  template <typename F>
  void deliver(F&& f) {
    core->deliver(std::forward<F>(f));
  }

  enum class Role { None, Offerer, Answerer };
  Role role_ = Role::None;
  bool closed_ = false;
  bool haveRemote_ = false;
  bool dtlsClient_ = false;
  rtc::sdp::Session remote_;
  bool legacySdp_ = false;
  std::vector<std::string> pendingCandidates_;
  std::vector<std::string> earlyDtls_;  // DTLS datagrams that came before the remote answer
  bool pendingEndOfCandidates_ = false;
  std::unique_ptr<rtc::IceTransport> ice_;
  // An ICE restart's agent, until it connects and replaces ice_ (DTLS and SCTP stay).
  std::unique_ptr<rtc::IceTransport> nextIce_;
  IceStats finalIceStats_;
  bool restartOffered_ = false;  // our restart offer waits for its answer
  bool restartOwn_ = false;      // nextIce_ is this side's restart (not an answer to the remote's)
  gint64 nextIceSinceUs_ = 0;
  bool everConnected_ = false;
  uint64_t sessionVersion_ = 1;
  std::string sessionId_;
  // Liveness: the last packet from the remote, and one timer for it and for iceTimeout.
  gint64 lastRxUs_ = 0;
  gint64 iceStartUs_ = 0;
  GSource* tick_ = nullptr;
  GSource* relayRelease_ = nullptr;
  std::vector<std::string> heldRelays_;
  std::size_t remoteCandidateCount_ = 0;
  static constexpr std::size_t kMaxRemoteCandidates = 100;
  std::unique_ptr<rtc::DtlsTransport> dtls_;
  std::unique_ptr<rtc::SctpTransport> sctp_;
  std::map<uint16_t, std::shared_ptr<ChannelShared>> channels_;
  std::vector<std::shared_ptr<ChannelShared>> unassigned_;  // waiting for the DTLS role

  // Sends cross from any thread into the network thread through this queue.
  std::mutex sendMutex_;
  std::vector<Outgoing> incoming_;
  bool flushPosted_ = false;
  std::atomic<bool> hasIncoming_{false};  // lets flush() skip the lock when nothing is new
  std::deque<Outgoing> fifo_;             // network thread only
  bool flushing_ = false;
};

}  // namespace claynet::impl
