// DTLS 1.2 over ICE with OpenSSL: datagrams in and out through a custom BIO, no sockets.
#pragma once

#include <glib.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "rtc/certificate.hpp"

namespace claynet::rtc {

class DtlsTransport {
 public:
  struct Callbacks {
    std::function<void(const uint8_t*, std::size_t)> sendPacket;  // to ICE
    std::function<void()> onConnected;
    std::function<void(const uint8_t*, std::size_t)> onData;  // decrypted application data
    std::function<void(const std::string& reason)> onFailed;
    std::function<void()> onRemoteClosed;  // close_notify received
  };

  /// `client` is the active side. The peer's certificate must hash to `expectedFingerprint`
  /// (upper-case hex with colons); that is checked while the handshake runs.
  DtlsTransport(GMainContext* context, const Certificate& certificate, bool client,
                std::string expectedFingerprint, Callbacks callbacks);
  ~DtlsTransport();
  DtlsTransport(const DtlsTransport&) = delete;
  DtlsTransport& operator=(const DtlsTransport&) = delete;

  /// The client sends its ClientHello; the server just waits.
  void start();
  void handlePacket(const uint8_t* data, std::size_t size);
  /// Encrypts and sends one record. False when the transport is not connected.
  bool send(const uint8_t* data, std::size_t size);
  /// Sends close_notify. No callbacks after this.
  void close();
  bool connected() const { return connected_; }
  bool isClient() const { return client_; }

  static bool looksLikeDtls(const uint8_t* data, std::size_t size) {
    return size > 0 && data[0] >= 20 && data[0] <= 63;  // RFC 7983 demultiplexing
  }

 private:
  static int verifyCallback(X509_STORE_CTX* store, void* arg);
  static unsigned int timerCallback(SSL* ssl, unsigned int previousUs);
  static gboolean onTimer(gpointer self);
  void continueHandshake();
  void readAll();
  void armTimer();
  void fail(const std::string& reason);
  bool handleError(int ret, const char* what);

  GMainContext* context_;
  bool client_;
  std::string expected_;
  Callbacks cb_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  GSource* timer_ = nullptr;
  bool connected_ = false;
  bool failed_ = false;
  bool closed_ = false;
  std::string verifyError_;
};

}  // namespace claynet::rtc
