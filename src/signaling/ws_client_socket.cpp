#include "signaling/ws_client_socket.hpp"

#include <algorithm>
#include <cctype>

namespace claynet::signaling {

namespace {

constexpr std::size_t kMaxUpgradeAnswer = 16 * 1024;
constexpr std::size_t kReadChunk = 64 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

std::string errorText(GError* error) { return error && error->message ? error->message : "?"; }

void dropSource(GSource*& source) {
  if (!source) return;
  g_source_destroy(source);
  g_clear_pointer(&source, g_source_unref);
}

}  // namespace

struct WsClientSocket::Box {
  std::weak_ptr<WsClientSocket> socket;
  GCancellable* cancellable;
};

WsClientSocket::WsClientSocket(GMainContext* context, Options options, Handlers handlers)
    : context_(context),
      options_(std::move(options)),
      handlers_(std::move(handlers)),
      reader_(ws::Role::Client, options_.maxMessage),
      rng_(std::random_device{}()) {}

WsClientSocket::~WsClientSocket() {
  finished_ = true;
  release();
}

void WsClientSocket::start() {
  guint8 nonce[16];
  for (auto& b : nonce) b = static_cast<guint8>(rng_());
  gchar* key = g_base64_encode(nonce, sizeof nonce);
  key_ = key;
  g_free(key);

  client_ = g_socket_client_new();
  g_socket_client_set_timeout(client_, options_.timeoutSeconds);
  if (options_.secure) g_socket_client_set_tls(client_, TRUE);
  g_object_set_data(G_OBJECT(client_), "claynet-ws", this);
  g_signal_connect(client_, "event", G_CALLBACK(&WsClientSocket::onClientEvent), this);
  cancellable_ = g_cancellable_new();
  timer_ = g_timeout_source_new_seconds(options_.timeoutSeconds);
  g_source_set_callback(timer_, &WsClientSocket::onTimeout, this, nullptr);
  g_source_attach(timer_, context_);
  auto* box = new Box{weak_from_this(), G_CANCELLABLE(g_object_ref(cancellable_))};
  g_socket_client_connect_to_host_async(client_, options_.host.c_str(), options_.port, cancellable_,
                                        &WsClientSocket::onConnected, box);
}

void WsClientSocket::onClientEvent(GSocketClient*, GSocketClientEvent event, GSocketConnectable*,
                                   GIOStream* connection, gpointer data) {
  auto* self = static_cast<WsClientSocket*>(data);
  if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING && G_IS_TLS_CONNECTION(connection))
    g_signal_connect_object(connection, "accept-certificate",
                            G_CALLBACK(&WsClientSocket::onAcceptCertificate), self->client_,
                            GConnectFlags(0));
}

gboolean WsClientSocket::onAcceptCertificate(GTlsConnection*, GTlsCertificate* certificate,
                                             GTlsCertificateFlags errors, gpointer client) {
  // Connected with the GSocketClient as data (the handler goes with it): find ours through it;
  // release() unsets it.
  auto* self = static_cast<WsClientSocket*>(g_object_get_data(G_OBJECT(client), "claynet-ws"));
  if (!self || self->finished_ || !self->handlers_.acceptCertificate) return FALSE;
  return self->handlers_.acceptCertificate(certificate, errors, self->certificateProblem_) ? TRUE
                                                                                           : FALSE;
}

void WsClientSocket::onConnected(GObject* source, GAsyncResult* result, gpointer data) {
  std::unique_ptr<Box> box(static_cast<Box*>(data));
  GError* error = nullptr;
  GSocketConnection* connection =
      g_socket_client_connect_to_host_finish(G_SOCKET_CLIENT(source), result, &error);
  auto self = box->socket.lock();
  bool cancelled = g_cancellable_is_cancelled(box->cancellable);
  g_object_unref(box->cancellable);
  if (!self || cancelled || self->finished_) {
    if (connection) {
      g_io_stream_close(G_IO_STREAM(connection), nullptr, nullptr);
      g_object_unref(connection);
    }
    g_clear_error(&error);
    return;
  }
  if (!connection) {
    std::string reason = errorText(error);
    g_clear_error(&error);
    bool fatal = !self->certificateProblem_.empty();
    if (fatal) reason += " (" + self->certificateProblem_ + ")";
    self->finish(reason, fatal);
    return;
  }
  self->adopt(connection);
}

void WsClientSocket::adopt(GSocketConnection* connection) {
  connection_ = connection;  // takes the reference
  in_ = G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(G_IO_STREAM(connection_)));
  out_ = G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(G_IO_STREAM(connection_)));
  std::string host = options_.host.find(':') != std::string::npos && options_.host[0] != '['
                         ? "[" + options_.host + "]"
                         : options_.host;
  outBuffer_ = "GET " + options_.resource + " HTTP/1.1\r\nHost: " + host + ":" +
               std::to_string(options_.port) +
               "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key_ +
               "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  inSource_ = g_pollable_input_stream_create_source(in_, nullptr);
  g_source_set_callback(inSource_, G_SOURCE_FUNC(&WsClientSocket::onReadable), this, nullptr);
  g_source_attach(inSource_, context_);
  flushOut();
}

gboolean WsClientSocket::onReadable(GObject*, gpointer data) {
  auto self = static_cast<WsClientSocket*>(data)->shared_from_this();
  self->readSome();
  return G_SOURCE_CONTINUE;
}

void WsClientSocket::readSome() {
  // A bounded amount per dispatch, so that a fast server cannot starve the network thread.
  char buffer[kReadChunk];
  for (int round = 0; round < 4 && !finished_; ++round) {
    GError* error = nullptr;
    gssize n =
        g_pollable_input_stream_read_nonblocking(in_, buffer, sizeof buffer, nullptr, &error);
    if (n < 0) {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        g_clear_error(&error);
        return;
      }
      std::string why = errorText(error);
      g_clear_error(&error);
      finish("reading from the server failed: " + why);
      return;
    }
    if (n == 0) {
      finish(open_ ? "the server closed the connection without a close frame"
                   : "the server closed the connection during the WebSocket upgrade");
      return;
    }
    if (!open_) {
      int state = handleHandshake(buffer, static_cast<std::size_t>(n));
      if (state < 0 || finished_) return;
      if (state == 0) continue;
      // What followed the answer in the same read is the first frame data.
      std::string rest = std::move(header_);
      header_.clear();
      if (!rest.empty() && !feed(rest.data(), rest.size())) return;
      continue;
    }
    if (!feed(buffer, static_cast<std::size_t>(n))) return;
  }
}

bool WsClientSocket::feed(char* data, std::size_t size) {
  if (reader_.feed(data, size, *this)) return !finished_;
  if (finished_) return false;
  std::string why = reader_.errorReason();
  if (!closeSent_) {
    ws::appendCloseFrame(outBuffer_, reader_.errorCode(), why, true,
                         static_cast<std::uint32_t>(rng_()));
    closeSent_ = true;
    flushOut();
  }
  finish("the server broke the WebSocket protocol: " + why);
  return false;
}

// Collects the upgrade answer; once complete, checks it and leaves what followed it in header_.
// Returns 1 when open, 0 while incomplete, -1 when refused.
int WsClientSocket::handleHandshake(const char* data, std::size_t size) {
  header_.append(data, size);
  auto end = header_.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (header_.size() <= kMaxUpgradeAnswer) return 0;
    finish("the server's answer to the WebSocket upgrade is longer than " +
           std::to_string(kMaxUpgradeAnswer) + " bytes");
    return -1;
  }
  std::string answer = header_.substr(0, end);
  header_.erase(0, end + 4);
  auto lineEnd = answer.find("\r\n");
  std::string status = answer.substr(0, lineEnd);
  // "HTTP/1.1 101 Switching Protocols"
  auto sp = status.find(' ');
  std::string code = sp == std::string::npos ? "" : status.substr(sp + 1, 3);
  if (status.rfind("HTTP/1.", 0) != 0 || code != "101") {
    std::string text = sp == std::string::npos ? status : status.substr(sp + 1);
    finish("the server refused the WebSocket upgrade (HTTP " + trim(text).substr(0, 200) + ")");
    return -1;
  }
  std::string accept;
  for (std::size_t at = lineEnd; at != std::string::npos && at < answer.size();) {
    std::size_t next = answer.find("\r\n", at + 2);
    std::string line =
        answer.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
    auto colon = line.find(':');
    if (colon != std::string::npos && lower(line.substr(0, colon)) == "sec-websocket-accept")
      accept = trim(std::string_view(line).substr(colon + 1));
    at = next;
  }
  if (accept != ws::acceptKey(key_)) {
    finish("the server's WebSocket upgrade answer has a wrong Sec-WebSocket-Accept");
    return -1;
  }
  open_ = true;
  dropSource(timer_);
  if (options_.pingSeconds > 0) {
    pingTimer_ = g_timeout_source_new_seconds(options_.pingSeconds);
    g_source_set_callback(pingTimer_, &WsClientSocket::onPingDue, this, nullptr);
    g_source_attach(pingTimer_, context_);
  }
  auto keep = shared_from_this();
  if (handlers_.opened) handlers_.opened();
  return finished_ ? -1 : 1;
}

void WsClientSocket::sendText(std::string_view text) {
  if (!isOpen() || closeSent_) return;
  ws::appendMaskedFrame(outBuffer_, ws::Opcode::Text, text, static_cast<std::uint32_t>(rng_()));
  flushOut();
}

void WsClientSocket::flushOut() {
  while (out_ && outOffset_ < outBuffer_.size()) {
    GError* error = nullptr;
    gssize n = g_pollable_output_stream_write_nonblocking(
        out_, outBuffer_.data() + outOffset_, outBuffer_.size() - outOffset_, nullptr, &error);
    if (n < 0) {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        g_clear_error(&error);
        if (!outSource_ && !finished_) {
          outSource_ = g_pollable_output_stream_create_source(out_, nullptr);
          g_source_set_callback(outSource_, G_SOURCE_FUNC(&WsClientSocket::onWritable), this,
                                nullptr);
          g_source_attach(outSource_, context_);
        }
        return;
      }
      std::string why = errorText(error);
      g_clear_error(&error);
      if (!finished_) finish("writing to the server failed: " + why);
      return;
    }
    outOffset_ += static_cast<std::size_t>(n);
  }
  outBuffer_.clear();
  outOffset_ = 0;
}

gboolean WsClientSocket::onWritable(GObject*, gpointer data) {
  auto self = static_cast<WsClientSocket*>(data)->shared_from_this();
  dropSource(self->outSource_);
  self->flushOut();
  return G_SOURCE_REMOVE;
}

gboolean WsClientSocket::onTimeout(gpointer data) {
  auto self = static_cast<WsClientSocket*>(data)->shared_from_this();
  g_clear_pointer(&self->timer_, g_source_unref);
  self->finish("no WebSocket connection within " + std::to_string(self->options_.timeoutSeconds) +
               " s");
  return G_SOURCE_REMOVE;
}

gboolean WsClientSocket::onPingDue(gpointer data) {
  auto* self = static_cast<WsClientSocket*>(data);
  if (self->closeSent_ || self->finished_) return G_SOURCE_CONTINUE;
  ws::appendMaskedFrame(self->outBuffer_, ws::Opcode::Ping, {},
                        static_cast<std::uint32_t>(self->rng_()));
  self->flushOut();
  return G_SOURCE_CONTINUE;
}

void WsClientSocket::onMessage(bool, std::string_view data) {
  if (finished_) return;
  auto keep = shared_from_this();
  if (handlers_.message) handlers_.message(std::string(data));
}

void WsClientSocket::onPing(std::string_view payload) {
  if (closeSent_ || finished_) return;
  ws::appendMaskedFrame(outBuffer_, ws::Opcode::Pong, payload, static_cast<std::uint32_t>(rng_()));
  flushOut();
}

void WsClientSocket::onPong(std::string_view) {
  if (finished_) return;
  auto keep = shared_from_this();
  if (handlers_.pong) handlers_.pong();
}

void WsClientSocket::onClose(std::uint16_t code, std::string_view reason) {
  if (!closeSent_) {
    ws::appendCloseFrame(outBuffer_, code == ws::kCloseNoStatus ? ws::kCloseNormal : code, {}, true,
                         static_cast<std::uint32_t>(rng_()));
    closeSent_ = true;
    flushOut();
  }
  std::string text = "the server closed the connection";
  if (code != ws::kCloseNoStatus)
    text += " (close code " + std::to_string(code) +
            (reason.empty() ? std::string() : ": " + std::string(reason)) + ")";
  finish(text);
}

void WsClientSocket::close() {
  if (finished_) return;
  if (open_ && !closeSent_) {
    ws::appendCloseFrame(outBuffer_, ws::kCloseNormal, {}, true,
                         static_cast<std::uint32_t>(rng_()));
    closeSent_ = true;
    flushOut();
  }
  finished_ = true;
  release();
}

void WsClientSocket::finish(const std::string& reason, bool fatal) {
  if (finished_) return;
  finished_ = true;
  bool wasOpen = open_;
  auto keep = shared_from_this();
  auto ended = std::move(handlers_.ended);
  release();
  if (ended) ended(reason, wasOpen, fatal);
}

void WsClientSocket::release() {
  dropSource(timer_);
  dropSource(pingTimer_);
  dropSource(inSource_);
  dropSource(outSource_);
  if (cancellable_) {
    g_cancellable_cancel(cancellable_);
    g_clear_object(&cancellable_);
  }
  if (client_) {
    g_object_set_data(G_OBJECT(client_), "claynet-ws", nullptr);
    g_signal_handlers_disconnect_by_data(client_, this);
    g_clear_object(&client_);
  }
  if (connection_) {
    // Closed in the background: a TLS close may want to write, and must not block this thread.
    g_io_stream_close_async(
        G_IO_STREAM(connection_), G_PRIORITY_DEFAULT, nullptr,
        [](GObject* source, GAsyncResult* result, gpointer) {
          g_io_stream_close_finish(G_IO_STREAM(source), result, nullptr);
          g_object_unref(source);
        },
        nullptr);
    connection_ = nullptr;  // the callback releases it
    in_ = nullptr;
    out_ = nullptr;
  }
}

}  // namespace claynet::signaling
