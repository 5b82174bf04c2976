// Names of STUN and TURN servers, resolved in the background and remembered for the process.
//
// A connection must never wait for a name it may not need (host candidates connect a LAN without
// any server), yet a server given by name must be used once its address is known. Resolving ahead
// (prefetch when a peer opens) and remembering answers makes the name usually known by the time a
// connection gathers.
#pragma once

#include <gio/gio.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace claynet::rtc {

struct ResolvedName {
  bool ok = false;
  std::string address;  // numeric; IPv4 preferred
  std::string error;    // why it did not resolve
};

class IceServerResolver {
 public:
  /// A fresh answer for `host`, if there is one (answers are kept 60 s, failures 10 s).
  static std::optional<ResolvedName> cached(const std::string& host);

  /// Looks `host` up on the calling thread's default main context and stores the answer; `done`
  /// (may be empty) runs there with it, unless `cancel` (may be null) was cancelled first.
  static void resolve(const std::string& host, GCancellable* cancel,
                      std::function<void(const ResolvedName&)> done);

  /// When the oldest lookup of `host` still running began, if one is running.
  static std::optional<std::chrono::steady_clock::time_point> lookingUpSince(
      const std::string& host);

  /// Forgets every answer (tests).
  static void clear();
};

}  // namespace claynet::rtc
