// The network-thread side of PeerConnection and DataChannel.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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
  std::atomic<uint64_t> messagesSent{0}, messagesReceived{0}, bytesSent{0}, bytesReceived{0},
      messagesDropped{0};
  Counters snapshot() const {
    return {messagesSent.load(std::memory_order_relaxed),
            messagesReceived.load(std::memory_order_relaxed),
            bytesSent.load(std::memory_order_relaxed),
            bytesReceived.load(std::memory_order_relaxed),
            messagesDropped.load(std::memory_order_relaxed)};
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

  std::thread::id networkThread;  // the runtime's, fixed at creation
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
  bool unreliable() const { return maxRetransmits || maxPacketLifeTime; }

  // Received messages waiting for the application (Delivery::Poll). One event drains them, so
  // that the oldest of an unreliable channel can be dropped while they wait.
  std::mutex inboxMutex;
  std::deque<Message> inbox;
  std::size_t inboxBytes = 0;
  bool inboxEventQueued = false;
  /// Where the Runtime delivers: hands the messages waiting now to onMessage.
  void drainInbox();

  // Network thread only.
  struct Pending {
    uint32_t ppid;
    std::string data;
    bool control;  // DCEP: not the application's bytes
  };
  std::deque<Pending> sendQueue;  // this channel's turn in PeerShared's round
  bool ready = false;             // in PeerShared::ready_
  bool closeStarted = false;      // close requested: the reset follows the queued messages
  std::size_t inStack = 0;        // of `buffered`, the bytes handed to usrsctp
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
  /// A message left a channel's inbox (delivered or dropped): resumes reading when below budget.
  void released(std::size_t bytes);

  /// Received bytes waiting in channel inboxes for the application.
  std::atomic<std::size_t> undelivered{0};

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
  struct InStack {  // bytes handed to usrsctp, in the order they went
    std::shared_ptr<ChannelShared> channel;
    std::size_t bytes;
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
  void onSctpConnected(uint16_t inbound, uint16_t outbound);
  void onSctpMessage(uint16_t sid, uint32_t ppid, std::string&& data);
  void onIncomingReset(const std::vector<uint16_t>& sids);
  void onOutgoingReset(const std::vector<uint16_t>& sids, bool ok);
  void onStreamsChanged(uint16_t inbound, uint16_t outbound);
  void openChannel(const std::shared_ptr<ChannelShared>& channel);
  void markOpen(const std::shared_ptr<ChannelShared>& channel);
  void markClosed(const std::shared_ptr<ChannelShared>& channel, const std::string& error = {});
  std::optional<uint16_t> allocateSid() const;
  void queueControl(const std::shared_ptr<ChannelShared>& channel, std::vector<uint8_t> bytes);
  void makeReady(const std::shared_ptr<ChannelShared>& channel);
  void takeIncoming();
  void finishClose(const std::shared_ptr<ChannelShared>& channel);
  void reduceBuffered(const std::shared_ptr<ChannelShared>& channel, std::size_t bytes);
  void updateInStack();
  void clearSendState();
  void deliverMessage(const std::shared_ptr<ChannelShared>& channel, Message&& message);
  void flush();
  void setState(PeerState s, StateReason::Code code = StateReason::Code::None,
                const std::string& detail = {});
  void setGathering(GatheringState s);
  void fail(StateReason::Code code, const std::string& reason);
  void diag(const std::string& phase, const std::string& detail);
  void emitLocalDescription(SdpType type, const rtc::sdp::Session& session);
  void emitError(const std::string& message);
  void releaseTransports();
  // With Delivery::Poll every event waiting for poll() counts against the connection's budget of
  // undelivered bytes, as the messages do: a peer can provoke events without end (errors about
  // what it sends, channels opened and closed), and past the budget reading from it pauses.
  static constexpr std::size_t kEventBytes = 256;  // about what a waiting event holds
  template <typename F>
  void deliver(F&& f) {
    if (core->delivery() == Delivery::NetworkThread) {
      core->deliver(std::forward<F>(f));
      return;
    }
    charge(kEventBytes);
    core->deliver([self = shared_from_this(), f = std::forward<F>(f)]() mutable {
      self->released(kEventBytes);
      f();
    });
  }
  /// Counts bytes waiting for the application; pauses reading past the budget.
  void charge(std::size_t bytes);

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
  // Network thread only: channels with something to send, served one message each in turn.
  std::deque<std::shared_ptr<ChannelShared>> ready_;
  std::size_t queuedMessages_ = 0;  // in all channels' sendQueues
  bool flushing_ = false;
  std::deque<InStack> inStack_;
  std::size_t inStackTotal_ = 0;
  // A stream id is free again only once both directions of its reset are done; one whose reset
  // was refused is never used again on this association.
  std::map<uint16_t, uint8_t> resetting_;  // sid -> kIncomingDone | kOutgoingDone
  std::vector<bool> retired_;
  uint16_t outboundStreams_ = rtc::SctpTransport::kMaxStreams;
  std::atomic<bool> readPaused_{false};
  std::atomic<bool> resumePosted_{false};
};

}  // namespace claynet::impl
