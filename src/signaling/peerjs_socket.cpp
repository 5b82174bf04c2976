#include "signaling/peerjs_socket.hpp"

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <algorithm>
#include <random>

namespace claynet::signaling {

namespace {

// libsoup's I/O timeout for the handshake and the id request; the WebSocket itself has none
// (libsoup clears it once the connection is a WebSocket).
constexpr guint kHandshakeTimeoutSeconds = 15;
constexpr int kMaxDriveRounds = 64;

struct AsyncBox {
  std::weak_ptr<SignalingClient> client;
  GCancellable* cancellable = nullptr;  // identifies the attempt
  SoupMessage* msg = nullptr;
  ~AsyncBox() {
    if (cancellable) g_object_unref(cancellable);
    if (msg) g_object_unref(msg);
  }
};

struct SignalBox {
  std::weak_ptr<SignalingClient> client;
};

std::string trim(std::string s) {
  auto notSpace = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), notSpace));
  s.erase(std::find_if(s.rbegin(), s.rend(), notSpace).base(), s.end());
  return s;
}

std::string httpStatusText(SoupMessage* msg) {
  guint status = soup_message_get_status(msg);
  if (status == 0) return {};
  const char* phrase = soup_message_get_reason_phrase(msg);
  return "HTTP " + std::to_string(status) + (phrase && *phrase ? std::string(" ") + phrase : "");
}

}  // namespace

Result validateOptions(const PeerJsSignalingOptions& o) {
  if (o.server.host.empty()) return Result::failure("the PeerJS server host is empty");
  if (o.server.port == 0) return Result::failure("the PeerJS server port is 0");
  if (o.server.key.empty()) return Result::failure("the PeerJS server key is empty");
  if (!o.id.empty() && !isValidPeerId(o.id))
    return Result::failure(std::string(toString(PeerJsErrorType::InvalidId)) + ": ID \"" + o.id +
                           "\" is invalid (PeerJS ids are letters and digits, with single ' ', "
                           "'_' or '-' between them)");
  if (o.heartbeatInterval <= std::chrono::milliseconds(0))
    return Result::failure("the heartbeat interval must be positive");
  return {};
}

SignalingClient::SignalingClient(std::shared_ptr<impl::RuntimeCore> core,
                                 PeerJsSignalingOptions options, Handlers handlers)
    : rt_(std::move(core)), options_(std::move(options)), handlers_(std::move(handlers)) {
  if (options_.token.empty()) options_.token = randomToken();
  id_ = options_.id;
  ClientCoreConfig cfg;
  cfg.id = options_.id;
  cfg.key = options_.server.key;
  cfg.heartbeatInterval = options_.heartbeatInterval;
  cfg.reconnect = options_.reconnect;
  cfg.reconnectDelayMin = options_.reconnectDelayMin;
  cfg.reconnectDelayMax = options_.reconnectDelayMax;
  cfg.silenceLimit = options_.silenceLimit;
  core_ = std::make_unique<ClientCore>(cfg);
}

SignalingClient::~SignalingClient() {
  // stop() normally ran on the network thread already; this only frees what is left.
  if (timer_) {
    g_source_destroy(timer_);
    g_source_unref(timer_);
  }
  if (ws_) {
    g_signal_handlers_disconnect_by_data(ws_, this);
    g_object_unref(ws_);
  }
  if (cancellable_) {
    g_cancellable_cancel(cancellable_);
    g_object_unref(cancellable_);
  }
  if (session_) g_object_unref(session_);
  if (extraCa_) g_object_unref(extraCa_);
}

std::string SignalingClient::id() const {
  std::lock_guard lock(idMutex_);
  return id_;
}

void SignalingClient::updateState() {
  PeerJsSignalingState s = PeerJsSignalingState::Connecting;
  if (stopped_) {
    s = PeerJsSignalingState::Closed;
  } else {
    switch (core_->state()) {
      case ClientCore::State::Idle:
      case ClientCore::State::Connecting:
      case ClientCore::State::AwaitingOpen:
        s = PeerJsSignalingState::Connecting;
        break;
      case ClientCore::State::Open:
        s = PeerJsSignalingState::Open;
        break;
      case ClientCore::State::WaitingToReconnect:
        s = PeerJsSignalingState::Reconnecting;
        break;
      case ClientCore::State::Closed:
        s = PeerJsSignalingState::Closed;
        break;
    }
  }
  state_.store(s);
}

void SignalingClient::start() {
  if (stopped_ || session_) return;
  state_.store(PeerJsSignalingState::Connecting);
  session_ = soup_session_new();
  g_object_set(session_, "timeout", kHandshakeTimeoutSeconds, nullptr);
  if (options_.server.secure) {
    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
      auto handlers = handlers_;
      stop();
      if (handlers.error)
        handlers.error({PeerJsErrorType::SslUnavailable,
                        "no TLS backend is available (install glib-networking) for wss://" +
                            options_.server.host});
      return;
    }
    if (!options_.server.caFile.empty()) {
      GError* err = nullptr;
      extraCa_ = g_tls_file_database_new(options_.server.caFile.c_str(), &err);
      if (!extraCa_) {
        std::string why = err ? err->message : "unknown error";
        if (err) g_error_free(err);
        auto handlers = handlers_;
        stop();
        if (handlers.error)
          handlers.error({PeerJsErrorType::Network,
                          "cannot use the CA file " + options_.server.caFile + ": " + why});
        return;
      }
    }
  }
  if (id().empty()) {
    fetchId();
  } else {
    startCore();
  }
}

void SignalingClient::startCore() {
  core_->setId(id());
  core_->start(Clock::now());
  drive();
}

bool SignalingClient::setupTls(SoupMessage* msg) {
  if (!options_.server.secure) return true;
  certificateError_.clear();
  auto* box = new SignalBox{weak_from_this()};
  g_signal_connect_data(
      msg, "accept-certificate", G_CALLBACK(&SignalingClient::acceptCertificateThunk), box,
      [](gpointer data, GClosure*) { delete static_cast<SignalBox*>(data); }, GConnectFlags(0));
  return true;
}

int SignalingClient::acceptCertificateThunk(SoupMessage*, void* cert, unsigned errors, void* data) {
  auto self = static_cast<SignalBox*>(data)->client.lock();
  if (!self || self->stopped_) return FALSE;
  if (!self->options_.server.verifyCertificate) return TRUE;
  // Only called when the system's trust store refused the certificate: try the extra CAs.
  if (self->extraCa_) {
    GSocketConnectable* identity =
        g_network_address_new(self->options_.server.host.c_str(), self->options_.server.port);
    GError* err = nullptr;
    GTlsCertificateFlags flags = g_tls_database_verify_chain(
        self->extraCa_, G_TLS_CERTIFICATE(cert), G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER,
        identity, nullptr, G_TLS_DATABASE_VERIFY_NONE, nullptr, &err);
    g_object_unref(identity);
    if (!err && flags == 0) return TRUE;
    if (err) {
      self->certificateError_ = std::string("checking it against ") + self->options_.server.caFile +
                                " failed: " + err->message;
      g_error_free(err);
      return FALSE;
    }
    errors = flags;
  }
  self->certificateError_ = self->certificateProblem(errors);
  return FALSE;
}

std::string SignalingClient::certificateProblem(unsigned flags) const {
  std::string out;
  auto add = [&](GTlsCertificateFlags f, const char* text) {
    if (!(flags & f)) return;
    if (!out.empty()) out += "; ";
    out += text;
  };
  add(G_TLS_CERTIFICATE_UNKNOWN_CA, "it is not signed by a trusted CA");
  add(G_TLS_CERTIFICATE_BAD_IDENTITY, "it does not match the host name");
  add(G_TLS_CERTIFICATE_NOT_ACTIVATED, "it is not valid yet");
  add(G_TLS_CERTIFICATE_EXPIRED, "it has expired");
  add(G_TLS_CERTIFICATE_REVOKED, "it has been revoked");
  add(G_TLS_CERTIFICATE_INSECURE, "it uses an insecure algorithm");
  add(G_TLS_CERTIFICATE_GENERIC_ERROR, "it could not be verified");
  if (out.empty()) out = "it was refused";
  return "the server's TLS certificate for " + options_.server.host + " was rejected: " + out +
         (options_.server.caFile.empty() ? " (give a CA file, or turn verification off for tests)"
                                         : "");
}

void SignalingClient::fetchId() {
  std::random_device rd;
  std::string bust = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count()) +
                     std::to_string(rd());
  const auto& s = options_.server;
  url_ = buildIdUrl(s.secure, s.host, s.port, s.path, s.key, bust);
  SoupMessage* msg = soup_message_new("GET", url_.c_str());
  if (!msg) {
    onIdFetched(nullptr, {}, "the URL " + url_ + " is invalid");
    return;
  }
  setupTls(msg);
  cancellable_ = g_cancellable_new();
  auto* box = new AsyncBox{weak_from_this(), G_CANCELLABLE(g_object_ref(cancellable_)), msg};
  soup_session_send_and_read_async(
      session_, msg, G_PRIORITY_DEFAULT, cancellable_,
      [](GObject* source, GAsyncResult* res, gpointer data) {
        std::unique_ptr<AsyncBox> box(static_cast<AsyncBox*>(data));
        GError* err = nullptr;
        GBytes* bytes = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &err);
        std::string body, error;
        if (bytes) {
          gsize size = 0;
          const char* p = static_cast<const char*>(g_bytes_get_data(bytes, &size));
          body.assign(p ? p : "", size);
          g_bytes_unref(bytes);
        }
        bool cancelled = err && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        if (err) {
          error = err->message;
          g_error_free(err);
        }
        auto self = box->client.lock();
        if (!self || self->stopped_ || cancelled || box->cancellable != self->cancellable_) return;
        g_clear_object(&self->cancellable_);
        self->onIdFetched(box->msg, std::move(body), std::move(error));
      },
      box);
}

void SignalingClient::onIdFetched(SoupMessage* msg, std::string body, std::string error) {
  auto self = shared_from_this();
  std::string problem;
  if (!error.empty()) {
    problem = error;
    if (!certificateError_.empty()) problem += " (" + certificateError_ + ")";
  } else if (msg && soup_message_get_status(msg) != SOUP_STATUS_OK) {
    problem = httpStatusText(msg);
  } else {
    std::string id = trim(std::move(body));
    if (id.empty()) {
      problem = "the server answered with an empty id";
    } else if (id.size() > 256) {
      problem = "the server answered with an id of " + std::to_string(id.size()) + " characters";
    } else {
      {
        std::lock_guard lock(idMutex_);
        id_ = id;
      }
      startCore();
      return;
    }
  }
  std::string hint;
  if (options_.server.path == "/" && options_.server.host != "0.peerjs.com")
    hint = " If the server is mounted at a path, give that same path.";
  auto handlers = handlers_;
  stop();
  if (handlers.error)
    handlers.error({PeerJsErrorType::ServerError, "could not get an ID from the server (GET " +
                                                      url_ + "): " + problem + "." + hint});
}

void SignalingClient::connectSocket() {
  const auto& s = options_.server;
  url_ = buildSocketUrl(s.secure, s.host, s.port, s.path, s.key, id(), options_.token);
  SoupMessage* msg = soup_message_new("GET", url_.c_str());
  if (!msg) {
    core_->socketFailed(Clock::now(), "the URL " + url_ + " is invalid", true);
    return;
  }
  setupTls(msg);
  lastSocketError_.clear();
  if (cancellable_) {
    g_cancellable_cancel(cancellable_);
    g_clear_object(&cancellable_);
  }
  cancellable_ = g_cancellable_new();
  auto* box = new AsyncBox{weak_from_this(), G_CANCELLABLE(g_object_ref(cancellable_)), msg};
  soup_session_websocket_connect_async(
      session_, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, cancellable_,
      [](GObject* source, GAsyncResult* res, gpointer data) {
        std::unique_ptr<AsyncBox> box(static_cast<AsyncBox*>(data));
        GError* err = nullptr;
        SoupWebsocketConnection* ws =
            soup_session_websocket_connect_finish(SOUP_SESSION(source), res, &err);
        std::string error = err ? err->message : "";
        bool cancelled = err && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        if (err) g_error_free(err);
        auto self = box->client.lock();
        if (!self || self->stopped_ || cancelled || box->cancellable != self->cancellable_) {
          if (ws) {
            soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
            g_object_unref(ws);
          }
          return;
        }
        g_clear_object(&self->cancellable_);
        if (!ws) {
          std::string status = httpStatusText(box->msg);
          bool fatal = !self->certificateError_.empty();
          std::string reason = "could not connect to " + self->url_ + ": " + error;
          if (!status.empty() &&
              soup_message_get_status(box->msg) != SOUP_STATUS_SWITCHING_PROTOCOLS)
            reason += " (" + status + ")";
          if (fatal) reason += " (" + self->certificateError_ + ")";
          self->onSocketConnected(nullptr, reason, fatal);
        } else {
          self->onSocketConnected(ws, {}, false);
        }
      },
      box);
}

void SignalingClient::onSocketConnected(SoupWebsocketConnection* ws, std::string error,
                                        bool fatal) {
  auto self = shared_from_this();
  if (!ws) {
    core_->socketFailed(Clock::now(), error, fatal);
    drive();
    return;
  }
  ws_ = ws;
  soup_websocket_connection_set_max_incoming_payload_size(ws_, kMaxServerFrame);
  g_signal_connect(ws_, "message", G_CALLBACK(&SignalingClient::wsMessageThunk), this);
  g_signal_connect(ws_, "closed", G_CALLBACK(&SignalingClient::wsClosedThunk), this);
  g_signal_connect(ws_, "error", G_CALLBACK(&SignalingClient::wsErrorThunk), this);
  // Pings make a dead path show: a live server answers each with a pong (see silenceLimit).
  if (options_.silenceLimit.count() > 0) {
    auto every = std::max<guint>(1, static_cast<guint>(options_.silenceLimit.count() / 3000));
    soup_websocket_connection_set_keepalive_interval(ws_, every);
    g_signal_connect(ws_, "pong", G_CALLBACK(&SignalingClient::wsPongThunk), this);
  }
  core_->socketOpened(Clock::now());
  drive();
}

void SignalingClient::wsMessageThunk(SoupWebsocketConnection*, int, GBytes* data, void* p) {
  auto* self = static_cast<SignalingClient*>(p);
  gsize size = 0;
  const char* bytes = static_cast<const char*>(g_bytes_get_data(data, &size));
  self->onSocketText(std::string(bytes ? bytes : "", size));
}

void SignalingClient::wsPongThunk(SoupWebsocketConnection*, GBytes*, void* p) {
  auto* self = static_cast<SignalingClient*>(p);
  self->core_->socketHeard(Clock::now());
  self->drive();
}

void SignalingClient::wsClosedThunk(SoupWebsocketConnection*, void* p) {
  static_cast<SignalingClient*>(p)->onSocketClosed();
}

void SignalingClient::wsErrorThunk(SoupWebsocketConnection*, GError* error, void* p) {
  static_cast<SignalingClient*>(p)->onSocketError(error ? error->message : "unknown error");
}

void SignalingClient::onSocketText(std::string text) {
  auto self = shared_from_this();
  core_->socketText(Clock::now(), text);
  drive();
}

void SignalingClient::onSocketError(const std::string& message) { lastSocketError_ = message; }

void SignalingClient::onSocketClosed() {
  auto self = shared_from_this();
  std::string reason = "the connection to " + options_.server.host + ":" +
                       std::to_string(options_.server.port) + " closed";
  if (ws_) {
    gushort code = soup_websocket_connection_get_close_code(ws_);
    const char* data = soup_websocket_connection_get_close_data(ws_);
    if (code != 0)
      reason += " (close code " + std::to_string(code) +
                (data && *data ? std::string(": ") + data : std::string()) + ")";
  }
  if (!lastSocketError_.empty()) reason += ": " + lastSocketError_;
  dropSocket(false);
  core_->socketClosed(Clock::now(), reason);
  drive();
}

void SignalingClient::dropSocket(bool sendClose) {
  if (!ws_) return;
  SoupWebsocketConnection* ws = ws_;
  ws_ = nullptr;
  g_signal_handlers_disconnect_by_data(ws, this);
  if (sendClose && soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
  // We may be inside one of its signal handlers: release it from a fresh stack. (libsoup keeps
  // the object alive by itself until its close has completed.)
  rt_->post([ws] { g_object_unref(ws); });
}

Result SignalingClient::send(std::string frame) {
  if (stopped_) return Result::failure("the signaling connection is closed");
  Result r = core_->send(std::move(frame));
  if (r) drive();
  return r;
}

void SignalingClient::drive() {
  if (stopped_) return;
  auto self = shared_from_this();
  for (int round = 0; round < kMaxDriveRounds && !stopped_; ++round) {
    auto actions = core_->takeActions();
    if (actions.empty()) break;
    for (auto& a : actions) {
      if (stopped_) break;
      switch (a.kind) {
        case ClientAction::Kind::Connect:
          connectSocket();
          break;
        case ClientAction::Kind::SendText:
          if (ws_ && soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN)
            soup_websocket_connection_send_text(ws_, a.text.c_str());
          break;
        case ClientAction::Kind::CloseSocket:
          if (cancellable_) {
            g_cancellable_cancel(cancellable_);
            g_clear_object(&cancellable_);
          }
          dropSocket(true);
          break;
        case ClientAction::Kind::Opened:
          updateState();
          if (auto h = handlers_.opened) h(a.text);  // a copy: the handler may call stop()
          break;
        case ClientAction::Kind::Message:
          if (auto h = handlers_.message) h(a.message);
          break;
        case ClientAction::Kind::Error:
          updateState();
          if (auto h = handlers_.error) h(a.error);
          break;
        case ClientAction::Kind::Disconnected:
          updateState();
          if (auto h = handlers_.disconnected) h(a.text);
          break;
      }
    }
  }
  if (stopped_) return;
  updateState();
  rearmTimer();
}

void SignalingClient::rearmTimer() {
  if (timer_) {
    g_source_destroy(timer_);
    g_source_unref(timer_);
    timer_ = nullptr;
  }
  auto at = core_->nextDeadline();
  if (!at || stopped_) return;
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(*at - Clock::now());
  guint ms = static_cast<guint>(std::clamp<int64_t>(wait.count(), 0, 24 * 3600 * 1000));
  timer_ = g_timeout_source_new(ms);
  g_source_set_callback(timer_, reinterpret_cast<GSourceFunc>(&SignalingClient::timerThunk), this,
                        nullptr);
  g_source_attach(timer_, rt_->context());
}

int SignalingClient::timerThunk(void* p) {
  auto* self = static_cast<SignalingClient*>(p);
  auto keep = self->shared_from_this();
  g_source_unref(self->timer_);  // the context keeps it alive until this dispatch returns
  self->timer_ = nullptr;
  self->core_->timer(Clock::now());
  self->drive();
  return G_SOURCE_REMOVE;
}

void SignalingClient::stop() {
  if (stopped_) return;
  stopped_ = true;
  core_->stop();
  (void)core_->takeActions();
  if (timer_) {
    g_source_destroy(timer_);
    g_source_unref(timer_);
    timer_ = nullptr;
  }
  if (cancellable_) {
    g_cancellable_cancel(cancellable_);
    g_clear_object(&cancellable_);
  }
  if (ws_) {
    SoupWebsocketConnection* ws = ws_;
    ws_ = nullptr;
    g_signal_handlers_disconnect_by_data(ws, this);
    if (soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
    rt_->post([ws] { g_object_unref(ws); });
  }
  if (session_) {
    soup_session_abort(session_);
    SoupSession* session = session_;
    session_ = nullptr;
    rt_->post([session] { g_object_unref(session); });
  }
  if (extraCa_) g_clear_object(&extraCa_);
  handlers_ = {};
  state_.store(PeerJsSignalingState::Closed);
}

}  // namespace claynet::signaling
