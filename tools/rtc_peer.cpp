// claynet-rtc-peer: one side of an interop test, speaking JSON lines on stdin/stdout
// (the protocol of tests/interop/run_pair.mjs). Signaling in, signaling out, one verdict.
//
// Scenarios:
//  - exchange (default): four messages each way on one reliable channel, checked byte by byte;
//  - lossy-sink (answerer): the offerer opens lossy channels and a reliable "control" channel and
//    sends messages of several KiB over a lossy link; this side checks every message that arrives
//    (index and content), and when "done" comes on control, answers "stats {...}". The verdict
//    is ok when the association is still up and nothing arrived corrupted.
//  - hostile-sink (answerer): the offerer (tests/interop/peer_aiortc.py --scenario hostile) opens
//    "legit" and "junk", floods junk with messages claynet must drop and report (an undefined
//    payload protocol, bad DCEP, an OPEN for a stream in use) while this application is busy
//    for 3 s, then says "flooded <n> <n> <n>" on legit. Every error must be reported, and the
//    reports waiting for poll() must have paused reading (a small budget here). Then this side
//    closes junk, the offerer refuses the stream reset, and junk must end Closed with an error;
//    legit must still echo. Last, the offerer ABORTs the association naming a protocol violation:
//    the connection must end Failed with that cause. The verdict says all that.
#include <CLI/CLI.hpp>
#include <array>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "claynet/peer_connection.hpp"

using namespace claynet;
using json = nlohmann::json;

namespace {

std::mutex g_out;
void emit(const json& j) {
  std::lock_guard lock(g_out);
  std::cout << j.dump() << std::endl;
}

std::string pattern(std::size_t n, int mul, int mod) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * mul) % mod);
  return s;
}

struct Expected {
  bool binary;
  std::string data;
};

// Messages of the lossy scenario: a 4-byte big-endian index, then (index * 7 + position) & 0xff.
bool lossyMessageIntact(const std::string& m) {
  if (m.size() < 4) return false;
  uint32_t index = 0;
  for (int i = 0; i < 4; ++i) index = (index << 8) | static_cast<uint8_t>(m[i]);
  for (std::size_t j = 4; j < m.size(); ++j)
    if (static_cast<uint8_t>(m[j]) != ((index * 7 + j) & 0xff)) return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"claynet interop peer (JSON lines on stdin/stdout)"};
  std::string role;
  int timeoutS = 30;
  std::vector<std::string> localAddresses;
  bool verbose = false;
  std::string scenario = "exchange";
  app.add_option("--scenario", scenario, "exchange, lossy-sink or hostile-sink")
      ->check(CLI::IsMember({"exchange", "lossy-sink", "hostile-sink"}));
  app.add_option("--role", role, "offer or answer")
      ->required()
      ->check(CLI::IsMember({"offer", "answer"}));
  app.add_option("--timeout", timeoutS, "seconds to wait for the exchange");
  app.add_option("--local-address", localAddresses, "restrict ICE host candidates");
  app.add_flag("--verbose", verbose, "print transport diagnostics to stderr");
  CLI11_PARSE(app, argc, argv);

  Runtime::Options runtimeOptions;
  // A small budget, so that the hostile peer's flood of reports surely goes past it.
  if (scenario == "hostile-sink") runtimeOptions.maxUndeliveredBytes = 256 * 1024;
  Runtime rt(runtimeOptions);
  Configuration config;
  config.localAddresses = localAddresses;
  PeerConnection pc(rt, config);

  const std::vector<Expected> script = {{false, "ping:text"},
                                        {true, pattern(1000, 1, 251)},
                                        {true, pattern(204800, 7, 256)},
                                        {false, "done"}};
  std::atomic<bool> finished{false};
  bool resultSent = false;
  std::size_t received = 0;
  std::shared_ptr<DataChannel> channel;

  bool resultOk = false;
  auto verdict = [&](bool ok, const std::string& detail) {
    if (resultSent) return;
    resultSent = true;
    resultOk = ok;
    emit({{"type", "result"}, {"ok", ok}, {"detail", detail}});
  };

  auto attach = [&](std::shared_ptr<DataChannel> ch) {
    channel = ch;
    ch->onOpen([&, ch] {
      std::cerr << "claynet: channel '" << ch->label() << "' open\n";
      for (const auto& m : script) {
        Result r = m.binary ? ch->sendBinary(m.data.data(), m.data.size()) : ch->send(m.data);
        if (!r) verdict(false, "send failed: " + r.error());
      }
    });
    ch->onMessage([&](Message&& m) {
      if (received >= script.size()) {
        verdict(false, "unexpected extra message of " + std::to_string(m.data.size()) + " bytes");
        return;
      }
      const auto& want = script[received];
      if (m.binary != want.binary || m.data != want.data) {
        verdict(false, "message " + std::to_string(received + 1) + ": expected " +
                           (want.binary ? "binary" : "text") + " of " +
                           std::to_string(want.data.size()) + " bytes, got " +
                           (m.binary ? "binary" : "text") + " of " + std::to_string(m.data.size()));
        return;
      }
      if (++received == script.size()) verdict(true, "received all 4 messages intact");
    });
    ch->onClose([&] { std::cerr << "claynet: channel closed\n"; });
  };

  pc.onLocalDescription([](const Description& d) {
    emit({{"type", "description"}, {"sdpType", toString(d.type)}, {"sdp", d.sdp}});
  });
  pc.onLocalCandidate([](const Candidate& c) {
    emit({{"type", "candidate"},
          {"candidate", c.candidate},
          {"sdpMid", c.mid},
          {"sdpMLineIndex", c.mLineIndex}});
  });
  // hostile-sink: what the hostile peer provoked, and what claynet did about it.
  struct {
    std::map<std::string, std::shared_ptr<DataChannel>> channels;
    std::array<std::size_t, 3> reported{};  // undefined protocol, bad DCEP, OPEN for a used stream
    std::optional<std::array<std::size_t, 3>> sent;
    bool busyDone = false, paused = false, closeStarted = false, refused = false,
         junkClosed = false, askedEcho = false, askedAbort = false, okBeforeAbort = false;
    std::string beforeAbort;
  } hs;
  pc.onStateChange([&](PeerState s) {
    std::cerr << "claynet: state " << toString(s) << "\n";
    if (hs.askedAbort && (s == PeerState::Failed || s == PeerState::Closed)) {
      // The remote's ABORT names a protocol violation: a failure, with the cause in the reason.
      std::string reason = pc.failureReason();
      bool named = s == PeerState::Failed &&
                   reason.find("protocol violation (claynet hostile test)") != std::string::npos;
      verdict(hs.okBeforeAbort && named, hs.beforeAbort + "; then the remote's ABORT ended it as " +
                                             toString(s) + ": " + reason);
    }
    if (s == PeerState::Failed) verdict(false, "connection failed: " + pc.failureReason());
    if (s == PeerState::Closed && scenario != "exchange")
      verdict(false, "the association ended before \"done\" came");
  });
  // lossy-sink: every channel but "control" is counted and checked.
  std::map<std::string, std::size_t> lossyReceived;
  std::size_t corrupt = 0;
  std::vector<std::shared_ptr<DataChannel>> lossyChannels;
  auto attachLossy = [&](std::shared_ptr<DataChannel> ch) {
    lossyChannels.push_back(ch);
    std::string label = ch->label();
    DataChannel* raw = ch.get();
    ch->onMessage([&, label, raw](Message&& m) {
      if (label != "control") {
        ++lossyReceived[label];
        if (!lossyMessageIntact(m.data)) ++corrupt;
        return;
      }
      if (m.data.rfind("done", 0) != 0) return;
      bool up = pc.state() == PeerState::Connected;
      json stats = {{"received", lossyReceived},
                    {"corrupt", corrupt},
                    {"state", toString(pc.state())},
                    {"ok", up && corrupt == 0}};
      (void)raw->send("stats " + stats.dump());
      verdict(up && corrupt == 0, "after \"" + m.data + "\": " + stats.dump());
    });
  };
  auto attachHostile = [&](std::shared_ptr<DataChannel> ch) {
    std::string label = ch->label();
    hs.channels[label] = ch;
    DataChannel* raw = ch.get();
    if (label == "junk") {
      ch->onError([&](const std::string& e) {
        std::cerr << "claynet: junk: " << e << "\n";
        if (e.find("refused to reset") != std::string::npos) hs.refused = true;
      });
      ch->onClose([&] { hs.junkClosed = true; });
      return;
    }
    ch->onMessage([&, raw](Message&& m) {
      std::size_t a, b, c;
      if (std::sscanf(m.data.c_str(), "flooded %zu %zu %zu", &a, &b, &c) == 3) {
        hs.sent = std::array<std::size_t, 3>{a, b, c};
      } else if (m.data == "echo after-deny") {
        bool up = pc.state() == PeerState::Connected;
        json stats = {{"reported", hs.reported},     {"sent", hs.sent ? json(*hs.sent) : json()},
                      {"pausedReads", hs.paused},    {"resetRefused", hs.refused},
                      {"junkClosed", hs.junkClosed}, {"state", toString(pc.state())}};
        hs.okBeforeAbort =
            up && hs.paused && hs.refused && hs.junkClosed && hs.sent && hs.reported == *hs.sent;
        hs.beforeAbort = "legit echoed after the flood and the refused reset: " + stats.dump();
        hs.askedAbort = true;
        (void)raw->send("abort " + stats.dump());
      }
    });
  };
  pc.onDataChannel([&](std::shared_ptr<DataChannel> ch) {
    if (scenario == "lossy-sink")
      attachLossy(ch);
    else if (scenario == "hostile-sink")
      attachHostile(ch);
    else
      attach(ch);
  });
  pc.onError([&](const std::string& e) {
    if (scenario == "hostile-sink") {
      const char* kinds[] = {"unknown payload protocol 4242", "bad DCEP message",
                             "which is already in use"};
      for (std::size_t i = 0; i < 3; ++i)
        if (e.find(kinds[i]) != std::string::npos) {
          ++hs.reported[i];
          return;
        }
    }
    std::cerr << "claynet: error: " << e << "\n";
  });
  if (verbose || scenario == "hostile-sink")
    pc.onDiagnostic([&](const std::string& phase, const std::string& detail) {
      if (phase == "sctp" && detail.rfind("pausing reads", 0) == 0) hs.paused = true;
      if (verbose || phase == "sctp") std::cerr << "claynet [" << phase << "] " << detail << "\n";
    });

  if (role == "offer" && scenario != "exchange") {
    std::cerr << "claynet: the " << scenario << " scenario answers; the other side offers\n";
    return 2;
  }
  if (role == "offer") {
    auto ch = pc.createDataChannel("interop");
    if (!ch) return 2;
    attach(ch);
    if (Result r = pc.createOffer(); !r) {
      std::cerr << r.error() << "\n";
      return 2;
    }
  }

  // stdin is read on its own thread; PeerConnection calls are thread-safe.
  std::thread reader([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        std::cerr << "claynet: ignored a line that is not a JSON object\n";
        continue;
      }
      std::string type = j.value("type", "");
      if (type == "close") break;
      if (type == "description") {
        Description d{j.value("sdpType", "") == "offer" ? SdpType::Offer : SdpType::Answer,
                      j.value("sdp", "")};
        if (Result r = pc.setRemoteDescription(d); !r)
          std::cerr << "claynet: " << r.error() << "\n";
      } else if (type == "candidate") {
        Candidate c{
            j.value("candidate", ""),
            j.contains("sdpMid") && j["sdpMid"].is_string() ? j["sdpMid"].get<std::string>() : "0",
            j.contains("sdpMLineIndex") && j["sdpMLineIndex"].is_number()
                ? j["sdpMLineIndex"].get<int>()
                : 0};
        if (Result r = pc.addRemoteCandidate(c); !r) std::cerr << "claynet: " << r.error() << "\n";
      }
    }
    finished = true;
  });

  auto progress = [&]() -> std::string {
    std::string state = " (state " + std::string(toString(pc.state())) + ")";
    if (scenario == "lossy-sink") return json(lossyReceived).dump() + " messages received" + state;
    if (scenario == "exchange") return std::to_string(received) + " of 4 messages received" + state;
    return "reports " + json(hs.reported).dump() + state +
           (hs.closeStarted ? "; junk closed here" : "") + (hs.refused ? "; reset refused" : "") +
           (hs.junkClosed ? "; junk Closed" : "");
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutS);
  while (!finished) {
    rt.waitAndPoll(std::chrono::milliseconds(20));
    if (scenario == "hostile-sink") {
      if (!hs.busyDone && hs.channels.count("legit") && hs.channels.count("junk")) {
        // The application is busy (a level load) while the flood comes: nothing is polled.
        std::cerr << "claynet: busy for 3 s\n";
        std::this_thread::sleep_for(std::chrono::seconds(3));
        hs.busyDone = true;
      }
      if (hs.sent && hs.reported == *hs.sent && !hs.closeStarted) {
        hs.closeStarted = true;
        hs.channels["junk"]->close();
      }
      if (hs.refused && hs.junkClosed && !hs.askedEcho) {
        hs.askedEcho = true;
        (void)hs.channels["legit"]->send("after-deny");
      }
    }
    if (!resultSent && std::chrono::steady_clock::now() > deadline)
      verdict(false, "timed out after " + std::to_string(timeoutS) + " s: " + progress());
  }
  rt.poll();
  bool ok = resultSent && (scenario == "exchange" ? received == script.size() : resultOk);
  pc.close();
  reader.join();
  return ok ? 0 : 1;
}
