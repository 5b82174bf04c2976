// The PeerJS client's WebSocket: GIO for TCP and TLS, the upgrade by hand, and claynet's own
// frame reader (signal_server_frames.hpp) in client role.
//
// libsoup 3.2 bounds each incoming frame but not a message reassembled from fragments, so a
// hostile server could make the client buffer without end. The frame reader checks every
// message against the limit from its frame headers, fragments counted together, before any of
// the payload is held. Internal; runs on one GMainContext (the Runtime's network thread).
#pragma once

#include <gio/gio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "signaling/signal_server_frames.hpp"

namespace claynet::signaling {

class WsClientSocket : public std::enable_shared_from_this<WsClientSocket>, private ws::FrameSink {
 public:
  struct Options {
    std::string host;
    std::uint16_t port = 0;
    bool secure = false;
    std::string resource;  ///< path and query, e.g. "/peerjs?key=peerjs&id=a"
    std::size_t maxMessage = 1 << 20;
    unsigned timeoutSeconds = 15;  ///< TCP, TLS and the upgrade answer together
    /// Once open, a ping every this many seconds (0: none), so that a dead path shows as silence.
    unsigned pingSeconds = 0;
  };
  struct Handlers {
    /// The server accepted the upgrade.
    std::function<void()> opened;
    std::function<void(std::string&& text)> message;
    /// A pong came (the server is alive even when it has nothing to say).
    std::function<void()> pong;
    /// The connection ended after opened(), or could not be made (`wasOpen` false). `reason` says
    /// why; `fatal` is set when retrying cannot help (a refused TLS certificate).
    std::function<void(const std::string& reason, bool wasOpen, bool fatal)> ended;
    /// TLS only: the system's trust store refused the server's certificate for `errors`
    /// (GTlsCertificateFlags); true accepts it anyway. `problem` receives a text for people.
    std::function<bool(GTlsCertificate* certificate, GTlsCertificateFlags errors,
                       std::string& problem)>
        acceptCertificate;
  };

  WsClientSocket(GMainContext* context, Options options, Handlers handlers);
  ~WsClientSocket() override;
  WsClientSocket(const WsClientSocket&) = delete;
  WsClientSocket& operator=(const WsClientSocket&) = delete;

  /// Connects; handlers run later, on the context's thread.
  void start();
  /// Queues one text message (no-op unless open).
  void sendText(std::string_view text);
  /// Sends a close frame (1000) when open and lets the connection go; no handler runs afterwards.
  void close();
  bool isOpen() const { return open_ && !finished_; }

 private:
  struct Box;
  static void onConnected(GObject* source, GAsyncResult* result, gpointer box);
  static void onClientEvent(GSocketClient*, GSocketClientEvent event, GSocketConnectable*,
                            GIOStream* connection, gpointer self);
  static gboolean onAcceptCertificate(GTlsConnection*, GTlsCertificate* certificate,
                                      GTlsCertificateFlags errors, gpointer self);
  static gboolean onReadable(GObject*, gpointer self);
  static gboolean onWritable(GObject*, gpointer self);
  static gboolean onTimeout(gpointer self);
  static gboolean onPingDue(gpointer self);

  void adopt(GSocketConnection* connection);
  void readSome();
  int handleHandshake(const char* data, std::size_t size);
  bool feed(char* data, std::size_t size);
  void flushOut();
  void finish(const std::string& reason, bool fatal = false);
  void release();

  // ws::FrameSink
  void onMessage(bool binary, std::string_view data) override;
  void onPing(std::string_view payload) override;
  void onPong(std::string_view payload) override;
  void onClose(std::uint16_t code, std::string_view reason) override;

  GMainContext* context_;
  Options options_;
  Handlers handlers_;
  GSocketClient* client_ = nullptr;
  GCancellable* cancellable_ = nullptr;
  GSocketConnection* connection_ = nullptr;
  GPollableInputStream* in_ = nullptr;
  GPollableOutputStream* out_ = nullptr;
  GSource* inSource_ = nullptr;
  GSource* outSource_ = nullptr;
  GSource* timer_ = nullptr;
  GSource* pingTimer_ = nullptr;
  std::string key_;        // Sec-WebSocket-Key
  std::string header_;     // the upgrade answer, until it is complete
  std::string outBuffer_;  // frames not yet written
  std::size_t outOffset_ = 0;
  ws::FrameReader reader_;
  std::mt19937 rng_;
  std::string certificateProblem_;
  bool open_ = false;
  bool closeSent_ = false;
  bool finished_ = false;
};

}  // namespace claynet::signaling
