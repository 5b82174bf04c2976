#include "rtc/certificate.hpp"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace claynet::rtc {

Certificate::Certificate() {
  key_ = EVP_EC_gen("P-256");
  x509_ = X509_new();
  if (!key_ || !x509_) throw std::runtime_error("cannot generate the DTLS key");
  X509_set_version(x509_, 2);
  // A random serial keeps two certificates made in the same second distinguishable.
  uint64_t serial = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(x509_), serial >> 1);
  // Backdated a day so peers with a skewed clock still accept it; a month of validity.
  X509_gmtime_adj(X509_getm_notBefore(x509_), -86400);
  X509_gmtime_adj(X509_getm_notAfter(x509_), 30L * 86400);
  X509_set_pubkey(x509_, key_);
  X509_NAME* name = X509_get_subject_name(x509_);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("claynet"), -1, -1, 0);
  X509_set_issuer_name(x509_, name);
  if (!X509_sign(x509_, key_, EVP_sha256()))
    throw std::runtime_error("cannot sign the DTLS certificate");
  fingerprint_ = fingerprintOf(x509_);
}

Certificate::~Certificate() {
  X509_free(x509_);
  EVP_PKEY_free(key_);
}

std::string Certificate::fingerprintOf(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(len * 3);
  for (unsigned int i = 0; i < len; ++i) {
    if (i) out += ':';
    out += hex[md[i] >> 4];
    out += hex[md[i] & 0xF];
  }
  return out;
}

}  // namespace claynet::rtc
