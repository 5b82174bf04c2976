// claynet::DataChannel — one SCTP stream of a PeerConnection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "claynet/result.hpp"

namespace claynet {

namespace impl {
class ChannelShared;
}

/// Options of createDataChannel(), as in the W3C RTCDataChannelInit.
struct DataChannelInit {
  bool ordered = true;
  /// At most one of maxRetransmits / maxPacketLifeTime may be set; neither means reliable.
  std::optional<uint16_t> maxRetransmits;
  std::optional<uint16_t> maxPacketLifeTime;  ///< milliseconds
  /// Negotiated channels skip the in-band open handshake (DCEP): both sides create the channel
  /// with the same `id`, which is then required.
  bool negotiated = false;
  std::optional<uint16_t> id;
  std::string protocol;
};

/// A received message: text (a string) or binary (bytes), as the sender sent it.
struct Message {
  std::string data;
  bool binary = false;
  std::string_view text() const { return data; }
  std::span<const std::byte> bytes() const {
    return {reinterpret_cast<const std::byte*>(data.data()), data.size()};
  }
};

/// Message and byte counters.
struct Counters {
  uint64_t messagesSent = 0;
  uint64_t messagesReceived = 0;
  uint64_t bytesSent = 0;
  uint64_t bytesReceived = 0;
  /// Received messages of unreliable channels dropped unread (counted in messagesReceived too):
  /// with Delivery::Poll, the oldest waiting messages of such a channel give way once more than
  /// Runtime::Options::maxUndeliveredUnreliableBytes wait for poll().
  uint64_t messagesDropped = 0;
};

enum class ChannelState { Connecting, Open, Closing, Closed };

/// A data channel. Obtained from PeerConnection::createDataChannel() or onDataChannel.
///
/// Thread-safety: every member may be called from any thread. Callbacks run where the Runtime's
/// Delivery says. Callbacks set after an event has happened are not called for it, so set them
/// before the channel can open (right after createDataChannel, or inside onDataChannel); the one
/// exception is onOpen, which still fires once if the channel opened before it was set.
/// Destroying the DataChannel waits for a callback of it that is running on another thread.
class DataChannel {
 public:
  ~DataChannel();
  DataChannel(const DataChannel&) = delete;
  DataChannel& operator=(const DataChannel&) = delete;

  const std::string& label() const;
  const std::string& protocol() const;
  /// The SCTP stream id; empty until the connection has decided it (DTLS role known).
  std::optional<uint16_t> id() const;
  bool ordered() const;
  std::optional<uint16_t> maxRetransmits() const;
  std::optional<uint16_t> maxPacketLifeTime() const;
  bool negotiated() const;
  ChannelState state() const;
  bool isOpen() const { return state() == ChannelState::Open; }

  /// Queues a text message. Fails if the channel is not open, or if the message is larger than
  /// the remote's max-message-size (the error gives both sizes).
  Result send(std::string_view text);
  /// Queues a binary message; same failures as the text form.
  Result send(std::span<const std::byte> bytes);
  Result sendBinary(const void* data, std::size_t size) {
    return send(std::span<const std::byte>(static_cast<const std::byte*>(data), size));
  }

  /// Bytes queued by send() and not yet acknowledged by the remote: claynet's own queue plus what
  /// the SCTP stack still holds for this channel.
  std::size_t bufferedAmount() const;
  std::size_t bufferedAmountLowThreshold() const;
  /// onBufferedAmountLow fires each time bufferedAmount falls to or below this value.
  void setBufferedAmountLowThreshold(std::size_t bytes);

  /// Closes this channel: send() fails from now on, messages already queued still go out, then
  /// the stream is reset and the remote sees the channel closed. Idempotent.
  void close();

  Counters counters() const;

  void onOpen(std::function<void()> callback);
  void onClose(std::function<void()> callback);
  void onMessage(std::function<void(Message&&)> callback);
  void onBufferedAmountLow(std::function<void()> callback);
  /// A failure on this channel (for example a message the remote sent that was too large).
  void onError(std::function<void(const std::string&)> callback);

  /// Internal.
  explicit DataChannel(std::shared_ptr<impl::ChannelShared> shared);

 private:
  std::shared_ptr<impl::ChannelShared> shared_;
};

}  // namespace claynet
