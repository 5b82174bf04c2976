// libFuzzer target: the bytes a client sends to the Local-mode (embedded) signaling server once
// its WebSocket is upgraded, down the server's own path: the frame reader in server role, then the
// routing core. A second, honest client is registered; everything the server sends it must be a
// frame claynet's PeerJS client can parse (an OFFER with a deep payload included).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/peerjs_message.hpp"
#include "signaling/signal_router.hpp"
#include "signaling/signal_server_frames.hpp"

namespace sig = claynet::signaling;
namespace ws = claynet::signaling::ws;

namespace {

constexpr sig::ClientHandle kAttacker = 1;
constexpr sig::ClientHandle kHonest = 2;
constexpr std::size_t kMaxMessage = 1 << 20;

struct Sink : ws::FrameSink {
  sig::SignalRouter* router;
  sig::TimePoint now;
  bool closed = false;
  void onMessage(bool, std::string_view data) override {
    if (data.size() > kMaxMessage) std::abort();
    router->frame(kAttacker, data, now);
  }
  void onPing(std::string_view) override {}
  void onClose(std::uint16_t, std::string_view) override {
    closed = true;
    router->closed(kAttacker);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  sig::RouterOptions options;
  options.maxFrameBytes = kMaxMessage;
  sig::SignalRouter router(options);
  sig::TimePoint now{};
  router.connect(kHonest, {"host", "t0", "peerjs"}, now);
  router.connect(kAttacker, {"evil", "t1", "peerjs"}, now);
  std::vector<char> bytes(data + 1, data + size);  // feed() unmasks in place
  ws::FrameReader reader(ws::Role::Server, kMaxMessage);
  Sink sink;
  sink.router = &router;
  const std::size_t piece = 1 + (std::size_t{data[0]} * 61) % 4096;
  for (std::size_t at = 0; at < bytes.size() && !sink.closed; at += piece) {
    sink.now = now += std::chrono::milliseconds(data[0] % 16);
    if (!reader.feed(bytes.data() + at, std::min(piece, bytes.size() - at), sink)) {
      router.closed(kAttacker);
      break;
    }
  }
  router.tick(now + std::chrono::seconds(10));
  for (const auto& action : router.actions()) {
    if (action.kind != sig::RouterAction::Kind::Send || action.handle != kHonest) continue;
    sig::ServerMessage message;
    // Forwarded payloads keep the attacker's nesting, which the client refuses with a reason;
    // anything else the server writes must parse.
    claynet::Result r = sig::parseServerMessage(action.text, message);
    if (!r && r.error().find("nests deeper") == std::string::npos) std::abort();
  }
  return 0;
}
