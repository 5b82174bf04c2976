#include "signaling/signal_server_frames.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>

#include "signaling/utf8.hpp"

namespace claynet::signaling::ws {

namespace {

constexpr std::size_t kMaxControlPayload = 125;

void unmask(char* data, std::size_t size, const unsigned char key[4], std::size_t keyOffset = 0) {
  // Word at a time: the key repeats every 4 bytes, so an 8-byte pattern covers two periods.
  unsigned char k[8];
  for (int i = 0; i < 8; ++i) k[i] = key[(keyOffset + i) & 3];
  std::uint64_t pattern;
  std::memcpy(&pattern, k, 8);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, data + i, 8);
    w ^= pattern;
    std::memcpy(data + i, &w, 8);
  }
  for (; i < size; ++i) data[i] = static_cast<char>(data[i] ^ k[i & 7]);
}

bool validCloseCode(std::uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;  // registered / private use
  switch (code) {
    case 1000:
    case 1001:
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 1010:
    case 1011:
    case 1012:
    case 1013:
    case 1014:
      return true;
    default:
      return false;
  }
}

void appendHeader(std::string& out, Opcode opcode, std::size_t length, bool masked) {
  char h[10];
  std::size_t n = 0;
  h[n++] = static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode));
  const std::uint8_t maskBit = masked ? 0x80 : 0x00;
  if (length < 126) {
    h[n++] = static_cast<char>(maskBit | length);
  } else if (length <= 0xFFFF) {
    h[n++] = static_cast<char>(maskBit | 126);
    h[n++] = static_cast<char>(length >> 8);
    h[n++] = static_cast<char>(length & 0xFF);
  } else {
    h[n++] = static_cast<char>(maskBit | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      h[n++] = static_cast<char>((static_cast<std::uint64_t>(length) >> shift) & 0xFF);
  }
  out.append(h, n);
}

}  // namespace

bool isValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char* end = p + s.size();
  while (p < end) {
    // ASCII runs are the common case: skip them 8 bytes at a time.
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if (w & 0x8080808080808080ULL) break;
      p += 8;
    }
    if (p >= end) break;
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t consumed = 0;
    const std::size_t len = utf8::sequenceLength(p, static_cast<std::size_t>(end - p), consumed);
    if (len == 0) return false;
    p += len;
  }
  return true;
}

FrameReader::FrameReader(Role role, std::size_t maxMessageBytes)
    : role_(role), maxMessage_(maxMessageBytes) {}

void FrameReader::fail(std::uint16_t code, std::string reason) {
  if (errorCode_ != 0) return;
  errorCode_ = code;
  errorReason_ = std::move(reason);
  pending_.clear();
  pending_.shrink_to_fit();
  message_.clear();
  message_.shrink_to_fit();
}

bool FrameReader::feed(char* data, std::size_t size, FrameSink& sink) {
  if (failed()) return false;
  if (closeReceived_ || size == 0) return true;
  if (pending_.empty()) {
    std::size_t used = parse(data, size, sink);
    if (!failed() && !closeReceived_ && used < size) pending_.assign(data + used, size - used);
  } else {
    pending_.append(data, size);
    std::size_t used = parse(pending_.data(), pending_.size(), sink);
    if (!failed()) {
      if (closeReceived_)
        pending_.clear();
      else
        pending_.erase(0, used);
    }
  }
  return !failed();
}

std::size_t FrameReader::parse(char* p, std::size_t n, FrameSink& sink) {
  std::size_t pos = 0;
  while (!failed() && !closeReceived_) {
    if (n - pos < 2) break;
    const auto b0 = static_cast<std::uint8_t>(p[pos]);
    const auto b1 = static_cast<std::uint8_t>(p[pos + 1]);
    const bool fin = b0 & 0x80;
    const auto opcode = static_cast<Opcode>(b0 & 0x0F);
    const bool masked = b1 & 0x80;
    if (b0 & 0x70) {
      fail(kCloseProtocolError, "reserved bits set in a frame header (no extension was agreed)");
      break;
    }
    const bool control = (b0 & 0x08) != 0;
    switch (opcode) {
      case Opcode::Continuation:
      case Opcode::Text:
      case Opcode::Binary:
      case Opcode::Close:
      case Opcode::Ping:
      case Opcode::Pong:
        break;
      default:
        fail(kCloseProtocolError, "unknown opcode " + std::to_string(b0 & 0x0F));
        return pos;
    }
    if (role_ == Role::Server && !masked) {
      fail(kCloseProtocolError, "a client frame was not masked");
      break;
    }
    if (role_ == Role::Client && masked) {
      fail(kCloseProtocolError, "a server frame was masked");
      break;
    }
    std::size_t header = 2;
    std::uint64_t length = b1 & 0x7F;
    if (length == 126) {
      if (n - pos < 4) break;
      length = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(p[pos + 2])) << 8) |
               static_cast<std::uint8_t>(p[pos + 3]);
      header = 4;
    } else if (length == 127) {
      if (n - pos < 10) break;
      length = 0;
      for (int i = 0; i < 8; ++i)
        length = (length << 8) | static_cast<std::uint8_t>(p[pos + 2 + i]);
      if (length >> 63) {
        fail(kCloseProtocolError, "frame length has its most significant bit set");
        break;
      }
      header = 10;
    }
    if (control) {
      if (!fin) {
        fail(kCloseProtocolError, "a control frame was fragmented");
        break;
      }
      if (length > kMaxControlPayload) {
        fail(kCloseProtocolError, "a control frame carried more than 125 bytes");
        break;
      }
    } else {
      const bool continuation = opcode == Opcode::Continuation;
      const bool open = messageOpcode_ != Opcode::Continuation;
      if (continuation && !open) {
        fail(kCloseProtocolError, "a continuation frame without a message to continue");
        break;
      }
      if (!continuation && open) {
        fail(kCloseProtocolError, "a new message began before the fragmented one ended");
        break;
      }
      // Checked from the header, before any of the payload is held: fragments count together.
      const std::uint64_t soFar = open ? message_.size() : 0;
      if (length > maxMessage_ || soFar + length > maxMessage_) {
        fail(kCloseTooBig, "message of " + std::to_string(soFar + length) +
                               " bytes or more is larger than the limit of " +
                               std::to_string(maxMessage_) + " bytes");
        break;
      }
    }
    const std::size_t maskBytes = masked ? 4 : 0;
    if (n - pos < header + maskBytes + length) break;  // wait for the rest of the frame
    unsigned char key[4] = {0, 0, 0, 0};
    if (masked) std::memcpy(key, p + pos + header, 4);
    char* payload = p + pos + header + maskBytes;
    const auto len = static_cast<std::size_t>(length);
    pos += header + maskBytes + len;
    if (masked) unmask(payload, len, key);
    std::string_view body(payload, len);

    if (control) {
      if (opcode == Opcode::Ping) {
        sink.onPing(body);
      } else if (opcode == Opcode::Pong) {
        sink.onPong(body);
      } else {  // Close
        std::uint16_t code = kCloseNoStatus;
        std::string_view reason;
        if (len == 1) {
          fail(kCloseProtocolError, "a close frame with a one-byte payload");
          break;
        }
        if (len >= 2) {
          code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                            static_cast<std::uint8_t>(payload[1]));
          reason = body.substr(2);
          if (!validCloseCode(code)) {
            fail(kCloseProtocolError, "invalid close code " + std::to_string(code));
            break;
          }
          if (!isValidUtf8(reason)) {
            fail(kCloseInvalidData, "close reason is not valid UTF-8");
            break;
          }
        }
        closeReceived_ = true;
        message_.clear();
        sink.onClose(code, reason);
      }
      continue;
    }

    if (opcode != Opcode::Continuation) {
      if (fin) {  // the common case: one frame, one message, delivered in place
        if (opcode == Opcode::Text && !isValidUtf8(body)) {
          fail(kCloseInvalidData, "a text message is not valid UTF-8");
          break;
        }
        sink.onMessage(opcode == Opcode::Binary, body);
        continue;
      }
      messageOpcode_ = opcode;
      message_.assign(body);
      continue;
    }
    message_.append(body);
    if (!fin) continue;
    const bool binary = messageOpcode_ == Opcode::Binary;
    messageOpcode_ = Opcode::Continuation;
    if (!binary && !isValidUtf8(message_)) {
      fail(kCloseInvalidData, "a text message is not valid UTF-8");
      break;
    }
    std::string whole;
    whole.swap(message_);
    sink.onMessage(binary, whole);
  }
  return pos;
}

void appendFrame(std::string& out, Opcode opcode, std::string_view payload) {
  appendHeader(out, opcode, payload.size(), false);
  out.append(payload);
}

void appendMaskedFrame(std::string& out, Opcode opcode, std::string_view payload,
                       std::uint32_t maskKey) {
  appendHeader(out, opcode, payload.size(), true);
  unsigned char key[4];
  std::memcpy(key, &maskKey, 4);
  out.append(reinterpret_cast<const char*>(key), 4);
  std::size_t start = out.size();
  out.append(payload);
  unmask(out.data() + start, payload.size(), key);
}

void appendCloseFrame(std::string& out, std::uint16_t code, std::string_view reason, bool masked,
                      std::uint32_t maskKey) {
  std::string body;
  if (code != kCloseNoStatus) {
    body.push_back(static_cast<char>(code >> 8));
    body.push_back(static_cast<char>(code & 0xFF));
    std::size_t room = kMaxControlPayload - 2;
    if (reason.size() > room) {
      reason = reason.substr(0, room);
      // Do not cut a UTF-8 sequence in half: drop continuation bytes back to a lead byte.
      while (!reason.empty() && !isValidUtf8(reason)) reason.remove_suffix(1);
    }
    body.append(reason);
  }
  if (masked)
    appendMaskedFrame(out, Opcode::Close, body, maskKey);
  else
    appendFrame(out, Opcode::Close, body);
}

std::string acceptKey(std::string_view secWebSocketKey) {
  std::string input(secWebSocketKey);
  input += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(encoded), static_cast<std::size_t>(n));
}

}  // namespace claynet::signaling::ws
