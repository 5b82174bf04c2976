// PeerJsPeer and PeerJsConnection: PeerJS DataConnections over claynet's transport.
//
// Threads: the signaling logic (server frames, OFFER/ANSWER/CANDIDATE, the connection map) runs
// on the Runtime's network thread. PeerConnection and DataChannel callbacks arrive where the
// Runtime delivers (the application's thread with Delivery::Poll); negotiation events are posted
// from there to the network thread, while data-channel events (open, message, close) are handled
// right where they arrive, which is also where the user's callbacks must run.
#include <map>

#include "claynet/binarypack.hpp"
#include "claynet/peerjs.hpp"
#include "rtc/callback_slot.hpp"
#include "rtc/runtime_core.hpp"
#include "signaling/peerjs_client_core.hpp"
#include "signaling/peerjs_message.hpp"
#include "signaling/peerjs_socket.hpp"

namespace claynet {

using nlohmann::json;

struct PeerJsConnection::Private {
  std::weak_ptr<impl::PeerJsPeerShared> peer;
  std::shared_ptr<impl::RuntimeCore> core;

  mutable std::mutex mutex;  // guards pc and channel
  std::shared_ptr<PeerConnection> pc;
  std::shared_ptr<DataChannel> channel;

  std::mutex sendMutex;  // the chunks of one value go out together, with ids in order
  binarypack::Chunker chunker;

  std::atomic<bool> open{false};
  std::atomic<bool> closed{false};

  // Where the Runtime delivers (one delivery context at a time).
  binarypack::Reassembler reassembler;

  // Network thread.
  signaling::DescriptionFirst order;
  std::string localUfrag;
  // The remote marked its OFFER or ANSWER as claynet's: it answers ICE restarts.
  std::atomic<bool> remoteClaynet{false};
  GSource* restartTimer = nullptr;  // repeats restarts while the connection stays Disconnected

  impl::CallbackSlot<> onOpen, onClose;
  impl::CallbackSlot<const json&> onData;
  impl::CallbackSlot<const PeerJsError&> onError;
  impl::CallbackSlot<PeerState> onStateChange;
  impl::CallbackSlot<std::shared_ptr<DataChannel>> onExtraChannel;
};

namespace impl {

class PeerJsPeerShared : public std::enable_shared_from_this<PeerJsPeerShared> {
 public:
  PeerJsPeerShared(Runtime& rt, PeerJsOptions opts)
      : runtime(rt), core(rt.core()), options(std::move(opts)) {}

  Runtime& runtime;
  const std::shared_ptr<RuntimeCore> core;
  const PeerJsOptions options;

  mutable std::mutex mutex;  // guards everything below up to the callbacks
  std::shared_ptr<signaling::SignalingClient> client;
  std::string lastId;  // the id of the last registration (kept for reconnect())
  std::string lastToken;
  std::map<std::string, std::shared_ptr<PeerJsConnection>> connections;  // by connection id
  bool disconnected = false;
  bool destroyed = false;

  signaling::EarlyCandidates early;  // network thread
  std::atomic<std::uint64_t> refused{0};
  std::map<std::string, std::uint64_t> refusedFrom;  // network thread; bounded by the report rule

  CallbackSlot<const std::string&> onOpen;
  CallbackSlot<std::shared_ptr<PeerJsConnection>> onConnection;
  CallbackSlot<const PeerJsError&> onError;
  CallbackSlot<const std::string&> onDisconnected;
  CallbackSlot<> onClose;

  // ---- any thread ----

  std::shared_ptr<signaling::SignalingClient> clientCopy() const {
    std::lock_guard lock(mutex);
    return client;
  }

  // A peer or a server can provoke errors without end (a CANDIDATE without a connectionId, over
  // and over), and with Delivery::Poll each report waits for poll(). Past kMaxWaitingErrors
  // waiting reports of one type the next ones of that type are only counted; once the application
  // has taken the waiting ones, one more report says how many were left out and quotes the last.
  // Each type has its own budget, so a flood of one kind cannot hide another.
  static constexpr std::size_t kMaxWaitingErrors = 64;
  struct ErrorBudget {
    std::size_t waiting = 0;
    std::uint64_t leftOut = 0;
    std::string lastLeftOut;
  };
  std::mutex errorMutex;
  std::map<PeerJsErrorType, ErrorBudget> errorBudgets;

  void deliverError(PeerJsError e) {
    {
      std::lock_guard lock(errorMutex);
      auto& budget = errorBudgets[e.type];
      if (budget.waiting >= kMaxWaitingErrors) {
        ++budget.leftOut;
        budget.lastLeftOut = std::move(e.message);
        return;
      }
      ++budget.waiting;
    }
    core->deliver([self = shared_from_this(), e] {
      self->onError(e);
      PeerJsError summary{e.type, {}};
      {
        std::lock_guard lock(self->errorMutex);
        auto& budget = self->errorBudgets[e.type];
        if (--budget.waiting > 0 || budget.leftOut == 0) return;
        summary.message = std::to_string(budget.leftOut) +
                          " more errors were left out while the application did not poll; the "
                          "last: " +
                          budget.lastLeftOut;
        budget.leftOut = 0;
      }
      self->onError(summary);
    });
  }

  Result startClient(const std::string& id, const std::string& token) {
    PeerJsSignalingOptions so;
    so.server = options.server;
    so.id = id;
    so.token = token;
    so.heartbeatInterval = options.heartbeatInterval;
    so.reconnect = options.reconnect;
    so.reconnectDelayMin = options.reconnectDelayMin;
    so.reconnectDelayMax = options.reconnectDelayMax;
    if (Result r = signaling::validateOptions(so); !r) return r;
    std::weak_ptr<PeerJsPeerShared> weak = shared_from_this();
    signaling::SignalingClient::Handlers h;
    h.opened = [weak](const std::string& openedId) {
      if (auto s = weak.lock()) s->handleOpened(openedId);
    };
    h.message = [weak](const signaling::ServerMessage& m) {
      if (auto s = weak.lock()) s->handleServerMessage(m);
    };
    h.error = [weak](const PeerJsError& e) {
      if (auto s = weak.lock()) s->handleSignalingError(e);
    };
    h.disconnected = [weak](const std::string& reason) {
      if (auto s = weak.lock()) s->core->deliver([s, reason] { s->onDisconnected(reason); });
    };
    auto c = std::make_shared<signaling::SignalingClient>(core, std::move(so), std::move(h));
    {
      std::lock_guard lock(mutex);
      client = c;
      lastToken = c->token();
    }
    core->registerCloser(this, [weak] {
      if (auto s = weak.lock()) s->shutdownOnNetworkThread();
    });
    core->post([c] { c->start(); });
    return {};
  }

  std::vector<std::shared_ptr<PeerJsConnection>> connectionsTo(const std::string& peerId,
                                                               bool pendingOnly) const {
    std::vector<std::shared_ptr<PeerJsConnection>> out;
    std::lock_guard lock(mutex);
    for (const auto& [id, c] : connections)
      if (c->peer() == peerId && (!pendingOnly || !c->isOpen())) out.push_back(c);
    return out;
  }

  std::shared_ptr<PeerJsConnection> find(const std::string& connectionId,
                                         const std::string& peerId) const {
    std::lock_guard lock(mutex);
    auto it = connections.find(connectionId);
    if (it == connections.end() || it->second->peer() != peerId) return nullptr;
    return it->second;
  }

  void removeConnection(const std::shared_ptr<PeerJsConnection>& conn) {
    std::lock_guard lock(mutex);
    auto it = connections.find(conn->connectionId());
    if (it != connections.end() && it->second == conn) connections.erase(it);
  }

  // ---- network thread ----

  void handleOpened(const std::string& id) {
    {
      std::lock_guard lock(mutex);
      lastId = id;
    }
    core->deliver([self = shared_from_this(), id] { self->onOpen(id); });
  }

  void handleSignalingError(const PeerJsError& e) {
    auto c = clientCopy();
    if (c && c->state() == PeerJsSignalingState::Closed) {
      // A fatal server error: like PeerJS, the peer is then disconnected (connections stay).
      std::lock_guard lock(mutex);
      disconnected = true;
    }
    deliverError(e);
  }

  Result sendSignal(std::string_view type, const std::string& dst, const json& payload) {
    auto c = clientCopy();
    if (!c) return Result::failure("not connected to a PeerJS server");
    return c->send(signaling::buildClientMessage(type, dst, payload));
  }

  void handleServerMessage(const signaling::ServerMessage& m) {
    using Type = signaling::ServerMessage::Type;
    switch (m.type) {
      case Type::Offer:
        handleOffer(m.src, m.payload);
        break;
      case Type::Answer:
        handleAnswer(m.src, m.payload);
        break;
      case Type::Candidate:
        handleCandidate(m.src, m.payload);
        break;
      case Type::Leave:
        early.dropPeer(m.src);
        for (auto& c : connectionsTo(m.src, false)) c->closeWith(nullptr);
        break;
      case Type::Expire: {
        PeerJsError e{PeerJsErrorType::PeerUnavailable, "could not connect to peer " + m.src};
        e.peer = m.src;
        deliverError(e);
        for (auto& c : connectionsTo(m.src, true)) c->closeWith(&e);
        break;
      }
      case Type::Reject: {
        // Clayground's refusal at signaling: the peer makes no connection, so ours that are
        // still being set up end now instead of by a timeout.
        std::string reason = "Connection rejected";
        if (m.payload.is_object())
          if (auto r = m.payload.find("reason");
              r != m.payload.end() && r->is_string() && !r->get<std::string>().empty())
            reason = r->get<std::string>();
        PeerJsError e{PeerJsErrorType::PeerRejected, reason};
        e.peer = m.src;
        deliverError(e);
        for (auto& c : connectionsTo(m.src, true)) c->closeWith(&e);
        break;
      }
      default:
        break;  // unknown types are ignored, as the PeerJS client does
    }
  }

  void wire(const std::shared_ptr<PeerJsConnection>& conn, PeerConnection& pc) {
    std::weak_ptr<PeerJsConnection> wc = conn;
    std::weak_ptr<PeerJsPeerShared> wp = shared_from_this();
    auto rt = core;
    if (options.onTransportDiagnostic) {
      pc.onDiagnostic([hook = options.onTransportDiagnostic, remote = conn->peer(),
                       label = conn->label()](const std::string& phase, const std::string& detail) {
        hook(remote, label, phase, detail);
      });
    }
    pc.onLocalDescription([wc, wp, rt](const Description& d) {
      rt->post([wc, wp, d] {
        auto c = wc.lock();
        auto p = wp.lock();
        if (c && p) p->localDescription(c, d);
      });
    });
    pc.onLocalCandidate([wc, wp, rt](const Candidate& cand) {
      rt->post([wc, wp, cand] {
        auto c = wc.lock();
        auto p = wp.lock();
        if (c && p) p->localCandidate(c, cand);
      });
    });
    pc.onStateChange([wc, wp, rt](PeerState s) {
      if (auto c = wc.lock(); c && !c->p_->closed) c->p_->onStateChange(s);
      if (s == PeerState::Disconnected) {
        rt->post([wc, wp] {
          auto c = wc.lock();
          auto p = wp.lock();
          if (c && p) p->keepRestarting(c);
        });
        return;
      }
      if (s != PeerState::Failed && s != PeerState::Closed) return;
      rt->post([wc, wp, s] {
        auto c = wc.lock();
        auto p = wp.lock();
        if (!c || !p || c->p_->closed) return;
        closeAfterTransport(c);
      });
    });
    pc.onError([wc](const std::string& message) {
      if (auto c = wc.lock()) c->p_->onError(PeerJsError{PeerJsErrorType::WebRtc, message});
    });
    // The answerer binds the first channel that arrives, except one labelled "state" on a
    // connection of another label: that is Clayground's state channel (wire version 5), which a
    // Clayground answerer routes by label (clayground-wire.md §1.2), and whose open may overtake
    // the reliable channel's. It and any later channel (and every one on the offering side, whose
    // channel is its own) go to onExtraChannel.
    const bool originator = conn->originator();
    pc.onDataChannel([wc, originator](std::shared_ptr<DataChannel> ch) {
      auto c = wc.lock();
      if (!c) return;
      if (!originator && (ch->label() != "state" || c->label() == "state") &&
          bindChannel(c, ch, true))
        return;
      if (c->p_->onExtraChannel) {
        c->p_->onExtraChannel(std::move(ch));
      } else {
        ch->close();  // nobody wants it: closing tells the remote instead of leaving it open
      }
    });
  }

  // The transport ended: the connection closes, with the reason when the peer connection failed.
  static void closeAfterTransport(const std::shared_ptr<PeerJsConnection>& c) {
    auto pc = c->peerConnection();
    if (!pc || pc->state() != PeerState::Failed) {
      c->closeWith(nullptr);
      return;
    }
    PeerJsError e{
        PeerJsErrorType::NegotiationFailed,
        "negotiation of the connection to " + c->peer() + " failed: " + pc->failureReason()};
    c->closeWith(&e);
  }

  // Called on the network thread (offerer, channel just created) or where the Runtime delivers
  // (answerer, inside onDataChannel): both before the channel's open event has run.
  // Returns false when the connection already has its channel (or is closed).
  static bool bindChannel(const std::shared_ptr<PeerJsConnection>& conn,
                          std::shared_ptr<DataChannel> ch, bool mayBeOpen) {
    {
      std::lock_guard lock(conn->p_->mutex);
      if (conn->p_->channel || conn->p_->closed) return false;  // one channel per DataConnection
      conn->p_->channel = ch;
    }
    std::weak_ptr<PeerJsConnection> wc = conn;
    ch->onOpen([wc] {
      if (auto c = wc.lock()) c->markOpen();
    });
    ch->onMessage([wc](Message&& m) {
      if (auto c = wc.lock()) c->handleMessage(std::move(m));
    });
    // The channel closes with its peer connection, and its close may come before the peer
    // connection's Failed has been handled: the failure is reported either way.
    ch->onClose([wc] {
      if (auto c = wc.lock()) closeAfterTransport(c);
    });
    ch->onError([wc](const std::string& message) {
      if (auto c = wc.lock()) c->p_->onError(PeerJsError{PeerJsErrorType::WebRtc, message});
    });
    if (mayBeOpen && ch->isOpen()) conn->markOpen();
    return true;
  }

  // While a connection with a claynet peer stays Disconnected, ICE is restarted, and again every
  // kRestartEveryMs (a restart's OFFER may be lost while the signaling server is away). Either
  // side may be the one that stopped hearing the other (a NAT that rebinds loses only the packets
  // toward it), so both restart: the opener at once, the other side kRestartEveryMs / 4 later, so
  // that they rarely offer at the same time (when they do, the opener's restart wins). PeerJS
  // itself takes a second OFFER as a new connection, so browsers are never sent one.
  static constexpr guint kRestartEveryMs = 4000;

  void keepRestarting(const std::shared_ptr<PeerJsConnection>& c) {
    if (!c->p_->remoteClaynet || c->p_->closed || c->p_->restartTimer) return;
    if (c->originator()) {
      if (!restartIfDisconnected(*c)) return;
      armRestart(c, kRestartEveryMs);
    } else {
      armRestart(c, kRestartEveryMs / 4);
    }
  }

  static bool restartIfDisconnected(PeerJsConnection& conn) {
    auto pc = conn.peerConnection();
    if (!pc || conn.p_->closed || pc->state() != PeerState::Disconnected) return false;
    (void)pc->restartIce();  // refused while the last one is young: the next round tries again
    return true;
  }

  void armRestart(const std::shared_ptr<PeerJsConnection>& c, guint delayMs) {
    struct Tick {
      std::weak_ptr<PeerJsConnection> conn;
      std::weak_ptr<PeerJsPeerShared> peer;
    };
    c->p_->restartTimer = g_timeout_source_new(delayMs);
    g_source_set_callback(
        c->p_->restartTimer,
        [](gpointer data) -> gboolean {
          auto* tick = static_cast<Tick*>(data);
          auto conn = tick->conn.lock();
          auto peer = tick->peer.lock();
          if (!conn) return G_SOURCE_REMOVE;
          g_source_unref(conn->p_->restartTimer);
          conn->p_->restartTimer = nullptr;
          if (peer && restartIfDisconnected(*conn)) peer->armRestart(conn, kRestartEveryMs);
          return G_SOURCE_REMOVE;
        },
        new Tick{c, weak_from_this()}, [](gpointer data) { delete static_cast<Tick*>(data); });
    g_source_attach(c->p_->restartTimer, core->context());
  }

  void localDescription(const std::shared_ptr<PeerJsConnection>& c, const Description& d) {
    if (c->p_->closed) return;
    c->p_->localUfrag = signaling::iceUfragOf(d.sdp);
    Result r;
    if (d.type == SdpType::Offer) {
      signaling::OfferPayload o;
      o.sdp = d.sdp;
      o.connectionId = c->connectionId();
      o.label = c->label();
      o.reliable = c->reliable();
      o.serialization = c->serialization();
      if (!c->metadata().is_null()) o.metadata = c->metadata();
      o.claynet = true;
      r = sendSignal("OFFER", c->peer(), signaling::buildOfferPayload(o));
    } else {
      signaling::AnswerPayload a{d.sdp, c->connectionId(), true};
      r = sendSignal("ANSWER", c->peer(), signaling::buildAnswerPayload(a));
    }
    if (!r) {
      PeerJsError e{PeerJsErrorType::Network,
                    "could not signal the connection to " + c->peer() + ": " + r.error()};
      c->closeWith(&e);
      return;
    }
    for (auto& payload : c->p_->order.descriptionSent()) sendCandidate(c, payload);
  }

  void localCandidate(const std::shared_ptr<PeerJsConnection>& c, const Candidate& cand) {
    if (c->p_->closed) return;
    signaling::CandidatePayload cp;
    cp.candidate = cand;
    cp.connectionId = c->connectionId();
    if (!c->p_->localUfrag.empty()) cp.usernameFragment = c->p_->localUfrag;
    for (auto& payload : c->p_->order.candidate(signaling::buildCandidatePayload(cp)))
      sendCandidate(c, payload);
  }

  void sendCandidate(const std::shared_ptr<PeerJsConnection>& c, const json& payload) {
    // A lost candidate is not fatal: ICE may still succeed with the others.
    if (Result r = sendSignal("CANDIDATE", c->peer(), payload); !r)
      c->p_->core->deliver([c, e = r.error()] {
        c->p_->onError(PeerJsError{PeerJsErrorType::Network, "could not send a candidate: " + e});
      });
  }

  void handleOffer(const std::string& src, const json& payload) {
    signaling::OfferPayload o;
    if (Result r = signaling::parseOfferPayload(payload, o); !r) {
      deliverError(
          {PeerJsErrorType::InvalidData, "ignored an OFFER from " + src + ": " + r.error()});
      return;
    }
    {
      std::lock_guard lock(mutex);
      if (destroyed || disconnected) return;
    }
    auto existing = find(o.connectionId, src);
    if (!existing && refuseOffer(src)) return;
    if (existing) {
      // A claynet peer restarting ICE on an open connection; anything else (PeerJS does this)
      // replaces the connection.
      auto pc = existing->peerConnection();
      if (o.claynet && pc && existing->isOpen()) {
        existing->p_->remoteClaynet = true;
        // Refused because both sides restarted at once and ours wins: nothing to report, the
        // remote answers ours.
        if (Result r = pc->setRemoteDescription({SdpType::Offer, o.sdp});
            !r && r.error().rfind("ignored", 0) != 0)
          deliverError({PeerJsErrorType::WebRtc, "the ICE restart offered by " + src + " for " +
                                                     o.connectionId +
                                                     " was not applied: " + r.error()});
        for (const auto& held : early.take(src, o.connectionId)) applyCandidate(existing, held);
        return;
      }
      existing->closeWith(nullptr);
    }
    std::shared_ptr<PeerJsConnection> conn(
        new PeerJsConnection(src, o.connectionId, o.label, o.serialization, o.reliable,
                             o.metadata ? *o.metadata : json(nullptr), false));
    conn->p_->peer = weak_from_this();
    conn->p_->core = core;
    conn->p_->remoteClaynet = o.claynet;
    auto pc = std::make_shared<PeerConnection>(runtime, options.rtc);
    wire(conn, *pc);
    {
      std::lock_guard lock(conn->p_->mutex);
      conn->p_->pc = pc;
    }
    {
      std::lock_guard lock(mutex);
      connections[o.connectionId] = conn;
    }
    // Before anything of the negotiation reaches the application: the user sets the
    // connection's callbacks inside onConnection.
    core->deliver([self = shared_from_this(), conn] { self->onConnection(conn); });
    if (Result r = pc->setRemoteDescription({SdpType::Offer, o.sdp}); !r) {
      PeerJsError e{PeerJsErrorType::WebRtc, "could not accept the connection " + o.connectionId +
                                                 " from " + src + ": " + r.error()};
      deliverError(e);
      conn->closeWith(&e);
      return;
    }
    for (const auto& held : early.take(src, o.connectionId)) applyCandidate(conn, held);
  }

  // True (and counted, and reported) when an OFFER from `src` is over the limits of
  // inbound connections that are still being set up.
  bool refuseOffer(const std::string& src) {
    std::size_t fromSrc = 0, total = 0;
    {
      std::lock_guard lock(mutex);
      for (const auto& [id, c] : connections) {
        if (c->originator() || c->isOpen()) continue;
        ++total;
        if (c->peer() == src) ++fromSrc;
      }
    }
    std::string why;
    if (options.maxPendingOffersPerPeer > 0 && fromSrc >= options.maxPendingOffersPerPeer) {
      why = std::to_string(fromSrc) + " connections from it are still being set up (limit " +
            std::to_string(options.maxPendingOffersPerPeer) + " per peer)";
    } else if (options.maxPendingOffers > 0 && total >= options.maxPendingOffers) {
      why = std::to_string(total) + " inbound connections are still being set up (limit " +
            std::to_string(options.maxPendingOffers) + ")";
    } else {
      return false;
    }
    refused.fetch_add(1, std::memory_order_relaxed);
    // One report per sender and order of magnitude, so a flood cannot flood the event queue.
    // The map stays small: a sender enters it only by being refused, and it is cleared when full.
    if (refusedFrom.size() >= 1024 && !refusedFrom.count(src)) refusedFrom.clear();
    std::uint64_t n = ++refusedFrom[src];
    bool report = true;
    for (std::uint64_t v = n; v > 1; v /= 10)
      if (v % 10 != 0) report = false;
    if (report)
      deliverError({PeerJsErrorType::OfferRefused,
                    "refused an OFFER from " + src + ": " + why + "; " + std::to_string(n) +
                        (n == 1 ? " OFFER" : " OFFERs") + " from it refused so far"});
    return true;
  }

  void handleAnswer(const std::string& src, const json& payload) {
    signaling::AnswerPayload a;
    if (Result r = signaling::parseAnswerPayload(payload, a); !r) {
      deliverError(
          {PeerJsErrorType::InvalidData, "ignored an ANSWER from " + src + ": " + r.error()});
      return;
    }
    auto conn = find(a.connectionId, src);
    if (!conn) return;  // closed meanwhile
    if (a.claynet) conn->p_->remoteClaynet = true;
    // The first answer is the originator's; later ones answer ICE restarts of either side.
    const bool restart = conn->isOpen();
    if (!conn->originator() && !restart) return;
    auto pc = conn->peerConnection();
    if (!pc) return;
    if (Result r = pc->setRemoteDescription({SdpType::Answer, a.sdp}); !r) {
      PeerJsError e{PeerJsErrorType::WebRtc, "the answer of " + src + " for " + a.connectionId +
                                                 " was refused: " + r.error()};
      deliverError(e);
      if (!restart) conn->closeWith(&e);
    }
  }

  void handleCandidate(const std::string& src, const json& payload) {
    std::string connectionId = signaling::payloadConnectionId(payload);
    if (connectionId.empty()) {
      deliverError({PeerJsErrorType::InvalidData,
                    "ignored a CANDIDATE from " + src + " without a connectionId"});
      return;
    }
    auto conn = find(connectionId, src);
    if (!conn) conn = nativeAnswerersConnection(connectionId, src);
    if (!conn) {
      // Its OFFER has not come yet (or the connection is gone; then it expires unused).
      early.hold(signaling::Clock::now(), src, connectionId, payload);
      return;
    }
    applyCandidate(conn, payload);
  }

  // A native Clayground node names its candidates `<its id>_<our id>` even when it answers our
  // offer (clayground-wire.md §1.4, §8.1): they belong to the one connection we opened to it.
  // With several connections to that node nobody can tell which, and they wait as unknown ones.
  std::shared_ptr<PeerJsConnection> nativeAnswerersConnection(const std::string& connectionId,
                                                              const std::string& src) const {
    std::shared_ptr<PeerJsConnection> only;
    {
      std::lock_guard lock(mutex);
      if (lastId.empty() || connectionId != src + "_" + lastId) return nullptr;
      for (const auto& [id, c] : connections) {
        if (c->peer() != src) continue;
        if (only) return nullptr;
        only = c;
      }
    }
    return only && only->originator() ? only : nullptr;
  }

  void applyCandidate(const std::shared_ptr<PeerJsConnection>& conn, const json& payload) {
    signaling::CandidatePayload cp;
    if (Result r = signaling::parseCandidatePayload(payload, cp); !r) {
      deliverError({PeerJsErrorType::InvalidData,
                    "ignored a CANDIDATE from " + conn->peer() + ": " + r.error()});
      return;
    }
    auto pc = conn->peerConnection();
    if (!pc) return;
    if (Result r = pc->addRemoteCandidate(cp.candidate); !r)
      deliverError({PeerJsErrorType::WebRtc, "a candidate from " + conn->peer() + " for " +
                                                 conn->connectionId() +
                                                 " was refused: " + r.error()});
  }

  // Runtime shutdown: the transport closes itself; stop the signaling socket and timers.
  void shutdownOnNetworkThread() {
    if (auto c = clientCopy()) c->stop();
  }
};

}  // namespace impl

// ---- PeerJsConnection ----

PeerJsConnection::PeerJsConnection(std::string peer, std::string connectionId, std::string label,
                                   Serialization serialization, bool reliable, json metadata,
                                   bool originator)
    : peer_(std::move(peer)),
      connectionId_(std::move(connectionId)),
      label_(std::move(label)),
      serialization_(serialization),
      reliable_(reliable),
      metadata_(std::move(metadata)),
      originator_(originator),
      p_(std::make_unique<Private>()) {}

PeerJsConnection::~PeerJsConnection() {
  p_->onOpen.clear();
  p_->onClose.clear();
  p_->onData.clear();
  p_->onError.clear();
  p_->onStateChange.clear();
  p_->onExtraChannel.clear();
}

bool PeerJsConnection::isOpen() const { return p_->open.load() && !p_->closed.load(); }

std::shared_ptr<PeerConnection> PeerJsConnection::peerConnection() const {
  std::lock_guard lock(p_->mutex);
  return p_->pc;
}

std::shared_ptr<DataChannel> PeerJsConnection::dataChannel() const {
  std::lock_guard lock(p_->mutex);
  return p_->channel;
}

void PeerJsConnection::markOpen() {
  if (p_->closed.load()) return;
  if (!p_->open.exchange(true)) p_->onOpen();
}

void PeerJsConnection::handleMessage(Message&& m) {
  if (p_->closed.load()) return;
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(m.data.data()), m.data.size());
  auto fail = [&](const std::string& what) {
    p_->onError(PeerJsError{
        PeerJsErrorType::InvalidData,
        "a message from " + peer_ + " on " + connectionId_ + " could not be decoded: " + what});
  };
  switch (serialization_) {
    case Serialization::Binary: {
      std::optional<json> complete;
      if (Result r = p_->reassembler.feedPacked(bytes, complete); !r) return fail(r.error());
      if (p_->reassembler.closeRequested()) {
        close();  // the remote's flush-close
        return;
      }
      if (complete) p_->onData(*complete);
      return;
    }
    case Serialization::Json: {
      json value;
      if (Result r = decodeJson(bytes, value); !r) return fail(r.error());
      if (binarypack::isCloseMessage(value)) {
        close();
        return;
      }
      p_->onData(value);
      return;
    }
    case Serialization::Raw: {
      if (m.binary) {
        p_->onData(json::binary(std::vector<uint8_t>(bytes.begin(), bytes.end())));
      } else {
        p_->onData(json(std::move(m.data)));
      }
      return;
    }
  }
}

Result PeerJsConnection::send(const json& value) {
  auto notOpen = [&]() {
    bool closed = p_->closed.load();
    return Result::failure(std::string(toString(closed ? PeerJsErrorType::ConnectionClosed
                                                       : PeerJsErrorType::NotOpenYet)) +
                           ": the connection " + connectionId_ + " to " + peer_ +
                           (closed ? " is closed" : " is not open yet (wait for onOpen)"));
  };
  if (!isOpen()) return notOpen();
  auto ch = dataChannel();
  if (!ch) return notOpen();
  switch (serialization_) {
    case Serialization::Binary: {
      std::vector<uint8_t> packed = binarypack::encode(value);
      std::lock_guard lock(p_->sendMutex);
      for (const auto& piece : p_->chunker.split(std::move(packed)))
        if (Result r = ch->sendBinary(piece.data(), piece.size()); !r) return r;
      return {};
    }
    case Serialization::Json: {
      std::vector<uint8_t> bytes;
      if (Result r = encodeJson(value, bytes); !r) {
        bool bytesInside = r.error().find("raw bytes") != std::string::npos;
        return Result::failure(std::string(toString(bytesInside ? PeerJsErrorType::InvalidData
                                                                : PeerJsErrorType::MessageTooBig)) +
                               ": " + r.error());
      }
      return ch->sendBinary(bytes.data(), bytes.size());
    }
    case Serialization::Raw: {
      if (value.is_string()) return ch->send(std::string_view(value.get_ref<const std::string&>()));
      if (value.is_binary()) {
        const auto& b = value.get_binary();
        return ch->sendBinary(b.data(), b.size());
      }
      return Result::failure(std::string("the raw serialization sends strings (as text) and bytes "
                                         "(json binary values) only, not ") +
                             value.type_name());
    }
  }
  return Result::failure("unknown serialization");
}

void PeerJsConnection::closeWith(const PeerJsError* error) {
  if (p_->closed.exchange(true)) return;
  p_->open = false;
  auto self = shared_from_this();
  // Out of the peer's list before anyone hears of the close.
  if (auto peer = p_->peer.lock()) peer->removeConnection(self);
  auto core = p_->core;
  core->post([self] {
    if (self->p_->restartTimer) {
      g_source_destroy(self->p_->restartTimer);
      g_source_unref(self->p_->restartTimer);
      self->p_->restartTimer = nullptr;
    }
    std::shared_ptr<PeerConnection> pc;
    std::shared_ptr<DataChannel> ch;
    {
      std::lock_guard lock(self->p_->mutex);
      pc = std::move(self->p_->pc);
      ch = std::move(self->p_->channel);
    }
    if (ch) ch->close();
    if (pc) pc->close();
    // Both are released here, on the network thread, outside any of their callbacks.
  });
  core->deliver([self, hasError = error != nullptr, e = error ? *error : PeerJsError{}] {
    if (hasError) self->p_->onError(e);
    self->p_->onClose();
    // Nothing fires after onClose; dropping the callbacks also frees any that hold this
    // connection (a shared_ptr captured in its own callback would otherwise keep it alive).
    self->p_->onOpen.clear();
    self->p_->onData.clear();
    self->p_->onError.clear();
    self->p_->onClose.clear();
    self->p_->onStateChange.clear();
    self->p_->onExtraChannel.clear();
  });
}

void PeerJsConnection::close() { closeWith(nullptr); }

Result PeerJsConnection::restartIce() {
  if (!p_->remoteClaynet)
    return Result::failure(
        "cannot restart ICE with " + peer_ +
        ": it is not a claynet peer, and PeerJS takes a second OFFER as a new connection that "
        "replaces this one (close and reconnect instead)");
  auto pc = peerConnection();
  if (!pc) return Result::failure("cannot restart ICE: the connection is closed");
  return pc->restartIce();
}

bool PeerJsConnection::remoteIsClaynet() const { return p_->remoteClaynet.load(); }

void PeerJsConnection::onOpen(std::function<void()> cb) { p_->onOpen.set(std::move(cb)); }
void PeerJsConnection::onData(std::function<void(const json&)> cb) {
  p_->onData.set(std::move(cb));
}
void PeerJsConnection::onClose(std::function<void()> cb) { p_->onClose.set(std::move(cb)); }
void PeerJsConnection::onStateChange(std::function<void(PeerState)> cb) {
  p_->onStateChange.set(std::move(cb));
}
void PeerJsConnection::onExtraChannel(std::function<void(std::shared_ptr<DataChannel>)> cb) {
  p_->onExtraChannel.set(std::move(cb));
}
void PeerJsConnection::onError(std::function<void(const PeerJsError&)> cb) {
  p_->onError.set(std::move(cb));
}

// ---- PeerJsPeer ----

std::shared_ptr<PeerJsPeer> PeerJsPeer::create(Runtime& runtime, PeerJsOptions options) {
  return std::shared_ptr<PeerJsPeer>(new PeerJsPeer(runtime, std::move(options)));
}

PeerJsPeer::PeerJsPeer(Runtime& runtime, PeerJsOptions options)
    : shared_(std::make_shared<impl::PeerJsPeerShared>(runtime, std::move(options))) {}

PeerJsPeer::~PeerJsPeer() {
  shared_->onOpen.clear();
  shared_->onConnection.clear();
  shared_->onError.clear();
  shared_->onDisconnected.clear();
  shared_->onClose.clear();
  destroy();
}

Result PeerJsPeer::open() {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->destroyed)
      return Result::failure("disconnected: the peer was destroyed; create a new one");
    if (shared_->client) return Result::failure("the peer is already open");
  }
  // The STUN/TURN names resolve while the server registers us, before any connection gathers.
  prefetchIceServers(shared_->runtime, shared_->options.rtc);
  return shared_->startClient(shared_->options.id, shared_->options.token);
}

std::string PeerJsPeer::id() const {
  if (auto c = shared_->clientCopy()) return c->id();
  return shared_->options.id;
}

bool PeerJsPeer::isOpen() const {
  auto c = shared_->clientCopy();
  return c && c->state() == PeerJsSignalingState::Open && !isDisconnected();
}

bool PeerJsPeer::isDisconnected() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->disconnected || shared_->destroyed;
}

bool PeerJsPeer::isDestroyed() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->destroyed;
}

Result PeerJsPeer::connect(const std::string& remoteId, const PeerJsConnectOptions& options,
                           std::shared_ptr<PeerJsConnection>& out) {
  out = nullptr;
  if (remoteId.empty()) return Result::failure("connect() needs the remote peer's id");
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->destroyed || shared_->disconnected)
      return Result::failure(
          "disconnected: cannot connect to a new peer after disconnecting from the server");
    if (!shared_->client) return Result::failure("call open() before connect()");
  }
  std::string connectionId =
      options.connectionId.empty() ? signaling::newConnectionId() : options.connectionId;
  std::string label = options.label.empty() ? connectionId : options.label;
  std::shared_ptr<PeerJsConnection> conn(
      new PeerJsConnection(remoteId, connectionId, label, options.serialization, options.reliable,
                           options.metadata ? *options.metadata : json(nullptr), true));
  conn->p_->peer = shared_;
  conn->p_->core = shared_->core;
  auto s = shared_;
  Result r;
  s->core->run([&] {
    if (s->find(connectionId, remoteId)) {
      r = Result::failure("a connection with id " + connectionId + " to " + remoteId +
                          " already exists");
      return;
    }
    auto pc = std::make_shared<PeerConnection>(s->runtime, s->options.rtc);
    s->wire(conn, *pc);
    DataChannelInit init;
    init.ordered = options.reliable;  // PeerJS: {ordered: !!reliable}, no retransmit limit
    init.maxRetransmits = options.maxRetransmits;  // claynet's extension; unset as in PeerJS
    std::shared_ptr<DataChannel> ch;
    if (r = pc->createDataChannel(label, init, ch); !r) return;
    {
      std::lock_guard lock(conn->p_->mutex);
      conn->p_->pc = pc;
    }
    impl::PeerJsPeerShared::bindChannel(conn, ch, false);
    {
      std::lock_guard lock(s->mutex);
      s->connections[connectionId] = conn;
    }
    if (r = pc->createOffer(); !r) {
      std::lock_guard lock(s->mutex);
      s->connections.erase(connectionId);
    }
  });
  if (!r) {
    conn->p_->closed = true;
    auto pc = conn->peerConnection();
    if (pc) pc->close();
    return Result::failure("could not open a connection to " + remoteId + ": " + r.error());
  }
  out = conn;
  return {};
}

std::shared_ptr<PeerJsConnection> PeerJsPeer::connect(const std::string& remoteId,
                                                      const PeerJsConnectOptions& options) {
  std::shared_ptr<PeerJsConnection> out;
  if (Result r = connect(remoteId, options, out); !r) {
    bool disconnected = r.error().rfind("disconnected:", 0) == 0;
    shared_->deliverError(
        {disconnected ? PeerJsErrorType::Disconnected : PeerJsErrorType::WebRtc, r.error()});
  }
  return out;
}

std::vector<std::shared_ptr<PeerJsConnection>> PeerJsPeer::connections() const {
  std::vector<std::shared_ptr<PeerJsConnection>> out;
  std::lock_guard lock(shared_->mutex);
  for (const auto& [id, c] : shared_->connections) out.push_back(c);
  return out;
}

std::uint64_t PeerJsPeer::refusedOffers() const {
  return shared_->refused.load(std::memory_order_relaxed);
}

void PeerJsPeer::disconnect() {
  std::shared_ptr<signaling::SignalingClient> c;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->destroyed || shared_->disconnected || !shared_->client) return;
    shared_->disconnected = true;
    c = shared_->client;
  }
  shared_->core->run([c] { c->stop(); });
  shared_->core->deliver([s = shared_] { s->onDisconnected("disconnect() was called"); });
}

Result PeerJsPeer::reconnect() {
  std::string id, token;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->destroyed)
      return Result::failure("the peer was destroyed and cannot reconnect; create a new one");
    if (!shared_->disconnected)
      return Result::failure("the peer is not disconnected from the server");
    id = shared_->lastId.empty() ? shared_->options.id : shared_->lastId;
    token = shared_->lastToken;
    shared_->disconnected = false;
  }
  auto old = shared_->clientCopy();
  if (old) shared_->core->run([old] { old->stop(); });
  return shared_->startClient(id, token);
}

void PeerJsPeer::destroy() {
  std::shared_ptr<signaling::SignalingClient> c;
  std::vector<std::shared_ptr<PeerJsConnection>> conns;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->destroyed) return;
    shared_->destroyed = true;
    c = shared_->client;
    for (const auto& [id, conn] : shared_->connections) conns.push_back(conn);
  }
  for (auto& conn : conns) conn->close();
  if (c) shared_->core->run([c] { c->stop(); });
  shared_->core->unregisterCloser(shared_.get());
  shared_->core->deliver([s = shared_] {
    s->onClose();
    // Nothing fires after onClose; let go of callbacks that may hold the peer.
    s->onOpen.clear();
    s->onConnection.clear();
    s->onError.clear();
    s->onDisconnected.clear();
    s->onClose.clear();
  });
}

void PeerJsPeer::onOpen(std::function<void(const std::string&)> cb) {
  shared_->onOpen.set(std::move(cb));
}
void PeerJsPeer::onConnection(std::function<void(std::shared_ptr<PeerJsConnection>)> cb) {
  shared_->onConnection.set(std::move(cb));
}
void PeerJsPeer::onError(std::function<void(const PeerJsError&)> cb) {
  shared_->onError.set(std::move(cb));
}
void PeerJsPeer::onDisconnected(std::function<void(const std::string&)> cb) {
  shared_->onDisconnected.set(std::move(cb));
}
void PeerJsPeer::onClose(std::function<void()> cb) { shared_->onClose.set(std::move(cb)); }

}  // namespace claynet
