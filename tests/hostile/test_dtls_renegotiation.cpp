// Labels `unit` and `hostile`. DtlsTransport against a bare OpenSSL DTLS server in memory (no
// sockets): a server that asks for a renegotiation after the handshake is refused (issue 12,
// finding 11).
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <deque>
#include <string>
#include <vector>

#include "rtc/certificate.hpp"
#include "rtc/dtls_transport.hpp"

using namespace claynet::rtc;

namespace {

// A DTLS server on memory BIOs; every record it writes is handed over as one datagram.
class RawServer {
 public:
  explicit RawServer(const Certificate& cert) {
    ctx_ = SSL_CTX_new(DTLS_method());
    SSL_CTX_use_certificate(ctx_, cert.x509());
    SSL_CTX_use_PrivateKey(ctx_, cert.key());
    SSL_CTX_set_options(ctx_, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    ssl_ = SSL_new(ctx_);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);
    BIO_set_mem_eof_return(out_, -1);
    SSL_set_bio(ssl_, in_, out_);
    DTLS_set_link_mtu(ssl_, 1200);
    SSL_set_accept_state(ssl_);
  }
  ~RawServer() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  void feed(const std::string& datagram) {
    BIO_write(in_, datagram.data(), static_cast<int>(datagram.size()));
    if (!SSL_is_init_finished(ssl_)) {
      SSL_do_handshake(ssl_);
    } else {
      char buf[2048];
      while (SSL_read(ssl_, buf, sizeof buf) > 0) {
      }
    }
    ERR_clear_error();
  }
  std::string output() {
    std::string out;
    char buf[4096];
    int n;
    while ((n = BIO_read(out_, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  SSL* ssl() { return ssl_; }

 private:
  SSL_CTX* ctx_;
  SSL* ssl_;
  BIO* in_;
  BIO* out_;
};

}  // namespace

TEST(DtlsTransport, RefusesARenegotiationTheServerAsksFor) {
  Certificate clientCert, serverCert;
  RawServer server(serverCert);
  GMainContext* context = g_main_context_new();
  std::deque<std::string> fromClient;
  bool connected = false;
  std::string failure;
  DtlsTransport::Callbacks cb;
  cb.sendPacket = [&](const uint8_t* d, std::size_t n) {
    fromClient.emplace_back(reinterpret_cast<const char*>(d), n);
  };
  cb.onConnected = [&] { connected = true; };
  cb.onFailed = [&](const std::string& why) { failure = why; };
  {
    DtlsTransport client(context, clientCert, true, serverCert.fingerprint(), cb);
    client.start();
    for (int round = 0; round < 20 && !(connected && SSL_is_init_finished(server.ssl())); ++round) {
      while (!fromClient.empty()) {
        server.feed(fromClient.front());
        fromClient.pop_front();
      }
      std::string reply = server.output();
      if (!reply.empty())
        client.handlePacket(reinterpret_cast<const uint8_t*>(reply.data()), reply.size());
    }
    ASSERT_TRUE(connected) << failure;
    ASSERT_TRUE(SSL_is_init_finished(server.ssl()));
    fromClient.clear();

    // The server asks for a new handshake (a HelloRequest).
    ASSERT_EQ(SSL_renegotiate(server.ssl()), 1);
    SSL_do_handshake(server.ssl());
    ERR_clear_error();
    std::string hello = server.output();
    ASSERT_FALSE(hello.empty());
    client.handlePacket(reinterpret_cast<const uint8_t*>(hello.data()), hello.size());
    for (const auto& d : fromClient) {
      ASSERT_FALSE(d.empty());
      EXPECT_NE(static_cast<uint8_t>(d[0]), 22)
          << "the client answered the HelloRequest with a handshake (a ClientHello)";
    }
    EXPECT_TRUE(failure.empty()) << failure;
  }
  g_main_context_unref(context);
}
