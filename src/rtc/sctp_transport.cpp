#include "rtc/sctp_transport.hpp"

#include <arpa/inet.h>
#include <usrsctp.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "rtc/crc32c.hpp"

namespace claynet::rtc {

namespace {

struct Entry {
  SctpTransport* self;
  std::function<void(std::function<void()>)> post;
  std::function<bool()> onOwnerThread;
};

// usrsctp identifies associations by the opaque address we registered; an id instead of the
// object pointer lets a late callback find out that the transport is gone.
std::mutex g_registryMutex;
std::unordered_map<uintptr_t, std::shared_ptr<Entry>> g_registry;
uintptr_t g_nextId = 1;

std::shared_ptr<Entry> findEntry(uintptr_t id) {
  std::lock_guard lock(g_registryMutex);
  auto it = g_registry.find(id);
  return it == g_registry.end() ? nullptr : it->second;
}

// Sizes chosen as working WebRTC stacks do: room for several 256 KiB messages in flight.
constexpr int kBufferSize = 4 * 1024 * 1024;
constexpr uint32_t kPathMtu = 1200;

}  // namespace

void SctpTransport::initGlobal() {
  static std::once_flag once;
  std::call_once(once, [] {
    usrsctp_init_nothreads(0, &SctpTransport::onOutput, nullptr);
    // usrsctp's own CRC32c is a table walk and was the largest single cost per packet; with
    // offload on it neither computes nor checks it, and we do both with the CPU's instruction.
    if (fastCrc32cAvailable()) usrsctp_enable_crc32c_offload();
    usrsctp_sysctl_set_sctp_ecn_enable(0);
    usrsctp_sysctl_set_sctp_pr_enable(1);
    usrsctp_sysctl_set_sctp_reconfig_enable(1);
    usrsctp_sysctl_set_sctp_nr_outgoing_streams_default(kMaxStreams);
    usrsctp_sysctl_set_sctp_nr_incoming_streams_default(kMaxStreams);
    usrsctp_sysctl_set_sctp_sendspace(kBufferSize);
    usrsctp_sysctl_set_sctp_recvspace(kBufferSize);
    // The defaults (1 s initial, 1 s minimum RTO) are tuned for the open Internet; game traffic
    // on LANs and loopback recovers from a lost packet far sooner this way.
    usrsctp_sysctl_set_sctp_rto_initial_default(1000);
    usrsctp_sysctl_set_sctp_rto_min_default(200);
    // After a blackout (a router rebooting, a NAT rebinding, an ICE restart) the next
    // retransmission is at most 3 s away, so data flows again soon after the path does; the
    // association survives the 30 s that PeerConnection waits before it calls a silent path failed.
    usrsctp_sysctl_set_sctp_rto_max_default(3000);
    usrsctp_sysctl_set_sctp_init_rto_max_default(10000);
    usrsctp_sysctl_set_sctp_assoc_rtx_max_default(40);
    usrsctp_sysctl_set_sctp_path_rtx_max_default(40);
    usrsctp_sysctl_set_sctp_delayed_sack_time_default(20);
    usrsctp_sysctl_set_sctp_initial_cwnd(10);
    usrsctp_sysctl_set_sctp_max_burst_default(10);
    // A heartbeat about every second keeps packets coming on an idle connection, which is how
    // PeerConnection tells a silent path (Disconnected) from a quiet one.
    usrsctp_sysctl_set_sctp_heartbeat_interval_default(1000);
    usrsctp_sysctl_set_sctp_blackhole(2);
  });
}

void SctpTransport::handleTimers(uint32_t elapsedMs) { usrsctp_handle_timers(elapsedMs); }

SctpTransport::SctpTransport(uint16_t localPort, uint16_t remotePort, std::size_t maxReceiveMessage,
                             Callbacks callbacks, std::function<void(std::function<void()>)> post,
                             std::function<bool()> onOwnerThread)
    : localPort_(localPort),
      remotePort_(remotePort),
      maxReceiveMessage_(maxReceiveMessage),
      cb_(std::move(callbacks)),
      post_(std::move(post)),
      onOwnerThread_(std::move(onOwnerThread)) {
  std::lock_guard lock(g_registryMutex);
  id_ = g_nextId++;
  g_registry[id_] = std::make_shared<Entry>(Entry{this, post_, onOwnerThread_});
}

SctpTransport::~SctpTransport() {
  close();
  std::lock_guard lock(g_registryMutex);
  g_registry.erase(id_);
}

bool SctpTransport::start(std::string& error) {
  usrsctp_register_address(reinterpret_cast<void*>(id_));
  sock_ =
      usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, &SctpTransport::onReceive,
                     &SctpTransport::onSendSpace, kBufferSize / 2, reinterpret_cast<void*>(id_));
  if (!sock_) {
    error = std::string("usrsctp_socket failed: ") + std::strerror(errno);
    return false;
  }
  usrsctp_set_non_blocking(sock_, 1);

  struct linger lingerOpt {};
  lingerOpt.l_onoff = 1;
  lingerOpt.l_linger = 0;  // close() aborts at once instead of lingering on a dead path
  usrsctp_setsockopt(sock_, SOL_SOCKET, SO_LINGER, &lingerOpt, sizeof lingerOpt);

  struct sctp_assoc_value reset {};
  reset.assoc_id = SCTP_ALL_ASSOC;
  reset.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ | SCTP_ENABLE_CHANGE_ASSOC_REQ;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &reset, sizeof reset);

  int on = 1;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof on);
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof on);

  const uint16_t events[] = {SCTP_ASSOC_CHANGE, SCTP_SENDER_DRY_EVENT, SCTP_STREAM_RESET_EVENT,
                             SCTP_STREAM_CHANGE_EVENT};
  for (uint16_t type : events) {
    struct sctp_event ev {};
    ev.se_assoc_id = SCTP_ALL_ASSOC;
    ev.se_on = 1;
    ev.se_type = type;
    usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof ev);
  }

  struct sctp_initmsg init {};
  init.sinit_num_ostreams = kMaxStreams;
  init.sinit_max_instreams = kMaxStreams;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof init);

  int bufSize = kBufferSize;
  usrsctp_setsockopt(sock_, SOL_SOCKET, SO_SNDBUF, &bufSize, sizeof bufSize);
  usrsctp_setsockopt(sock_, SOL_SOCKET, SO_RCVBUF, &bufSize, sizeof bufSize);

  // Interleaving would let a huge message stall others less, but browsers do not negotiate
  // it (RFC 8260), so plain fragment order stays.
  struct sctp_paddrparams peer {};
  peer.spp_assoc_id = SCTP_FUTURE_ASSOC;
  peer.spp_flags = SPP_PMTUD_DISABLE;
  peer.spp_pathmtu = kPathMtu;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &peer, sizeof peer);

  struct sockaddr_conn local {};
  local.sconn_family = AF_CONN;
  local.sconn_port = htons(localPort_);
  local.sconn_addr = reinterpret_cast<void*>(id_);
  if (usrsctp_bind(sock_, reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) {
    error = std::string("usrsctp_bind failed: ") + std::strerror(errno);
    return false;
  }
  struct sockaddr_conn remote = local;
  remote.sconn_port = htons(remotePort_);
  ++depth_;
  int rc = usrsctp_connect(sock_, reinterpret_cast<sockaddr*>(&remote), sizeof remote);
  int err = errno;
  --depth_;
  if (rc < 0 && err != EINPROGRESS) {
    error = std::string("usrsctp_connect failed: ") + std::strerror(err);
    return false;
  }
  drain();
  return true;
}

void SctpTransport::handlePacket(const uint8_t* data, std::size_t size) {
  if (closed_) return;
  if (fastCrc32cAvailable() && !sctpChecksumValid(data, size)) {
    if (cb_.onDiagnostic) cb_.onDiagnostic("dropped an SCTP packet with a bad checksum");
    return;
  }
  ++depth_;
  usrsctp_conninput(reinterpret_cast<void*>(id_), data, size, 0);
  --depth_;
  drain();
  // Each packet in may be a SACK that freed send space; usrsctp's own space callback comes
  // much later (half the buffer), which left the pipe idle between refills.
  if (blocked_ && !closed_ && cb_.onWritable) {
    blocked_ = false;
    cb_.onWritable();
  }
}

SctpTransport::SendStatus SctpTransport::send(uint16_t sid, uint32_t ppid, const void* data,
                                              std::size_t size, const Reliability& rel,
                                              std::string& error) {
  if (closed_ || !sock_) {
    error = "the SCTP association is closed";
    return SendStatus::Failed;
  }
  struct sctp_sendv_spa spa {};
  spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
  spa.sendv_sndinfo.snd_sid = sid;
  spa.sendv_sndinfo.snd_ppid = htonl(ppid);
  spa.sendv_sndinfo.snd_flags = SCTP_EOR | (rel.unordered ? SCTP_UNORDERED : 0);
  if (rel.maxRetransmits) {
    spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
    spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_RTX;
    spa.sendv_prinfo.pr_value = *rel.maxRetransmits;
  } else if (rel.maxPacketLifeTime) {
    spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
    spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_TTL;
    spa.sendv_prinfo.pr_value = *rel.maxPacketLifeTime;
  }
  ++depth_;
  ssize_t rc = usrsctp_sendv(sock_, data, size, nullptr, 0, &spa, sizeof spa, SCTP_SENDV_SPA, 0);
  int err = errno;
  --depth_;
  drain();
  if (rc >= 0) return SendStatus::Sent;
  if (err == EWOULDBLOCK || err == EAGAIN || err == ENOBUFS) {
    blocked_ = true;
    return SendStatus::WouldBlock;
  }
  error = std::string("SCTP send failed: ") + std::strerror(err);
  return SendStatus::Failed;
}

void SctpTransport::resetStreams(const std::vector<uint16_t>& sids) {
  if (closed_ || !sock_ || sids.empty()) return;
  std::vector<uint8_t> buf(sizeof(sctp_reset_streams) + sids.size() * sizeof(uint16_t));
  auto* srs = reinterpret_cast<sctp_reset_streams*>(buf.data());
  srs->srs_assoc_id = SCTP_ALL_ASSOC;
  srs->srs_flags = SCTP_STREAM_RESET_OUTGOING;
  srs->srs_number_streams = static_cast<uint16_t>(sids.size());
  for (std::size_t i = 0; i < sids.size(); ++i) srs->srs_stream_list[i] = sids[i];
  ++depth_;
  if (usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_RESET_STREAMS, srs,
                         static_cast<socklen_t>(buf.size())) < 0 &&
      cb_.onDiagnostic) {
    cb_.onDiagnostic(std::string("stream reset refused: ") + std::strerror(errno));
  }
  --depth_;
  drain();
}

void SctpTransport::setNoDelay(bool on) {
  if (closed_ || !sock_) return;
  int v = on ? 1 : 0;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_NODELAY, &v, sizeof v);
}

void SctpTransport::close() {
  if (closed_) return;
  closed_ = true;
  if (sock_) {
    usrsctp_shutdown(sock_, SHUT_RDWR);
    usrsctp_close(sock_);
    sock_ = nullptr;
  }
  usrsctp_deregister_address(reinterpret_cast<void*>(id_));
  inbox_.clear();
}

SctpTransport* SctpTransport::lookup(uintptr_t id) {
  auto entry = findEntry(id);
  return entry ? entry->self : nullptr;
}

int SctpTransport::onOutput(void* addr, void* buffer, std::size_t length, uint8_t, uint8_t) {
  auto id = reinterpret_cast<uintptr_t>(addr);
  auto entry = findEntry(id);
  if (!entry) return -1;
  if (fastCrc32cAvailable()) fillSctpChecksum(static_cast<uint8_t*>(buffer), length);
  if (entry->onOwnerThread()) {
    SctpTransport* self = entry->self;
    if (!self->closed_ && self->cb_.sendPacket)
      self->cb_.sendPacket(static_cast<const uint8_t*>(buffer), length);
    return 0;
  }
  // A timer of another runtime fired for this association: hop to its own thread.
  std::string copy(static_cast<const char*>(buffer), length);
  entry->post([id, copy = std::move(copy)] {
    if (SctpTransport* self = lookup(id); self && !self->closed_ && self->cb_.sendPacket)
      self->cb_.sendPacket(reinterpret_cast<const uint8_t*>(copy.data()), copy.size());
  });
  return 0;
}

int SctpTransport::onReceive(struct socket*, union sctp_sockstore, void* data, std::size_t len,
                             struct sctp_rcvinfo info, int flags, void* ulp) {
  auto id = reinterpret_cast<uintptr_t>(ulp);
  if (!data) return 1;  // usrsctp signals a socket event without data; nothing to read
  Inbound in{(flags & MSG_NOTIFICATION) != 0, info.rcv_sid, ntohl(info.rcv_ppid),
             (flags & MSG_EOR) != 0, std::string(static_cast<const char*>(data), len)};
  std::free(data);
  auto entry = findEntry(id);
  if (!entry) return 1;
  if (entry->onOwnerThread()) {
    SctpTransport* self = entry->self;
    if (self->closed_) return 1;
    self->inbox_.push_back(std::move(in));
    // Messages are handed out after usrsctp returns, never from inside it.
    if (self->depth_ == 0 && !self->drainPosted_) {
      self->drainPosted_ = true;
      self->post_([id] {
        if (SctpTransport* s = lookup(id)) {
          s->drainPosted_ = false;
          s->drain();
        }
      });
    }
    return 1;
  }
  entry->post([id, in = std::move(in)]() mutable {
    if (SctpTransport* self = lookup(id); self && !self->closed_) {
      self->inbox_.push_back(std::move(in));
      self->drain();
    }
  });
  return 1;
}

int SctpTransport::onSendSpace(struct socket*, uint32_t, void* ulp) {
  auto id = reinterpret_cast<uintptr_t>(ulp);
  auto entry = findEntry(id);
  if (!entry) return 0;
  entry->post([id] {
    if (SctpTransport* self = lookup(id); self && !self->closed_ && self->cb_.onWritable)
      self->cb_.onWritable();
  });
  return 0;
}

void SctpTransport::drain() {
  if (depth_ > 0) return;
  // Callbacks may send (and so receive more into the inbox) or close this transport.
  while (!inbox_.empty() && !closed_) {
    std::vector<Inbound> batch;
    batch.swap(inbox_);
    for (auto& in : batch) {
      if (closed_) return;
      if (in.notification)
        processNotification(reinterpret_cast<const uint8_t*>(in.data.data()), in.data.size());
      else
        processData(in.sid, in.ppid, std::move(in.data), in.eor);
    }
  }
}

void SctpTransport::processData(uint16_t sid, uint32_t ppid, std::string&& data, bool eor) {
  std::size_t size = data.size();
  if (partial_.size() <= sid) partial_.resize(sid + 1);
  auto& slot = partial_[sid];
  if (eor && !slot) {
    if (size > maxReceiveMessage_) {
      if (cb_.onDiagnostic)
        cb_.onDiagnostic("dropped a " + std::to_string(size) + "-byte message on stream " +
                         std::to_string(sid) + ": larger than the advertised max-message-size of " +
                         std::to_string(maxReceiveMessage_));
      return;
    }
    cb_.onMessage(sid, ppid, std::move(data));
    return;
  }
  if (!slot) slot.emplace(Partial{ppid, {}, false});
  if (!slot->oversize) {
    if (slot->data.size() + size > maxReceiveMessage_) {
      slot->oversize = true;
      slot->data.clear();
      slot->data.shrink_to_fit();
    } else {
      slot->data.append(data);
    }
  }
  if (!eor) return;
  Partial done = std::move(*slot);
  slot.reset();
  if (done.oversize) {
    if (cb_.onDiagnostic)
      cb_.onDiagnostic("dropped a message on stream " + std::to_string(sid) +
                       ": larger than the advertised max-message-size of " +
                       std::to_string(maxReceiveMessage_));
    return;
  }
  cb_.onMessage(sid, done.ppid, std::move(done.data));
}

void SctpTransport::processNotification(const uint8_t* data, std::size_t size) {
  auto* n = reinterpret_cast<const sctp_notification*>(data);
  if (size < sizeof(n->sn_header)) return;
  switch (n->sn_header.sn_type) {
    case SCTP_ASSOC_CHANGE: {
      const auto& ac = n->sn_assoc_change;
      if (ac.sac_state == SCTP_COMM_UP) {
        if (!connected_) {
          connected_ = true;
          if (cb_.onConnected) cb_.onConnected();
        }
      } else if (ac.sac_state == SCTP_COMM_LOST || ac.sac_state == SCTP_SHUTDOWN_COMP ||
                 ac.sac_state == SCTP_CANT_STR_ASSOC) {
        const char* why = ac.sac_state == SCTP_COMM_LOST       ? "SCTP association lost"
                          : ac.sac_state == SCTP_SHUTDOWN_COMP ? "SCTP association shut down"
                                                               : "SCTP association could not start";
        connected_ = false;
        if (cb_.onClosed) cb_.onClosed(why);
      }
      break;
    }
    case SCTP_SENDER_DRY_EVENT:
      if (cb_.onWritable) cb_.onWritable();
      break;
    case SCTP_STREAM_RESET_EVENT: {
      const auto& sr = n->sn_strreset_event;
      if (sr.strreset_flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED)) break;
      if (!(sr.strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN)) break;
      std::size_t count = (sr.strreset_length - sizeof(sctp_stream_reset_event)) / sizeof(uint16_t);
      std::vector<uint16_t> sids(sr.strreset_stream_list, sr.strreset_stream_list + count);
      for (uint16_t sid : sids)
        if (sid < partial_.size()) partial_[sid].reset();
      if (cb_.onIncomingReset) cb_.onIncomingReset(sids);
      break;
    }
    default:
      break;
  }
}

}  // namespace claynet::rtc
