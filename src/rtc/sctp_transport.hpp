// SCTP over DTLS with usrsctp (AF_CONN, no threads of its own): one association per connection.
#pragma once

#include <usrsctp.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "rtc/sctp_inbound.hpp"

namespace claynet::rtc {

/// Partial reliability of one message (RFC 3758 / RFC 8831).
struct Reliability {
  bool unordered = false;
  std::optional<uint16_t> maxRetransmits;
  std::optional<uint16_t> maxPacketLifeTime;  // ms
};

class SctpTransport {
 public:
  struct Callbacks {
    std::function<void(const uint8_t*, std::size_t)> sendPacket;  // to DTLS
    /// The association is up, with this many streams each way.
    std::function<void(uint16_t inbound, uint16_t outbound)> onConnected;
    std::function<void(const SctpInbound::Ending&)> onClosed;
    std::function<void(uint16_t sid, uint32_t ppid, std::string&& data)> onMessage;
    /// The remote reset these incoming streams (it closed the channels).
    std::function<void(const std::vector<uint16_t>& sids)> onIncomingReset;
    /// Our reset of these outgoing streams completed (`ok`) or was refused.
    std::function<void(const std::vector<uint16_t>& sids, bool ok)> onOutgoingReset;
    std::function<void(uint16_t inbound, uint16_t outbound)> onStreamsChanged;
    /// Send space became available again after a WouldBlock (or everything was acknowledged).
    std::function<void()> onWritable;
    std::function<void(const std::string&)> onDiagnostic;
  };
  enum class SendStatus { Sent, WouldBlock, Failed };

  static constexpr uint16_t kMaxStreams = 1024;

  /// Initialises usrsctp once for the process (no threads of its own).
  static void initGlobal();
  /// Advances usrsctp's timers; called by exactly one runtime every ~10 ms.
  static void handleTimers(uint32_t elapsedMs);

  /// `post` runs a task later on the owning network thread; `onOwnerThread` tells whether the
  /// caller is on it (usrsctp may call back from another runtime's thread via its timers).
  SctpTransport(uint16_t localPort, uint16_t remotePort, std::size_t maxReceiveMessage,
                Callbacks callbacks, std::function<void(std::function<void()>)> post,
                std::function<bool()> onOwnerThread);
  ~SctpTransport();
  SctpTransport(const SctpTransport&) = delete;
  SctpTransport& operator=(const SctpTransport&) = delete;

  /// Opens the association (both sides connect; SCTP resolves the collision).
  bool start(std::string& error);
  /// A decrypted packet from DTLS.
  void handlePacket(const uint8_t* data, std::size_t size);
  SendStatus send(uint16_t sid, uint32_t ppid, const void* data, std::size_t size,
                  const Reliability& reliability, std::string& error);
  /// Resets our outgoing side of these streams (closing the channels).
  void resetStreams(const std::vector<uint16_t>& sids);
  /// Off lets usrsctp bundle queued messages into full packets; turning it back on sends
  /// whatever is queued with the next message.
  void setNoDelay(bool on);
  /// While paused, nothing is read from the association: what arrives stays in usrsctp's receive
  /// buffer, the advertised window closes and the sender is held back. Resuming reads at once.
  void setReadPaused(bool paused);
  /// User data inside usrsctp (queued or sent and not yet acknowledged); empty when unknown.
  std::optional<std::size_t> bufferedBytes() const;
  /// Sends ABORT (it does leave) and releases the socket; no callbacks after this.
  void close();
  bool connected() const { return inbound_.connected(); }

 private:
  static int onOutput(void* addr, void* buffer, std::size_t length, uint8_t tos, uint8_t setDf);
  static void onUpcall(struct socket* sock, void* arg, int flags);
  static SctpTransport* lookup(uintptr_t id);

  void readAll();

  uintptr_t id_;
  uint16_t localPort_, remotePort_;
  Callbacks cb_;
  std::function<void(std::function<void()>)> post_;
  std::function<bool()> onOwnerThread_;
  SctpInbound inbound_;
  struct socket* sock_ = nullptr;
  bool closing_ = false;  // usrsctp_close is running: its ABORT still goes out
  bool closed_ = false;
  int depth_ = 0;  // > 0 while inside a usrsctp call made by this object
  bool reading_ = false, readAgain_ = false;
  bool paused_ = false;
  bool blocked_ = false;  // the last send hit a full buffer
};

}  // namespace claynet::rtc
