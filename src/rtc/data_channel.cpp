#include "rtc/dcep.hpp"
#include "rtc/peer_shared.hpp"

namespace claynet {

namespace impl {

ChannelShared::ChannelShared(std::weak_ptr<PeerShared> p, std::string l,
                             const DataChannelInit& init)
    : label(std::move(l)),
      protocol(init.protocol),
      ordered(init.ordered),
      maxRetransmits(init.maxRetransmits),
      maxPacketLifeTime(init.maxPacketLifeTime),
      negotiated(init.negotiated),
      peer(std::move(p)) {
  if (auto shared = peer.lock()) networkThread = shared->core->threadId();
}

Result ChannelShared::send(std::string&& data, bool binary) {
  ChannelState s = state.load(std::memory_order_acquire);
  if (s != ChannelState::Open) {
    static const char* names[] = {"connecting", "open", "closing", "closed"};
    return Result::failure("cannot send on data channel '" + label + "': it is " +
                           names[static_cast<int>(s)] + ", not open");
  }
  auto p = peer.lock();
  if (!p)
    return Result::failure("cannot send on data channel '" + label + "': the connection is gone");
  std::size_t limit = p->sendLimit();
  if (data.size() > limit) {
    std::size_t remote = p->remoteMaxMessageSize.load();
    std::string whose = data.size() > remote
                            ? "the remote's max-message-size of " + std::to_string(remote)
                            : "claynet's send limit of " + std::to_string(limit);
    return Result::failure("cannot send a message of " + std::to_string(data.size()) +
                           " bytes on data channel '" + label + "': larger than " + whose +
                           " bytes");
  }
  p->enqueue(shared_from_this(), binary ? rtc::dcep::kPpidBinary : rtc::dcep::kPpidString,
             std::move(data));
  return {};
}

void ChannelShared::drainInbox() {
  std::size_t n;
  {
    std::lock_guard lock(inboxMutex);
    n = inbox.size();
    inboxEventQueued = false;  // what arrives from now on brings its own event
  }
  auto p = peer.lock();
  for (std::size_t i = 0; i < n; ++i) {
    Message m;
    {
      std::lock_guard lock(inboxMutex);
      if (inbox.empty()) break;  // dropped meanwhile to make room
      m = std::move(inbox.front());
      inbox.pop_front();
      inboxBytes -= m.data.size();
    }
    if (p) p->released(m.data.size());
    onMessage(std::move(m));
  }
}

}  // namespace impl

DataChannel::DataChannel(std::shared_ptr<impl::ChannelShared> shared)
    : shared_(std::move(shared)) {}

DataChannel::~DataChannel() {
  // No callback of ours is running (on another thread) once the destructor returns, unless this
  // runs on the network thread (claynet releasing a channel), which must never wait.
  const bool wait = std::this_thread::get_id() != shared_->networkThread;
  shared_->onOpen.clearAndWait(wait);
  shared_->onClose.clearAndWait(wait);
  shared_->onMessage.clearAndWait(wait);
  shared_->onBufferedAmountLow.clearAndWait(wait);
  shared_->onError.clearAndWait(wait);
  close();
}

const std::string& DataChannel::label() const { return shared_->label; }
const std::string& DataChannel::protocol() const { return shared_->protocol; }
std::optional<uint16_t> DataChannel::id() const {
  int sid = shared_->sid.load();
  return sid < 0 ? std::nullopt : std::optional<uint16_t>(static_cast<uint16_t>(sid));
}
bool DataChannel::ordered() const { return shared_->ordered; }
std::optional<uint16_t> DataChannel::maxRetransmits() const { return shared_->maxRetransmits; }
std::optional<uint16_t> DataChannel::maxPacketLifeTime() const {
  return shared_->maxPacketLifeTime;
}
bool DataChannel::negotiated() const { return shared_->negotiated; }
ChannelState DataChannel::state() const { return shared_->state.load(); }

Result DataChannel::send(std::string_view text) { return shared_->send(std::string(text), false); }
Result DataChannel::send(std::span<const std::byte> bytes) {
  return shared_->send(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                       true);
}

std::size_t DataChannel::bufferedAmount() const { return shared_->buffered.load(); }
std::size_t DataChannel::bufferedAmountLowThreshold() const { return shared_->lowThreshold.load(); }
void DataChannel::setBufferedAmountLowThreshold(std::size_t bytes) {
  shared_->lowThreshold = bytes;
}

void DataChannel::close() {
  auto ch = shared_;
  // Closing at once, so that send() fails from here on; what was sent before still goes out.
  ChannelState s = ch->state.load();
  do {
    if (s == ChannelState::Closed || s == ChannelState::Closing) return;
  } while (!ch->state.compare_exchange_weak(s, ChannelState::Closing));
  auto peer = ch->peer.lock();
  if (!peer) {
    ch->state = ChannelState::Closed;
    return;
  }
  peer->core->post([peer, ch] { peer->closeChannel(ch); });
}

Counters DataChannel::counters() const { return shared_->counters.snapshot(); }

void DataChannel::onOpen(std::function<void()> cb) {
  // The channel may have opened before this was set (a negotiated channel opens as soon as it is
  // created on a live connection): then onOpen still fires, once, where the Runtime delivers.
  if (!shared_->onOpen.setAndTakeLatched(std::move(cb))) return;
  auto peer = shared_->peer.lock();
  if (!peer) return;
  peer->core->post([core = peer->core, ch = shared_] { core->deliver([ch] { ch->onOpen(); }); });
}
void DataChannel::onClose(std::function<void()> cb) { shared_->onClose.set(std::move(cb)); }
void DataChannel::onMessage(std::function<void(Message&&)> cb) {
  shared_->onMessage.set(std::move(cb));
}
void DataChannel::onBufferedAmountLow(std::function<void()> cb) {
  shared_->onBufferedAmountLow.set(std::move(cb));
}
void DataChannel::onError(std::function<void(const std::string&)> cb) {
  shared_->onError.set(std::move(cb));
}

}  // namespace claynet
