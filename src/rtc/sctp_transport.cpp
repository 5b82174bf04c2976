#include "rtc/sctp_transport.hpp"

#include <arpa/inet.h>
#include <usrsctp.h>

#include <atomic>
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
  std::atomic<bool> readPosted{false};  // a read is already on its way to the owner thread
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
// usrsctp's default of 512 chunks caps small messages in flight (the sender stalls) and chunks
// held for reordering (the receiver drops the rest); other WebRTC stacks raise it the same way.
constexpr uint32_t kMaxChunksOnQueue = 10 * 1024;
// One read takes at most this much; larger messages come in pieces and are joined.
constexpr std::size_t kReadBuffer = 256 * 1024;

// Not in usrsctp.h, but served by its getsockopt (FreeBSD's SCTP_GET_SNDBUF_USE): how much user
// data the association holds for sending, queued or in flight.
constexpr int kSctpGetSndbufUse = 0x00001101;
struct SndbufUse {
  sctp_assoc_t assocId;
  uint32_t totalSndbuf;
  uint32_t totalRecvBuf;
};

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
    usrsctp_sysctl_set_sctp_max_chunks_on_queue(kMaxChunksOnQueue);
  });
}

void SctpTransport::handleTimers(uint32_t elapsedMs) { usrsctp_handle_timers(elapsedMs); }

SctpTransport::SctpTransport(uint16_t localPort, uint16_t remotePort, std::size_t maxReceiveMessage,
                             Callbacks callbacks, std::function<void(std::function<void()>)> post,
                             std::function<bool()> onOwnerThread)
    : localPort_(localPort),
      remotePort_(remotePort),
      cb_(std::move(callbacks)),
      post_(std::move(post)),
      onOwnerThread_(std::move(onOwnerThread)),
      inbound_(maxReceiveMessage, [this] {
        SctpInbound::Callbacks in;
        in.onMessage = [this](uint16_t sid, uint32_t ppid, std::string&& data) {
          if (cb_.onMessage) cb_.onMessage(sid, ppid, std::move(data));
        };
        in.onConnected = [this](uint16_t inbound, uint16_t outbound) {
          if (cb_.onConnected) cb_.onConnected(inbound, outbound);
        };
        in.onClosed = [this](const SctpInbound::Ending& e) {
          if (cb_.onClosed) cb_.onClosed(e);
        };
        in.onIncomingReset = [this](const std::vector<uint16_t>& sids) {
          if (cb_.onIncomingReset) cb_.onIncomingReset(sids);
        };
        in.onOutgoingReset = [this](const std::vector<uint16_t>& sids, bool ok) {
          if (cb_.onOutgoingReset) cb_.onOutgoingReset(sids, ok);
        };
        in.onStreamsChanged = [this](uint16_t inbound, uint16_t outbound) {
          if (cb_.onStreamsChanged) cb_.onStreamsChanged(inbound, outbound);
        };
        in.onSenderDry = [this] {
          if (cb_.onWritable) cb_.onWritable();
        };
        in.onDiagnostic = [this](const std::string& d) {
          if (cb_.onDiagnostic) cb_.onDiagnostic(d);
        };
        return in;
      }()) {
  std::lock_guard lock(g_registryMutex);
  id_ = g_nextId++;
  auto entry = std::make_shared<Entry>();
  entry->self = this;
  entry->post = post_;
  entry->onOwnerThread = onOwnerThread_;
  g_registry[id_] = std::move(entry);
}

SctpTransport::~SctpTransport() {
  close();
  std::lock_guard lock(g_registryMutex);
  g_registry.erase(id_);
}

bool SctpTransport::start(std::string& error) {
  usrsctp_register_address(reinterpret_cast<void*>(id_));
  // Pull mode (no receive callback): usrsctp keeps what we have not read in its receive buffer
  // and shrinks the advertised window, which is the only way to push back on a fast sender. The
  // upcall only says that something may be readable or writable.
  sock_ = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, nullptr, nullptr, 0, nullptr);
  if (!sock_) {
    error = std::string("usrsctp_socket failed: ") + std::strerror(errno);
    return false;
  }
  usrsctp_set_non_blocking(sock_, 1);
  usrsctp_set_upcall(sock_, &SctpTransport::onUpcall, reinterpret_cast<void*>(id_));

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
                             SCTP_STREAM_CHANGE_EVENT, SCTP_PARTIAL_DELIVERY_EVENT};
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

  // Streams take turns message by message, so one channel's bulk transfer inside usrsctp does
  // not hold back another channel's small messages.
  struct sctp_assoc_value scheduler {};
  scheduler.assoc_id = SCTP_FUTURE_ASSOC;
  scheduler.assoc_value = SCTP_SS_ROUND_ROBIN;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_PLUGGABLE_SS, &scheduler, sizeof scheduler);

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
  readAll();
  return true;
}

void SctpTransport::handlePacket(const uint8_t* data, std::size_t size) {
  if (closed_ || !sock_) return;
  if (fastCrc32cAvailable() && !sctpChecksumValid(data, size)) {
    if (cb_.onDiagnostic) cb_.onDiagnostic("dropped an SCTP packet with a bad checksum");
    return;
  }
  ++depth_;
  usrsctp_conninput(reinterpret_cast<void*>(id_), data, size, 0);
  --depth_;
  readAll();
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
  readAll();
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
  readAll();
}

void SctpTransport::setNoDelay(bool on) {
  if (closed_ || !sock_) return;
  int v = on ? 1 : 0;
  usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_NODELAY, &v, sizeof v);
}

void SctpTransport::setReadPaused(bool paused) {
  if (paused_ == paused) return;
  paused_ = paused;
  if (!paused) readAll();
}

std::optional<std::size_t> SctpTransport::bufferedBytes() const {
  if (closed_ || !sock_) return std::nullopt;
  SndbufUse use{};
  socklen_t len = sizeof use;
  if (usrsctp_getsockopt(sock_, IPPROTO_SCTP, kSctpGetSndbufUse, &use, &len) < 0)
    return std::nullopt;
  return use.totalSndbuf;
}

void SctpTransport::close() {
  if (closed_ || closing_) return;
  closing_ = true;
  if (sock_) {
    // Output stays open until usrsctp_close returns: that is when the ABORT (SO_LINGER 0) leaves.
    struct socket* sock = sock_;
    sock_ = nullptr;
    ++depth_;
    usrsctp_close(sock);
    --depth_;
  }
  closed_ = true;
  usrsctp_deregister_address(reinterpret_cast<void*>(id_));
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

void SctpTransport::onUpcall(struct socket*, void* arg, int) {
  // Called from inside usrsctp (maybe holding its locks): never call back into it from here.
  auto id = reinterpret_cast<uintptr_t>(arg);
  auto entry = findEntry(id);
  if (!entry) return;
  if (entry->onOwnerThread() && entry->self->depth_ > 0) {
    entry->self->readAgain_ = true;  // our caller reads once usrsctp returns
    return;
  }
  // A timer (of this or another runtime) changed something: read from a fresh stack.
  if (entry->readPosted.exchange(true)) return;
  entry->post([id] {
    auto e = findEntry(id);
    if (!e) return;
    e->readPosted = false;
    SctpTransport* self = e->self;
    if (self->closed_) return;
    self->readAll();
    if (self->blocked_ && !self->closed_ && self->cb_.onWritable) {
      self->blocked_ = false;
      self->cb_.onWritable();
    }
  });
}

void SctpTransport::readAll() {
  if (depth_ > 0 || closed_ || !sock_) return;
  if (reading_) {  // a callback of ours sent something; the outer loop reads on
    readAgain_ = true;
    return;
  }
  reading_ = true;
  thread_local std::vector<uint8_t> buffer(kReadBuffer);
  do {
    readAgain_ = false;
    while (!paused_ && !closed_ && sock_) {
      struct sockaddr_conn from {};
      socklen_t fromLen = sizeof from;
      struct sctp_rcvinfo info {};
      socklen_t infoLen = sizeof info;
      unsigned int infoType = 0;
      int flags = 0;
      ++depth_;
      ssize_t n =
          usrsctp_recvv(sock_, buffer.data(), buffer.size(), reinterpret_cast<sockaddr*>(&from),
                        &fromLen, &info, &infoLen, &infoType, &flags);
      int err = errno;
      --depth_;
      if (n < 0) {
        if (err != EWOULDBLOCK && err != EAGAIN && err != ENOTCONN && cb_.onDiagnostic)
          cb_.onDiagnostic(std::string("SCTP read failed: ") + std::strerror(err));
        break;
      }
      if (n == 0) break;
      // The data is copied out before any callback runs: a callback may read again.
      if (flags & MSG_NOTIFICATION) {
        std::vector<uint8_t> note(buffer.begin(), buffer.begin() + n);
        inbound_.notification(note.data(), note.size());
      } else {
        uint16_t sid = infoType == SCTP_RECVV_RCVINFO ? info.rcv_sid : 0;
        uint32_t ppid = infoType == SCTP_RECVV_RCVINFO ? ntohl(info.rcv_ppid) : 0;
        inbound_.data(sid, ppid, std::string(reinterpret_cast<const char*>(buffer.data()), n),
                      (flags & MSG_EOR) != 0);
      }
    }
  } while (readAgain_ && !paused_ && !closed_ && sock_);
  reading_ = false;
}

}  // namespace claynet::rtc
