// Clayground's handshake (wire version 5, clayground-wire.md §2.2), sans-IO: the hello, welcome
// and refusal messages, the host's and the joiner's judgement of them, and the host's table of
// joiners whose channel is open but who are not admitted yet. Time is passed in; nothing here
// owns a socket, a thread or a clock.
//
// Older nodes (the seeds' protocol) send no hello and expect no welcome. claynet tells them apart
// as follows (Clayground itself refuses them):
// - host: a pending joiner whose first message on the reliable channel is not a hello, or that
//   opens a second PeerJS connection labelled "clay_state" (what a seed-era browser does), or
//   that says nothing for kLegacyHelloWaitMs, is a seed-era node; it is admitted as one unless
//   the host has an appId or a password, which such a node cannot present (then it is refused
//   as Clayground refuses it, incompatible-version).
// - joiner: a host whose first message is not "H" or "R" (a seed-era host pings or sends its
//   roster straight away) is a seed-era host; the join goes on without a welcome.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace claynet::network {

inline constexpr int kWireVersion = 5;
/// A host refuses a joiner whose hello has not come this long after its channel opened.
inline constexpr std::chrono::milliseconds kHelloTimeout{5000};
/// A refused joiner's connection closes this long after the refusal (Clayground: 200 ms).
inline constexpr std::chrono::milliseconds kRefusalCloseDelay{200};
/// A silent pending joiner counts as a seed-era node after this long (see the file comment): as
/// long as Clayground waits for a hello, so that a current joiner on a slow link (its hello
/// follows its channel's opening by a round trip, or several with losses) is never taken for a
/// seed-era one. Seed-era nodes usually show themselves at once (a ping, a clay_state link).
inline constexpr std::chrono::milliseconds kLegacyHelloWait{5000};

/// Clayground's joinRefused reasons.
enum class RefusalReason {
  IncompatibleVersion,
  IncompatibleApp,
  WrongPassword,
  HandshakeFailed,
  Refused
};
/// "incompatible-version", "incompatible-app", "wrong-password", "handshake-failed", "refused".
const char* toString(RefusalReason reason);

struct Refusal {
  RefusalReason reason = RefusalReason::Refused;
  std::string message;
  /// A code none of the above names (a newer host's), as the host sent it; `reason` is then
  /// Refused. Empty otherwise.
  std::string otherCode = {};
};
/// The reason as Clayground's joinRefused gives it: otherCode when set, else toString(reason).
std::string reasonCode(const Refusal& refusal);

/// {"t":"h","v":5,"app":…,"pw":…,"tok":…}
nlohmann::json makeHello(const std::string& appId, const std::string& password,
                         const std::string& clientToken);
/// {"t":"H","v":5,"host":…,"st":…} (st only when >= 0).
nlohmann::json makeWelcome(const std::string& hostId, double sessionMs);
/// {"t":"R","code":…,"r":…}
nlohmann::json makeRefusal(const Refusal& refusal);

/// True for a message of the handshake ("h", "H", "R").
bool isHandshakeMessage(const nlohmann::json& value);

/// Equal strings, in time that depends only on their lengths (Clayground compares passwords so).
bool constantTimeEquals(const std::string& a, const std::string& b);

/// The host's judgement of a joiner's first message (Clayground's judgeHello, in its order):
/// nullopt admits it, and `token` then holds its clientToken.
std::optional<Refusal> judgeHello(const nlohmann::json& first, const std::string& appId,
                                  const std::string& password, std::string& token);

/// The joiner's reading of the host's first message.
struct Reply {
  enum class Kind {
    Welcome,  ///< admitted; sessionMs is the welcome's st (-1 when absent)
    Refused,  ///< refusal holds the reason and the text
    Legacy,   ///< not a handshake message: a seed-era host
  };
  Kind kind = Kind::Legacy;
  Refusal refusal;
  std::string hostId;
  double sessionMs = -1;
};
/// Clayground's judgeReply, except that a message outside the handshake means a seed-era host
/// (Clayground refuses it with incompatible-version).
Reply judgeReply(const nlohmann::json& first, const std::string& linkPeer);

/// The host's joiners whose channel is open and who are not admitted yet.
class PendingJoiners {
 public:
  using Clock = std::chrono::steady_clock;

  /// What to do with a pending joiner.
  struct Decision {
    enum class Kind { Admit, AdmitLegacy, Refuse };
    Kind kind = Kind::Refuse;
    std::string id;
    std::string clientToken;  // Admit
    Refusal refusal;          // Refuse
  };

  /// legacyAllowed: seed-era joiners may be admitted (the host has no appId and no password).
  void configure(std::string appId, std::string password, bool legacyAllowed);

  /// The joiner's reliable channel opened at `now`. A decision when it showed a seed-era sign
  /// before.
  std::optional<Decision> opened(const std::string& id, Clock::time_point now);
  /// The joiner shows itself as seed-era (a "clay_state" connection). A decision when its channel
  /// is open already.
  std::optional<Decision> legacySign(const std::string& id);
  /// The joiner's first message on the reliable channel.
  Decision firstMessage(const std::string& id, const nlohmann::json& value);
  /// Decisions whose time has come; each joiner is decided once.
  std::vector<Decision> due(Clock::time_point now);
  /// The earliest time due() has something to say.
  std::optional<Clock::time_point> nextDeadline() const;

  bool pending(const std::string& id) const { return joiners_.count(id) != 0; }
  void forget(const std::string& id) {
    joiners_.erase(id);
    legacy_.erase(id);
  }
  void clear() {
    joiners_.clear();
    legacy_.clear();
  }

 private:
  Decision legacy(const std::string& id);

  std::string appId_, password_;
  bool legacyAllowed_ = true;
  std::map<std::string, Clock::time_point> joiners_;  // id -> when its channel opened
  std::map<std::string, bool> legacy_;                // ids that showed a seed-era sign early
};

}  // namespace claynet::network
