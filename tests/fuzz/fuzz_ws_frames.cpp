// libFuzzer target: the WebSocket frame reader of claynet-signal, in both roles, with the input
// fed in pieces whose sizes come from the input itself.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/signal_server_frames.hpp"

namespace ws = claynet::signaling::ws;

namespace {

class Sink : public ws::FrameSink {
 public:
  void onMessage(bool binary, std::string_view data) override {
    if (!binary && !ws::isValidUtf8(data)) std::abort();  // the contract: text is valid UTF-8
    if (data.size() > kLimit) std::abort();
    bytes += data.size();
  }
  void onPing(std::string_view payload) override { bytes += payload.size(); }
  void onClose(std::uint16_t, std::string_view) override {
    if (closed) std::abort();  // no event after a close
    closed = true;
  }
  static constexpr std::size_t kLimit = 4096;
  std::size_t bytes = 0;
  bool closed = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  for (ws::Role role : {ws::Role::Server, ws::Role::Client}) {
    std::vector<char> copy(data + 1, data + size);  // feed() unmasks in place
    ws::FrameReader reader(role, Sink::kLimit);
    Sink sink;
    for (std::size_t off = 0; off < copy.size(); off += piece) {
      const std::size_t len = std::min(piece, copy.size() - off);
      if (!reader.feed(copy.data() + off, len, sink)) break;
    }
    if (reader.buffered() > Sink::kLimit + 14 + 4096) std::abort();
    if (reader.failed() && reader.errorReason().empty()) std::abort();
  }
  // What the writer produces, the reader reads back.
  const std::string_view payload(reinterpret_cast<const char*>(data + 1),
                                 std::min<std::size_t>(size - 1, 4000));
  std::string frame;
  ws::appendMaskedFrame(frame, ws::Opcode::Binary, payload, 0x01020304u);
  ws::FrameReader reader(ws::Role::Server, Sink::kLimit);
  Sink sink;
  if (!reader.feed(frame.data(), frame.size(), sink) || sink.bytes != payload.size()) std::abort();
  return 0;
}
