// TURN over TLS (`turns:`) for libnice.
//
// Under RFC 5245 compatibility libnice's "TURN over TLS" relay type is plain TCP (its only TLS is
// a fixed fake handshake for old Google and Microsoft relays), so a real TLS TURN server would
// never answer. libnice is therefore given TURN over TCP to a listener on 127.0.0.1, and every
// connection to that listener is carried over TLS (GIO, glib-networking) to the real server: the
// certificate is checked against the system's CAs (and an optional CA file) and the server's name.
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace claynet::rtc {

class TurnTlsTunnel {
 public:
  /// `host` is the name the certificate must carry; `address` the numeric address to reach it.
  TurnTlsTunnel(std::string host, std::string address, uint16_t port, std::string caFile,
                std::function<void(const std::string&)> onDiagnostic);
  ~TurnTlsTunnel();
  TurnTlsTunnel(const TurnTlsTunnel&) = delete;
  TurnTlsTunnel& operator=(const TurnTlsTunnel&) = delete;

  /// Listens on 127.0.0.1 (an ephemeral port). Call on the network thread.
  bool start(std::string& error);
  uint16_t localPort() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace claynet::rtc
