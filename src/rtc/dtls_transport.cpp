#include "rtc/dtls_transport.hpp"

#include <openssl/err.h>

#include <mutex>
#include <vector>

namespace claynet::rtc {

namespace {

int g_exIndex = -1;
BIO_METHOD* g_outMethod = nullptr;

// The write side of the SSL object: each write is one datagram, handed straight to ICE, so
// handshake flights keep their datagram boundaries (a memory BIO would merge them).
int outWrite(BIO* bio, const char* data, int len) {
  auto* self = static_cast<DtlsTransport::Callbacks*>(BIO_get_data(bio));
  if (self && self->sendPacket) self->sendPacket(reinterpret_cast<const uint8_t*>(data), len);
  return len;
}

long outCtrl(BIO*, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
      return 1200;
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
      return 0;
    default:
      return 0;
  }
}

int outCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

void initOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_exIndex = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    g_outMethod = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(), "claynet-dtls-out");
    BIO_meth_set_write(g_outMethod, outWrite);
    BIO_meth_set_ctrl(g_outMethod, outCtrl);
    BIO_meth_set_create(g_outMethod, outCreate);
  });
}

std::string opensslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

}  // namespace

DtlsTransport::DtlsTransport(GMainContext* context, const Certificate& certificate, bool client,
                             std::string expectedFingerprint, Callbacks callbacks)
    : context_(context),
      client_(client),
      expected_(std::move(expectedFingerprint)),
      cb_(std::move(callbacks)) {
  initOnce();
  ctx_ = SSL_CTX_new(DTLS_method());
  SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION);
  SSL_CTX_use_certificate(ctx_, certificate.x509());
  SSL_CTX_use_PrivateKey(ctx_, certificate.key());
  SSL_CTX_set_cipher_list(ctx_,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305");
  SSL_CTX_set1_groups_list(ctx_, "X25519:P-256:P-384");
  // No renegotiation either way: WebRTC never uses it, and a peer that asks for one mid-session
  // (to change its certificate after the fingerprint check) must be refused.
  SSL_CTX_set_options(ctx_, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_read_ahead(ctx_, 1);
  // Self-signed peers: the only trust is the SDP fingerprint, checked in verifyCallback.
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx_, &DtlsTransport::verifyCallback, this);

  ssl_ = SSL_new(ctx_);
  SSL_set_ex_data(ssl_, g_exIndex, this);
  in_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in_, -1);
  BIO* out = BIO_new(g_outMethod);
  BIO_set_data(out, &cb_);
  SSL_set_bio(ssl_, in_, out);
  SSL_set_mtu(ssl_, 1200);
  DTLS_set_link_mtu(ssl_, 1200);
  DTLS_set_timer_cb(ssl_, &DtlsTransport::timerCallback);
  if (client_)
    SSL_set_connect_state(ssl_);
  else
    SSL_set_accept_state(ssl_);
}

DtlsTransport::~DtlsTransport() {
  closed_ = true;
  if (timer_) {
    g_source_destroy(timer_);
    g_source_unref(timer_);
  }
  SSL_free(ssl_);
  SSL_CTX_free(ctx_);
}

unsigned int DtlsTransport::timerCallback(SSL*, unsigned int previousUs) {
  // OpenSSL starts at 1 s; a lost handshake datagram on a LAN should cost far less.
  if (previousUs == 0) return 100 * 1000;
  return std::min(previousUs * 2, 3u * 1000 * 1000);
}

int DtlsTransport::verifyCallback(X509_STORE_CTX* store, void*) {
  SSL* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* self = static_cast<DtlsTransport*>(SSL_get_ex_data(ssl, g_exIndex));
  X509* cert = X509_STORE_CTX_get0_cert(store);
  if (!self || !cert) return 0;
  std::string got = Certificate::fingerprintOf(cert);
  if (got == self->expected_) return 1;
  self->verifyError_ = "DTLS fingerprint mismatch: expected sha-256 " + self->expected_ +
                       " (from the remote description), received " + got;
  return 0;
}

void DtlsTransport::start() {
  if (client_) continueHandshake();
}

void DtlsTransport::handlePacket(const uint8_t* data, std::size_t size) {
  if (closed_ || failed_) return;
  BIO_write(in_, data, static_cast<int>(size));
  if (!connected_)
    continueHandshake();
  else
    readAll();
}

void DtlsTransport::continueHandshake() {
  int ret = SSL_do_handshake(ssl_);
  if (closed_) return;
  if (ret == 1) {
    connected_ = true;
    if (timer_) {
      g_source_destroy(timer_);
      g_source_unref(timer_);
      timer_ = nullptr;
    }
    if (cb_.onConnected) cb_.onConnected();
    if (!closed_ && !failed_) readAll();  // application data that came with the last flight
    return;
  }
  if (handleError(ret, "DTLS handshake")) armTimer();
}

bool DtlsTransport::handleError(int ret, const char* what) {
  int err = SSL_get_error(ssl_, ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return true;
  }
  if (err == SSL_ERROR_ZERO_RETURN) {
    if (cb_.onRemoteClosed) cb_.onRemoteClosed();
    closed_ = true;
    return false;
  }
  std::string reason = !verifyError_.empty() ? verifyError_ : std::string(what) + " failed";
  std::string detail = opensslErrors();
  if (verifyError_.empty() && !detail.empty()) reason += ": " + detail;
  fail(reason);
  return false;
}

void DtlsTransport::readAll() {
  uint8_t buf[16384 + 512];
  while (!closed_ && !failed_) {
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      if (cb_.onData) cb_.onData(buf, static_cast<std::size_t>(n));
      continue;
    }
    handleError(n, "DTLS read");
    return;
  }
}

bool DtlsTransport::send(const uint8_t* data, std::size_t size) {
  if (!connected_ || closed_ || failed_) return false;
  int n = SSL_write(ssl_, data, static_cast<int>(size));
  if (n <= 0) {
    handleError(n, "DTLS write");
    return false;
  }
  return true;
}

void DtlsTransport::armTimer() {
  if (timer_) {
    g_source_destroy(timer_);
    g_source_unref(timer_);
    timer_ = nullptr;
  }
  struct timeval tv {};
  if (!DTLSv1_get_timeout(ssl_, &tv)) return;
  guint ms = static_cast<guint>(tv.tv_sec * 1000 + tv.tv_usec / 1000);
  timer_ = g_timeout_source_new(ms == 0 ? 1 : ms);
  g_source_set_callback(timer_, &DtlsTransport::onTimer, this, nullptr);
  g_source_attach(timer_, context_);
}

gboolean DtlsTransport::onTimer(gpointer data) {
  auto* self = static_cast<DtlsTransport*>(data);
  g_source_unref(self->timer_);
  self->timer_ = nullptr;
  if (self->closed_ || self->failed_ || self->connected_) return G_SOURCE_REMOVE;
  if (DTLSv1_handle_timeout(self->ssl_) < 0) {
    self->fail("DTLS handshake timed out: " + opensslErrors());
    return G_SOURCE_REMOVE;
  }
  self->armTimer();
  return G_SOURCE_REMOVE;
}

void DtlsTransport::fail(const std::string& reason) {
  if (failed_) return;
  failed_ = true;
  if (cb_.onFailed) cb_.onFailed(reason);
}

void DtlsTransport::close() {
  if (closed_) return;
  if (connected_ && !failed_) SSL_shutdown(ssl_);
  // The callbacks stay: close() is often reached from inside one of them. closed_ stops them.
  closed_ = true;
}

}  // namespace claynet::rtc
