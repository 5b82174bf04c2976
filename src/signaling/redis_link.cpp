#include "signaling/redis_link.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sys/ioctl.h>

#include <charconv>
#include <utility>
#include <vector>

namespace claynet::signaling {

namespace {

constexpr guint kReconnectMs = 1000;
constexpr guint kConnectTimeoutMs = 5000;  // hiredis's async connect has no timeout of its own
constexpr int kReadsPerDispatch = 256;     // 4 MiB at most, so that clients are served too

RedisValue toValue(const redisReply* r) {
  RedisValue v;
  if (!r) {
    v.kind = RedisValue::Kind::Error;
    v.str = "connection lost";
    return v;
  }
  switch (r->type) {
    case REDIS_REPLY_STRING:
      v.kind = RedisValue::Kind::String;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      v.kind = RedisValue::Kind::Status;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.kind = RedisValue::Kind::Error;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      v.kind = RedisValue::Kind::Integer;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      v.kind = RedisValue::Kind::Array;
      v.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) v.elements.push_back(toValue(r->element[i]));
      break;
    default:
      v.kind = RedisValue::Kind::Nil;
  }
  return v;
}

bool parsePort(std::string_view s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out > 0 && out < 65536;
}

// The commands that prepare a connection: AUTH and SELECT.
std::vector<std::vector<std::string>> preamble(const RedisEndpoint& e) {
  std::vector<std::vector<std::string>> out;
  if (!e.password.empty()) {
    if (e.user.empty())
      out.push_back({"AUTH", e.password});
    else
      out.push_back({"AUTH", e.user, e.password});
  }
  if (e.db != 0) out.push_back({"SELECT", std::to_string(e.db)});
  return out;
}

int sendArgv(redisAsyncContext* ac, redisCallbackFn* fn, void* privdata,
             const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return redisAsyncCommandArgv(ac, fn, privdata, static_cast<int>(args.size()), argv.data(),
                               lens.data());
}

}  // namespace

std::string parseRedisUrl(std::string_view url, RedisEndpoint& out) {
  out = RedisEndpoint{};
  if (url.rfind("rediss://", 0) == 0)
    return "TLS to Redis (rediss://) is not supported: Debian bookworm's hiredis (0.14) has no "
           "TLS; put Redis on a private network or behind a TLS tunnel (e.g. stunnel) and use "
           "redis://";
  if (url.rfind("redis://", 0) != 0) return "expected redis://[user:password@]host:port[/db]";
  std::string_view rest = url.substr(8);
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = cred.find(':');
    if (colon == std::string_view::npos) {
      out.password = std::string(cred);  // redis://password@host, as redis-cli reads it
    } else {
      out.user = std::string(cred.substr(0, colon));
      out.password = std::string(cred.substr(colon + 1));
    }
  }
  std::string_view hostPort = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostPort = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), out.db);
      if (ec != std::errc() || p != db.data() + db.size() || out.db < 0)
        return "the database number '" + std::string(db) + "' is not a number";
    }
  }
  std::string_view host = hostPort, port;
  if (!hostPort.empty() && hostPort.front() == '[') {
    auto close = hostPort.find(']');
    if (close == std::string_view::npos) return "unterminated [ in the host";
    host = hostPort.substr(1, close - 1);
    if (close + 1 < hostPort.size() && hostPort[close + 1] == ':')
      port = hostPort.substr(close + 2);
  } else if (auto colon = hostPort.rfind(':'); colon != std::string_view::npos) {
    host = hostPort.substr(0, colon);
    port = hostPort.substr(colon + 1);
  }
  if (host.empty()) return "no host";
  out.host = std::string(host);
  if (!port.empty() && !parsePort(port, out.port))
    return "the port '" + std::string(port) + "' is not a port number";
  return {};
}

std::string probeRedis(const RedisEndpoint& e, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  redisContext* c = redisConnectWithTimeout(e.host.c_str(), e.port, tv);
  if (!c) return "out of memory";
  std::string error;
  if (c->err) {
    error = c->errstr;
  } else {
    redisSetTimeout(c, tv);
    auto commands = preamble(e);
    commands.push_back({"PING"});
    for (const auto& args : commands) {
      std::vector<const char*> argv;
      std::vector<std::size_t> lens;
      for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      auto* r = static_cast<redisReply*>(
          redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
      if (!r) {
        error = c->errstr[0] ? c->errstr : "no answer";
        break;
      }
      if (r->type == REDIS_REPLY_ERROR) error = args[0] + ": " + std::string(r->str, r->len);
      freeReplyObject(r);
      if (!error.empty()) break;
    }
  }
  redisFree(c);
  return error;
}

// ---- one hiredis connection on a GLib main context ----

struct RedisLink::Context {
  struct Source {
    GSource source;
    redisAsyncContext* ac;
    gpointer tag;
    GIOCondition events;
  };
  RedisLink* link = nullptr;
  std::uint64_t generation = 0;
  bool subscriber = false;
  redisAsyncContext* ac = nullptr;
  Source* source = nullptr;

  static gboolean dispatch(GSource* s, GSourceFunc, gpointer) {
    auto* src = reinterpret_cast<Source*>(s);
    GIOCondition rev = g_source_query_unix_fd(s, src->tag);
    // Either call may free the context (an error disconnects it): cleanup() clears src->ac.
    if (src->ac && (rev & (G_IO_OUT | G_IO_ERR | G_IO_HUP)) && (src->events & G_IO_OUT))
      redisAsyncHandleWrite(src->ac);
    if (src->ac && (rev & (G_IO_IN | G_IO_ERR | G_IO_HUP))) {
      // hiredis reads 16 KiB per call; a batch published to this instance is often far more.
      // Reading it all now spares a main-loop iteration (a poll over every client) per 16 KiB.
      redisAsyncHandleRead(src->ac);
      for (int i = 0; i < kReadsPerDispatch && src->ac; ++i) {
        int pending = 0;
        if (ioctl(src->ac->c.fd, FIONREAD, &pending) != 0 || pending <= 0) break;
        redisAsyncHandleRead(src->ac);
      }
    }
    return G_SOURCE_CONTINUE;
  }
  static void modify(void* data, GIOCondition add, GIOCondition remove) {
    auto* src = static_cast<Source*>(data);
    src->events = static_cast<GIOCondition>((src->events | add) & ~remove);
    if (src->tag) g_source_modify_unix_fd(&src->source, src->tag, src->events);
  }
  static void addRead(void* d) { modify(d, G_IO_IN, GIOCondition(0)); }
  static void delRead(void* d) { modify(d, GIOCondition(0), G_IO_IN); }
  static void addWrite(void* d) { modify(d, G_IO_OUT, GIOCondition(0)); }
  static void delWrite(void* d) { modify(d, GIOCondition(0), G_IO_OUT); }
  // hiredis is done with the connection (it may be inside our dispatch): drop its reference.
  static void cleanup(void* d) {
    auto* src = static_cast<Source*>(d);
    src->ac = nullptr;
    if (src->tag && !g_source_is_destroyed(&src->source))
      g_source_remove_unix_fd(&src->source, src->tag);
    src->tag = nullptr;
    g_source_destroy(&src->source);
    g_source_unref(&src->source);
  }

  bool open(const RedisEndpoint& e, GMainContext* context, std::string& error) {
    ac = redisAsyncConnect(e.host.c_str(), e.port);
    if (!ac) {
      error = "out of memory";
      return false;
    }
    if (ac->err) {
      error = ac->errstr;
      redisAsyncFree(ac);
      ac = nullptr;
      return false;
    }
    static GSourceFuncs funcs = {nullptr, nullptr, &Context::dispatch, nullptr, nullptr, nullptr};
    source = reinterpret_cast<Source*>(g_source_new(&funcs, sizeof(Source)));
    source->ac = ac;
    source->events = GIOCondition(0);
    source->tag = g_source_add_unix_fd(&source->source, ac->c.fd, GIOCondition(0));
    ac->ev.addRead = &Context::addRead;
    ac->ev.delRead = &Context::delRead;
    ac->ev.addWrite = &Context::addWrite;
    ac->ev.delWrite = &Context::delWrite;
    ac->ev.cleanup = &Context::cleanup;
    ac->ev.data = g_source_ref(&source->source);  // released by cleanup()
    ac->data = this;
    redisAsyncSetConnectCallback(ac, &Context::onConnect);
    redisAsyncSetDisconnectCallback(ac, &Context::onDisconnect);
    g_source_attach(&source->source, context);
    return true;
  }

  // Frees the hiredis context (deferred by hiredis when inside one of its callbacks); the
  // callbacks it still runs see a context that is no longer the link's and do nothing.
  void close() {
    if (ac) {
      ac->data = nullptr;
      redisAsyncFree(ac);
      ac = nullptr;
    }
    if (source) {
      g_source_destroy(&source->source);
      g_source_unref(&source->source);
      source = nullptr;
    }
  }

  static Context* of(const redisAsyncContext* ac) {
    auto* c = static_cast<Context*>(ac->data);
    return c && c->link && c->generation == c->link->generation_ ? c : nullptr;
  }
  static void onConnect(const redisAsyncContext* ac, int status) {
    if (status == REDIS_OK) return;
    if (auto* c = of(ac)) {
      c->ac = nullptr;  // hiredis frees it after this callback
      const_cast<redisAsyncContext*>(ac)->data = nullptr;
      c->link->teardown(ac->errstr[0] ? ac->errstr : "cannot connect");
    }
  }
  static void onDisconnect(const redisAsyncContext* ac, int status) {
    (void)status;
    if (auto* c = of(ac)) {
      c->ac = nullptr;
      const_cast<redisAsyncContext*>(ac)->data = nullptr;
      c->link->teardown(ac->errstr[0] ? ac->errstr : "the connection was closed");
    }
  }
};

namespace {

// privdata for preamble commands: which step failed, to say so.
struct Step {
  RedisLink::Context* context;
  std::uint64_t generation;
  std::string what;
};

}  // namespace

RedisLink::RedisLink(GMainContext* context, RedisEndpoint endpoint, std::string channel,
                     Events events, std::function<void(const std::string&)> log)
    : context_(context),
      endpoint_(std::move(endpoint)),
      channel_(std::move(channel)),
      events_(std::move(events)),
      log_(std::move(log)) {}

RedisLink::~RedisLink() { stop(); }

void RedisLink::start() {
  if (running_) return;
  running_ = true;
  connect();
}

void RedisLink::stop() {
  running_ = false;
  ++generation_;
  cancelConnectTimeout();
  if (reconnect_) {
    g_source_destroy(reconnect_);
    g_clear_pointer(&reconnect_, g_source_unref);
  }
  if (cmd_) cmd_->close();
  if (sub_) sub_->close();
  cmd_.reset();
  sub_.reset();
  up_ = false;
}

void RedisLink::connect() {
  ++generation_;
  cmdReady_ = subReady_ = false;
  cmd_ = std::make_unique<Context>();
  sub_ = std::make_unique<Context>();
  cmd_->link = sub_->link = this;
  cmd_->generation = sub_->generation = generation_;
  sub_->subscriber = true;
  std::string error;
  if (!cmd_->open(endpoint_, context_, error) || !sub_->open(endpoint_, context_, error)) {
    teardown(error);
    return;
  }
  // A failed step fails the connection: it is torn down and tried again later.
  auto step = [](redisAsyncContext* ac, void* r, void* priv) {
    auto* s = static_cast<Step*>(priv);
    auto* reply = static_cast<redisReply*>(r);
    Context* c = ac ? Context::of(ac) : nullptr;
    if (c && s->generation == c->generation && reply) {
      if (reply->type == REDIS_REPLY_ERROR) {
        c->link->teardown(s->what + " failed: " + std::string(reply->str, reply->len));
      } else if (s->what == "ready") {
        c->link->cmdReady_ = true;
        c->link->checkReady();
      }
    }
    delete s;
  };
  for (const auto& args : preamble(endpoint_)) {
    sendArgv(cmd_->ac, step, new Step{cmd_.get(), generation_, args[0]}, args);
    sendArgv(sub_->ac, step, new Step{sub_.get(), generation_, args[0]}, args);
  }
  for (const auto& s : ClusterCore::scripts())
    sendArgv(cmd_->ac, step,
             new Step{cmd_.get(), generation_, "SCRIPT LOAD " + std::string(s.name)},
             {"SCRIPT", "LOAD", std::string(s.source)});
  sendArgv(cmd_->ac, step, new Step{cmd_.get(), generation_, "ready"}, {"PING"});
  auto onMessage = [](redisAsyncContext* ac, void* r, void*) {
    auto* reply = static_cast<redisReply*>(r);
    Context* c = ac ? Context::of(ac) : nullptr;
    if (!c || !reply) return;
    if (reply->type == REDIS_REPLY_ERROR) {
      c->link->teardown("SUBSCRIBE failed: " + std::string(reply->str, reply->len));
      return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
    std::string_view kind(reply->element[0]->str, reply->element[0]->len);
    if (kind == "subscribe") {
      c->link->subReady_ = true;
      c->link->checkReady();
    } else if (kind == "message" && reply->element[2]->type == REDIS_REPLY_STRING) {
      c->link->events_.message(std::string_view(reply->element[2]->str, reply->element[2]->len));
    }
  };
  sendArgv(sub_->ac, onMessage, nullptr, {"SUBSCRIBE", channel_});
  cancelConnectTimeout();
  connectTimeout_ = g_timeout_source_new(kConnectTimeoutMs);
  g_source_set_callback(connectTimeout_, &RedisLink::onConnectTimeout, this, nullptr);
  g_source_attach(connectTimeout_, context_);
}

void RedisLink::cancelConnectTimeout() {
  if (!connectTimeout_) return;
  g_source_destroy(connectTimeout_);
  g_clear_pointer(&connectTimeout_, g_source_unref);
}

gboolean RedisLink::onConnectTimeout(gpointer data) {
  auto* self = static_cast<RedisLink*>(data);
  g_clear_pointer(&self->connectTimeout_, g_source_unref);
  if (!self->up_)
    self->teardown("no answer within " + std::to_string(kConnectTimeoutMs / 1000) + " s");
  return G_SOURCE_REMOVE;
}

void RedisLink::checkReady() {
  if (up_ || !cmdReady_ || !subReady_) return;
  up_ = true;
  cancelConnectTimeout();
  if (wasUp_) {
    auto down = std::chrono::duration<double>(std::chrono::steady_clock::now() - downSince_);
    log_("redis: reconnected to " + endpoint_.text() + " after " +
         std::to_string(static_cast<int>(down.count() + 0.5)) + " s");
  } else {
    log_("redis: connected to " + endpoint_.text() + " (channel " + channel_ + ")");
  }
  wasUp_ = true;
  failures_ = 0;
  events_.up();
}

void RedisLink::teardown(const std::string& why) {
  if (!running_) return;
  const bool wasUp = up_;
  up_ = false;
  ++generation_;  // every callback still to come from the old connections is ignored
  cancelConnectTimeout();
  if (cmd_) cmd_->close();
  if (sub_) sub_->close();
  if (wasUp) {
    downSince_ = std::chrono::steady_clock::now();
    log_("redis: lost the connection to " + endpoint_.text() + " (" + why +
         "); reconnecting every " + std::to_string(kReconnectMs / 1000) + " s");
  } else if (failures_ == 0 || why != lastWhy_ || failures_ % 30 == 0) {
    log_("redis: cannot connect to " + endpoint_.text() + " (" + why + "); retrying every " +
         std::to_string(kReconnectMs / 1000) + " s");
  }
  lastWhy_ = why;
  ++failures_;
  // The context objects may be inside a hiredis callback right now: free them later.
  scheduleReconnect();
  if (wasUp || failures_ == 1) events_.down(why);
}

void RedisLink::scheduleReconnect() {
  if (reconnect_) return;
  reconnect_ = g_timeout_source_new(kReconnectMs);
  g_source_set_callback(reconnect_, &RedisLink::onReconnect, this, nullptr);
  g_source_attach(reconnect_, context_);
}

gboolean RedisLink::onReconnect(gpointer data) {
  auto* self = static_cast<RedisLink*>(data);
  g_clear_pointer(&self->reconnect_, g_source_unref);
  if (self->running_) self->connect();
  return G_SOURCE_REMOVE;
}

void RedisLink::flushNow() {
  if (up_ && cmd_ && cmd_->ac) redisAsyncHandleWrite(cmd_->ac);
}

bool RedisLink::send(const RedisCommand& command) {
  if (!up_ || !cmd_ || !cmd_->ac) return false;
  auto onReply = [](redisAsyncContext* ac, void* r, void* priv) {
    Context* c = ac ? Context::of(ac) : nullptr;
    if (!c || !r) return;  // a lost connection: ClusterCore fails what was in flight itself
    auto cookie = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(priv));
    c->link->events_.reply(cookie, toValue(static_cast<redisReply*>(r)));
  };
  return sendArgv(cmd_->ac, onReply,
                  reinterpret_cast<void*>(static_cast<std::uintptr_t>(command.cookie)),
                  command.args) == REDIS_OK;
}

}  // namespace claynet::signaling
