// claynet-signal's I/O layer: a listening socket of our own, libsoup's SoupServer for HTTP and the
// WebSocket upgrade handshake, and then our own framing (signal_server_frames) on the upgraded
// stream, feeding the sans-IO SignalRouter. Everything runs on the Runtime's network thread.
//
// Why the accept loop is ours: SoupServer's listener accepts one connection per main-loop
// iteration and stops listening for good on the first accept error (EMFILE, for instance).
// Why the framing is ours: see signal_server_frames.hpp (bounded reassembly, known output size).
#include "claynet/signal_server.hpp"

#include <gio/gio.h>
#include <gio/gnetworking.h>
#include <libsoup/soup.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "rtc/runtime_core.hpp"
#include "signaling/redis_link.hpp"
#include "signaling/signal_router.hpp"
#include "signaling/signal_server_frames.hpp"
#include "signaling/soup_types.hpp"

namespace claynet {

namespace {

using signaling::ClientHandle;
using signaling::Clock;
using signaling::RouterAction;
using signaling::TimePoint;

constexpr std::size_t kReadChunk = 64 * 1024;  // one read per dispatch: fairness between clients
constexpr int kAcceptsPerDispatch = 256;
constexpr guint kTickMs = 100;
constexpr guint kAcceptPauseMs = 200;  // after EMFILE/ENFILE
constexpr int kListenBacklog = 4096;

constexpr std::string_view kInfoJson =
    R"({"name":"PeerJS Server","description":"A server side element to broker connections between PeerJS clients.","website":"https://peerjs.com/"})";

std::string errorText(GError* error) {
  std::string s = error && error->message ? error->message : "unknown error";
  return s;
}

std::string normalizePath(std::string path) {
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
  if (path.back() != '/') path.push_back('/');
  return path;
}

std::string addressText(GSocketAddress* address) {
  if (!address || !G_IS_INET_SOCKET_ADDRESS(address)) return "?";
  auto* inet = G_INET_SOCKET_ADDRESS(address);
  gchar* ip = g_inet_address_to_string(g_inet_socket_address_get_address(inet));
  std::string s = ip ? ip : "?";
  g_free(ip);
  if (g_inet_address_get_family(g_inet_socket_address_get_address(inet)) == G_SOCKET_FAMILY_IPV6)
    s = "[" + s + "]";
  return s + ":" + std::to_string(g_inet_socket_address_get_port(inet));
}

void raiseOpenFileLimit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

class SignalServer::Impl : public std::enable_shared_from_this<SignalServer::Impl> {
 public:
  Impl(std::shared_ptr<impl::RuntimeCore> core, SignalServerOptions options)
      : core_(std::move(core)), options_(std::move(options)) {
    options_.path = normalizePath(options_.path);
    wsPath_ = options_.path + "peerjs";
  }

  Result start();
  void stop();

  std::shared_ptr<impl::RuntimeCore> core_;
  SignalServerOptions options_;
  std::string wsPath_;
  std::atomic<bool> running_{false};
  std::atomic<std::uint16_t> port_{0};
  std::atomic<std::size_t> clients_{0};
  std::atomic<std::size_t> connections_{0};
  SignalServerStats statsSnapshot_;  // guarded by statsMutex_
  mutable std::mutex statsMutex_;

 private:
  struct Connection;
  struct PendingHttp {
    GSocket* socket = nullptr;  // owned reference
    TimePoint deadline;
  };
  struct Upgrade {
    std::weak_ptr<Impl> server;
    signaling::ConnectRequest request;
    std::string remote;
  };

  // setup
  Result listen();
  static gboolean onAcceptable(GSocket*, GIOCondition, gpointer self);
  static gboolean onAcceptResume(gpointer self);
  void acceptSome();
  static gboolean onTick(gpointer self);
  static void onHttpRequest(SoupServer*, SoupServerMessage* msg, const char* path,
                            GHashTable* query, gpointer self);
  void handleHttp(SoupServerMessage* msg, const std::string& path, GHashTable* query);
  static void onWroteInformational(SoupServerMessage* msg, gpointer upgrade);
  void adopt(GIOStream* stream, const Upgrade& upgrade);

  // WebSocket connections
  static gboolean onReadable(GObject*, gpointer conn);
  static gboolean onWritable(GObject*, gpointer conn);
  void readFrom(Connection* c);
  void beginClose(Connection* c, std::uint16_t code, const std::string& reason);
  void routerClosed(Connection* c);
  void markDirty(Connection* c);
  void flush(Connection* c);
  void afterIo();  // run router actions, flush, reap
  void reap(Connection* c);
  void log(const std::string& line) {
    if (options_.log) options_.log(line);
  }
  void publishStats();
  void clusterLog(const std::string& line) {
    if (options_.clusterLog)
      options_.clusterLog(line);
    else
      log(line);
  }
  Result startCluster(signaling::RouterOptions& ro);
  void sendClusterCommands();
  static gboolean onClusterFlush(gpointer self);
  void listPeers(SoupServerMessage* msg);

  SoupServer* soup_ = nullptr;
  GSocket* listener_ = nullptr;
  GSource* acceptSource_ = nullptr;
  GSource* acceptPause_ = nullptr;
  GSource* tick_ = nullptr;
  GTlsCertificate* certificate_ = nullptr;
  std::unique_ptr<signaling::SignalRouter> router_;
  std::unique_ptr<signaling::RedisLink> redis_;
  signaling::RedisEndpoint redisEndpoint_;
  GSource* clusterFlush_ = nullptr;
  std::unordered_map<ClientHandle, std::unique_ptr<Connection>> conns_;
  std::unordered_map<std::string, PendingHttp> pendingHttp_;  // by remote address
  std::vector<Connection*> dirty_;
  std::vector<ClientHandle> closing_;
  std::vector<Connection*> dead_;
  ClientHandle nextHandle_ = 1;
  std::uint64_t accepted_ = 0;
  std::uint64_t closedByServer_ = 0;
  bool inAfterIo_ = false;
  std::unique_ptr<char[]> scratch_{new char[kReadChunk]};
};

struct SignalServer::Impl::Connection final : signaling::ws::FrameSink {
  Connection(Impl* s, ClientHandle h, std::size_t maxMessage)
      : server(s), handle(h), reader(signaling::ws::Role::Server, maxMessage) {}

  void onMessage(bool binary, std::string_view data) override {
    (void)binary;  // npm `peer` reads binary frames as text too
    if (closeSent || routerGone) return;
    server->router_->frame(handle, data, Clock::now());
  }
  void onPing(std::string_view payload) override {
    if (closeSent) return;
    signaling::ws::appendFrame(out, signaling::ws::Opcode::Pong, payload);
    server->markDirty(this);
  }
  void onClose(std::uint16_t code, std::string_view reason) override {
    (void)reason;
    peerClosed = true;
    server->routerClosed(this);
    if (!closeSent) {
      // Echo the code, as RFC 6455 §5.5.1 asks; then the socket goes once that is written.
      server->beginClose(this, code, "");
    }
    server->markDirty(this);
  }

  Impl* server;
  ClientHandle handle;
  std::string remote;
  GIOStream* stream = nullptr;  // owned
  GSocket* socket = nullptr;    // owned reference, to cut the connection without blocking
  GPollableInputStream* in = nullptr;
  GPollableOutputStream* outStream = nullptr;
  GSource* inSource = nullptr;
  GSource* outSource = nullptr;
  signaling::ws::FrameReader reader;
  std::string out;
  std::size_t outOffset = 0;
  bool dirty = false;
  bool closeSent = false;
  bool peerClosed = false;
  bool routerGone = false;
  bool congestionReported = false;
  bool dead = false;
  TimePoint closeDeadline{};
};

// ---- start / stop ----

Result SignalServer::Impl::start() {
  if (running_.load()) return Result::failure("the signal server is already running");
  if (options_.tlsCertFile.empty() != options_.tlsKeyFile.empty())
    return Result::failure("TLS needs both a certificate and a key file (got only the " +
                           std::string(options_.tlsCertFile.empty() ? "key" : "certificate") + ")");
  if (options_.concurrentLimit == 0) return Result::failure("the concurrent limit must be > 0");
  raiseOpenFileLimit();
  if (!options_.tlsCertFile.empty()) {
    GError* error = nullptr;
    certificate_ = g_tls_certificate_new_from_files(options_.tlsCertFile.c_str(),
                                                    options_.tlsKeyFile.c_str(), &error);
    if (!certificate_) {
      Result r = Result::failure("cannot load the TLS certificate '" + options_.tlsCertFile +
                                 "' and key '" + options_.tlsKeyFile + "': " + errorText(error));
      g_clear_error(&error);
      return r;
    }
    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
      g_clear_object(&certificate_);
      return Result::failure(
          "TLS is not available: GLib has no TLS backend (install glib-networking)");
    }
  }

  signaling::RouterOptions ro;
  ro.key = options_.key;
  ro.aliveTimeout = options_.aliveTimeout;
  ro.expireTimeout = options_.expireTimeout;
  ro.concurrentLimit = options_.concurrentLimit;
  ro.maxFrameBytes = options_.maxMessageBytes;
  ro.floodFramesPerSecond = options_.floodMessagesPerSecond;
  ro.floodFrameBurst = options_.floodMessageBurst;
  ro.secret = options_.lanSecret;
  if (options_.log) ro.log = [this](std::string_view line) { log(std::string(line)); };
  if (!options_.redisUrl.empty()) {
    if (Result r = startCluster(ro); !r) {
      g_clear_object(&certificate_);
      return r;
    }
  }
  router_ = std::make_unique<signaling::SignalRouter>(std::move(ro));
  if (router_->cluster()) {
    signaling::RedisLink::Events events;
    events.up = [this] {
      router_->clusterUp(Clock::now());
      afterIo();
    };
    events.down = [this](const std::string& why) {
      router_->clusterDown(why, Clock::now());
      afterIo();
    };
    events.reply = [this](std::uint64_t cookie, const signaling::RedisValue& value) {
      router_->clusterReply(cookie, value, Clock::now());
      afterIo();
    };
    events.message = [this](std::string_view payload) {
      router_->clusterMessage(payload, Clock::now());
      afterIo();
    };
    redis_ = std::make_unique<signaling::RedisLink>(
        core_->context(), redisEndpoint_, router_->cluster()->channel(), std::move(events),
        [this](const std::string& line) { clusterLog(line); });
    redis_->start();
  }

  signaling::registerSoupTypes();
  soup_ = soup_server_new("server-header", "claynet-signal ", nullptr);
  soup_server_add_handler(soup_, nullptr, &Impl::onHttpRequest, this, nullptr);

  if (Result r = listen(); !r) {
    stop();
    return r;
  }
  tick_ = g_timeout_source_new(kTickMs);
  g_source_set_callback(tick_, &Impl::onTick, this, nullptr);
  g_source_attach(tick_, core_->context());
  running_.store(true);
  std::weak_ptr<Impl> weak = shared_from_this();
  core_->registerCloser(this, [weak] {
    if (auto self = weak.lock()) self->stop();
  });
  return {};
}

Result SignalServer::Impl::listen() {
  std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
  GInetAddress* ip = g_inet_address_new_from_string(host.c_str());
  if (!ip)
    return Result::failure("cannot listen on '" + options_.host +
                           "': not an IP address (use e.g. 0.0.0.0, ::, 127.0.0.1)");
  GSocketAddress* address = g_inet_socket_address_new(ip, options_.port);
  GSocketFamily family = g_inet_address_get_family(ip);
  g_object_unref(ip);
  GError* error = nullptr;
  listener_ = g_socket_new(family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  std::string where = options_.host + ":" + std::to_string(options_.port);
  auto fail = [&](const std::string& what) {
    Result r = Result::failure(what + " " + where + ": " + errorText(error));
    g_clear_error(&error);
    g_object_unref(address);
    g_clear_object(&listener_);
    return r;
  };
  if (!listener_) return fail("cannot create a socket for");
  g_socket_set_blocking(listener_, FALSE);
  g_socket_set_listen_backlog(listener_, kListenBacklog);
  if (!g_socket_bind(listener_, address, TRUE, &error)) return fail("cannot listen on");
  if (!g_socket_listen(listener_, &error)) return fail("cannot listen on");
  g_object_unref(address);
  GSocketAddress* local = g_socket_get_local_address(listener_, nullptr);
  if (local) {
    port_.store(g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local)));
    g_object_unref(local);
  }
  acceptSource_ = g_socket_create_source(listener_, G_IO_IN, nullptr);
  g_source_set_callback(acceptSource_, G_SOURCE_FUNC(&Impl::onAcceptable), this, nullptr);
  g_source_attach(acceptSource_, core_->context());
  return {};
}

void SignalServer::Impl::stop() {
  running_.store(false);  // an upgrade that completes while stopping is refused
  core_->unregisterCloser(this);
  if (acceptSource_) {
    g_source_destroy(acceptSource_);
    g_clear_pointer(&acceptSource_, g_source_unref);
  }
  if (acceptPause_) {
    g_source_destroy(acceptPause_);
    g_clear_pointer(&acceptPause_, g_source_unref);
  }
  if (tick_) {
    g_source_destroy(tick_);
    g_clear_pointer(&tick_, g_source_unref);
  }
  if (listener_) {
    g_socket_close(listener_, nullptr);
    g_clear_object(&listener_);
  }
  // Say goodbye to every client (best effort: what the kernel takes now), then cut.
  for (auto& [handle, c] : conns_) {
    if (!c->closeSent)
      signaling::ws::appendCloseFrame(c->out, signaling::ws::kCloseGoingAway,
                                      "the server is stopping");
    c->closeSent = true;
    flush(c.get());
  }
  while (!conns_.empty()) reap(conns_.begin()->second.get());
  dirty_.clear();
  dead_.clear();
  closing_.clear();
  for (auto& [remote, pending] : pendingHttp_) g_object_unref(pending.socket);
  pendingHttp_.clear();
  if (soup_) {
    soup_server_disconnect(soup_);
    g_clear_object(&soup_);
  }
  while (!conns_.empty()) reap(conns_.begin()->second.get());
  g_clear_object(&certificate_);
  if (clusterFlush_) {
    g_source_destroy(clusterFlush_);
    g_clear_pointer(&clusterFlush_, g_source_unref);
  }
  if (redis_) {
    // The ids this instance held go now rather than at their TTL (best effort: what the socket
    // takes without waiting).
    router_->clusterFlush(Clock::now());
    sendClusterCommands();
    redis_->flushNow();
    redis_->stop();
    redis_.reset();
  }
  if (router_) publishStats();
  router_.reset();
  running_.store(false);
  port_.store(0);
  clients_.store(0);
  connections_.store(0);
}

// ---- accepting ----

gboolean SignalServer::Impl::onAcceptable(GSocket*, GIOCondition, gpointer self) {
  static_cast<Impl*>(self)->acceptSome();
  return G_SOURCE_CONTINUE;
}

gboolean SignalServer::Impl::onAcceptResume(gpointer data) {
  auto* self = static_cast<Impl*>(data);
  g_clear_pointer(&self->acceptPause_, g_source_unref);
  if (self->listener_ && !self->acceptSource_) {
    self->acceptSource_ = g_socket_create_source(self->listener_, G_IO_IN, nullptr);
    g_source_set_callback(self->acceptSource_, G_SOURCE_FUNC(&Impl::onAcceptable), self, nullptr);
    g_source_attach(self->acceptSource_, self->core_->context());
  }
  return G_SOURCE_REMOVE;
}

void SignalServer::Impl::acceptSome() {
  for (int i = 0; i < kAcceptsPerDispatch && listener_; ++i) {
    GError* error = nullptr;
    GSocket* socket = g_socket_accept(listener_, nullptr, &error);
    if (!socket) {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        g_clear_error(&error);
        return;
      }
      // Out of descriptors (EMFILE), or something else that would make the ready listener fail
      // again at once: stop accepting for a moment instead of spinning. Pending connections
      // wait in the backlog.
      log("accept: " + errorText(error) + "; pausing accepts for " +
          std::to_string(kAcceptPauseMs) + " ms");
      g_clear_error(&error);
      if (acceptSource_) {
        g_source_destroy(acceptSource_);
        g_clear_pointer(&acceptSource_, g_source_unref);
      }
      if (!acceptPause_) {
        acceptPause_ = g_timeout_source_new(kAcceptPauseMs);
        g_source_set_callback(acceptPause_, &Impl::onAcceptResume, this, nullptr);
        g_source_attach(acceptPause_, core_->context());
      }
      return;
    }
    ++accepted_;
    g_socket_set_blocking(socket, FALSE);
    g_socket_set_option(socket, IPPROTO_TCP, TCP_NODELAY, 1, nullptr);
    GSocketAddress* local = g_socket_get_local_address(socket, nullptr);
    GSocketAddress* remote = g_socket_get_remote_address(socket, nullptr);
    std::string remoteText = addressText(remote);
    GIOStream* stream = G_IO_STREAM(g_socket_connection_factory_create_connection(socket));
    bool ok = true;
    if (certificate_) {
      GIOStream* tls = G_IO_STREAM(g_tls_server_connection_new(stream, certificate_, &error));
      g_object_unref(stream);
      stream = tls;
      if (!stream) {
        log("TLS setup failed for " + remoteText + ": " + errorText(error));
        g_clear_error(&error);
        ok = false;
      }
    }
    if (ok && !soup_server_accept_iostream(soup_, stream, local, remote, &error)) {
      log("cannot serve " + remoteText + ": " + errorText(error));
      g_clear_error(&error);
      ok = false;
    }
    if (ok) {
      auto& pending = pendingHttp_[remoteText];
      if (pending.socket) g_object_unref(pending.socket);
      pending.socket = G_SOCKET(g_object_ref(socket));
      pending.deadline = Clock::now() + options_.handshakeTimeout;
    } else {
      g_socket_close(socket, nullptr);
    }
    if (stream) g_object_unref(stream);
    if (local) g_object_unref(local);
    if (remote) g_object_unref(remote);
    g_object_unref(socket);
  }
}

// ---- HTTP ----

void SignalServer::Impl::onHttpRequest(SoupServer*, SoupServerMessage* msg, const char* path,
                                       GHashTable* query, gpointer self) {
  static_cast<Impl*>(self)->handleHttp(msg, path ? path : "/", query);
}

void SignalServer::Impl::handleHttp(SoupServerMessage* msg, const std::string& path,
                                    GHashTable* query) {
  const char* method = soup_server_message_get_method(msg);
  SoupMessageHeaders* request = soup_server_message_get_request_headers(msg);
  SoupMessageHeaders* response = soup_server_message_get_response_headers(msg);
  // CORS as npm `peer` sets it up (origin: true): reflect the caller's origin. Browser PeerJS
  // fetches {key}/id cross-origin when it is given no id.
  if (const char* origin = soup_message_headers_get_one(request, "Origin")) {
    soup_message_headers_replace(response, "Access-Control-Allow-Origin", origin);
    soup_message_headers_append(response, "Vary", "Origin");
  }
  auto reply = [&](guint status, const char* type, std::string_view body) {
    soup_server_message_set_status(msg, status, nullptr);
    if (type)
      soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, body.data(), body.size());
  };
  if (std::strcmp(method, "OPTIONS") == 0) {
    soup_message_headers_replace(response, "Access-Control-Allow-Methods",
                                 "GET,HEAD,PUT,PATCH,POST,DELETE");
    if (const char* h = soup_message_headers_get_one(request, "Access-Control-Request-Headers")) {
      soup_message_headers_replace(response, "Access-Control-Allow-Headers", h);
      soup_message_headers_append(response, "Vary", "Access-Control-Request-Headers");
    }
    soup_message_headers_replace(response, "Content-Length", "0");
    reply(SOUP_STATUS_NO_CONTENT, nullptr, {});
    return;
  }
  const bool get = std::strcmp(method, "GET") == 0 || std::strcmp(method, "HEAD") == 0;
  if (path == wsPath_) {
    const char* upgrade = soup_message_headers_get_one(request, "Upgrade");
    if (!upgrade) {
      reply(SOUP_STATUS_NOT_FOUND, "text/plain; charset=utf-8", "Cannot GET " + path);
      return;
    }
    GError* error = nullptr;
    if (!soup_websocket_server_check_handshake(msg, nullptr, nullptr, nullptr, &error)) {
      std::string why = "Bad WebSocket handshake: " + errorText(error);
      g_clear_error(&error);
      reply(SOUP_STATUS_BAD_REQUEST, "text/plain; charset=utf-8", why);
      return;
    }
    soup_websocket_server_process_handshake(msg, nullptr, nullptr, nullptr, nullptr);
    auto* up = new Upgrade;
    up->server = weak_from_this();
    auto param = [&](const char* name) {
      const char* v = query ? static_cast<const char*>(g_hash_table_lookup(query, name)) : nullptr;
      return std::string(v ? v : "");
    };
    up->request = {param("id"), param("token"), param("key")};
    if (const char* host = soup_server_message_get_remote_host(msg)) up->remote = host;
    GSocketAddress* remote = soup_server_message_get_remote_address(msg);
    if (remote) up->remote = addressText(remote);
    g_signal_connect_data(
        msg, "wrote-informational", G_CALLBACK(&Impl::onWroteInformational), up,
        [](gpointer data, GClosure*) { delete static_cast<Upgrade*>(data); }, GConnectFlags{});
    return;
  }
  if (!get) {
    reply(SOUP_STATUS_NOT_FOUND, "text/plain; charset=utf-8",
          std::string("Cannot ") + method + " " + path);
    return;
  }
  const std::string& base = options_.path;
  if (path == base || (base.size() > 1 && path == base.substr(0, base.size() - 1))) {
    reply(SOUP_STATUS_OK, "application/json; charset=utf-8", kInfoJson);
    return;
  }
  if (path.size() > base.size() && path.compare(0, base.size(), base) == 0) {
    std::string rest = path.substr(base.size());  // "{key}/id" or "{key}/peers"
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    auto slash = rest.find('/');
    if (slash != std::string::npos && slash > 0 && rest.find('/', slash + 1) == std::string::npos) {
      std::string what = rest.substr(slash + 1);
      if (what == "id") {
        // A fresh id nobody holds (the key is not checked here, as with npm `peer`).
        std::string id;
        for (int i = 0; i < 8; ++i) {
          gchar* uuid = g_uuid_string_random();
          id = uuid;
          g_free(uuid);
          if (!router_->isRegistered(id)) break;
        }
        reply(SOUP_STATUS_OK, "text/html; charset=utf-8", id);
        return;
      }
      if (what == "peers") {
        if (!options_.allowDiscovery) {
          reply(SOUP_STATUS_UNAUTHORIZED, "text/plain; charset=utf-8", "Unauthorized");
          return;
        }
        if (router_->cluster()) {
          listPeers(msg);
          return;
        }
        std::string body = "[";
        bool first = true;
        for (const auto& id : router_->peerIds()) {
          if (!first) body += ',';
          first = false;
          signaling::appendJsonString(body, id);
        }
        body += ']';
        reply(SOUP_STATUS_OK, "application/json; charset=utf-8", body);
        return;
      }
    }
  }
  reply(SOUP_STATUS_NOT_FOUND, "text/plain; charset=utf-8", "Cannot GET " + path);
}

void SignalServer::Impl::onWroteInformational(SoupServerMessage* msg, gpointer data) {
  auto* up = static_cast<Upgrade*>(data);
  auto self = up->server.lock();
  if (soup_server_message_get_status(msg) != SOUP_STATUS_SWITCHING_PROTOCOLS) return;
  GIOStream* stream = soup_server_message_steal_connection(msg);
  if (!stream) return;
  if (!self || !self->running_.load()) {
    g_io_stream_close(stream, nullptr, nullptr);
    g_object_unref(stream);
    return;
  }
  self->adopt(stream, *up);
  g_object_unref(stream);
  self->afterIo();
}

void SignalServer::Impl::adopt(GIOStream* stream, const Upgrade& upgrade) {
  ClientHandle handle = nextHandle_++;
  auto conn = std::make_unique<Connection>(this, handle, options_.maxMessageBytes);
  Connection* c = conn.get();
  c->remote = upgrade.remote;
  c->stream = G_IO_STREAM(g_object_ref(stream));
  c->in = G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(stream));
  c->outStream = G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(stream));
  if (auto it = pendingHttp_.find(upgrade.remote); it != pendingHttp_.end()) {
    c->socket = it->second.socket;  // takes the reference
    pendingHttp_.erase(it);
  }
  conns_.emplace(handle, std::move(conn));
  c->inSource = g_pollable_input_stream_create_source(c->in, nullptr);
  g_source_set_callback(c->inSource, G_SOURCE_FUNC(&Impl::onReadable), c, nullptr);
  g_source_attach(c->inSource, core_->context());
  if (options_.log)
    log("connection " + std::to_string(handle) + " from " + c->remote + " for id '" +
        upgrade.request.id + "'");
  router_->connect(handle, upgrade.request, Clock::now());
  // Bytes the client sent right behind its request may already sit in libsoup's buffer, where
  // polling the socket would not see them.
  readFrom(c);
}

// ---- WebSocket I/O ----

gboolean SignalServer::Impl::onReadable(GObject*, gpointer data) {
  auto* c = static_cast<Connection*>(data);
  Impl* self = c->server;
  self->readFrom(c);
  self->afterIo();  // may free c
  return G_SOURCE_CONTINUE;
}

void SignalServer::Impl::readFrom(Connection* c) {
  if (c->dead) return;
  GError* error = nullptr;
  gssize n =
      g_pollable_input_stream_read_nonblocking(c->in, scratch_.get(), kReadChunk, nullptr, &error);
  if (n < 0) {
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
      g_clear_error(&error);
      return;
    }
    if (options_.log) log("read from " + c->remote + " failed: " + errorText(error));
    g_clear_error(&error);
    routerClosed(c);
    c->dead = true;
    dead_.push_back(c);
    return;
  }
  if (n == 0) {  // the peer closed TCP (with or without a close frame)
    c->peerClosed = true;
    routerClosed(c);
    c->dead = true;
    dead_.push_back(c);
    return;
  }
  const bool wasFailed = c->reader.failed();
  c->reader.feed(scratch_.get(), static_cast<std::size_t>(n), *c);
  if (!wasFailed && c->reader.failed()) {
    if (options_.log)
      log("closing " + c->remote + ": " + c->reader.errorReason() + " (code " +
          std::to_string(c->reader.errorCode()) + ")");
    ++closedByServer_;
    routerClosed(c);
    beginClose(c, c->reader.errorCode(), c->reader.errorReason());
  }
}

void SignalServer::Impl::routerClosed(Connection* c) {
  if (c->routerGone) return;
  c->routerGone = true;
  router_->closed(c->handle);
}

void SignalServer::Impl::beginClose(Connection* c, std::uint16_t code, const std::string& reason) {
  if (c->closeSent || c->dead) return;
  signaling::ws::appendCloseFrame(c->out, code, reason);
  c->closeSent = true;
  c->closeDeadline = Clock::now() + options_.closeTimeout;
  closing_.push_back(c->handle);
  markDirty(c);
}

void SignalServer::Impl::markDirty(Connection* c) {
  if (c->dirty || c->dead) return;
  c->dirty = true;
  dirty_.push_back(c);
}

gboolean SignalServer::Impl::onWritable(GObject*, gpointer data) {
  auto* c = static_cast<Connection*>(data);
  Impl* self = c->server;
  if (c->outSource) {
    g_source_destroy(c->outSource);
    g_clear_pointer(&c->outSource, g_source_unref);
  }
  self->markDirty(c);
  self->afterIo();
  return G_SOURCE_REMOVE;
}

void SignalServer::Impl::flush(Connection* c) {
  while (c->outOffset < c->out.size()) {
    GError* error = nullptr;
    gssize n = g_pollable_output_stream_write_nonblocking(
        c->outStream, c->out.data() + c->outOffset, c->out.size() - c->outOffset, nullptr, &error);
    if (n < 0) {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        g_clear_error(&error);
        break;
      }
      if (options_.log) log("write to " + c->remote + " failed: " + errorText(error));
      g_clear_error(&error);
      routerClosed(c);
      if (!c->dead) {
        c->dead = true;
        dead_.push_back(c);
      }
      return;
    }
    c->outOffset += static_cast<std::size_t>(n);
  }
  const std::size_t unsent = c->out.size() - c->outOffset;
  if (unsent == 0) {
    c->outOffset = 0;
    if (c->out.capacity() > 256 * 1024)
      std::string().swap(c->out);
    else
      c->out.clear();
    if (c->closeSent && c->peerClosed && !c->dead) {
      c->dead = true;  // both close frames exchanged: done
      dead_.push_back(c);
    }
    return;
  }
  if (c->outOffset > 64 * 1024 && c->outOffset > unsent) {
    c->out.erase(0, c->outOffset);
    c->outOffset = 0;
  }
  if (!c->outSource && !c->dead) {
    c->outSource = g_pollable_output_stream_create_source(c->outStream, nullptr);
    g_source_set_callback(c->outSource, G_SOURCE_FUNC(&Impl::onWritable), c, nullptr);
    g_source_attach(c->outSource, core_->context());
  }
  if (unsent > options_.maxUnsentBytes && !c->congestionReported && !c->routerGone) {
    c->congestionReported = true;
    router_->congested(c->handle);
  }
  // A hard bound for what the router does not see (pongs to a client that pings and never
  // reads, notices, a close frame that cannot leave): cut the connection.
  if (unsent > 4 * options_.maxUnsentBytes && !c->dead) {
    log("cutting " + c->remote + ": " + std::to_string(unsent) + " bytes unsent, it does not read");
    ++closedByServer_;
    routerClosed(c);
    c->dead = true;
    dead_.push_back(c);
  }
}

void SignalServer::Impl::afterIo() {
  if (inAfterIo_ || !router_) return;
  inAfterIo_ = true;
  auto& actions = router_->actions();
  // Commands whose link is down fail at once, which may add actions (EXPIRE to their senders).
  sendClusterCommands();
  while (!actions.empty()) {
    for (std::size_t i = 0; i < actions.size(); ++i) {
      RouterAction& a = actions[i];
      auto it = conns_.find(a.handle);
      if (it == conns_.end()) continue;
      Connection* c = it->second.get();
      if (c->dead) continue;
      if (a.kind == RouterAction::Kind::Send) {
        if (c->closeSent) continue;
        signaling::ws::appendFrame(c->out, signaling::ws::Opcode::Text, a.text);
        markDirty(c);
      } else {
        c->routerGone = true;  // the router already forgot it
        if (a.code != signaling::ws::kCloseNoStatus) ++closedByServer_;
        beginClose(c, a.code, a.text);
      }
    }
    actions.clear();
    sendClusterCommands();
  }
  if (redis_ && router_->clusterHasBatch() && !clusterFlush_) {
    // Messages for other instances leave in one script call per main-loop iteration: the
    // sources ready now are dispatched before this one.
    clusterFlush_ = g_idle_source_new();
    g_source_set_priority(clusterFlush_, G_PRIORITY_DEFAULT);
    g_source_set_callback(clusterFlush_, &Impl::onClusterFlush, this, nullptr);
    g_source_attach(clusterFlush_, core_->context());
  }
  for (std::size_t i = 0; i < dirty_.size(); ++i) {
    Connection* c = dirty_[i];
    c->dirty = false;
    if (!c->dead) flush(c);
  }
  dirty_.clear();
  for (std::size_t i = 0; i < dead_.size(); ++i) reap(dead_[i]);
  dead_.clear();
  clients_.store(router_->clientCount(), std::memory_order_relaxed);
  connections_.store(conns_.size(), std::memory_order_relaxed);
  inAfterIo_ = false;
}

void SignalServer::Impl::sendClusterCommands() {
  if (!redis_) return;
  auto& commands = router_->clusterCommands();
  while (!commands.empty()) {
    auto batch = std::move(commands);
    commands.clear();
    for (auto& command : batch) {
      if (redis_->send(command)) continue;
      signaling::RedisValue failed;
      failed.kind = signaling::RedisValue::Kind::Error;
      failed.str = "Redis is not connected";
      router_->clusterReply(command.cookie, failed, Clock::now());
    }
  }
}

gboolean SignalServer::Impl::onClusterFlush(gpointer data) {
  auto* self = static_cast<Impl*>(data);
  g_clear_pointer(&self->clusterFlush_, g_source_unref);
  if (self->router_) {
    self->router_->clusterFlush(Clock::now());
    self->afterIo();
  }
  return G_SOURCE_REMOVE;
}

Result SignalServer::Impl::startCluster(signaling::RouterOptions& ro) {
  if (std::string why = signaling::parseRedisUrl(options_.redisUrl, redisEndpoint_); !why.empty())
    return Result::failure("--redis '" + options_.redisUrl + "': " + why);
  constexpr std::chrono::milliseconds kProbeTimeout{3000};
  if (std::string why = signaling::probeRedis(redisEndpoint_, kProbeTimeout); !why.empty())
    return Result::failure("cannot use Redis at " + redisEndpoint_.text() + ": " + why +
                           " (is redis-server running there, and are the user, password and "
                           "database right?)");
  ro.cluster = true;
  auto& co = ro.clusterOptions;
  co.prefix = options_.redisPrefix;
  gchar* uuid = g_uuid_string_random();
  co.instanceId = uuid;  // new every run: a restarted instance never inherits stale state
  g_free(uuid);
  co.aliveTimeout = options_.aliveTimeout;
  co.expireTimeout = options_.expireTimeout;
  co.discovery = options_.allowDiscovery;
  ro.clusterLog = [this](std::string_view line) { clusterLog(std::string(line)); };
  return {};
}

void SignalServer::Impl::listPeers(SoupServerMessage* msg) {
  // The cluster-wide list comes from Redis: the answer waits for it.
  soup_server_message_pause(msg);
  std::shared_ptr<SoupServerMessage> held(SOUP_SERVER_MESSAGE(g_object_ref(msg)),
                                          [](SoupServerMessage* m) { g_object_unref(m); });
  router_->cluster()->listPeers([held](bool ok, std::vector<std::string> ids) {
    SoupServerMessage* m = held.get();
    if (!ok) {
      std::string_view body = "Service Unavailable: the cluster store (Redis) is unreachable";
      soup_server_message_set_status(m, SOUP_STATUS_SERVICE_UNAVAILABLE, nullptr);
      soup_server_message_set_response(m, "text/plain; charset=utf-8", SOUP_MEMORY_COPY,
                                       body.data(), body.size());
    } else {
      std::string body = "[";
      for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i) body += ',';
        signaling::appendJsonString(body, ids[i]);
      }
      body += ']';
      soup_server_message_set_status(m, SOUP_STATUS_OK, nullptr);
      soup_server_message_set_response(m, "application/json; charset=utf-8", SOUP_MEMORY_COPY,
                                       body.data(), body.size());
    }
    soup_server_message_unpause(m);
  });
  sendClusterCommands();
}

void SignalServer::Impl::reap(Connection* c) {
  if (c->inSource) {
    g_source_destroy(c->inSource);
    g_clear_pointer(&c->inSource, g_source_unref);
  }
  if (c->outSource) {
    g_source_destroy(c->outSource);
    g_clear_pointer(&c->outSource, g_source_unref);
  }
  if (!c->routerGone && router_) {
    c->routerGone = true;
    router_->closed(c->handle);
  }
  // Cut the socket first: a TLS close would otherwise try to write close_notify to a peer that
  // may not read, and block a GIO worker thread on it.
  if (c->socket) {
    g_socket_shutdown(c->socket, FALSE, TRUE, nullptr);
    g_clear_object(&c->socket);
  }
  if (c->stream) {
    g_io_stream_close_async(
        c->stream, G_PRIORITY_DEFAULT, nullptr,
        [](GObject* source, GAsyncResult* result, gpointer) {
          g_io_stream_close_finish(G_IO_STREAM(source), result, nullptr);
          g_object_unref(source);
        },
        nullptr);
    c->stream = nullptr;  // the callback releases it
  }
  conns_.erase(c->handle);
}

gboolean SignalServer::Impl::onTick(gpointer data) {
  auto* self = static_cast<Impl*>(data);
  TimePoint now = Clock::now();
  self->router_->tick(now);
  if (self->redis_ && self->redis_->up() && self->router_->cluster()->stalled(now))
    self->redis_->reset("no answer for " +
                        std::to_string(signaling::ClusterCore::kReplyTimeout.count() / 1000) +
                        " s: Redis hangs or the connection is dead");
  // Closing connections whose client never answered the close frame (or never reads).
  std::size_t keep = 0;
  for (ClientHandle handle : self->closing_) {
    auto it = self->conns_.find(handle);
    if (it == self->conns_.end()) continue;
    Connection* c = it->second.get();
    if (!c->dead && now >= c->closeDeadline) {
      c->dead = true;
      self->dead_.push_back(c);
      continue;
    }
    if (!c->dead) self->closing_[keep++] = handle;
  }
  self->closing_.resize(keep);
  // Connections that never upgraded within the handshake timeout.
  for (auto it = self->pendingHttp_.begin(); it != self->pendingHttp_.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    if (!g_socket_is_closed(it->second.socket)) {
      if (self->options_.log) self->log("closing " + it->first + ": no WebSocket upgrade in time");
      g_socket_shutdown(it->second.socket, TRUE, TRUE, nullptr);
    }
    g_object_unref(it->second.socket);
    it = self->pendingHttp_.erase(it);
  }
  self->afterIo();
  self->publishStats();
  return G_SOURCE_CONTINUE;
}

void SignalServer::Impl::publishStats() {
  SignalServerStats s;
  const auto& r = router_->stats();
  s.clients = router_->clientCount();
  s.connections = conns_.size();
  s.queued = router_->queuedCount();
  s.accepted = accepted_;
  s.forwarded = r.forwarded;
  s.expired = r.expired;
  s.ignored = r.ignored;
  s.closedByServer = closedByServer_;
  if (auto* cluster = router_->cluster()) {
    s.clusterUp = cluster->up();
    s.clusterRouted = cluster->stats().routed;
    s.clusterReceived = cluster->stats().received;
    s.clusterRefused = cluster->stats().refused;
  }
  std::lock_guard lock(statsMutex_);
  statsSnapshot_ = s;
}

// ---- public ----

SignalServer::SignalServer(Runtime& runtime, SignalServerOptions options)
    : impl_(std::make_shared<Impl>(runtime.core(), std::move(options))) {}

SignalServer::~SignalServer() { stop(); }

Result SignalServer::start() {
  Result result;
  impl_->core_->run([&] { result = impl_->start(); });
  return result;
}

void SignalServer::stop() {
  impl_->core_->run([&] {
    if (impl_->running_.load() || impl_->port_.load()) impl_->stop();
  });
}

bool SignalServer::running() const { return impl_->running_.load(); }
std::uint16_t SignalServer::port() const { return impl_->port_.load(); }

std::string SignalServer::url() const {
  std::string host = impl_->options_.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(impl_->options_.tlsCertFile.empty() ? "ws://" : "wss://") + host + ":" +
         std::to_string(port()) + impl_->wsPath_;
}

std::size_t SignalServer::clientCount() const { return impl_->clients_.load(); }
std::size_t SignalServer::connectionCount() const { return impl_->connections_.load(); }

SignalServerStats SignalServer::stats() const {
  // Counts that move with every message are refreshed on the tick; the two counts above are
  // exact after each I/O event.
  std::lock_guard lock(impl_->statsMutex_);
  SignalServerStats s = impl_->statsSnapshot_;
  s.clients = impl_->clients_.load();
  s.connections = impl_->connections_.load();
  return s;
}

}  // namespace claynet
