#include "rtc/ice_transport.hpp"

#include <nice/agent.h>
#include <sys/socket.h>

#include <cstring>

namespace claynet::rtc {

namespace {

constexpr guint kComponent = 1;

struct Lookup {
  IceTransport* self;
  std::size_t index;
};

bool isNumericAddress(const std::string& host) { return g_hostname_is_ip_address(host.c_str()); }

CandidateInfo infoOf(const NiceCandidate* c) {
  CandidateInfo info;
  info.type = IceTransport::typeOf(c);
  char buf[NICE_ADDRESS_STRING_LEN];
  nice_address_to_string(&c->addr, buf);
  info.address = buf;
  info.port = static_cast<uint16_t>(nice_address_get_port(&c->addr));
  info.transport = c->transport == NICE_CANDIDATE_TRANSPORT_UDP ? "udp" : "tcp";
  return info;
}

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

  // Servers given by name are resolved in the background: a name that never resolves must not
  // hold up a connection that host candidates can make.
  cancel_ = g_cancellable_new();
  for (const auto& s : config_.iceServers) {
    Server server;
    Result r = IceServerUrl::parse(s.url, server.url);
    if (!r) {
      diag("ice", "ignored ICE server: " + r.error());
      continue;
    }
    server.username = s.username;
    server.credential = s.credential;
    if (isNumericAddress(server.url.host)) {
      server.address = server.url.host;
    } else {
      server.pending = true;
      auto* lookup = new Lookup{this, servers_.size()};
      g_resolver_lookup_by_name_async(g_resolver_get_default(), server.url.host.c_str(), cancel_,
                                      &IceTransport::onResolved, lookup);
      g_object_unref(g_resolver_get_default());
    }
    servers_.push_back(std::move(server));
  }
}

IceTransport::~IceTransport() { close(); }

void IceTransport::close() {
  if (closed_) return;
  closed_ = true;
  g_cancellable_cancel(cancel_);
  g_object_unref(cancel_);
  cancel_ = nullptr;
  for (gulong h : handlers_) g_signal_handler_disconnect(agent_, h);
  nice_agent_attach_recv(agent_, stream_, kComponent, context_, nullptr, nullptr);
  nice_agent_remove_stream(agent_, stream_);
  g_object_unref(agent_);
  agent_ = nullptr;
}

void IceTransport::onResolved(GObject* source, GAsyncResult* result, gpointer data) {
  auto* lookup = static_cast<Lookup*>(data);
  GError* error = nullptr;
  GList* addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(source), result, &error);
  if (error && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_error_free(error);
    delete lookup;
    return;  // the transport is gone
  }
  IceTransport* self = lookup->self;
  Server& server = self->servers_[lookup->index];
  delete lookup;
  server.pending = false;
  if (error) {
    self->diag("ice", "ICE server " + server.url.host + " did not resolve: " + error->message);
    g_error_free(error);
  } else {
    for (GList* l = addresses; l; l = l->next) {
      auto* inet = G_INET_ADDRESS(l->data);
      if (g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV4 || server.address.empty()) {
        gchar* s = g_inet_address_to_string(inet);
        server.address = s;
        g_free(s);
        if (g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV4) break;
      }
    }
    g_resolver_free_addresses(addresses);
    if (self->gatheringStarted_)
      self->diag("ice", "ICE server " + server.url.host +
                            " resolved after gathering began; not used by this connection");
  }
  if (self->gatherRequested_ && !self->gatheringStarted_) self->startGathering();
}

void IceTransport::gather() {
  gatherRequested_ = true;
  if (config_.iceTransportPolicy == IceTransportPolicy::Relay) {
    for (const auto& s : servers_)
      if (s.pending && s.url.scheme != IceServerUrl::Scheme::Stun) return;  // onResolved resumes
  }
  startGathering();
}

void IceTransport::applyServers() {
  bool stunSet = false;
  for (const auto& s : servers_) {
    if (s.address.empty()) {
      if (s.pending) diag("ice", "ICE server " + s.url.host + " still resolving; skipped");
      continue;
    }
    if (s.url.scheme == IceServerUrl::Scheme::Stun) {
      if (stunSet) continue;  // libnice takes one STUN server per agent
      g_object_set(agent_, "stun-server", s.address.c_str(), "stun-server-port",
                   static_cast<guint>(s.url.port), nullptr);
      stunSet = true;
    } else {
      NiceRelayType type = s.url.scheme == IceServerUrl::Scheme::Turns ? NICE_RELAY_TYPE_TURN_TLS
                           : s.url.transport == IceServerUrl::Transport::Tcp
                               ? NICE_RELAY_TYPE_TURN_TCP
                               : NICE_RELAY_TYPE_TURN_UDP;
      nice_agent_set_relay_info(agent_, stream_, kComponent, s.address.c_str(), s.url.port,
                                s.username.c_str(), s.credential.c_str(), type);
    }
  }
}

void IceTransport::startGathering() {
  if (gatheringStarted_ || closed_) return;
  gatheringStarted_ = true;
  applyServers();
  if (!nice_agent_gather_candidates(agent_, stream_))
    diag("ice", "candidate gathering failed to start (no usable local address?)");
}

void IceTransport::setRemoteCredentials(const std::string& ufrag, const std::string& pwd) {
  nice_agent_set_remote_credentials(agent_, stream_, ufrag.c_str(), pwd.c_str());
}

bool IceTransport::addRemoteCandidate(const std::string& candidate, std::string& reason) {
  std::string line = candidate;
  if (line.rfind("a=", 0) == 0) line.erase(0, 2);
  if (line.rfind("candidate:", 0) != 0) {
    reason = "not a candidate line: '" + candidate + "'";
    return false;
  }
  // Field 3 is the transport; libnice only runs UDP here.
  {
    std::vector<std::string> f;
    std::size_t pos = 0;
    while (f.size() < 6) {
      std::size_t sp = line.find(' ', pos);
      f.push_back(line.substr(pos, sp == std::string::npos ? sp : sp - pos));
      if (sp == std::string::npos) break;
      pos = sp + 1;
    }
    if (f.size() < 6) {
      reason = "malformed candidate: '" + candidate + "'";
      return false;
    }
    if (g_ascii_strcasecmp(f[2].c_str(), "udp") != 0) {
      reason = "skipped " + f[2] + " candidate (only UDP is used)";
      return false;
    }
    if (f[4].size() > 6 && f[4].compare(f[4].size() - 6, 6, ".local") == 0) {
      reason = "skipped mDNS candidate " + f[4] + " (peer-reflexive discovery will find it)";
      return false;
    }
  }
  std::string sdp = "a=" + line;
  NiceCandidate* c = nice_agent_parse_remote_candidate_sdp(agent_, stream_, sdp.c_str());
  if (!c) {
    reason = "unparsable candidate: '" + candidate + "'";
    return false;
  }
  GSList* list = g_slist_append(nullptr, c);
  int added = nice_agent_set_remote_candidates(agent_, stream_, kComponent, list);
  g_slist_free_full(list, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
  if (added < 1) {
    reason = "candidate not accepted by ICE: '" + candidate + "'";
    return false;
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

void IceTransport::onCandidateGatheringDone(NiceAgent*, guint, gpointer data) {
  auto* self = static_cast<IceTransport*>(data);
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
    case NICE_COMPONENT_STATE_FAILED:
      self->connected_ = false;
      self->cb_.onStateChange(State::Failed,
                              "ICE failed: no candidate pair could reach the remote peer, or "
                              "the peer stopped answering consent checks");
      break;
    default:
      break;
  }
}

void IceTransport::onNewCandidateFull(NiceAgent* agent, NiceCandidate* c, gpointer data) {
  auto* self = static_cast<IceTransport*>(data);
  gchar* sdp = nice_agent_generate_local_candidate_sdp(agent, c);
  if (!sdp) return;
  std::string line = sdp;
  g_free(sdp);
  if (line.rfind("a=", 0) == 0) line.erase(0, 2);
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
  if (self->cb_.onSelectedPair)
    self->cb_.onSelectedPair(SelectedPair{infoOf(local), infoOf(remote)});
}

void IceTransport::onRecv(NiceAgent*, guint, guint, guint len, gchar* buf, gpointer data) {
  auto* self = static_cast<IceTransport*>(data);
  if (!self->closed_ && self->cb_.onPacket)
    self->cb_.onPacket(reinterpret_cast<const uint8_t*>(buf), len);
}

}  // namespace claynet::rtc
