#include <algorithm>
#include <limits>

#include "rtc/dcep.hpp"
#include "rtc/ice_advice.hpp"
#include "rtc/ice_server_resolver.hpp"
#include "rtc/peer_shared.hpp"

namespace claynet {

const char* toString(PeerState s) {
  switch (s) {
    case PeerState::New:
      return "new";
    case PeerState::Connecting:
      return "connecting";
    case PeerState::Connected:
      return "connected";
    case PeerState::Disconnected:
      return "disconnected";
    case PeerState::Failed:
      return "failed";
    case PeerState::Closed:
      return "closed";
  }
  return "?";
}

const char* toString(GatheringState s) {
  switch (s) {
    case GatheringState::New:
      return "new";
    case GatheringState::Gathering:
      return "gathering";
    case GatheringState::Complete:
      return "complete";
  }
  return "?";
}

const char* toString(SdpType t) { return t == SdpType::Offer ? "offer" : "answer"; }

const char* toString(CandidateType t) {
  switch (t) {
    case CandidateType::Host:
      return "host";
    case CandidateType::ServerReflexive:
      return "srflx";
    case CandidateType::PeerReflexive:
      return "prflx";
    case CandidateType::Relayed:
      return "relay";
  }
  return "?";
}

const char* toString(StateReason::Code c) {
  switch (c) {
    case StateReason::Code::None:
      return "none";
    case StateReason::Code::IceFailed:
      return "ice-failed";
    case StateReason::Code::PathLost:
      return "path-lost";
    case StateReason::Code::DtlsFailed:
      return "dtls-failed";
    case StateReason::Code::SctpFailed:
      return "sctp-failed";
    case StateReason::Code::RemoteClosed:
      return "remote-closed";
    case StateReason::Code::LocalClosed:
      return "local-closed";
  }
  return "?";
}

std::string explainIceFailure(const IceStats& stats) { return rtc::iceAdvice(stats); }

void prefetchIceServers(Runtime& runtime, const Configuration& configuration) {
  std::vector<std::string> names;
  for (const auto& s : configuration.iceServers) {
    IceServerUrl url;
    if (IceServerUrl::parse(s.url, url) && !g_hostname_is_ip_address(url.host.c_str()) &&
        !rtc::IceServerResolver::cached(url.host))
      names.push_back(url.host);
  }
  if (names.empty()) return;
  runtime.core()->post([names] {
    for (const auto& n : names) rtc::IceServerResolver::resolve(n, nullptr, {});
  });
}

namespace impl {

namespace {
constexpr uint16_t kSctpPort = 5000;
constexpr guint kTickMs = 250;
// usrsctp only accepts a message whole; keep well inside its send buffer.
constexpr std::size_t kLocalSendCeiling = 1024 * 1024;
// resetting_ flags: which direction of a stream's reset is done.
constexpr uint8_t kIncomingDone = 1;
constexpr uint8_t kOutgoingDone = 2;
}  // namespace

PeerShared::PeerShared(std::shared_ptr<RuntimeCore> c, Configuration cfg)
    : core(std::move(c)), config(std::move(cfg)) {}

PeerShared::~PeerShared() { releaseTransports(); }

void PeerShared::init() {
  std::weak_ptr<PeerShared> weak = shared_from_this();
  core->registerCloser(this, [weak] {
    if (auto self = weak.lock())
      self->close(PeerState::Closed, StateReason::Code::LocalClosed, "the runtime shut down");
  });
}

void PeerShared::diag(const std::string& phase, const std::string& detail) {
  if (!onDiagnostic) return;
  deliver([self = shared_from_this(), phase, detail] { self->onDiagnostic(phase, detail); });
}

void PeerShared::emitError(const std::string& message) {
  deliver([self = shared_from_this(), message] { self->onError(message); });
}

void PeerShared::setState(PeerState s, StateReason::Code code, const std::string& detail) {
  if (state.exchange(s) == s) return;
  StateReason why{code, detail};
  {
    std::lock_guard lock(infoMutex);
    reason = why;
  }
  diag("state", std::string("connection ") + toString(s) + (detail.empty() ? "" : ": " + detail));
  deliver([self = shared_from_this(), s, why] { self->onStateChange(s, why); });
}

void PeerShared::setGathering(GatheringState s) {
  if (gathering.exchange(s) == s) return;
  deliver([self = shared_from_this(), s] { self->onGatheringStateChange(s); });
}

void PeerShared::fail(StateReason::Code code, const std::string& why) {
  {
    std::lock_guard lock(infoMutex);
    if (failureReason.empty()) failureReason = why;
  }
  diag("error", why);
  close(PeerState::Failed, code, why);
}

std::unique_ptr<rtc::IceTransport> PeerShared::createIce(bool controlling) {
  rtc::IceTransport::Callbacks cb;
  // Callbacks name their transport: during a restart two of them run side by side.
  auto holder = std::make_shared<rtc::IceTransport*>(nullptr);
  cb.onLocalCandidate = [this](const std::string& line) {
    if (closed_) return;
    diag("ice", "local candidate " + line);
    Candidate c{line, remote_.mid.empty() ? "0" : remote_.mid, remote_.mLineIndex};
    if (role_ == Role::Offerer) c = Candidate{line, "0", 0};
    deliver([self = shared_from_this(), c] { self->onLocalCandidate(c); });
  };
  cb.onGatheringDone = [this] {
    diag("ice", "gathering complete");
    setGathering(GatheringState::Complete);
  };
  cb.onGatheringResumed = [this] { setGathering(GatheringState::Gathering); };
  cb.onStateChange = [this, holder](rtc::IceTransport::State s, const std::string& detail) {
    if (closed_) return;
    if (s == rtc::IceTransport::State::Connected)
      onIceConnected(*holder);
    else if (s == rtc::IceTransport::State::Failed)
      onIceFailed(*holder, detail);
  };
  cb.onPacket = [this](const uint8_t* data, std::size_t size) {
    if (closed_) return;
    lastRxUs_ = g_get_monotonic_time();
    if (!rtc::DtlsTransport::looksLikeDtls(data, size)) return;
    if (dtls_) {
      dtls_->handlePacket(data, size);
    } else if (earlyDtls_.size() < 8) {
      // The answerer's ClientHello can beat its answer here; dropping it costs a 1 s retransmit.
      earlyDtls_.emplace_back(reinterpret_cast<const char*>(data), size);
    }
  };
  cb.onSelectedPair = [this, holder](const SelectedPair& pair) {
    // A restart's pair counts once its agent has taken over (adoptRestartedIce).
    if (*holder == ice_.get()) publishPair(pair);
  };
  // Weak: a closing agent keeps this callback until its TURN allocations are freed, which can be
  // after the connection is gone (a raw `this` here deadlocked the runtime's shutdown on a freed
  // mutex: nat_sym_sym_turn_claynet).
  cb.onDiagnostic = [weak = weak_from_this()](const std::string& phase, const std::string& detail) {
    if (auto self = weak.lock()) self->diag(phase, detail);
  };
  std::weak_ptr<RuntimeCore> weakCore = core;
  cb.onLingerBegin = [weakCore](void* key, std::function<void()> force) {
    if (auto c = weakCore.lock()) c->beginLinger(key, std::move(force));
  };
  cb.onLingerEnd = [weakCore](void* key) {
    if (auto c = weakCore.lock()) c->endLinger(key);
  };
  auto ice =
      std::make_unique<rtc::IceTransport>(core->context(), config, controlling, std::move(cb));
  *holder = ice.get();
  return ice;
}

void PeerShared::onIceConnected(rtc::IceTransport* which) {
  if (which == nextIce_.get()) {
    adoptRestartedIce();
    return;
  }
  if (which != ice_.get()) return;
  if (dtls_ && dtls_->isClient() && !everConnected_) dtls_->start();
}

void PeerShared::onIceFailed(rtc::IceTransport* which, const std::string& detail) {
  if (which == nextIce_.get()) {
    // The old path may still work (or come back); the application may restart again.
    diag("ice", "ICE restart failed: " + detail);
    dropNextIce();
    return;
  }
  if (which != ice_.get()) return;
  if (nextIce_) {
    diag("ice", "the old path failed while a restart runs: " + detail);
    return;
  }
  if (everConnected_)
    fail(StateReason::Code::PathLost, detail);
  else
    fail(StateReason::Code::IceFailed, iceFailureDetail(detail));
}

void PeerShared::dropNextIce() {
  restartOffered_ = false;
  if (!nextIce_) return;
  // Freed from a fresh stack: it may be inside one of its own callbacks.
  std::shared_ptr<rtc::IceTransport> old(std::move(nextIce_));
  old->close();
  core->post([old] {});
}

void PeerShared::publishPair(const SelectedPair& pair) {
  {
    std::lock_guard lock(infoMutex);
    selectedPair = pair;
  }
  diag("ice",
       std::string("selected pair ") + toString(pair.local.type) + " " + pair.local.address + ":" +
           std::to_string(pair.local.port) +
           (pair.local.relayProtocol.empty() ? ""
                                             : " (TURN over " + pair.local.relayProtocol + ")") +
           " <-> " + toString(pair.remote.type) + " " + pair.remote.address + ":" +
           std::to_string(pair.remote.port));
}

void PeerShared::adoptRestartedIce() {
  diag("ice", "ICE restart complete: the new path carries the connection");
  std::shared_ptr<rtc::IceTransport> old(std::move(ice_));
  ice_ = std::move(nextIce_);
  restartOffered_ = false;
  if (ice_->selectedPair()) publishPair(*ice_->selectedPair());
  // Freed from a fresh stack: the old agent may be inside one of its own callbacks.
  if (old) {
    old->close();
    core->post([old] {});
  }
  lastRxUs_ = g_get_monotonic_time();
}

std::string PeerShared::iceFailureDetail(const std::string& what) const {
  return rtc::iceFailureDetail(what, ice_ ? ice_->stats() : IceStats{});
}

void PeerShared::startTimers() {
  if (tick_) return;
  iceStartUs_ = g_get_monotonic_time();
  tick_ = g_timeout_source_new(kTickMs);
  g_source_set_callback(tick_, &PeerShared::onTick, this, nullptr);
  g_source_attach(tick_, core->context());
}

gboolean PeerShared::onRelayRelease(gpointer data) {
  auto* self = static_cast<PeerShared*>(data);
  g_source_unref(self->relayRelease_);
  self->relayRelease_ = nullptr;
  auto held = std::move(self->heldRelays_);
  self->heldRelays_.clear();
  for (const auto& line : held) {
    std::string reason;
    if (self->closed_ || !self->ice_) break;
    if (self->ice_->addRemoteCandidate(line, reason))
      self->diag("ice", "remote candidate " + line + " (held back while a direct path could form)");
    else
      self->diag("ice", reason);
  }
  return G_SOURCE_REMOVE;
}

void PeerShared::stopTimers() {
  if (relayRelease_) {
    g_source_destroy(relayRelease_);
    g_source_unref(relayRelease_);
    relayRelease_ = nullptr;
  }
  if (!tick_) return;
  g_source_destroy(tick_);
  g_source_unref(tick_);
  tick_ = nullptr;
}

gboolean PeerShared::onTick(gpointer data) {
  // Runs on the network thread; the source is destroyed in close(), before the object can go.
  auto* self = static_cast<PeerShared*>(data);
  if (self->closed_) return G_SOURCE_CONTINUE;
  const gint64 now = g_get_monotonic_time();
  const auto ms = [](std::chrono::milliseconds d) { return static_cast<gint64>(d.count()) * 1000; };
  const Configuration& c = self->config;
  if (!self->everConnected_) {
    if (c.iceTimeout.count() > 0 && now - self->iceStartUs_ >= ms(c.iceTimeout) &&
        !(self->ice_ && self->ice_->connected()))
      self->fail(StateReason::Code::IceFailed,
                 self->iceFailureDetail("ICE found no working path to the remote peer in " +
                                        std::to_string(c.iceTimeout.count()) + " ms"));
    return G_SOURCE_CONTINUE;
  }
  const gint64 silent = now - self->lastRxUs_;
  PeerState st = self->state.load();
  if (c.failedAfter.count() > 0 && silent >= ms(c.failedAfter)) {
    self->fail(StateReason::Code::PathLost, "nothing came from the remote peer for " +
                                                std::to_string(c.failedAfter.count()) +
                                                " ms: the path is gone");
  } else if (st == PeerState::Connected && c.disconnectedAfter.count() > 0 &&
             silent >= ms(c.disconnectedAfter)) {
    self->setState(
        PeerState::Disconnected, StateReason::Code::PathLost,
        "nothing came from the remote peer for " + std::to_string(silent / 1000) + " ms");
  } else if (st == PeerState::Disconnected && silent < ms(std::chrono::milliseconds(kTickMs * 2))) {
    self->setState(PeerState::Connected);
  }
  return G_SOURCE_CONTINUE;
}

Result PeerShared::createDataChannel(const std::string& label, const DataChannelInit& init,
                                     std::shared_ptr<ChannelShared>& out) {
  if (closed_)
    return Result::failure("cannot create data channel '" + label + "': the connection is closed");
  if (init.maxRetransmits && init.maxPacketLifeTime)
    return Result::failure("cannot create data channel '" + label +
                           "': set maxRetransmits or maxPacketLifeTime, not both");
  if (label.size() > 65535 || init.protocol.size() > 65535)
    return Result::failure("cannot create data channel: label or protocol longer than 65535 bytes");
  if (init.negotiated) {
    if (!init.id)
      return Result::failure("cannot create negotiated data channel '" + label +
                             "': a negotiated channel needs an id");
    if (*init.id >= rtc::SctpTransport::kMaxStreams)
      return Result::failure("cannot create data channel '" + label + "': id " +
                             std::to_string(*init.id) + " is out of range (0-" +
                             std::to_string(rtc::SctpTransport::kMaxStreams - 1) + ")");
    if (channels_.count(*init.id))
      return Result::failure("cannot create data channel '" + label + "': id " +
                             std::to_string(*init.id) + " is already in use");
    if (*init.id < retired_.size() && retired_[*init.id])
      return Result::failure("cannot create data channel '" + label + "': stream " +
                             std::to_string(*init.id) +
                             " cannot be used again on this connection (the remote refused to "
                             "reset it)");
    if (sctp_ && sctp_->connected() && *init.id >= outboundStreams_)
      return Result::failure("cannot create data channel '" + label + "': id " +
                             std::to_string(*init.id) + " is beyond the " +
                             std::to_string(outboundStreams_) + " streams the remote accepted");
  } else if (init.id) {
    return Result::failure("cannot create data channel '" + label +
                           "': an id can only be chosen for a negotiated channel");
  }
  auto ch = std::make_shared<ChannelShared>(weak_from_this(), label, init);
  if (init.negotiated) {
    ch->sid = *init.id;
    channels_[*init.id] = ch;
    if (sctp_ && sctp_->connected()) markOpen(ch);
  } else if (sctp_ && sctp_->connected()) {
    openChannel(ch);
  } else {
    unassigned_.push_back(ch);
  }
  out = ch;
  return {};
}

std::optional<uint16_t> PeerShared::allocateSid() const {
  for (uint16_t id = dtlsClient_ ? 0 : 1; id < outboundStreams_; id += 2) {
    bool retired = id < retired_.size() && retired_[id];
    if (!channels_.count(id) && !resetting_.count(id) && !retired) return id;
  }
  return std::nullopt;
}

void PeerShared::openChannel(const std::shared_ptr<ChannelShared>& ch) {
  auto sid = allocateSid();
  if (!sid) {
    markClosed(ch, "no free SCTP stream for data channel '" + ch->label + "'");
    return;
  }
  ch->sid = *sid;
  channels_[*sid] = ch;
  auto open = rtc::dcep::Open::fromOptions(ch->ordered, ch->maxRetransmits, ch->maxPacketLifeTime,
                                           ch->label, ch->protocol);
  ch->awaitingAck = true;
  queueControl(ch, rtc::dcep::encodeOpen(open));
}

void PeerShared::markOpen(const std::shared_ptr<ChannelShared>& ch) {
  ch->awaitingAck = false;
  ChannelState expected = ChannelState::Connecting;
  if (!ch->state.compare_exchange_strong(expected, ChannelState::Open)) return;
  diag("datachannel", "channel '" + ch->label + "' open on stream " + std::to_string(ch->sid));
  // Latched: an onOpen set only after this (say, right after createDataChannel returned on
  // another thread) still fires.
  deliver([ch] { ch->onOpen.invokeOrLatch(); });
}

void PeerShared::markClosed(const std::shared_ptr<ChannelShared>& ch, const std::string& error) {
  if (ch->state.exchange(ChannelState::Closed) == ChannelState::Closed) return;
  int sid = ch->sid;
  if (sid >= 0) {
    auto it = channels_.find(static_cast<uint16_t>(sid));
    if (it != channels_.end() && it->second == ch) channels_.erase(it);
  }
  std::erase(unassigned_, ch);
  // What it had not sent yet goes nowhere now; what usrsctp holds is no longer counted.
  queuedMessages_ -= ch->sendQueue.size();
  ch->sendQueue.clear();
  ch->buffered = 0;
  ch->inStack = 0;
  diag("datachannel", "channel '" + ch->label + "' closed" + (error.empty() ? "" : ": " + error));
  deliver([ch, error] {
    if (!error.empty()) ch->onError(error);
    ch->drainInbox();  // messages that came before the close are handed out before onClose
    ch->onClose();
  });
}

void PeerShared::closeChannel(const std::shared_ptr<ChannelShared>& ch) {
  if (ch->closeStarted || ch->state.load() == ChannelState::Closed) return;
  ch->closeStarted = true;
  int sid = ch->sid;
  if (closed_ || !sctp_ || !sctp_->connected() || sid < 0) {
    markClosed(ch);
    return;
  }
  ch->state = ChannelState::Closing;
  // Messages sent before close() go out first; the reset follows the last of them (flush()).
  takeIncoming();
  if (ch->sendQueue.empty()) {
    finishClose(ch);
  } else {
    makeReady(ch);
    flush();
  }
}

void PeerShared::finishClose(const std::shared_ptr<ChannelShared>& ch) {
  if (ch->resetSent || closed_ || !sctp_) return;
  ch->resetSent = true;
  auto sid = static_cast<uint16_t>(ch->sid.load());
  resetting_.try_emplace(sid, 0);
  sctp_->resetStreams({sid});
}

void PeerShared::emitLocalDescription(SdpType type, const rtc::sdp::Session& session) {
  Description d{type, rtc::sdp::generate(session)};
  {
    std::lock_guard lock(infoMutex);
    localDescription = d;
  }
  diag("signaling", std::string("local ") + toString(type) + " created");
  deliver([self = shared_from_this(), d] { self->onLocalDescription(d); });
}

rtc::sdp::Session PeerShared::localSession(rtc::sdp::Setup setup, const rtc::IceTransport& ice) {
  rtc::sdp::Session s;
  s.iceUfrag = ice.ufrag();
  s.icePwd = ice.pwd();
  s.fingerprint = core->certificate().fingerprint();
  s.setup = setup;
  s.maxMessageSize = config.maxMessageSize;
  if (role_ == Role::Answerer) {
    s.mid = remote_.mid;
    s.mLineIndex = remote_.mLineIndex;
    s.legacySctpmap = remote_.legacySctpmap;
  }
  s.sctpPort = kSctpPort;
  // One session id for the whole connection, and a new version for every description (RFC 3264).
  if (sessionId_.empty())
    sessionId_ = std::to_string(g_random_int_range(1, G_MAXINT32)) +
                 std::to_string(g_random_int_range(1, G_MAXINT32));
  s.sessionId = sessionId_;
  s.sessionVersion = ++sessionVersion_;
  return s;
}

Result PeerShared::createOffer() {
  if (closed_) return Result::failure("cannot create an offer: the connection is closed");
  if (role_ != Role::None)
    return Result::failure(std::string("cannot create an offer: this connection is already the ") +
                           (role_ == Role::Offerer ? "offerer" : "answerer"));
  role_ = Role::Offerer;
  ice_ = createIce(true);
  emitLocalDescription(SdpType::Offer, localSession(rtc::sdp::Setup::ActPass, *ice_));
  setGathering(GatheringState::Gathering);
  ice_->gather();
  return {};
}

Result PeerShared::restartIce() {
  if (closed_) return Result::failure("cannot restart ICE: the connection is closed");
  if (!everConnected_)
    return Result::failure("cannot restart ICE: the connection has not formed yet");
  // A restart that has not got anywhere for a while (its offer may have been lost while the
  // signaling server was away) is replaced; a younger one is left to finish.
  if (nextIce_ && g_get_monotonic_time() - nextIceSinceUs_ < kRestartPatienceUs)
    return Result::failure(restartOffered_
                               ? "cannot restart ICE: the last restart still waits for its answer"
                               : "cannot restart ICE: a restart is under way");
  dropNextIce();
  // The old agent keeps carrying packets (if it still can) until the new one connects.
  nextIce_ = createIce(true);
  nextIceSinceUs_ = g_get_monotonic_time();
  restartOffered_ = true;
  restartOwn_ = true;
  diag("ice", "restarting ICE: new credentials, gathering again");
  emitLocalDescription(SdpType::Offer, localSession(rtc::sdp::Setup::ActPass, *nextIce_));
  setGathering(GatheringState::Gathering);
  nextIce_->gather();
  return {};
}

Result PeerShared::applyRestart(const Description& d, rtc::sdp::Session&& session) {
  bool reused = false;
  if (session.fingerprint != remote_.fingerprint)
    return Result::failure("refused a new " + std::string(toString(d.type)) +
                           ": its DTLS fingerprint differs from the connection's (" +
                           session.fingerprint + " instead of " + remote_.fingerprint + ")");
  if (d.type == SdpType::Answer) {
    if (!restartOffered_ || !nextIce_)
      return Result::failure("cannot apply a remote answer: no offer of this side waits for one");
    restartOffered_ = false;
  } else {
    if (session.iceUfrag == remote_.iceUfrag && session.icePwd == remote_.icePwd)
      return Result::failure(
          "cannot apply a new offer without new ICE credentials (only ICE restarts are "
          "supported on an established connection)");
    // Both sides restarting at once: the side that made the connection's first offer keeps its
    // own restart (while it is young); the other side drops its own and answers.
    const bool ownUnderWay =
        nextIce_ && restartOwn_ && g_get_monotonic_time() - nextIceSinceUs_ < kRestartPatienceUs;
    if (ownUnderWay && role_ == Role::Offerer)
      return Result::failure(
          "ignored the remote's ICE restart: this side's own restart is under way, and the side "
          "that offered first keeps its restart");
    reused = ownUnderWay;
    if (ownUnderWay) {
      // Our restart's agent answers instead: the remote never applied our offer, and a new
      // agent would throw away what this one has gathered (a TURN allocation dropped while it
      // is being made stays on the server until it expires).
      diag("ice", "both sides restarted ICE at once; ours answers the remote's");
      restartOffered_ = false;
      nextIce_->setControlling(false);
    } else {
      dropNextIce();
      nextIce_ = createIce(false);
      nextIceSinceUs_ = g_get_monotonic_time();
    }
    restartOwn_ = false;
  }
  remote_.iceUfrag = session.iceUfrag;
  remote_.icePwd = session.icePwd;
  nextIce_->setRemoteCredentials(session.iceUfrag, session.icePwd);
  remoteCandidateCount_ = 0;  // a new ICE generation
  diag("signaling", std::string("remote ") + toString(d.type) + " applied: ICE restart");
  if (d.type == SdpType::Offer) {
    // DTLS is established: this side keeps its role whatever the offer's a=setup says.
    emitLocalDescription(
        SdpType::Answer,
        localSession(dtlsClient_ ? rtc::sdp::Setup::Active : rtc::sdp::Setup::Passive, *nextIce_));
    // An agent that offered first went with an offer the remote refused: the candidates it has
    // gathered are sent again, now that they belong to the answer.
    if (reused)
      for (const auto& line : nextIce_->localCandidates()) {
        Candidate cand{line, remote_.mid.empty() ? "0" : remote_.mid, remote_.mLineIndex};
        if (role_ == Role::Offerer) cand = Candidate{line, "0", 0};
        deliver([self = shared_from_this(), cand] { self->onLocalCandidate(cand); });
      }
    setGathering(GatheringState::Gathering);
    nextIce_->gather();
  }
  for (const auto& c : session.candidates) {
    std::string why;
    if (nextIce_->addRemoteCandidate(c, why))
      diag("ice", "remote candidate " + c);
    else
      diag("ice", why);
  }
  if (session.endOfCandidates) nextIce_->remoteGatheringDone();
  return {};
}

Result PeerShared::setRemoteDescription(const Description& d, rtc::sdp::Session&& session) {
  if (closed_)
    return Result::failure("cannot set the remote description: the connection is closed");
  if (haveRemote_) {
    if (!everConnected_)
      return Result::failure(
          "cannot set the remote description twice before the connection has formed");
    return applyRestart(d, std::move(session));
  }
  if (d.type == SdpType::Offer) {
    if (role_ != Role::None)
      return Result::failure("cannot apply a remote offer: this connection already made an offer");
    role_ = Role::Answerer;
  } else if (role_ != Role::Offerer) {
    return Result::failure("cannot apply a remote answer: this connection has not made an offer");
  }
  remote_ = std::move(session);
  haveRemote_ = true;
  remoteMaxMessageSize = rtc::sdp::effectiveMaxMessageSize(remote_);

  if (d.type == SdpType::Offer) {
    ice_ = createIce(false);
    // The answerer takes the active (DTLS client) role unless the offer insists otherwise.
    dtlsClient_ = remote_.setup != rtc::sdp::Setup::Active;
  } else {
    // An answer without a=setup reads as actpass; RFC 4145 makes a missing value active.
    dtlsClient_ = remote_.setup == rtc::sdp::Setup::Passive;
  }
  ice_->setRemoteCredentials(remote_.iceUfrag, remote_.icePwd);
  diag("signaling", std::string("remote ") + toString(d.type) + " applied; DTLS role " +
                        (dtlsClient_ ? "client" : "server"));
  startDtls();
  setState(PeerState::Connecting);
  startTimers();

  if (d.type == SdpType::Offer) {
    emitLocalDescription(
        SdpType::Answer,
        localSession(dtlsClient_ ? rtc::sdp::Setup::Active : rtc::sdp::Setup::Passive, *ice_));
    setGathering(GatheringState::Gathering);
    ice_->gather();
  }

  std::vector<std::string> candidates = remote_.candidates;
  candidates.insert(candidates.end(), pendingCandidates_.begin(), pendingCandidates_.end());
  pendingCandidates_.clear();
  for (const auto& c : candidates) {
    std::string reason;
    if (ice_->addRemoteCandidate(c, reason))
      diag("ice", "remote candidate " + c);
    else
      diag("ice", reason);
  }
  if (remote_.endOfCandidates || pendingEndOfCandidates_) ice_->remoteGatheringDone();
  return {};
}

Result PeerShared::addRemoteCandidate(const Candidate& c) {
  if (closed_) return Result::failure("cannot add a candidate: the connection is closed");
  // During a restart, trickled candidates belong to the new ICE generation.
  rtc::IceTransport* ice = nextIce_ ? nextIce_.get() : ice_.get();
  if (c.candidate.empty()) {  // end-of-candidates, as browsers signal it
    if (haveRemote_)
      ice->remoteGatheringDone();
    else
      pendingEndOfCandidates_ = true;
    return {};
  }
  // A peer (or a server) could send candidates without end, each one costing checks, TURN
  // permissions and memory: a generation of ICE takes a bounded number.
  if (remoteCandidateCount_ >= kMaxRemoteCandidates)
    return Result::failure("refused a remote candidate: the remote already sent " +
                           std::to_string(kMaxRemoteCandidates) +
                           " for this connection (more would only cost checks and memory)");
  ++remoteCandidateCount_;
  if (!haveRemote_) {
    pendingCandidates_.push_back(c.candidate);
    return {};
  }
  // The remote's relay candidates wait a moment while a direct path may still form. libnice
  // nominates as soon as two pairs work, and pairs through a relay often work first (the direct
  // ones wait for the other side's NAT to open): without the wait, two peers behind cone NATs
  // ended up relayed through Chromium's TURN server (seen in tests/nat).
  if (!nextIce_ && !everConnected_ && config.iceTransportPolicy != IceTransportPolicy::Relay &&
      c.candidate.find(" typ relay") != std::string::npos &&
      g_get_monotonic_time() - iceStartUs_ < kRelayHoldUs) {
    heldRelays_.push_back(c.candidate);
    if (!relayRelease_) {
      guint left =
          static_cast<guint>((kRelayHoldUs - (g_get_monotonic_time() - iceStartUs_)) / 1000);
      relayRelease_ = g_timeout_source_new(left);
      g_source_set_callback(relayRelease_, &PeerShared::onRelayRelease, this, nullptr);
      g_source_attach(relayRelease_, core->context());
    }
    return {};
  }
  std::string reason;
  if (!ice->addRemoteCandidate(c.candidate, reason)) {
    diag("ice", reason);
    // Skipping mDNS or TCP candidates is normal; only a malformed line is the caller's error.
    if (reason.rfind("skipped", 0) == 0) return {};
    return Result::failure(reason);
  }
  diag("ice", "remote candidate " + c.candidate);
  return {};
}

void PeerShared::startDtls() {
  rtc::DtlsTransport::Callbacks cb;
  cb.sendPacket = [this](const uint8_t* data, std::size_t size) {
    if (ice_) ice_->send(data, size);
  };
  cb.onConnected = [this] {
    diag("dtls", "DTLS connected");
    startSctp();
  };
  cb.onData = [this](const uint8_t* data, std::size_t size) {
    if (!sctp_) return;
    sctp_->handlePacket(data, size);
    updateInStack();  // a SACK may have freed what usrsctp held for a channel
  };
  cb.onFailed = [this](const std::string& reason) { fail(StateReason::Code::DtlsFailed, reason); };
  cb.onRemoteClosed = [this] {
    diag("dtls", "remote sent DTLS close_notify");
    close(PeerState::Closed, StateReason::Code::RemoteClosed,
          "the remote peer closed the connection");
  };
  dtls_ = std::make_unique<rtc::DtlsTransport>(core->context(), core->certificate(), dtlsClient_,
                                               remote_.fingerprint, std::move(cb));
  auto early = std::move(earlyDtls_);
  earlyDtls_.clear();
  for (const auto& p : early)
    if (dtls_ && !closed_)
      dtls_->handlePacket(reinterpret_cast<const uint8_t*>(p.data()), p.size());
}

void PeerShared::startSctp() {
  rtc::SctpTransport::Callbacks cb;
  cb.sendPacket = [this](const uint8_t* data, std::size_t size) {
    if (dtls_) dtls_->send(data, size);
  };
  cb.onConnected = [this](uint16_t inbound, uint16_t outbound) {
    onSctpConnected(inbound, outbound);
  };
  cb.onClosed = [this](const rtc::SctpInbound::Ending& e) {
    diag("sctp", e.reason);
    if (e.failure)
      fail(StateReason::Code::SctpFailed, e.reason);
    else
      close(PeerState::Closed, StateReason::Code::RemoteClosed, e.reason);
  };
  cb.onMessage = [this](uint16_t sid, uint32_t ppid, std::string&& data) {
    onSctpMessage(sid, ppid, std::move(data));
  };
  cb.onIncomingReset = [this](const std::vector<uint16_t>& sids) { onIncomingReset(sids); };
  cb.onOutgoingReset = [this](const std::vector<uint16_t>& sids, bool ok) {
    onOutgoingReset(sids, ok);
  };
  cb.onStreamsChanged = [this](uint16_t inbound, uint16_t outbound) {
    onStreamsChanged(inbound, outbound);
  };
  cb.onWritable = [this] { flush(); };
  cb.onDiagnostic = [this](const std::string& detail) { diag("sctp", detail); };
  std::weak_ptr<RuntimeCore> weakCore = core;
  sctp_ = std::make_unique<rtc::SctpTransport>(
      kSctpPort, remote_.sctpPort,
      // 0 is advertised as "unlimited" (RFC 8841), so it must be honoured as such here too.
      config.maxMessageSize == 0 ? std::numeric_limits<std::size_t>::max()
                                 : std::max<std::size_t>(config.maxMessageSize, 65536),
      std::move(cb),
      [weakCore](std::function<void()> task) {
        if (auto c = weakCore.lock()) c->post(std::move(task));
      },
      // Asked from usrsctp's timers on any runtime's thread, maybe while this one goes away.
      [weakCore] {
        auto c = weakCore.lock();
        return c && c->onNetworkThread();
      });
  if (readPaused_) sctp_->setReadPaused(true);  // events of ICE and DTLS already wait
  std::string error;
  if (!sctp_->start(error)) fail(StateReason::Code::SctpFailed, "SCTP could not start: " + error);
}

void PeerShared::onSctpConnected(uint16_t inbound, uint16_t outbound) {
  outboundStreams_ = std::min<uint16_t>(outbound, rtc::SctpTransport::kMaxStreams);
  diag("sctp", "SCTP association up (" + std::to_string(outbound) + " streams out, " +
                   std::to_string(inbound) + " in)");
  everConnected_ = true;
  lastRxUs_ = g_get_monotonic_time();
  setState(PeerState::Connected);
  // Callbacks below may close the connection or create channels: walk copies.
  std::vector<std::shared_ptr<ChannelShared>> negotiated;
  for (auto& entry : channels_)
    if (entry.second->negotiated) negotiated.push_back(entry.second);
  for (auto& ch : negotiated) {
    if (closed_) return;
    if (ch->sid >= outboundStreams_)
      markClosed(ch, "data channel '" + ch->label + "' has id " + std::to_string(ch->sid) +
                         ", beyond the " + std::to_string(outboundStreams_) +
                         " streams the remote accepted");
    else
      markOpen(ch);
  }
  auto pending = std::move(unassigned_);
  unassigned_.clear();
  for (auto& ch : pending) {
    if (closed_) return;
    if (ch->state == ChannelState::Connecting) openChannel(ch);
  }
  flush();
}

void PeerShared::onStreamsChanged(uint16_t inbound, uint16_t outbound) {
  outboundStreams_ = std::min<uint16_t>(outbound, rtc::SctpTransport::kMaxStreams);
  diag("sctp",
       "streams changed: " + std::to_string(outbound) + " out, " + std::to_string(inbound) + " in");
  std::vector<std::shared_ptr<ChannelShared>> beyond;
  for (auto& entry : channels_)
    if (entry.first >= outboundStreams_) beyond.push_back(entry.second);
  for (auto& ch : beyond)
    markClosed(ch, "the remote reduced its streams to " + std::to_string(outboundStreams_) +
                       "; data channel '" + ch->label + "' (stream " + std::to_string(ch->sid) +
                       ") is gone");
}

void PeerShared::onSctpMessage(uint16_t sid, uint32_t ppid, std::string&& data) {
  if (ppid == rtc::dcep::kPpidDcep) {
    rtc::dcep::Kind kind;
    rtc::dcep::Open open;
    auto bytes =
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    if (Result r = rtc::dcep::parse(bytes, kind, open); !r) {
      emitError("bad DCEP message on stream " + std::to_string(sid) + ": " + r.error());
      return;
    }
    if (kind == rtc::dcep::Kind::Ack) {
      auto it = channels_.find(sid);
      if (it != channels_.end() && it->second->awaitingAck) markOpen(it->second);
      return;
    }
    if (channels_.count(sid)) {
      emitError("remote opened a data channel on stream " + std::to_string(sid) +
                ", which is already in use; ignored");
      return;
    }
    DataChannelInit init;
    init.ordered = open.ordered();
    init.maxRetransmits = open.maxRetransmits();
    init.maxPacketLifeTime = open.maxPacketLifeTime();
    init.protocol = open.protocol;
    auto ch = std::make_shared<ChannelShared>(weak_from_this(), open.label, init);
    ch->sid = sid;
    channels_[sid] = ch;
    // The ACK waits in the channel's queue like data if usrsctp cannot take it now.
    queueControl(ch, rtc::dcep::encodeAck());
    ch->state = ChannelState::Open;
    diag("datachannel",
         "remote opened channel '" + ch->label + "' on stream " + std::to_string(sid));
    deliver([self = shared_from_this(), ch] {
      self->onDataChannel(std::make_shared<DataChannel>(ch));
      ch->onOpen();
    });
    return;
  }
  auto it = channels_.find(sid);
  if (it == channels_.end()) {
    diag("datachannel", "dropped a message for unknown stream " + std::to_string(sid));
    return;
  }
  auto& ch = it->second;
  bool binary;
  switch (ppid) {
    case rtc::dcep::kPpidString:
    case rtc::dcep::kPpidStringPartial:
      binary = false;
      break;
    case rtc::dcep::kPpidStringEmpty:
      binary = false;
      data.clear();
      break;
    case rtc::dcep::kPpidBinaryEmpty:
      binary = true;
      data.clear();
      break;
    case rtc::dcep::kPpidBinary:
    case rtc::dcep::kPpidBinaryPartial:
      binary = true;
      break;
    default:
      emitError("dropped a message with unknown payload protocol " + std::to_string(ppid) +
                " on channel '" + ch->label + "'");
      return;
  }
  // A message may arrive before the DCEP ACK; RFC 8832 lets the peer send right after OPEN.
  if (ch->awaitingAck) markOpen(ch);
  std::size_t size = data.size();
  ch->counters.messagesReceived.fetch_add(1, std::memory_order_relaxed);
  ch->counters.bytesReceived.fetch_add(size, std::memory_order_relaxed);
  counters.messagesReceived.fetch_add(1, std::memory_order_relaxed);
  counters.bytesReceived.fetch_add(size, std::memory_order_relaxed);
  deliverMessage(ch, Message{std::move(data), binary});
}

void PeerShared::deliverMessage(const std::shared_ptr<ChannelShared>& ch, Message&& m) {
  if (core->delivery() == Delivery::NetworkThread) {
    ch->onMessage(std::move(m));
    return;
  }
  const auto& options = core->options();
  std::size_t size = m.data.size();
  charge(size);  // before the message is in the inbox, where poll() may take it at once
  bool post = false;
  {
    std::lock_guard lock(ch->inboxMutex);
    if (ch->unreliable()) {
      // Lossy game state: the newest matters, so the oldest waiting messages make room.
      std::size_t dropped = 0, droppedBytes = 0;
      while (!ch->inbox.empty() && ch->inboxBytes + size > options.maxUndeliveredUnreliableBytes) {
        droppedBytes += ch->inbox.front().data.size();
        ch->inboxBytes -= ch->inbox.front().data.size();
        ch->inbox.pop_front();
        ++dropped;
      }
      if (dropped) {
        ch->counters.messagesDropped.fetch_add(dropped, std::memory_order_relaxed);
        counters.messagesDropped.fetch_add(dropped, std::memory_order_relaxed);
        undelivered.fetch_sub(droppedBytes);
      }
    }
    ch->inbox.push_back(std::move(m));
    ch->inboxBytes += size;
    post = !ch->inboxEventQueued;
    ch->inboxEventQueued = true;
  }
  if (post) deliver([ch] { ch->drainInbox(); });
}

void PeerShared::charge(std::size_t bytes) {
  std::size_t waiting = undelivered.fetch_add(bytes) + bytes;
  if (waiting <= core->options().maxUndeliveredBytes || readPaused_.exchange(true)) return;
  diag("sctp", "pausing reads: " + std::to_string(waiting) +
                   " bytes of messages and events wait for the application to poll");
  if (sctp_) sctp_->setReadPaused(true);
}

void PeerShared::released(std::size_t bytes) {
  std::size_t left = undelivered.fetch_sub(bytes) - bytes;
  if (!readPaused_.load() || left > core->options().maxUndeliveredBytes / 2) return;
  if (resumePosted_.exchange(true)) return;
  core->post([self = shared_from_this()] {
    self->resumePosted_ = false;
    if (self->undelivered.load() > self->core->options().maxUndeliveredBytes / 2) return;
    if (!self->readPaused_.exchange(false)) return;
    self->diag("sctp", "resuming reads");
    if (self->sctp_) self->sctp_->setReadPaused(false);
  });
}

void PeerShared::onIncomingReset(const std::vector<uint16_t>& sids) {
  std::vector<uint16_t> answer;
  for (uint16_t sid : sids) {
    auto it = channels_.find(sid);
    if (it != channels_.end()) {
      auto ch = it->second;
      if (!ch->resetSent) {
        ch->resetSent = true;
        answer.push_back(sid);
      }
      resetting_[sid] |= kIncomingDone;
      markClosed(ch);
    } else if (auto r = resetting_.find(sid); r != resetting_.end()) {
      r->second |= kIncomingDone;
    }
    if (auto r = resetting_.find(sid);
        r != resetting_.end() && r->second == (kIncomingDone | kOutgoingDone))
      resetting_.erase(r);
  }
  if (!answer.empty() && sctp_) sctp_->resetStreams(answer);
}

void PeerShared::onOutgoingReset(const std::vector<uint16_t>& sids, bool ok) {
  for (uint16_t sid : sids) {
    auto it = channels_.find(sid);
    std::shared_ptr<ChannelShared> ch = it != channels_.end() ? it->second : nullptr;
    if (!ok) {
      // The stream's sequence numbers were not reset: it cannot carry another channel.
      if (retired_.size() <= sid) retired_.resize(sid + 1);
      retired_[sid] = true;
      resetting_.erase(sid);
      diag("datachannel", "the remote refused to reset stream " + std::to_string(sid));
      if (ch && ch->resetSent)
        markClosed(ch, "the remote refused to reset the stream of data channel '" + ch->label +
                           "'; it is closed here, and stream " + std::to_string(sid) +
                           " is not used again");
      continue;
    }
    auto& done = resetting_[sid];
    done |= kOutgoingDone;
    if (done == (kIncomingDone | kOutgoingDone)) resetting_.erase(sid);
    // A channel that took this stream meanwhile (a remote OPEN, a negotiated id) may send now.
    if (ch && !ch->resetSent) makeReady(ch);
  }
  flush();
}

void PeerShared::enqueue(const std::shared_ptr<ChannelShared>& ch, uint32_t ppid,
                         std::string&& data) {
  ch->buffered.fetch_add(data.size(), std::memory_order_relaxed);
  bool post = false;
  {
    std::lock_guard lock(sendMutex_);
    incoming_.push_back(Outgoing{ch, ppid, std::move(data)});
    hasIncoming_.store(true, std::memory_order_release);
    if (!flushPosted_) {
      flushPosted_ = true;
      post = true;
    }
  }
  if (core->onNetworkThread()) {
    flush();
  } else if (post) {
    core->post([self = shared_from_this()] { self->flush(); });
  }
}

void PeerShared::queueControl(const std::shared_ptr<ChannelShared>& ch,
                              std::vector<uint8_t> bytes) {
  ch->sendQueue.push_back({rtc::dcep::kPpidDcep, std::string(bytes.begin(), bytes.end()), true});
  ++queuedMessages_;
  makeReady(ch);
  flush();
}

void PeerShared::makeReady(const std::shared_ptr<ChannelShared>& ch) {
  if (ch->ready || ch->sendQueue.empty()) return;
  ch->ready = true;
  ready_.push_back(ch);
}

void PeerShared::takeIncoming() {
  std::vector<Outgoing> in;
  {
    std::lock_guard lock(sendMutex_);
    flushPosted_ = false;
    hasIncoming_.store(false, std::memory_order_relaxed);
    in.swap(incoming_);
  }
  for (auto& o : in) {
    auto& ch = o.channel;
    if (ch->state.load() == ChannelState::Closed) {
      ch->buffered = 0;
      continue;
    }
    ch->sendQueue.push_back({o.ppid, std::move(o.data), false});
    ++queuedMessages_;
    makeReady(ch);
  }
}

void PeerShared::reduceBuffered(const std::shared_ptr<ChannelShared>& ch, std::size_t bytes) {
  if (closed_ || ch->state.load() == ChannelState::Closed) return;
  std::size_t before = ch->buffered.fetch_sub(bytes, std::memory_order_relaxed);
  std::size_t threshold = ch->lowThreshold.load(std::memory_order_relaxed);
  if (before > threshold && before - bytes <= threshold)
    deliver([ch] { ch->onBufferedAmountLow(); });
}

void PeerShared::updateInStack() {
  if (inStackTotal_ == 0 || !sctp_ || closed_) return;
  auto held = sctp_->bufferedBytes();
  if (!held || *held >= inStackTotal_) return;
  // usrsctp frees acknowledged data in the order it went out, near enough for a byte count.
  std::size_t freed = inStackTotal_ - *held;
  std::vector<InStack> done;
  while (freed > 0 && !inStack_.empty()) {
    auto& front = inStack_.front();
    std::size_t take = std::min(freed, front.bytes);
    freed -= take;
    front.bytes -= take;
    inStackTotal_ -= take;
    if (front.channel->inStack >= take) front.channel->inStack -= take;
    done.push_back({front.channel, take});
    if (front.bytes == 0) inStack_.pop_front();
  }
  // Callbacks (onBufferedAmountLow) run only now, with the bookkeeping done.
  for (auto& d : done) reduceBuffered(d.channel, d.bytes);
}

void PeerShared::flush() {
  takeIncoming();
  if (flushing_) return;  // re-entered from a callback; the outer loop goes on
  flushing_ = true;
  auto keep = shared_from_this();
  bool bundling = false;
  while (!closed_ && sctp_ && !ready_.empty()) {
    // Each channel with something to send gets one message per turn, so a bulk transfer on one
    // channel cannot hold back the others.
    auto ch = ready_.front();
    ready_.pop_front();
    ch->ready = false;
    if (ch->sendQueue.empty() || ch->state.load() == ChannelState::Closed) continue;
    int sid = ch->sid.load();
    auto resetting = resetting_.find(static_cast<uint16_t>(sid));
    if (sid < 0 || sid >= outboundStreams_ ||
        (resetting != resetting_.end() && !(resetting->second & kOutgoingDone)))
      continue;  // made ready again when the stream's reset is done (onOutgoingReset)
    // With several messages waiting, Nagle is switched on for all but the last, so they leave
    // in full packets; the last switches it off again and pushes the bundle out at once.
    bool last = queuedMessages_ == 1;
    if (!last && !bundling) {
      sctp_->setNoDelay(false);
      bundling = true;
    } else if (last && bundling) {
      sctp_->setNoDelay(true);
      bundling = false;
    }
    // Taken out of the queue before anything can call back: a callback may close everything.
    ChannelShared::Pending msg = std::move(ch->sendQueue.front());
    ch->sendQueue.pop_front();
    --queuedMessages_;
    std::size_t size = msg.data.size();
    // Empty messages travel as one zero byte with their own PPID (RFC 8831 §6.6).
    static const char zero = 0;
    bool empty = size == 0;
    uint32_t ppid = empty ? (msg.ppid == rtc::dcep::kPpidString ? rtc::dcep::kPpidStringEmpty
                                                                : rtc::dcep::kPpidBinaryEmpty)
                          : msg.ppid;
    // DCEP goes reliable and ordered (RFC 8832 §6).
    rtc::Reliability reliability = msg.control ? rtc::Reliability{} : ch->reliability();
    std::string err;
    auto status = sctp_->send(static_cast<uint16_t>(sid), ppid, empty ? &zero : msg.data.data(),
                              empty ? 1 : size, reliability, err);
    if (status == rtc::SctpTransport::SendStatus::WouldBlock) {
      ch->sendQueue.push_front(std::move(msg));
      ++queuedMessages_;
      ch->ready = true;
      ready_.push_front(ch);
      break;  // resumes on writable
    }
    if (status == rtc::SctpTransport::SendStatus::Failed) {
      if (!msg.control) reduceBuffered(ch, size);
      deliver([ch, err] { ch->onError(err); });
    } else if (!msg.control) {
      ch->counters.messagesSent.fetch_add(1, std::memory_order_relaxed);
      ch->counters.bytesSent.fetch_add(size, std::memory_order_relaxed);
      counters.messagesSent.fetch_add(1, std::memory_order_relaxed);
      counters.bytesSent.fetch_add(size, std::memory_order_relaxed);
      if (size > 0) {
        ch->inStack += size;
        inStack_.push_back({ch, size});
        inStackTotal_ += size;
      }
    }
    if (closed_ || !sctp_) break;
    if (!ch->sendQueue.empty())
      makeReady(ch);
    else if (ch->closeStarted)
      finishClose(ch);
    // Pick up anything the callbacks queued meanwhile.
    if (hasIncoming_.load(std::memory_order_acquire)) takeIncoming();
  }
  if (bundling && sctp_ && !closed_) sctp_->setNoDelay(true);
  flushing_ = false;
  updateInStack();
}

std::size_t PeerShared::sendLimit() const {
  return std::min(remoteMaxMessageSize.load(), kLocalSendCeiling);
}

void PeerShared::close(PeerState finalState, StateReason::Code code, const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  stopTimers();
  diag("state", "closing: " + reason);
  // Callbacks (NetworkThread delivery) may re-enter; everything is detached first. Whoever sees
  // the final state, on any thread, also sees nothing buffered and every channel closed; the
  // channels' onClose still follow the connection's state change.
  clearSendState();
  auto unassigned = std::move(unassigned_);
  unassigned_.clear();
  std::vector<std::shared_ptr<ChannelShared>> channels;
  for (auto& entry : channels_) channels.push_back(entry.second);
  channels_.clear();
  for (auto& ch : unassigned) channels.push_back(ch);
  std::erase_if(channels, [](const std::shared_ptr<ChannelShared>& ch) {
    return ch->state.exchange(ChannelState::Closed) == ChannelState::Closed;
  });
  setState(finalState, code, reason);
  for (auto& ch : channels)
    deliver([ch] {
      ch->drainInbox();
      ch->onClose();
    });
  // Goodbyes go out in layer order: SCTP ABORT through DTLS, then close_notify, then ICE.
  if (sctp_) sctp_->close();
  if (dtls_) dtls_->close();
  // ICE goes last: libnice frees TURN allocations on the way out.
  if (ice_) {
    finalIceStats_ = ice_->stats();  // still there for iceStats() once the agent is gone
    ice_->close();
  }
  if (nextIce_) nextIce_->close();
  setGathering(gathering.load() == GatheringState::New ? GatheringState::New
                                                       : GatheringState::Complete);
  core->unregisterCloser(this);
  // Objects may be inside their own callbacks right now; release them from a fresh stack.
  core->post([self = shared_from_this()] { self->releaseTransports(); });
}

void PeerShared::clearSendState() {
  std::vector<Outgoing> in;
  {
    std::lock_guard lock(sendMutex_);
    in.swap(incoming_);
  }
  for (auto& o : in) o.channel->buffered = 0;
  auto clear = [](const std::shared_ptr<ChannelShared>& ch) {
    ch->sendQueue.clear();
    ch->ready = false;
    ch->buffered = 0;
    ch->inStack = 0;
  };
  for (auto& entry : channels_) clear(entry.second);
  for (auto& ch : unassigned_) clear(ch);
  for (auto& ch : ready_) clear(ch);
  ready_.clear();
  queuedMessages_ = 0;
  inStack_.clear();
  inStackTotal_ = 0;
}

void PeerShared::releaseTransports() {
  stopTimers();
  sctp_.reset();
  dtls_.reset();
  ice_.reset();
  nextIce_.reset();
}

IceStats PeerShared::iceStats() const { return ice_ ? ice_->stats() : finalIceStats_; }

}  // namespace impl

// ---- public PeerConnection ----

PeerConnection::PeerConnection(Runtime& runtime, Configuration configuration)
    : shared_(std::make_shared<impl::PeerShared>(runtime.core(), std::move(configuration))) {
  shared_->init();
}

PeerConnection::~PeerConnection() {
  auto s = shared_;
  // Clearing first means no callback of ours runs after the destructor returns.
  // No callback of ours runs once this returns; the network thread (claynet releasing a
  // connection) never waits, since such a callback may need it.
  const bool wait = !s->core->onNetworkThread();
  s->onLocalDescription.clearAndWait(wait);
  s->onLocalCandidate.clearAndWait(wait);
  s->onStateChange.clearAndWait(wait);
  s->onGatheringStateChange.clearAndWait(wait);
  s->onDataChannel.clearAndWait(wait);
  s->onError.clearAndWait(wait);
  s->onDiagnostic.clearAndWait(wait);
  s->core->run([s] {
    s->close(PeerState::Closed, StateReason::Code::LocalClosed, "closed by the application");
  });
}

Result PeerConnection::createDataChannel(const std::string& label, const DataChannelInit& init,
                                         std::shared_ptr<DataChannel>& out) {
  std::shared_ptr<impl::ChannelShared> ch;
  Result r;
  shared_->core->run([&] { r = shared_->createDataChannel(label, init, ch); });
  out = r ? std::make_shared<DataChannel>(ch) : nullptr;
  return r;
}

std::shared_ptr<DataChannel> PeerConnection::createDataChannel(const std::string& label,
                                                               const DataChannelInit& init) {
  std::shared_ptr<DataChannel> out;
  if (Result r = createDataChannel(label, init, out); !r)
    shared_->core->deliverFromAnyThread([s = shared_, e = r.error()] { s->onError(e); });
  return out;
}

Result PeerConnection::createOffer() {
  Result r;
  shared_->core->run([&] { r = shared_->createOffer(); });
  return r;
}

Result PeerConnection::setRemoteDescription(const Description& description) {
  rtc::sdp::Session session;
  if (Result r = rtc::sdp::parse(description.sdp, session); !r)
    return Result::failure(std::string("invalid remote ") + toString(description.type) + ": " +
                           r.error());
  Result r;
  shared_->core->run([&] { r = shared_->setRemoteDescription(description, std::move(session)); });
  return r;
}

Result PeerConnection::addRemoteCandidate(const Candidate& candidate) {
  Result r;
  shared_->core->run([&] { r = shared_->addRemoteCandidate(candidate); });
  return r;
}

void PeerConnection::close() {
  auto s = shared_;
  s->core->run([s] {
    s->close(PeerState::Closed, StateReason::Code::LocalClosed, "closed by the application");
  });
}

Result PeerConnection::restartIce() {
  Result r;
  shared_->core->run([&] { r = shared_->restartIce(); });
  return r;
}

StateReason PeerConnection::stateReason() const {
  std::lock_guard lock(shared_->infoMutex);
  return shared_->reason;
}

IceStats PeerConnection::iceStats() const {
  IceStats st;
  shared_->core->run([&] { st = shared_->iceStats(); });
  return st;
}

PeerState PeerConnection::state() const { return shared_->state.load(); }
GatheringState PeerConnection::gatheringState() const { return shared_->gathering.load(); }
std::optional<Description> PeerConnection::localDescription() const {
  std::lock_guard lock(shared_->infoMutex);
  return shared_->localDescription;
}
std::optional<SelectedPair> PeerConnection::selectedPair() const {
  std::lock_guard lock(shared_->infoMutex);
  return shared_->selectedPair;
}
std::size_t PeerConnection::remoteMaxMessageSize() const {
  std::size_t v = shared_->remoteMaxMessageSize.load();
  return v == SIZE_MAX ? 0 : v;
}
std::string PeerConnection::failureReason() const {
  std::lock_guard lock(shared_->infoMutex);
  return shared_->failureReason;
}
Counters PeerConnection::counters() const { return shared_->counters.snapshot(); }

void PeerConnection::onLocalDescription(std::function<void(const Description&)> cb) {
  shared_->onLocalDescription.set(std::move(cb));
}
void PeerConnection::onLocalCandidate(std::function<void(const Candidate&)> cb) {
  shared_->onLocalCandidate.set(std::move(cb));
}
void PeerConnection::onStateChange(std::function<void(PeerState)> cb) {
  if (!cb) return shared_->onStateChange.clear();
  shared_->onStateChange.set([cb = std::move(cb)](PeerState s, const StateReason&) { cb(s); });
}
void PeerConnection::onStateChange(std::function<void(PeerState, const StateReason&)> cb) {
  shared_->onStateChange.set(std::move(cb));
}
void PeerConnection::onGatheringStateChange(std::function<void(GatheringState)> cb) {
  shared_->onGatheringStateChange.set(std::move(cb));
}
void PeerConnection::onDataChannel(std::function<void(std::shared_ptr<DataChannel>)> cb) {
  shared_->onDataChannel.set(std::move(cb));
}
void PeerConnection::onError(std::function<void(const std::string&)> cb) {
  shared_->onError.set(std::move(cb));
}
void PeerConnection::onDiagnostic(std::function<void(const std::string&, const std::string&)> cb) {
  shared_->onDiagnostic.set(std::move(cb));
}

}  // namespace claynet
