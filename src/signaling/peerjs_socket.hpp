// The I/O side of the PeerJS client: the WebSocket (ws_client_socket.hpp) and the HTTP id
// request (libsoup 3) on the Runtime's network thread, driven by the sans-IO ClientCore.
// Internal; the public faces are PeerJsSignaling and PeerJsPeer.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "claynet/peerjs_signaling.hpp"
#include "rtc/runtime_core.hpp"
#include "signaling/peerjs_client_core.hpp"
#include "signaling/peerjs_message.hpp"
#include "signaling/ws_client_socket.hpp"

typedef struct _SoupSession SoupSession;
typedef struct _SoupMessage SoupMessage;

namespace claynet::signaling {

/// Validates options the way open() reports them (invalid id, empty host or key, ...).
Result validateOptions(const PeerJsSignalingOptions& options);

/// One PeerJS server connection. Everything but the accessors runs on the network thread, and
/// the handlers are called there (directly, not through the Runtime's delivery).
class SignalingClient : public std::enable_shared_from_this<SignalingClient> {
 public:
  struct Handlers {
    std::function<void(const std::string& id)> opened;
    std::function<void(const ServerMessage&)> message;
    std::function<void(const PeerJsError&)> error;
    std::function<void(const std::string& reason)> disconnected;
  };

  SignalingClient(std::shared_ptr<impl::RuntimeCore> core, PeerJsSignalingOptions options,
                  Handlers handlers);
  ~SignalingClient();
  SignalingClient(const SignalingClient&) = delete;
  SignalingClient& operator=(const SignalingClient&) = delete;

  /// Network thread. Fetches an id first when none was given, then connects.
  void start();
  /// Network thread. A complete client frame (see peerjs_message.hpp builders).
  Result send(std::string frame);
  /// Network thread. Closes for good; no handler runs afterwards. Idempotent.
  void stop();

  // Any thread.
  PeerJsSignalingState state() const { return state_.load(); }
  std::string id() const;
  std::string token() const { return options_.token; }
  const PeerJsSignalingOptions& options() const { return options_; }

 private:
  void startCore();
  void fetchId();
  void onIdFetched(SoupMessage* msg, std::string body, std::string error);
  void readIdBody(GInputStream* stream, SoupMessage* msg, std::string body);
  void connectSocket();
  void onSocketOpened();
  void onSocketText(std::string text);
  void onSocketEnded(const std::string& reason, bool wasOpen, bool fatal);
  void drive();
  void rearmTimer();
  void dropSocket(bool sendClose);
  void updateState();
  bool setupTls(SoupMessage* msg);
  std::string certificateProblem(unsigned flags) const;
  /// The system's trust store refused the server's certificate: true when verification is off or
  /// the extra CA file vouches for it; otherwise `problem` says why.
  bool acceptCertificate(GTlsCertificate* cert, unsigned errors, std::string& problem);

  static int acceptCertificateThunk(SoupMessage*, void* cert, unsigned errors, void* self);
  static int timerThunk(void* self);

  const std::shared_ptr<impl::RuntimeCore> rt_;
  PeerJsSignalingOptions options_;
  Handlers handlers_;
  std::unique_ptr<ClientCore> core_;

  std::atomic<PeerJsSignalingState> state_{PeerJsSignalingState::Idle};
  mutable std::mutex idMutex_;
  std::string id_;

  bool stopped_ = false;
  SoupSession* session_ = nullptr;
  GCancellable* cancellable_ = nullptr;  // the pending connect or id request
  GTlsDatabase* extraCa_ = nullptr;
  std::shared_ptr<WsClientSocket> ws_;
  GSource* timer_ = nullptr;
  std::string certificateError_;
  std::string url_;
};

}  // namespace claynet::signaling
