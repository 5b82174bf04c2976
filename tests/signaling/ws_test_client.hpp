// WebSocket and HTTP clients for the claynet-signal tests.
//  - WsClient: libsoup's own WebSocket client (an implementation independent of the server's
//    framing), driven synchronously on the test thread's default GMainContext.
//  - RawWs: a bare TCP socket that does the upgrade by hand and then sends whatever bytes a test
//    wants (malformed frames, a client that never reads or never answers), reading frames back
//    with the server's frame reader in client role.
//  - httpGet: one HTTP(S) request through libsoup.
#pragma once

#include <arpa/inet.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "signaling/signal_server_frames.hpp"

namespace claynet::test {

using namespace std::chrono_literals;

/// Iterates the test thread's default main context until `done` or the timeout.
inline bool iterateUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    if (!g_main_context_iteration(nullptr, FALSE)) g_usleep(500);
  }
  return true;
}

inline void iterateFor(std::chrono::milliseconds duration) {
  iterateUntil([] { return false; }, duration);
}

inline gboolean acceptAnyCertificate(SoupMessage*, GTlsCertificate*, GTlsCertificateFlags,
                                     gpointer) {
  return TRUE;  // the tests' self-signed certificate
}

/// A WebSocket client built on libsoup's SoupSession.
class WsClient {
 public:
  /// Connects to `url` (ws:// or wss://; any certificate is accepted). Returns null on failure,
  /// with the reason in `error` (libsoup's message, or the HTTP status of a refused upgrade).
  static std::unique_ptr<WsClient> open(const std::string& url, std::string* error = nullptr,
                                        std::chrono::milliseconds timeout = 5s) {
    auto client = std::unique_ptr<WsClient>(new WsClient);
    client->session_ = soup_session_new();
    SoupMessage* msg = soup_message_new("GET", url.c_str());
    if (!msg) {
      if (error) *error = "bad URL " + url;
      return nullptr;
    }
    g_signal_connect(msg, "accept-certificate", G_CALLBACK(acceptAnyCertificate), nullptr);
    struct Pending {
      bool done = false;
      SoupWebsocketConnection* conn = nullptr;
      std::string error;
    } pending;
    soup_session_websocket_connect_async(
        client->session_, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, nullptr,
        [](GObject* source, GAsyncResult* result, gpointer data) {
          auto* p = static_cast<Pending*>(data);
          GError* err = nullptr;
          p->conn = soup_session_websocket_connect_finish(SOUP_SESSION(source), result, &err);
          if (err) {
            p->error = err->message;
            g_error_free(err);
          }
          p->done = true;
        },
        &pending);
    bool finished = iterateUntil([&] { return pending.done; }, timeout);
    if (!finished || !pending.conn) {
      if (error) *error = finished ? pending.error : "timed out";
      if (!finished) {
        // Let the cancelled operation finish before `pending` goes away.
        soup_session_abort(client->session_);
        iterateUntil([&] { return pending.done; }, 5s);
        if (pending.conn) g_object_unref(pending.conn);
      }
      g_object_unref(msg);
      return nullptr;
    }
    g_object_unref(msg);
    client->conn_ = pending.conn;
    // The server limits messages to 64 KiB; the client accepts what a server may send.
    soup_websocket_connection_set_max_incoming_payload_size(client->conn_, 0);
    g_signal_connect(client->conn_, "message", G_CALLBACK(&WsClient::onMessage), client.get());
    g_signal_connect(client->conn_, "closed", G_CALLBACK(&WsClient::onClosed), client.get());
    return client;
  }

  ~WsClient() {
    if (conn_) {
      g_signal_handlers_disconnect_by_data(conn_, this);
      if (soup_websocket_connection_get_state(conn_) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(conn_, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
      g_object_unref(conn_);
    }
    if (session_) g_object_unref(session_);
    iterateFor(std::chrono::milliseconds(1));
  }

  void send(const std::string& text) {
    GBytes* bytes = g_bytes_new(text.data(), text.size());
    soup_websocket_connection_send_message(conn_, SOUP_WEBSOCKET_DATA_TEXT, bytes);
    g_bytes_unref(bytes);
  }

  /// The next message, waiting at most `timeout`; nullopt when none came (or it closed first).
  std::optional<std::string> next(std::chrono::milliseconds timeout = 3s) {
    iterateUntil([&] { return !messages_.empty() || closed_; }, timeout);
    if (messages_.empty()) return std::nullopt;
    std::string m = std::move(messages_.front());
    messages_.pop_front();
    return m;
  }

  /// Everything that arrives within `duration`.
  std::vector<std::string> collect(std::chrono::milliseconds duration) {
    iterateFor(duration);
    std::vector<std::string> all(messages_.begin(), messages_.end());
    messages_.clear();
    return all;
  }

  bool waitClosed(std::chrono::milliseconds timeout = 5s) {
    return iterateUntil([&] { return closed_; }, timeout);
  }
  bool closed() const { return closed_; }
  int closeCode() const { return closed_ ? soup_websocket_connection_get_close_code(conn_) : -1; }
  std::string closeReason() const {
    const char* r = closed_ ? soup_websocket_connection_get_close_data(conn_) : nullptr;
    return r ? r : "";
  }

 private:
  WsClient() = default;
  static void onMessage(SoupWebsocketConnection*, gint, GBytes* message, gpointer self) {
    gsize size = 0;
    const char* data = static_cast<const char*>(g_bytes_get_data(message, &size));
    static_cast<WsClient*>(self)->messages_.emplace_back(data, size);
  }
  static void onClosed(SoupWebsocketConnection*, gpointer self) {
    static_cast<WsClient*>(self)->closed_ = true;
  }

  SoupSession* session_ = nullptr;
  SoupWebsocketConnection* conn_ = nullptr;
  std::deque<std::string> messages_;
  bool closed_ = false;
};

struct HttpReply {
  int status = 0;
  std::string body;
  std::string contentType;
  std::string allowOrigin;  // Access-Control-Allow-Origin
  std::string error;
};

/// GET (or another method) through libsoup, any certificate accepted.
inline HttpReply httpGet(const std::string& url, const std::string& origin = "",
                         const char* method = "GET") {
  HttpReply reply;
  SoupSession* session = soup_session_new();
  SoupMessage* msg = soup_message_new(method, url.c_str());
  if (!msg) {
    reply.error = "bad URL";
    g_object_unref(session);
    return reply;
  }
  g_signal_connect(msg, "accept-certificate", G_CALLBACK(acceptAnyCertificate), nullptr);
  if (!origin.empty())
    soup_message_headers_replace(soup_message_get_request_headers(msg), "Origin", origin.c_str());
  GError* error = nullptr;
  GBytes* body = soup_session_send_and_read(session, msg, nullptr, &error);
  if (error) {
    reply.error = error->message;
    g_error_free(error);
  }
  reply.status = static_cast<int>(soup_message_get_status(msg));
  if (body) {
    gsize size = 0;
    const char* data = static_cast<const char*>(g_bytes_get_data(body, &size));
    reply.body.assign(data ? data : "", size);
    g_bytes_unref(body);
  }
  SoupMessageHeaders* headers = soup_message_get_response_headers(msg);
  if (const char* t = soup_message_headers_get_one(headers, "Content-Type")) reply.contentType = t;
  if (const char* o = soup_message_headers_get_one(headers, "Access-Control-Allow-Origin"))
    reply.allowOrigin = o;
  g_object_unref(msg);
  g_object_unref(session);
  return reply;
}

/// A WebSocket client on a bare socket, for inputs a well-behaved library will not produce.
class RawWs : public signaling::ws::FrameSink {
 public:
  /// Connects TCP to 127.0.0.1:port. `receiveBuffer` > 0 shrinks SO_RCVBUF first (a client that
  /// is slow to read fills up quickly).
  bool connectTcp(std::uint16_t port, int receiveBuffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receiveBuffer > 0)
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
    timeval tv{0, 200000};  // reads wait at most 200 ms each
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    timeval stv{2, 0};
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &stv, sizeof stv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }

  /// Connects and upgrades; true when the server answered 101.
  bool open(std::uint16_t port, const std::string& query, int receiveBuffer = 0) {
    if (!connectTcp(port, receiveBuffer)) return false;
    std::string request = "GET /peerjs?" + query +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n";
    if (!sendAll(request)) return false;
    std::string header;
    auto end = std::chrono::steady_clock::now() + 5s;
    while (header.find("\r\n\r\n") == std::string::npos) {
      if (std::chrono::steady_clock::now() > end) return false;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return false;
      if (n > 0) header.append(buf, static_cast<std::size_t>(n));
    }
    auto pos = header.find("\r\n\r\n");
    std::string rest = header.substr(pos + 4);
    if (header.compare(0, 12, "HTTP/1.1 101") != 0) return false;
    if (header.find(signaling::ws::acceptKey("dGhlIHNhbXBsZSBub25jZQ==")) == std::string::npos)
      return false;
    if (!rest.empty()) reader_.feed(rest.data(), rest.size(), *this);
    return true;
  }

  ~RawWs() override {
    if (fd_ >= 0) ::close(fd_);
  }

  bool sendAll(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  bool sendText(std::string_view text) {
    std::string frame;
    signaling::ws::appendMaskedFrame(frame, signaling::ws::Opcode::Text, text, 0x0badf00d);
    return sendAll(frame);
  }

  /// Reads what arrives within `duration` (or until EOF); returns false once the server closed
  /// the TCP connection.
  bool pump(std::chrono::milliseconds duration) {
    auto end = std::chrono::steady_clock::now() + duration;
    while (!eof_ && std::chrono::steady_clock::now() < end) {
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) {
        eof_ = true;
      } else if (n > 0) {
        reader_.feed(buf, static_cast<std::size_t>(n), *this);
      } else if (errno == ECONNRESET) {
        eof_ = true;
      }
    }
    return !eof_;
  }
  /// Waits for the server to cut the connection.
  bool waitEof(std::chrono::milliseconds timeout) {
    pump(timeout);
    return eof_;
  }

  void onMessage(bool, std::string_view data) override { messages.emplace_back(data); }
  void onPing(std::string_view) override {}
  void onClose(std::uint16_t code, std::string_view reason) override {
    closeCode = code;
    closeReason = reason;
  }

  std::vector<std::string> messages;
  int closeCode = 0;
  std::string closeReason;
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool eof_ = false;
  signaling::ws::FrameReader reader_{signaling::ws::Role::Client, 16 << 20};
};

}  // namespace claynet::test
