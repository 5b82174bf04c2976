#include "rtc/ice_transport.hpp"

#include <nice/agent.h>
#include <sys/socket.h>

#include <cstring>

#include "rtc/ice_server_resolver.hpp"
#include "rtc/turn_tls_tunnel.hpp"

namespace claynet::rtc {

namespace {

constexpr guint kComponent = 1;
// libnice's TURN deallocation waits for the server's answers; a dead server must not keep a
// closed connection's agent around for long.
constexpr guint kCloseBoundMs = 3000;

bool isNumericAddress(const std::string& host) { return g_hostname_is_ip_address(host.c_str()); }

std::string addressString(const NiceAddress& a) {
  char buf[NICE_ADDRESS_STRING_LEN];
  nice_address_to_string(&a, buf);
  return buf;
}

// Fields of a "candidate:..." line: foundation, component, transport, priority, address, port,
// "typ", type, ...
std::vector<std::string> candidateFields(const std::string& line) {
  std::vector<std::string> f;
  std::size_t pos = 0;
  while (f.size() < 8) {
    std::size_t sp = line.find(' ', pos);
    f.push_back(line.substr(pos, sp == std::string::npos ? sp : sp - pos));
    if (sp == std::string::npos) break;
    pos = sp + 1;
  }
  return f;
}

// Ends an agent's life after libnice has freed its TURN allocations, or after kCloseBoundMs.
// An allocation still being made when the connection closes (a restart dropped at once) would
// be left on the server, so the deallocation waits for gathering to end first.
struct Closing {
  NiceAgent* agent;
  std::vector<std::unique_ptr<TurnTlsTunnel>> tunnels;  // TURN over TLS runs through them
  GSource* bound = nullptr;
  std::function<void(void*)> onEnd;
  gulong gathered = 0;
  bool closing = false;
  bool done = false;
  std::function<void(const std::string&, const std::string&)> diag;

  void deallocate() {
    if (closing) return;
    closing = true;
    if (gathered) g_signal_handler_disconnect(agent, gathered);
    gathered = 0;
    nice_agent_close_async(
        agent,
        [](GObject*, GAsyncResult*, gpointer data) {
          auto* c = static_cast<Closing*>(data);
          if (c->diag) c->diag("ice", "TURN allocations freed");
          c->finish();
        },
        this);
  }

  void finish() {
    if (done) return;
    done = true;
    if (!closing && diag) diag("ice", "gave up waiting to free the TURN allocations");
    if (gathered) g_signal_handler_disconnect(agent, gathered);
    gathered = 0;
    if (bound) {
      g_source_destroy(bound);
      g_source_unref(bound);
      bound = nullptr;
    }
    g_object_unref(agent);
    tunnels.clear();
    auto end = std::move(onEnd);
    if (end) end(this);
    delete this;
  }
};

}  // namespace

CandidateType IceTransport::typeOf(const NiceCandidate* c) {
  switch (c->type) {
    case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE:
      return CandidateType::ServerReflexive;
    case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE:
      return CandidateType::PeerReflexive;
    case NICE_CANDIDATE_TYPE_RELAYED:
      return CandidateType::Relayed;
    default:
      return CandidateType::Host;
  }
}

IceTransport::IceTransport(GMainContext* context, const Configuration& config, bool controlling,
                           Callbacks callbacks)
    : context_(context), config_(config), cb_(std::move(callbacks)) {
  agent_ = nice_agent_new_full(context_, NICE_COMPATIBILITY_RFC5245,
                               static_cast<NiceAgentOption>(NICE_AGENT_OPTION_REGULAR_NOMINATION |
                                                            NICE_AGENT_OPTION_CONSENT_FRESHNESS |
                                                            NICE_AGENT_OPTION_ICE_TRICKLE));
  // libnice paces checks 20 ms apart by default; that pacing alone dominated loopback and LAN
  // setup time in measurements, while a handful of candidates never floods a link.
  g_object_set(agent_, "controlling-mode", controlling ? TRUE : FALSE, "ice-tcp", FALSE,
               "stun-pacing-timer", 1u, "stun-initial-timeout", 100u, "force-relay",
               config_.iceTransportPolicy == IceTransportPolicy::Relay,
               // UPnP port mapping talks to routers (SSDP multicast) during gathering: traffic a
               // data channel does not need and a game should not send unasked.
               "upnp", FALSE, nullptr);
  handlers_.push_back(g_signal_connect(agent_, "candidate-gathering-done",
                                       G_CALLBACK(onCandidateGatheringDone), this));
  handlers_.push_back(g_signal_connect(agent_, "component-state-changed",
                                       G_CALLBACK(onComponentStateChanged), this));
  handlers_.push_back(
      g_signal_connect(agent_, "new-candidate-full", G_CALLBACK(onNewCandidateFull), this));
  handlers_.push_back(
      g_signal_connect(agent_, "new-selected-pair-full", G_CALLBACK(onNewSelectedPairFull), this));

  for (const auto& a : config_.localAddresses) {
    NiceAddress addr;
    if (nice_address_set_from_string(&addr, a.c_str()))
      nice_agent_add_local_address(agent_, &addr);
    else
      diag("ice", "ignored local address '" + a + "': not a numeric IP address");
  }

  stream_ = nice_agent_add_stream(agent_, 1);
  if (config_.portRangeBegin && config_.portRangeEnd >= config_.portRangeBegin)
    nice_agent_set_port_range(agent_, stream_, kComponent, config_.portRangeBegin,
                              config_.portRangeEnd);
  gchar* ufrag = nullptr;
  gchar* pwd = nullptr;
  nice_agent_get_local_credentials(agent_, stream_, &ufrag, &pwd);
  ufrag_ = ufrag ? ufrag : "";
  pwd_ = pwd ? pwd : "";
  g_free(ufrag);
  g_free(pwd);
  nice_agent_attach_recv(agent_, stream_, kComponent, context_, &IceTransport::onRecv, this);

  // A name is looked up in the background (or found in the process's cache of answers): one that
  // never resolves must not hold up a connection that host candidates can make.
  cancel_ = g_cancellable_new();
  servers_.reserve(config_.iceServers.size());
  for (const auto& s : config_.iceServers) {
    Server server;
    Result r = IceServerUrl::parse(s.url, server.url);
    if (!r) {
      diag("ice", "ignored ICE server: " + r.error());
      continue;
    }
    (server.url.scheme == IceServerUrl::Scheme::Stun ? stats_.stunServers : stats_.turnServers)++;
    server.username = s.username;
    server.credential = s.credential;
    const std::string& host = server.url.host;
    if (isNumericAddress(host)) {
      server.address = host;
    } else if (auto known = IceServerResolver::cached(host)) {
      if (known->ok)
        server.address = known->address;
      else
        stats_.serverProblems.push_back(host + " did not resolve: " + known->error);
    } else {
      server.pending = true;
      std::size_t index = servers_.size();
      IceServerResolver::resolve(host, cancel_, [this, index](const ResolvedName& name) {
        onServerResolved(index, name);
      });
    }
    servers_.push_back(std::move(server));
  }
}

IceTransport::~IceTransport() { close(); }

bool IceTransport::hasTurnServer() const {
  for (const auto& s : servers_)
    if (s.url.scheme != IceServerUrl::Scheme::Stun) return true;
  return false;
}

void IceTransport::close() {
  if (closed_) return;
  closed_ = true;
  g_cancellable_cancel(cancel_);
  g_object_unref(cancel_);
  cancel_ = nullptr;
  if (stunWait_) {
    g_source_destroy(stunWait_);
    g_source_unref(stunWait_);
    stunWait_ = nullptr;
  }
  for (gulong h : handlers_) g_signal_handler_disconnect(agent_, h);
  nice_agent_attach_recv(agent_, stream_, kComponent, context_, nullptr, nullptr);
  bool allocated = false;
  for (const auto& s : servers_)
    if (s.applied && s.url.scheme != IceServerUrl::Scheme::Stun) allocated = true;
  if (!allocated) {
    nice_agent_remove_stream(agent_, stream_);
    g_object_unref(agent_);
    agent_ = nullptr;
    return;
  }
  // Unreffing the agent now would cancel the deallocation (Refresh with lifetime 0) and leave the
  // allocations on the TURN server until they expire (10 minutes).
  diag("ice", gatheringDone_ ? "closing: freeing the TURN allocations"
                             : "closing: freeing the TURN allocations once gathering ends");
  auto* closing =
      new Closing{agent_, {}, nullptr, cb_.onLingerEnd, 0, false, false, cb_.onDiagnostic};
  for (auto& s : servers_)
    if (s.tunnel) closing->tunnels.push_back(std::move(s.tunnel));
  agent_ = nullptr;
  closing->bound = g_timeout_source_new(kCloseBoundMs);
  g_source_set_callback(
      closing->bound,
      [](gpointer data) -> gboolean {
        auto* c = static_cast<Closing*>(data);
        g_source_unref(c->bound);
        c->bound = nullptr;  // this source ends itself by returning REMOVE
        c->finish();
        return G_SOURCE_REMOVE;
      },
      closing, nullptr);
  g_source_attach(closing->bound, context_);
  if (cb_.onLingerBegin) cb_.onLingerBegin(closing, [closing] { closing->finish(); });
  if (gatheringDone_) {
    closing->deallocate();
  } else {
    closing->gathered =
        g_signal_connect_swapped(closing->agent, "candidate-gathering-done",
                                 G_CALLBACK(+[](Closing* c) { c->deallocate(); }), closing);
  }
}

void IceTransport::onServerResolved(std::size_t index, const ResolvedName& name) {
  if (closed_) return;
  Server& server = servers_[index];
  server.pending = false;
  const bool stun = server.url.scheme == IceServerUrl::Scheme::Stun;
  if (!name.ok) {
    std::string problem = server.url.host + " did not resolve: " + name.error;
    stats_.serverProblems.push_back(problem);
    diag("ice", "ICE server " + problem);
  } else {
    server.address = name.address;
    if (!stun && gatheringStarted_) {
      // The relay candidates are trickled once libnice has its allocation.
      diag("ice", "TURN server " + server.url.host + " resolved to " + name.address +
                      "; gathering its relay candidates");
      if (cb_.onGatheringResumed) cb_.onGatheringResumed();
      gatheringDone_ = false;
      addRelay(server);
    } else if (stun && gatheringStarted_) {
      diag("ice", "STUN server " + server.url.host +
                      " resolved after gathering began; the next connection uses it");
    }
  }
  if (gatherRequested_ && !gatheringStarted_) {
    bool stunPending = false;
    for (const auto& s : servers_)
      if (s.pending && s.url.scheme == IceServerUrl::Scheme::Stun) stunPending = true;
    if (!stunPending) startGathering();
  }
}

gboolean IceTransport::onStunWaitOver(gpointer data) {
  auto* self = static_cast<IceTransport*>(data);
  g_source_unref(self->stunWait_);
  self->stunWait_ = nullptr;
  self->startGathering();
  return G_SOURCE_REMOVE;
}

void IceTransport::gather() {
  if (gatherRequested_) return;
  gatherRequested_ = true;
  // libnice takes its STUN server only when gathering starts, so a STUN name is worth a short
  // wait: at most kStunWaitMs from when its lookup began (a peer starts resolving its names when
  // it opens, so this is usually no wait at all, and a name that hangs delays only the first
  // connections). TURN servers can still be added afterwards.
  const auto now = std::chrono::steady_clock::now();
  gint64 waitMs = 0;
  if (config_.iceTransportPolicy != IceTransportPolicy::Relay) {
    for (const auto& s : servers_) {
      if (!s.pending || s.url.scheme != IceServerUrl::Scheme::Stun) continue;
      auto since = IceServerResolver::lookingUpSince(s.url.host).value_or(now);
      auto left = std::chrono::milliseconds(kStunWaitMs) -
                  std::chrono::duration_cast<std::chrono::milliseconds>(now - since);
      waitMs = std::max<gint64>(waitMs, left.count());
    }
  }
  if (waitMs <= 0) {
    startGathering();
    return;
  }
  stunWait_ = g_timeout_source_new(static_cast<guint>(waitMs));
  g_source_set_callback(stunWait_, &IceTransport::onStunWaitOver, this, nullptr);
  g_source_attach(stunWait_, context_);
}

void IceTransport::addRelay(Server& s) {
  if (s.applied || s.address.empty()) return;
  s.applied = true;
  std::string address = s.address;
  uint16_t port = s.url.port;
  NiceRelayType type = s.url.transport == IceServerUrl::Transport::Tcp ? NICE_RELAY_TYPE_TURN_TCP
                                                                       : NICE_RELAY_TYPE_TURN_UDP;
  if (s.url.scheme == IceServerUrl::Scheme::Turns) {
    s.tunnel = std::make_unique<TurnTlsTunnel>(s.url.host, s.address, s.url.port, config_.caFile,
                                               [this](const std::string& detail) {
                                                 if (detail.find("rejected") != std::string::npos)
                                                   stats_.serverProblems.push_back(detail);
                                                 diag("ice", detail);
                                               });
    std::string error;
    if (!s.tunnel->start(error)) {
      std::string problem = "TURN over TLS to " + s.url.host + ": " + error;
      stats_.serverProblems.push_back(problem);
      diag("ice", problem);
      s.tunnel.reset();
      return;
    }
    address = "127.0.0.1";
    port = s.tunnel->localPort();
    type = NICE_RELAY_TYPE_TURN_TCP;
  }
  nice_agent_set_relay_info(agent_, stream_, kComponent, address.c_str(), port, s.username.c_str(),
                            s.credential.c_str(), type);
}

void IceTransport::applyServers() {
  bool stunSet = false;
  for (auto& s : servers_) {
    if (s.address.empty()) {
      if (s.pending) diag("ice", "ICE server " + s.url.host + " still resolving");
      continue;
    }
    if (s.url.scheme == IceServerUrl::Scheme::Stun) {
      if (stunSet) continue;  // libnice takes one STUN server per agent
      g_object_set(agent_, "stun-server", s.address.c_str(), "stun-server-port",
                   static_cast<guint>(s.url.port), nullptr);
      s.applied = true;
      stunSet = true;
    } else {
      addRelay(s);
    }
  }
}

void IceTransport::startGathering() {
  if (gatheringStarted_ || closed_) return;
  if (stunWait_) {
    g_source_destroy(stunWait_);
    g_source_unref(stunWait_);
    stunWait_ = nullptr;
  }
  gatheringStarted_ = true;
  applyServers();
  if (!nice_agent_gather_candidates(agent_, stream_))
    diag("ice", "candidate gathering failed to start (no usable local address?)");
}

void IceTransport::setControlling(bool controlling) {
  if (!closed_) g_object_set(agent_, "controlling-mode", controlling ? TRUE : FALSE, nullptr);
}

void IceTransport::setRemoteCredentials(const std::string& ufrag, const std::string& pwd) {
  nice_agent_set_remote_credentials(agent_, stream_, ufrag.c_str(), pwd.c_str());
}

bool IceTransport::addRemoteCandidate(const std::string& candidate, std::string& reason) {
  if (closed_) {
    reason = "the ICE transport is closed";
    return false;
  }
  std::string line = candidate;
  if (line.rfind("a=", 0) == 0) line.erase(0, 2);
  if (line.rfind("candidate:", 0) != 0) {
    reason = "not a candidate line: '" + candidate + "'";
    return false;
  }
  auto f = candidateFields(line);
  if (f.size() < 8) {
    reason = "malformed candidate: '" + candidate + "'";
    return false;
  }
  // Field 3 is the transport; libnice only runs UDP here.
  if (g_ascii_strcasecmp(f[2].c_str(), "udp") != 0) {
    ++stats_.remoteTcpSkipped;
    reason = "skipped " + f[2] + " candidate (only UDP is used)";
    return false;
  }
  if (f[4].size() > 6 && g_ascii_strcasecmp(f[4].c_str() + f[4].size() - 6, ".local") == 0) {
    ++stats_.remoteMdnsSkipped;
    reason = "skipped mDNS candidate " + f[4] + " (peer-reflexive discovery will find it)";
    return false;
  }
  std::string sdp = "a=" + line;
  NiceCandidate* c = nice_agent_parse_remote_candidate_sdp(agent_, stream_, sdp.c_str());
  if (!c) {
    reason = "unparsable candidate: '" + candidate + "'";
    return false;
  }
  CandidateType type = typeOf(c);
  GSList* list = g_slist_append(nullptr, c);
  int added = nice_agent_set_remote_candidates(agent_, stream_, kComponent, list);
  g_slist_free_full(list, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
  if (added < 1) {
    reason = "candidate not accepted by ICE: '" + candidate + "'";
    return false;
  }
  switch (type) {
    case CandidateType::Host:
      ++stats_.remoteHost;
      break;
    case CandidateType::ServerReflexive:
      ++stats_.remoteSrflx;
      break;
    case CandidateType::PeerReflexive:
      ++stats_.remotePrflx;
      break;
    case CandidateType::Relayed:
      ++stats_.remoteRelay;
      break;
  }
  return true;
}

void IceTransport::remoteGatheringDone() {
  if (!closed_) nice_agent_peer_candidate_gathering_done(agent_, stream_);
}

bool IceTransport::send(const uint8_t* data, std::size_t size) {
  if (closed_) return false;
  return nice_agent_send(agent_, stream_, kComponent, static_cast<guint>(size),
                         reinterpret_cast<const gchar*>(data)) >= 0;
}

void IceTransport::diag(const std::string& phase, const std::string& detail) {
  if (cb_.onDiagnostic) cb_.onDiagnostic(phase, detail);
}

CandidateInfo IceTransport::infoOf(const NiceCandidate* c, bool local) const {
  CandidateInfo info;
  info.type = typeOf(c);
  info.address = addressString(c->addr);
  info.port = static_cast<uint16_t>(nice_address_get_port(&c->addr));
  info.transport = c->transport == NICE_CANDIDATE_TRANSPORT_UDP ? "udp" : "tcp";
  if (local && info.type == CandidateType::Relayed) {
    // libnice hands out copies of its candidates without the TURN server they came from
    // (nice_candidate_relay_address() crashes on them), but it gives relay candidates reached
    // over UDP a higher type preference (30) than those over TCP (20), TLS being TCP to it.
    if ((c->priority >> 24) >= 30) {
      info.relayProtocol = "udp";
    } else {
      bool tls = false, tcp = false;
      for (const auto& s : servers_) {
        if (!s.applied || s.url.transport != IceServerUrl::Transport::Tcp) continue;
        (s.tunnel ? tls : tcp) = true;
      }
      info.relayProtocol = tls && !tcp ? "tls" : tcp && !tls ? "tcp" : "tcp or tls";
    }
  }
  return info;
}

void IceTransport::onCandidateGatheringDone(NiceAgent*, guint, gpointer data) {
  auto* self = static_cast<IceTransport*>(data);
  self->gatheringDone_ = true;
  if (self->cb_.onGatheringDone) self->cb_.onGatheringDone();
}

void IceTransport::onComponentStateChanged(NiceAgent*, guint, guint, guint state, gpointer data) {
  auto* self = static_cast<IceTransport*>(data);
  self->diag("ice", std::string("ICE state ") +
                        nice_component_state_to_string(static_cast<NiceComponentState>(state)));
  switch (state) {
    case NICE_COMPONENT_STATE_CONNECTED:
    case NICE_COMPONENT_STATE_READY:
      if (!self->connected_) {
        self->connected_ = true;
        self->cb_.onStateChange(State::Connected, "");
      }
      break;
    case NICE_COMPONENT_STATE_FAILED: {
      bool wasConnected = self->connected_;
      self->connected_ = false;
      self->cb_.onStateChange(
          State::Failed, wasConnected ? "ICE consent lost: the remote stopped answering checks"
                                      : "ICE failed: every candidate pair was checked and none "
                                        "reached the remote peer");
      break;
    }
    default:
      break;
  }
}

void IceTransport::onNewCandidateFull(NiceAgent* agent, NiceCandidate* c, gpointer data) {
  auto* self = static_cast<IceTransport*>(data);
  switch (typeOf(c)) {
    case CandidateType::Host:
      ++self->stats_.localHost;
      break;
    case CandidateType::ServerReflexive:
      ++self->stats_.localSrflx;
      break;
    case CandidateType::Relayed:
      ++self->stats_.localRelay;
      break;
    case CandidateType::PeerReflexive:
      break;  // never signalled as a local candidate
  }
  gchar* sdp = nice_agent_generate_local_candidate_sdp(agent, c);
  if (!sdp) return;
  std::string line = sdp;
  g_free(sdp);
  if (line.rfind("a=", 0) == 0) line.erase(0, 2);
  self->localCandidates_.push_back(line);
  if (self->cb_.onLocalCandidate) self->cb_.onLocalCandidate(line);
}

void IceTransport::enlargeSocketBuffers() {
  // A burst of small messages outruns the default 208 KiB UDP receive buffer on the peer's
  // side of a fast link; every drop then costs SCTP a retransmission. Best effort: the kernel
  // caps it at net.core.rmem_max unless we may force it.
  GSocket* sock = nice_agent_get_selected_socket(agent_, stream_, kComponent);
  if (!sock) return;
  int fd = g_socket_get_fd(sock);
  int size = 4 * 1024 * 1024;
  for (int opt : {SO_RCVBUF, SO_SNDBUF}) {
    int force = opt == SO_RCVBUF ? SO_RCVBUFFORCE : SO_SNDBUFFORCE;
    if (setsockopt(fd, SOL_SOCKET, force, &size, sizeof size) != 0)
      setsockopt(fd, SOL_SOCKET, opt, &size, sizeof size);
  }
  g_object_unref(sock);
}

void IceTransport::onNewSelectedPairFull(NiceAgent*, guint, guint, NiceCandidate* local,
                                         NiceCandidate* remote, gpointer data) {
  auto* self = static_cast<IceTransport*>(data);
  self->enlargeSocketBuffers();
  self->selected_ = SelectedPair{self->infoOf(local, true), self->infoOf(remote, false)};
  if (self->cb_.onSelectedPair) self->cb_.onSelectedPair(*self->selected_);
}

void IceTransport::onRecv(NiceAgent*, guint, guint, guint len, gchar* buf, gpointer data) {
  auto* self = static_cast<IceTransport*>(data);
  if (!self->closed_ && self->cb_.onPacket)
    self->cb_.onPacket(reinterpret_cast<const uint8_t*>(buf), len);
}

}  // namespace claynet::rtc
