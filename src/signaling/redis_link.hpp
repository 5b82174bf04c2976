// The Redis side of claynet-signal's cluster mode, as an I/O adapter: two hiredis async
// connections driven from a GLib main context (one for commands, one subscribed to this
// instance's channel), reconnecting by themselves. It knows nothing of signaling: commands and
// replies are ClusterCore's (signal_cluster.hpp).
#pragma once

#include <glib.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "signaling/signal_cluster.hpp"

namespace claynet::signaling {

/// Where Redis is: parsed from "redis://[user:password@]host:port[/db]".
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;  ///< empty: AUTH with the password alone (or no AUTH without one)
  std::string password;
  int db = 0;
  std::string text() const { return host + ":" + std::to_string(port); }
};

/// Parses a Redis URL. Returns an empty string on success, else what is wrong with it.
std::string parseRedisUrl(std::string_view url, RedisEndpoint& out);

/// Connects once, blocking for at most `timeout`: AUTH, SELECT, PING. Returns an empty string
/// when Redis answered, else why not ("Connection refused", "WRONGPASS ...").
std::string probeRedis(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout);

class RedisLink {
 public:
  struct Events {
    std::function<void()> up;                      ///< scripts loaded, channel subscribed
    std::function<void(const std::string&)> down;  ///< why; commands in flight are lost
    std::function<void(std::uint64_t cookie, const RedisValue&)> reply;
    std::function<void(std::string_view payload)> message;
  };
  /// Callbacks run on `context`'s thread. Nothing happens until start().
  RedisLink(GMainContext* context, RedisEndpoint endpoint, std::string channel, Events events,
            std::function<void(const std::string&)> log);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  void start();
  void stop();
  bool up() const { return up_; }
  /// Sends on the command connection. False (and nothing sent) when the link is not up.
  bool send(const RedisCommand& command);
  /// Writes what the command connection has buffered, without waiting (used when stopping).
  void flushNow();
  /// Drops both connections as if they had failed (`why` is logged) and reconnects.
  void reset(const std::string& why) { teardown(why); }

  struct Context;  // one hiredis connection and its GSource

 private:
  void connect();
  void teardown(const std::string& why);
  void scheduleReconnect();
  void checkReady();
  static gboolean onReconnect(gpointer self);
  static gboolean onConnectTimeout(gpointer self);
  void cancelConnectTimeout();

  GMainContext* context_;
  RedisEndpoint endpoint_;
  std::string channel_;
  Events events_;
  std::function<void(const std::string&)> log_;
  std::unique_ptr<Context> cmd_;
  std::unique_ptr<Context> sub_;
  GSource* reconnect_ = nullptr;
  GSource* connectTimeout_ = nullptr;  // a connection attempt that gets no answer is given up
  std::uint64_t generation_ = 0;
  bool running_ = false;
  bool up_ = false;
  bool cmdReady_ = false;
  bool subReady_ = false;
  bool wasUp_ = false;
  int failures_ = 0;
  std::chrono::steady_clock::time_point downSince_{};
  std::string lastWhy_;
};

}  // namespace claynet::signaling
