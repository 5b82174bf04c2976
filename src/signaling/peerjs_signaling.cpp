// The public PeerJsSignaling: a thread-safe face over SignalingClient, delivering its events
// through the Runtime.
#include "claynet/peerjs_signaling.hpp"

#include "rtc/callback_slot.hpp"
#include "signaling/peerjs_socket.hpp"

namespace claynet {

const char* toString(PeerJsErrorType type) {
  switch (type) {
    case PeerJsErrorType::BrowserIncompatible:
      return "browser-incompatible";
    case PeerJsErrorType::Disconnected:
      return "disconnected";
    case PeerJsErrorType::InvalidId:
      return "invalid-id";
    case PeerJsErrorType::InvalidKey:
      return "invalid-key";
    case PeerJsErrorType::Network:
      return "network";
    case PeerJsErrorType::PeerUnavailable:
      return "peer-unavailable";
    case PeerJsErrorType::SslUnavailable:
      return "ssl-unavailable";
    case PeerJsErrorType::ServerError:
      return "server-error";
    case PeerJsErrorType::SocketError:
      return "socket-error";
    case PeerJsErrorType::SocketClosed:
      return "socket-closed";
    case PeerJsErrorType::UnavailableId:
      return "unavailable-id";
    case PeerJsErrorType::WebRtc:
      return "webrtc";
    case PeerJsErrorType::NegotiationFailed:
      return "negotiation-failed";
    case PeerJsErrorType::ConnectionClosed:
      return "connection-closed";
    case PeerJsErrorType::NotOpenYet:
      return "not-open-yet";
    case PeerJsErrorType::MessageTooBig:
      return "message-too-big";
    case PeerJsErrorType::InvalidData:
      return "invalid-data";
    case PeerJsErrorType::PeerRejected:
      return "peer-rejected";
    case PeerJsErrorType::OfferRefused:
      return "offer-refused";
  }
  return "unknown";
}

const char* toString(PeerJsSignalingState state) {
  switch (state) {
    case PeerJsSignalingState::Idle:
      return "idle";
    case PeerJsSignalingState::Connecting:
      return "connecting";
    case PeerJsSignalingState::Open:
      return "open";
    case PeerJsSignalingState::Reconnecting:
      return "reconnecting";
    case PeerJsSignalingState::Closed:
      return "closed";
  }
  return "unknown";
}

namespace impl {

class PeerJsSignalingShared : public std::enable_shared_from_this<PeerJsSignalingShared> {
 public:
  explicit PeerJsSignalingShared(std::shared_ptr<RuntimeCore> c) : core(std::move(c)) {}

  std::shared_ptr<signaling::SignalingClient> clientCopy() const {
    std::lock_guard lock(mutex);
    return client;
  }

  void stop() {
    auto c = clientCopy();
    if (c) core->run([c] { c->stop(); });
    core->unregisterCloser(this);
  }

  const std::shared_ptr<RuntimeCore> core;
  mutable std::mutex mutex;
  std::shared_ptr<signaling::SignalingClient> client;
  bool destroyed = false;

  CallbackSlot<const std::string&> onOpen;
  CallbackSlot<const std::string&, const std::string&, const nlohmann::json&> onMessage;
  CallbackSlot<const PeerJsError&> onError;
  CallbackSlot<const std::string&> onDisconnected;
};

}  // namespace impl

PeerJsSignaling::PeerJsSignaling(Runtime& runtime)
    : shared_(std::make_shared<impl::PeerJsSignalingShared>(runtime.core())) {}

PeerJsSignaling::~PeerJsSignaling() {
  shared_->onOpen.clear();
  shared_->onMessage.clear();
  shared_->onError.clear();
  shared_->onDisconnected.clear();
  destroy();
}

Result PeerJsSignaling::open(const PeerJsServer& server, std::string id, std::string token) {
  PeerJsSignalingOptions o;
  o.server = server;
  o.id = std::move(id);
  o.token = std::move(token);
  return open(std::move(o));
}

Result PeerJsSignaling::open(PeerJsSignalingOptions options) {
  if (Result r = signaling::validateOptions(options); !r) return r;
  std::weak_ptr<impl::PeerJsSignalingShared> weak = shared_;
  auto core = shared_->core;
  signaling::SignalingClient::Handlers h;
  h.opened = [weak, core](const std::string& id) {
    core->deliver([weak, id] {
      if (auto s = weak.lock()) s->onOpen(id);
    });
  };
  h.message = [weak, core](const signaling::ServerMessage& m) {
    core->deliver([weak, type = m.typeText, src = m.src, payload = m.payload] {
      if (auto s = weak.lock()) s->onMessage(type, src, payload);
    });
  };
  h.error = [weak, core](const PeerJsError& e) {
    core->deliver([weak, e] {
      if (auto s = weak.lock()) s->onError(e);
    });
  };
  h.disconnected = [weak, core](const std::string& reason) {
    core->deliver([weak, reason] {
      if (auto s = weak.lock()) s->onDisconnected(reason);
    });
  };
  std::shared_ptr<signaling::SignalingClient> client;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->destroyed) return Result::failure("this PeerJsSignaling was destroyed");
    if (shared_->client) return Result::failure("this PeerJsSignaling is already open");
    client = std::make_shared<signaling::SignalingClient>(core, std::move(options), std::move(h));
    shared_->client = client;
  }
  core->registerCloser(shared_.get(), [client] { client->stop(); });
  core->post([client] { client->start(); });
  return {};
}

Result PeerJsSignaling::send(std::string_view type, const std::string& dst,
                             const nlohmann::json& payload) {
  if (type.empty()) return Result::failure("cannot send a PeerJS frame without a type");
  auto client = shared_->clientCopy();
  if (!client) return Result::failure("cannot send: open() has not been called");
  std::string frame = signaling::buildClientMessage(type, dst, payload);
  Result r;
  shared_->core->run([&] { r = client->send(std::move(frame)); });
  return r;
}

void PeerJsSignaling::destroy() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->destroyed = true;
  }
  shared_->stop();
}

std::string PeerJsSignaling::id() const {
  auto c = shared_->clientCopy();
  return c ? c->id() : std::string();
}

std::string PeerJsSignaling::token() const {
  auto c = shared_->clientCopy();
  return c ? c->token() : std::string();
}

PeerJsSignalingState PeerJsSignaling::state() const {
  auto c = shared_->clientCopy();
  return c ? c->state() : PeerJsSignalingState::Idle;
}

void PeerJsSignaling::onOpen(std::function<void(const std::string&)> cb) {
  shared_->onOpen.set(std::move(cb));
}
void PeerJsSignaling::onMessage(
    std::function<void(const std::string&, const std::string&, const nlohmann::json&)> cb) {
  shared_->onMessage.set(std::move(cb));
}
void PeerJsSignaling::onError(std::function<void(const PeerJsError&)> cb) {
  shared_->onError.set(std::move(cb));
}
void PeerJsSignaling::onDisconnected(std::function<void(const std::string&)> cb) {
  shared_->onDisconnected.set(std::move(cb));
}

}  // namespace claynet
