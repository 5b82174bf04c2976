// libFuzzer target: the routing core of claynet-signal (SignalRouter), driven by a script read
// from the input, as a hostile set of clients would drive it: connects, arbitrary frames, closes,
// congestion and the passing of time. Also the frame scanner on its own.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "signaling/signal_router.hpp"

namespace sig = claynet::signaling;

namespace {

class Script {
 public:
  Script(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
  bool done() const { return i_ >= n_; }
  std::uint8_t byte() { return i_ < n_ ? p_[i_++] : 0; }
  std::string_view bytes(std::size_t len) {
    len = std::min(len, n_ - i_);
    std::string_view s(reinterpret_cast<const char*>(p_ + i_), len);
    i_ += len;
    return s;
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t i_ = 0;
};

const char* const kIds[] = {"a", "b", "c", "host", ""};
const char* const kTypes[] = {"HEARTBEAT", "OFFER",  "ANSWER", "CANDIDATE",
                              "LEAVE",     "EXPIRE", "OPEN",   "x"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    sig::ScannedMessage m;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (sig::scanMessage(text, m) == nullptr && m.hasPayload) {
      std::string out;
      sig::appendMinifiedJson(out, m.payload);
      sig::appendJsonString(out, m.type);
    }
  }

  sig::RouterOptions options;
  options.aliveTimeout = std::chrono::milliseconds(3000);
  options.expireTimeout = std::chrono::milliseconds(1000);
  options.concurrentLimit = 4;
  options.maxFrameBytes = 4096;
  options.maxQueuedPerDestination = 8;
  options.maxQueuedTotal = 20;
  options.floodFrameBurst = 50;
  options.floodFramesPerSecond = 10;
  sig::SignalRouter router(options);
  sig::TimePoint now{};
  Script script(data, size);
  int steps = 0;
  while (!script.done() && ++steps < 2000) {
    const std::uint8_t op = script.byte();
    const sig::ClientHandle handle = 1 + script.byte() % 8;
    switch (op % 7) {
      case 0: {
        sig::ConnectRequest request;
        request.id = kIds[script.byte() % 5];
        request.token = (script.byte() & 1) ? "t1" : "t2";
        request.key = (script.byte() % 8) ? "peerjs" : "wrong";
        router.connect(handle, request, now);
        break;
      }
      case 1: {  // an arbitrary frame
        const std::size_t len = script.byte() | (std::size_t{script.byte()} << 8);
        router.frame(handle, script.bytes(len), now);
        break;
      }
      case 2: {  // a well-formed message with fuzzed parts
        std::string text = "{\"type\":\"";
        text += kTypes[script.byte() % 8];
        text += "\",\"dst\":\"";
        text += kIds[script.byte() % 5];
        text += "\",\"payload\":";
        text += script.bytes(script.byte() % 64);
        text += "}";
        router.frame(handle, text, now);
        break;
      }
      case 3:
        router.closed(handle);
        break;
      case 4:
        router.congested(handle);
        break;
      case 5:
        now += std::chrono::milliseconds(50 * script.byte());
        router.tick(now);
        break;
      case 6:
        router.frame(handle, "{\"type\":\"HEARTBEAT\"}", now);
        break;
    }
    // The I/O layer: a Close action ends that connection (unless the script keeps it around).
    for (const auto& action : router.actions()) {
      if (action.kind == sig::RouterAction::Kind::Close && (op & 0x80) == 0) {
        router.closed(action.handle);
      }
    }
    router.actions().clear();
    if (router.clientCount() > options.concurrentLimit) std::abort();
  }
  return 0;
}
