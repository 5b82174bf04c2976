// The DTLS identity: a self-signed ECDSA P-256 certificate and its SHA-256 fingerprint.
#pragma once

#include <openssl/ssl.h>

#include <string>

namespace claynet::rtc {

class Certificate {
 public:
  /// Generates a fresh key and certificate; done once per runtime, ahead of any connection.
  Certificate();
  ~Certificate();
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

  X509* x509() const { return x509_; }
  EVP_PKEY* key() const { return key_; }
  /// "AB:CD:..." upper-case SHA-256 fingerprint, as SDP's a=fingerprint carries it.
  const std::string& fingerprint() const { return fingerprint_; }

  /// The SHA-256 fingerprint of any certificate, in the same form.
  static std::string fingerprintOf(X509* cert);

 private:
  EVP_PKEY* key_ = nullptr;
  X509* x509_ = nullptr;
  std::string fingerprint_;
};

}  // namespace claynet::rtc
