// Sans-IO: what usrsctp hands out on a read (pieces of messages and notifications), turned into
// whole messages and association events. No usrsctp calls, so tests feed it crafted input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace claynet::rtc {

class SctpInbound {
 public:
  /// How an association ended.
  struct Ending {
    std::string reason;
    /// False for a goodbye (our close, the remote's SHUTDOWN, or an ABORT that says the remote's
    /// user ended it); true for a lost path, an association that never started, or an ABORT for
    /// any other cause.
    bool failure = false;
  };

  struct Callbacks {
    std::function<void(uint16_t sid, uint32_t ppid, std::string&& data)> onMessage;
    /// The association is up; the stream counts it negotiated.
    std::function<void(uint16_t inbound, uint16_t outbound)> onConnected;
    std::function<void(const Ending&)> onClosed;
    /// The remote reset these incoming streams (it closed the channels).
    std::function<void(const std::vector<uint16_t>& sids)> onIncomingReset;
    /// Our reset of these outgoing streams completed (`ok`), or the remote denied it / it failed.
    std::function<void(const std::vector<uint16_t>& sids, bool ok)> onOutgoingReset;
    /// The number of streams changed after the start.
    std::function<void(uint16_t inbound, uint16_t outbound)> onStreamsChanged;
    /// Everything sent has been acknowledged.
    std::function<void()> onSenderDry;
    std::function<void(const std::string&)> onDiagnostic;
  };

  SctpInbound(std::size_t maxMessage, Callbacks callbacks)
      : maxMessage_(maxMessage), cb_(std::move(callbacks)) {}

  /// One piece of a message on `sid`; `endOfRecord` marks its last piece.
  void data(uint16_t sid, uint32_t ppid, std::string&& piece, bool endOfRecord);
  /// One notification (a union sctp_notification, as read with MSG_NOTIFICATION).
  void notification(const uint8_t* bytes, std::size_t size);

  bool connected() const { return connected_; }

 private:
  void dropPartial(uint16_t sid);

  struct Partial {
    uint32_t ppid = 0;
    std::string data;
    bool oversize = false;
  };
  std::size_t maxMessage_;
  Callbacks cb_;
  bool connected_ = false;
  // Per-stream reassembly of messages that usrsctp delivers in pieces.
  std::vector<std::optional<Partial>> partial_;
};

}  // namespace claynet::rtc
