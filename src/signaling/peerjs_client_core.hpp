// Sans-IO state machines of the PeerJS client: registration, HEARTBEAT, reconnection with
// backoff (ClientCore), candidates that arrive before their OFFER (EarlyCandidates), and the
// rule that a connection's description goes out before its candidates (DescriptionFirst).
// Time comes in as arguments; actions come out as data. No sockets, no threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "claynet/peerjs_signaling.hpp"
#include "claynet/result.hpp"
#include "signaling/peerjs_message.hpp"

namespace claynet::signaling {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

struct ClientCoreConfig {
  std::string id;   ///< for error messages (ID-TAKEN)
  std::string key;  ///< for error messages (invalid key)
  std::chrono::milliseconds heartbeatInterval{5000};
  bool reconnect = true;
  std::chrono::milliseconds reconnectDelayMin{250};
  std::chrono::milliseconds reconnectDelayMax{10000};
  /// The npm server re-attaches an id registered with the same token without sending OPEN; a
  /// socket that stays silent this long after opening is taken as registered.
  std::chrono::milliseconds reattachGrace{1500};
  std::size_t maxQueued = 1024;
  /// A socket from which nothing (no frame, no pong) arrives this long is dead. 0: never.
  std::chrono::milliseconds silenceLimit{6000};
  uint64_t jitterSeed = 0;  ///< 0: seeded from the system's random source
  /// Sent before anything else on every new socket (a LAN code's {"id","secret"}); may be empty.
  std::string firstFrame;
};

struct ClientAction {
  enum class Kind {
    Connect,       ///< open a new WebSocket (the adapter knows the URL)
    SendText,      ///< `text` is a frame for the open socket
    CloseSocket,   ///< close the current socket (its close is then expected and ignored)
    Opened,        ///< registered; `text` is the id
    Message,       ///< `message` from the server for the application
    Error,         ///< `error`
    Disconnected,  ///< the registered connection was lost; `text` is why
  };
  Kind kind = Kind::Connect;
  std::string text;
  ServerMessage message;
  PeerJsError error;
};

/// Registration, heartbeat and reconnection of one PeerJS client.
///
/// Feed it what the socket does (socketOpened, socketText, socketFailed, socketClosed), call
/// timer() at nextDeadline(), and carry out takeActions() in order.
class ClientCore {
 public:
  enum class State { Idle, Connecting, AwaitingOpen, Open, WaitingToReconnect, Closed };

  explicit ClientCore(ClientCoreConfig config);

  /// The id, when it was fetched from the server after construction.
  void setId(std::string id) { config_.id = std::move(id); }
  /// First connection attempt.
  void start(TimePoint now);
  /// The WebSocket handshake completed.
  void socketOpened(TimePoint now);
  /// A text frame arrived.
  void socketText(TimePoint now, std::string_view text);
  /// Something else arrived (a pong to the adapter's pings): the connection is alive.
  void socketHeard(TimePoint now);
  /// The WebSocket could not be opened (`reason` says why, including the URL). `fatal` (say, a
  /// certificate that is not trusted) stops instead of retrying.
  void socketFailed(TimePoint now, const std::string& reason, bool fatal = false);
  /// The open WebSocket closed.
  void socketClosed(TimePoint now, const std::string& reason);
  /// Runs whatever is due: heartbeats, the re-attach grace, a reconnection attempt.
  void timer(TimePoint now);
  /// Sends a frame now when registered, else queues it (bounded).
  Result send(std::string frame);
  /// Stops for good: closes the socket if there is one, no reconnection.
  void stop();

  std::vector<ClientAction> takeActions();
  std::optional<TimePoint> nextDeadline() const;
  State state() const { return state_; }
  bool everRegistered() const { return everRegistered_; }
  std::size_t queued() const { return queue_.size(); }
  /// Reconnection attempts since the last successful registration.
  unsigned attempts() const { return attempts_; }
  /// The delay that the next reconnection would wait, before jitter (for tests).
  std::chrono::milliseconds baseDelay(unsigned attempt) const;

 private:
  void push(ClientAction::Kind kind, std::string text = {});
  void pushError(PeerJsErrorType type, std::string message, bool willRetry = false);
  void becomeOpen(TimePoint now);
  void lost(TimePoint now, const std::string& reason, bool wasOpen, bool fatal = false);
  void scheduleReconnect(TimePoint now);
  void fatal();
  // Closed for good: no timers, nothing queued.
  void close();
  double nextRandom();

  ClientCoreConfig config_;
  State state_ = State::Idle;
  bool everRegistered_ = false;
  bool reportedConnectFailure_ = false;
  unsigned attempts_ = 0;
  std::optional<TimePoint> heartbeatAt_;
  std::optional<TimePoint> silentUntil_;  // when an open socket that hears nothing is dead
  std::optional<TimePoint> graceUntil_;
  std::optional<TimePoint> reconnectAt_;
  std::deque<std::string> queue_;
  std::vector<ClientAction> actions_;
  uint64_t rng_;
};

/// Candidates that arrive for a connection id before its OFFER, held until the OFFER comes.
/// Bounded in candidates per connection, connections held, and age.
class EarlyCandidates {
 public:
  struct Limits {
    std::size_t maxPerConnection = 64;
    std::size_t maxConnections = 64;
    std::chrono::milliseconds maxAge{60000};
  };
  EarlyCandidates() = default;
  explicit EarlyCandidates(Limits limits) : limits_(limits) {}

  /// Holds one CANDIDATE payload. False when a limit dropped it (the oldest connection's
  /// candidates make room for a new connection; a full connection drops the new candidate).
  bool hold(TimePoint now, const std::string& src, const std::string& connectionId,
            nlohmann::json payload);
  /// Removes and returns the held payloads of that connection, in arrival order.
  std::vector<nlohmann::json> take(const std::string& src, const std::string& connectionId);
  /// Forgets everything from `src` (it left).
  void dropPeer(const std::string& src);
  /// Forgets connections whose first candidate is older than maxAge.
  void expire(TimePoint now);
  std::size_t connections() const { return held_.size(); }
  std::size_t candidates() const;

 private:
  struct Held {
    TimePoint since;
    std::vector<nlohmann::json> payloads;
  };
  Limits limits_{};
  std::map<std::pair<std::string, std::string>, Held> held_;
};

/// The order of one connection's outgoing signaling: its description (OFFER or ANSWER) before
/// any of its candidates, as an offering browser rejects a candidate that beats the answer.
class DescriptionFirst {
 public:
  /// A local candidate: returned at once when the description has gone out, else held.
  std::vector<nlohmann::json> candidate(nlohmann::json payload);
  /// The description went out: returns the held candidates, in order.
  std::vector<nlohmann::json> descriptionSent();
  bool sent() const { return sent_; }
  std::size_t held() const { return held_.size(); }

 private:
  bool sent_ = false;
  std::vector<nlohmann::json> held_;
};

}  // namespace claynet::signaling
