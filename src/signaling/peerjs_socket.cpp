#include "signaling/peerjs_socket.hpp"

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

#include "signaling/soup_types.hpp"

namespace claynet::signaling {

namespace {

// The I/O timeout of the id request, and the time a WebSocket has to come up.
constexpr guint kHandshakeTimeoutSeconds = 15;
// An id is at most 256 characters; a server that sends much more is not answering the question.
constexpr std::size_t kMaxIdBody = 4096;
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

// Frees `err` (may be null), keeping its message in `message`; true when it was a cancellation.
bool takeError(GError*& err, std::string& message) {
  if (!err) return false;
  bool cancelled = g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  message = err->message;
  g_clear_error(&err);
  return cancelled;
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
  if (!options_.server.lanSecret.empty())
    cfg.firstFrame =
        nlohmann::json{{"id", options_.id}, {"secret", options_.server.lanSecret}}.dump();
  core_ = std::make_unique<ClientCore>(cfg);
}

SignalingClient::~SignalingClient() {
  // stop() normally ran on the network thread already; this only frees what is left.
  if (timer_) {
    g_source_destroy(timer_);
    g_source_unref(timer_);
  }
  if (ws_) ws_->close();
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
  registerSoupTypes();
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
  return self->acceptCertificate(G_TLS_CERTIFICATE(cert), errors, self->certificateError_) ? TRUE
                                                                                           : FALSE;
}

bool SignalingClient::acceptCertificate(GTlsCertificate* cert, unsigned errors,
                                        std::string& problem) {
  if (stopped_) return false;
  if (!options_.server.verifyCertificate) return true;
  // Only called when the system's trust store refused the certificate: try the extra CAs.
  if (extraCa_) {
    GSocketConnectable* identity =
        g_network_address_new(options_.server.host.c_str(), options_.server.port);
    GError* err = nullptr;
    GTlsCertificateFlags flags =
        g_tls_database_verify_chain(extraCa_, cert, G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER,
                                    identity, nullptr, G_TLS_DATABASE_VERIFY_NONE, nullptr, &err);
    g_object_unref(identity);
    if (!err && flags == 0) return true;
    if (err) {
      problem =
          std::string("checking it against ") + options_.server.caFile + " failed: " + err->message;
      g_error_free(err);
      return false;
    }
    errors = flags;
  }
  problem = certificateProblem(errors);
  return false;
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
  // The body is read in bounded steps (readIdBody), not with send_and_read: that would keep
  // whatever a hostile server sends.
  soup_session_send_async(
      session_, msg, G_PRIORITY_DEFAULT, cancellable_,
      [](GObject* source, GAsyncResult* res, gpointer data) {
        std::unique_ptr<AsyncBox> box(static_cast<AsyncBox*>(data));
        GError* err = nullptr;
        GInputStream* stream = soup_session_send_finish(SOUP_SESSION(source), res, &err);
        std::string error;
        bool cancelled = takeError(err, error);
        auto self = box->client.lock();
        if (!self || self->stopped_ || cancelled || box->cancellable != self->cancellable_) {
          if (stream) g_object_unref(stream);
          return;
        }
        if (!stream) {
          g_clear_object(&self->cancellable_);
          self->onIdFetched(box->msg, {}, std::move(error));
          return;
        }
        self->readIdBody(stream, box->msg, {});
      },
      box);
}

void SignalingClient::readIdBody(GInputStream* stream, SoupMessage* msg, std::string body) {
  struct ReadBox {
    std::weak_ptr<SignalingClient> client;
    GInputStream* stream;
    SoupMessage* msg;
    std::string body;
    char buffer[1024];
    ~ReadBox() {
      g_object_unref(stream);
      g_object_unref(msg);
    }
  };
  auto* box =
      new ReadBox{weak_from_this(), stream, SOUP_MESSAGE(g_object_ref(msg)), std::move(body), {}};
  g_input_stream_read_async(
      stream, box->buffer, sizeof box->buffer, G_PRIORITY_DEFAULT, cancellable_,
      [](GObject*, GAsyncResult* res, gpointer data) {
        std::unique_ptr<ReadBox> box(static_cast<ReadBox*>(data));
        GError* err = nullptr;
        gssize n = g_input_stream_read_finish(box->stream, res, &err);
        std::string error;
        bool cancelled = takeError(err, error);
        auto self = box->client.lock();
        if (!self || self->stopped_ || cancelled) return;
        if (n > 0) box->body.append(box->buffer, static_cast<std::size_t>(n));
        if (n > 0 && box->body.size() <= kMaxIdBody) {
          self->readIdBody(G_INPUT_STREAM(g_object_ref(box->stream)), box->msg,
                           std::move(box->body));
          return;
        }
        g_clear_object(&self->cancellable_);
        if (box->body.size() > kMaxIdBody)
          error = "the answer is longer than " + std::to_string(kMaxIdBody) + " bytes";
        self->onIdFetched(box->msg, std::move(box->body), std::move(error));
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
  if (s.secure && !g_tls_backend_supports_tls(g_tls_backend_get_default())) {
    core_->socketFailed(Clock::now(), "no TLS backend for wss://" + s.host, true);
    return;
  }
  certificateError_.clear();
  WsClientSocket::Options o;
  o.host = s.host;
  o.port = s.port;
  o.secure = s.secure;
  // "ws://host:port/path..." -> "/path..."
  auto slash = url_.find('/', url_.find("://") + 3);
  o.resource = slash == std::string::npos ? "/" : url_.substr(slash);
  o.maxMessage = kMaxServerFrame;
  o.timeoutSeconds = kHandshakeTimeoutSeconds;
  // Pings make a dead path show: a live server answers each with a pong (see silenceLimit).
  if (options_.silenceLimit.count() > 0)
    o.pingSeconds =
        std::max<unsigned>(1, static_cast<unsigned>(options_.silenceLimit.count() / 3000));
  std::weak_ptr<SignalingClient> weak = weak_from_this();
  WsClientSocket::Handlers h;
  h.opened = [weak] {
    if (auto self = weak.lock()) self->onSocketOpened();
  };
  h.message = [weak](std::string&& text) {
    if (auto self = weak.lock()) self->onSocketText(std::move(text));
  };
  h.pong = [weak] {
    if (auto self = weak.lock()) {
      self->core_->socketHeard(Clock::now());
      self->drive();
    }
  };
  h.ended = [weak](const std::string& reason, bool wasOpen, bool fatal) {
    if (auto self = weak.lock()) self->onSocketEnded(reason, wasOpen, fatal);
  };
  h.acceptCertificate = [weak](GTlsCertificate* cert, GTlsCertificateFlags errors,
                               std::string& problem) {
    auto self = weak.lock();
    return self && self->acceptCertificate(cert, errors, problem);
  };
  if (ws_) ws_->close();
  ws_ = std::make_shared<WsClientSocket>(rt_->context(), std::move(o), std::move(h));
  ws_->start();
}

void SignalingClient::onSocketOpened() {
  auto self = shared_from_this();
  core_->socketOpened(Clock::now());
  drive();
}

void SignalingClient::onSocketText(std::string text) {
  auto self = shared_from_this();
  core_->socketText(Clock::now(), text);
  drive();
}

void SignalingClient::onSocketEnded(const std::string& reason, bool wasOpen, bool fatal) {
  auto self = shared_from_this();
  if (ws_) {
    // Released from a fresh stack: we are inside one of its handlers.
    rt_->post([ws = std::move(ws_)] {});
  }
  if (wasOpen) {
    core_->socketClosed(Clock::now(), "the connection to " + options_.server.host + ":" +
                                          std::to_string(options_.server.port) +
                                          " ended: " + reason);
  } else {
    core_->socketFailed(Clock::now(), "could not connect to " + url_ + ": " + reason, fatal);
  }
  drive();
}

void SignalingClient::dropSocket(bool sendClose) {
  if (!ws_) return;
  auto ws = std::move(ws_);
  if (sendClose) ws->close();
  // We may be inside one of its handlers: release it from a fresh stack.
  rt_->post([ws = std::move(ws)] {});
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
          if (ws_ && ws_->isOpen()) ws_->sendText(a.text);
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
    auto ws = std::move(ws_);
    ws->close();
    rt_->post([ws = std::move(ws)] {});
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
