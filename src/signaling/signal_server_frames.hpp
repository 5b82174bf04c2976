// WebSocket framing (RFC 6455 §5) for claynet-signal, sans-IO: bytes in, events out.
//
// libsoup does the HTTP side and the upgrade handshake; once a connection is upgraded, the server
// owns the byte stream and frames it with this code. That gives exact control of what a hostile
// client can cost: a message's size is checked against the limit from its frame header (so a
// 1 MiB frame is refused before its payload is buffered, and fragments count together), reads
// are bounded per dispatch, and outgoing frames go into one buffer per connection whose size is
// known (libsoup 3.2 neither bounds reassembled fragments nor tells how much it has queued).
// The client role exists for the benchmark's load generator and for tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace claynet::signaling::ws {

enum class Opcode : std::uint8_t {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xA,
};

// Close codes (RFC 6455 §7.4.1) used by the server.
inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseGoingAway = 1001;
inline constexpr std::uint16_t kCloseProtocolError = 1002;
/// Not sent on the wire: asking for it sends a close frame with an empty payload (as npm `peer`
/// does on every close), which the receiver reports as 1005.
inline constexpr std::uint16_t kCloseNoStatus = 1005;
inline constexpr std::uint16_t kCloseInvalidData = 1007;
inline constexpr std::uint16_t kClosePolicyViolation = 1008;
inline constexpr std::uint16_t kCloseTooBig = 1009;

/// Which end of the connection this reader sits at: a server requires masked frames from its
/// clients, a client requires unmasked frames from its server (RFC 6455 §5.1).
enum class Role { Server, Client };

/// Receives the events a FrameReader finds. Called synchronously from feed().
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  /// A complete data message (fragments joined). Text messages are valid UTF-8.
  /// The view is valid until the callback returns.
  virtual void onMessage(bool binary, std::string_view data) = 0;
  virtual void onPing(std::string_view payload) = 0;
  virtual void onPong(std::string_view payload) { (void)payload; }
  /// The peer's close frame. `code` is kCloseNoStatus when the frame carried none.
  /// No further event follows.
  virtual void onClose(std::uint16_t code, std::string_view reason) = 0;
};

/// Parses a stream of frames. After a protocol violation it stops and reports the close code and
/// a reason to send back; after a close frame it ignores everything that follows.
class FrameReader {
 public:
  FrameReader(Role role, std::size_t maxMessageBytes);

  /// Consumes `size` bytes. `data` may be modified (unmasked in place). Returns false once the
  /// stream is in error (then errorCode()/errorReason() say why); further calls do nothing.
  bool feed(char* data, std::size_t size, FrameSink& sink);

  bool failed() const { return errorCode_ != 0; }
  bool closeReceived() const { return closeReceived_; }
  std::uint16_t errorCode() const { return errorCode_; }
  const std::string& errorReason() const { return errorReason_; }
  /// Bytes held for an incomplete frame (bounded by the message limit plus a header).
  std::size_t buffered() const { return pending_.size(); }

 private:
  // Parses whole frames from [p, p+n); returns how many bytes were consumed.
  std::size_t parse(char* p, std::size_t n, FrameSink& sink);
  void fail(std::uint16_t code, std::string reason);

  Role role_;
  std::size_t maxMessage_;
  std::string pending_;  // bytes of an incomplete frame
  std::string message_;  // the message being assembled from fragments (or unmasked into)
  Opcode messageOpcode_ = Opcode::Continuation;  // Continuation: no fragmented message open
  bool closeReceived_ = false;
  std::uint16_t errorCode_ = 0;
  std::string errorReason_;
};

/// Appends one unfragmented frame. A client must mask (`maskKey` is then the 4-byte key).
void appendFrame(std::string& out, Opcode opcode, std::string_view payload);
void appendMaskedFrame(std::string& out, Opcode opcode, std::string_view payload,
                       std::uint32_t maskKey);
/// Appends a close frame: kCloseNoStatus gives an empty payload; otherwise the code and the reason,
/// cut to the 123 bytes a control frame leaves (at a UTF-8 boundary).
void appendCloseFrame(std::string& out, std::uint16_t code, std::string_view reason,
                      bool masked = false, std::uint32_t maskKey = 0);

/// True when `s` is valid UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
bool isValidUtf8(std::string_view s);

/// The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 §4.2.2).
std::string acceptKey(std::string_view secWebSocketKey);

}  // namespace claynet::signaling::ws
