#include "signaling/peerjs_client_core.hpp"

#include <algorithm>
#include <random>

namespace claynet::signaling {

namespace {

// The npm server's message for a wrong key (protocols.md §1).
constexpr std::string_view kInvalidKeyText = "Invalid key provided";
constexpr std::string_view kMissingParamsText = "No id, token, or key supplied to websocket server";

void minInto(std::optional<TimePoint>& acc, const std::optional<TimePoint>& t) {
  if (t && (!acc || *t < *acc)) acc = t;
}

}  // namespace

ClientCore::ClientCore(ClientCoreConfig config) : config_(std::move(config)) {
  rng_ = config_.jitterSeed;
  if (rng_ == 0)
    rng_ = (static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
  if (config_.heartbeatInterval <= std::chrono::milliseconds(0))
    config_.heartbeatInterval = std::chrono::milliseconds(5000);
  if (config_.reconnectDelayMin <= std::chrono::milliseconds(0))
    config_.reconnectDelayMin = std::chrono::milliseconds(1);
  config_.reconnectDelayMax = std::max(config_.reconnectDelayMax, config_.reconnectDelayMin);
}

double ClientCore::nextRandom() {
  // splitmix64: enough for jitter, and reproducible with a fixed seed.
  uint64_t z = (rng_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) / static_cast<double>(1ull << 53);
}

void ClientCore::push(ClientAction::Kind kind, std::string text) {
  ClientAction a;
  a.kind = kind;
  a.text = std::move(text);
  actions_.push_back(std::move(a));
}

void ClientCore::pushError(PeerJsErrorType type, std::string message, bool willRetry) {
  ClientAction a;
  a.kind = ClientAction::Kind::Error;
  a.error = PeerJsError{type, std::move(message), willRetry};
  actions_.push_back(std::move(a));
}

std::vector<ClientAction> ClientCore::takeActions() {
  std::vector<ClientAction> out;
  out.swap(actions_);
  return out;
}

void ClientCore::start(TimePoint) {
  if (state_ != State::Idle) return;
  state_ = State::Connecting;
  push(ClientAction::Kind::Connect);
}

void ClientCore::socketOpened(TimePoint now) {
  if (state_ != State::Connecting) return;
  state_ = State::AwaitingOpen;
  if (!config_.firstFrame.empty()) {
    ClientAction a;
    a.kind = ClientAction::Kind::SendText;
    a.text = config_.firstFrame;
    actions_.push_back(std::move(a));
  }
  graceUntil_ = now + config_.reattachGrace;
  heartbeatAt_ = now + config_.heartbeatInterval;
  socketHeard(now);
}

void ClientCore::socketHeard(TimePoint now) {
  if (state_ != State::AwaitingOpen && state_ != State::Open) return;
  if (config_.silenceLimit > std::chrono::milliseconds(0))
    silentUntil_ = now + config_.silenceLimit;
}

void ClientCore::becomeOpen(TimePoint) {
  state_ = State::Open;
  everRegistered_ = true;
  attempts_ = 0;
  graceUntil_.reset();
  push(ClientAction::Kind::Opened, config_.id);
  while (!queue_.empty()) {
    push(ClientAction::Kind::SendText, std::move(queue_.front()));
    queue_.pop_front();
  }
}

void ClientCore::socketText(TimePoint now, std::string_view text) {
  if (state_ != State::AwaitingOpen && state_ != State::Open) return;
  socketHeard(now);
  ServerMessage m;
  if (Result r = parseServerMessage(text, m); !r) {
    pushError(PeerJsErrorType::ServerError, "ignored a frame from the server: " + r.error());
    return;
  }
  switch (m.type) {
    case ServerMessage::Type::Open:
      if (state_ == State::AwaitingOpen) becomeOpen(now);
      return;
    case ServerMessage::Type::Heartbeat:
      return;
    case ServerMessage::Type::IdTaken:
      if (everRegistered_ && config_.reconnect) {
        // The id was ours: the server still holds our old socket. Clayground takes this as
        // "try again"; the old socket times out on the server.
        pushError(PeerJsErrorType::UnavailableId,
                  "ID \"" + config_.id + "\" is still taken by our old connection (will retry)",
                  true);
        push(ClientAction::Kind::CloseSocket);
        scheduleReconnect(now);
        return;
      }
      pushError(PeerJsErrorType::UnavailableId, "ID \"" + config_.id + "\" is taken");
      fatal();
      return;
    case ServerMessage::Type::Error: {
      std::string msg = errorText(m);
      if (msg.empty()) msg = "the server sent ERROR without a message";
      if (msg == kInvalidKeyText) {
        pushError(PeerJsErrorType::InvalidKey,
                  "API KEY \"" + config_.key + "\" is invalid (server: " + msg + ")");
        fatal();
      } else if (msg == kMissingParamsText || !everRegistered_ || !config_.reconnect) {
        pushError(PeerJsErrorType::ServerError, msg);
        fatal();
      } else {
        // A refusal while re-registering (say, the concurrent limit) may pass: try again later.
        pushError(PeerJsErrorType::ServerError, msg + " (will retry)", true);
        push(ClientAction::Kind::CloseSocket);
        scheduleReconnect(now);
      }
      return;
    }
    default:
      // A frame other than OPEN first means the server re-attached our id silently.
      if (state_ == State::AwaitingOpen) becomeOpen(now);
      ClientAction a;
      a.kind = ClientAction::Kind::Message;
      a.message = std::move(m);
      actions_.push_back(std::move(a));
      return;
  }
}

void ClientCore::socketFailed(TimePoint now, const std::string& reason, bool fatal) {
  if (state_ != State::Connecting) return;
  lost(now, reason, false, fatal);
}

void ClientCore::socketClosed(TimePoint now, const std::string& reason) {
  if (state_ != State::AwaitingOpen && state_ != State::Open && state_ != State::Connecting) return;
  lost(now, reason, state_ == State::Open);
}

void ClientCore::lost(TimePoint now, const std::string& reason, bool wasOpen, bool fatal) {
  heartbeatAt_.reset();
  graceUntil_.reset();
  silentUntil_.reset();
  if (wasOpen) push(ClientAction::Kind::Disconnected, reason);
  if (!config_.reconnect || fatal) {
    pushError(PeerJsErrorType::Network,
              wasOpen ? "lost the connection to the server: " + reason : reason);
    state_ = State::Closed;
    queue_.clear();
    return;
  }
  // Report the first failure to reach the server at all; retries after it stay quiet.
  if (!wasOpen && !everRegistered_ && !reportedConnectFailure_) {
    reportedConnectFailure_ = true;
    pushError(PeerJsErrorType::Network, reason + " (retrying)");
  }
  scheduleReconnect(now);
}

std::chrono::milliseconds ClientCore::baseDelay(unsigned attempt) const {
  auto delay = config_.reconnectDelayMin;
  for (unsigned i = 0; i < attempt && delay < config_.reconnectDelayMax; ++i) delay *= 2;
  return std::min(delay, config_.reconnectDelayMax);
}

void ClientCore::scheduleReconnect(TimePoint now) {
  heartbeatAt_.reset();
  graceUntil_.reset();
  state_ = State::WaitingToReconnect;
  auto base = baseDelay(attempts_);
  // Jitter of ±25% so that many clients of a restarted server do not come back in lockstep.
  auto jittered = std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(base.count()) * (0.75 + 0.5 * nextRandom())));
  jittered = std::clamp(jittered, std::chrono::milliseconds(1), config_.reconnectDelayMax);
  if (attempts_ < 1000) ++attempts_;
  reconnectAt_ = now + jittered;
}

void ClientCore::fatal() {
  push(ClientAction::Kind::CloseSocket);
  close();
}

void ClientCore::close() {
  state_ = State::Closed;
  heartbeatAt_.reset();
  graceUntil_.reset();
  silentUntil_.reset();
  reconnectAt_.reset();
  queue_.clear();
}

void ClientCore::timer(TimePoint now) {
  if (state_ == State::WaitingToReconnect && reconnectAt_ && now >= *reconnectAt_) {
    reconnectAt_.reset();
    state_ = State::Connecting;
    push(ClientAction::Kind::Connect);
    return;
  }
  if (state_ == State::AwaitingOpen || state_ == State::Open) {
    if (silentUntil_ && now >= *silentUntil_) {
      push(ClientAction::Kind::CloseSocket);
      lost(now,
           "nothing came from the server for " + std::to_string(config_.silenceLimit.count()) +
               " ms, not even an answer to a ping (the network changed or the path is gone)",
           state_ == State::Open);
      return;
    }
    if (heartbeatAt_ && now >= *heartbeatAt_) {
      push(ClientAction::Kind::SendText, buildHeartbeat());
      // From now, not from the missed deadline: no burst of heartbeats after a stall.
      heartbeatAt_ = now + config_.heartbeatInterval;
    }
    if (state_ == State::AwaitingOpen && graceUntil_ && now >= *graceUntil_) becomeOpen(now);
  }
}

Result ClientCore::send(std::string frame) {
  switch (state_) {
    case State::Closed:
      return Result::failure("the signaling connection is closed");
    case State::Open:
      push(ClientAction::Kind::SendText, std::move(frame));
      return {};
    default:
      if (queue_.size() >= config_.maxQueued)
        return Result::failure("the signaling queue is full (" + std::to_string(config_.maxQueued) +
                               " frames wait for the server connection)");
      queue_.push_back(std::move(frame));
      return {};
  }
}

void ClientCore::stop() {
  if (state_ == State::Connecting || state_ == State::AwaitingOpen || state_ == State::Open)
    push(ClientAction::Kind::CloseSocket);
  close();
}

std::optional<TimePoint> ClientCore::nextDeadline() const {
  std::optional<TimePoint> at;
  if (state_ == State::AwaitingOpen || state_ == State::Open) {
    minInto(at, heartbeatAt_);
    minInto(at, silentUntil_);
  }
  if (state_ == State::AwaitingOpen) minInto(at, graceUntil_);
  if (state_ == State::WaitingToReconnect) minInto(at, reconnectAt_);
  return at;
}

// ---- EarlyCandidates ----

bool EarlyCandidates::hold(TimePoint now, const std::string& src, const std::string& connectionId,
                           nlohmann::json payload) {
  expire(now);
  auto key = std::make_pair(src, connectionId);
  auto it = held_.find(key);
  if (it == held_.end()) {
    if (limits_.maxConnections == 0) return false;
    while (held_.size() >= limits_.maxConnections) {
      auto oldest = std::min_element(held_.begin(), held_.end(), [](const auto& a, const auto& b) {
        return a.second.since < b.second.since;
      });
      held_.erase(oldest);
    }
    it = held_.emplace(key, Held{now, {}}).first;
  }
  if (it->second.payloads.size() >= limits_.maxPerConnection) return false;
  it->second.payloads.push_back(std::move(payload));
  return true;
}

std::vector<nlohmann::json> EarlyCandidates::take(const std::string& src,
                                                  const std::string& connectionId) {
  auto it = held_.find(std::make_pair(src, connectionId));
  if (it == held_.end()) return {};
  auto out = std::move(it->second.payloads);
  held_.erase(it);
  return out;
}

void EarlyCandidates::dropPeer(const std::string& src) {
  std::erase_if(held_, [&](const auto& e) { return e.first.first == src; });
}

void EarlyCandidates::expire(TimePoint now) {
  std::erase_if(held_, [&](const auto& e) { return now - e.second.since > limits_.maxAge; });
}

std::size_t EarlyCandidates::candidates() const {
  std::size_t n = 0;
  for (const auto& e : held_) n += e.second.payloads.size();
  return n;
}

// ---- DescriptionFirst ----

std::vector<nlohmann::json> DescriptionFirst::candidate(nlohmann::json payload) {
  std::vector<nlohmann::json> out;
  if (sent_) {
    out.push_back(std::move(payload));
  } else {
    held_.push_back(std::move(payload));
  }
  return out;
}

std::vector<nlohmann::json> DescriptionFirst::descriptionSent() {
  sent_ = true;
  std::vector<nlohmann::json> out;
  out.swap(held_);
  return out;
}

}  // namespace claynet::signaling
