// claynet-nat-peer: the claynet side of the NAT lab (tests/nat): one PeerJS DataConnection
// through a signaling server named by host name, with STUN/TURN servers named by host name, as
// users configure them. It reports the selected candidate pair, times the connection, streams
// numbered reliable messages through blackouts and restarts, and measures the round trip.
//
// stdout: JSON lines only ({"event": ...}); logs go to stderr. stdin, one command a line:
//   stream HZ     send {"seq":n} at HZ messages a second (reliable, ordered)
//   rtt N         N sequential pings; reports the median round trip
//   restart       restartIce() on the connection
//   finish        stop streaming and send {"end":count}; the result follows once the remote's
//                 end has arrived too
//   close         close and exit
// Events: registered, open {connectMs, pair}, pair {pair} (when the selected pair changes),
// state {state, reason}, rtt {p50Ms, samples}, result {ok, sent, received, detail}, error.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "claynet/peerjs.hpp"
#include "ice_spec.hpp"
#include "network/network_config.hpp"
#include "stdin_lines.hpp"

using namespace claynet;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

Clock::time_point g_t0 = Clock::now();
std::string g_name = "claynet-nat-peer";

void emit(const json& event) {
  std::cout << event.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;
}

void log(const std::string& message) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - g_t0).count();
  std::cerr << "[" << g_name << " " << ms << "ms] " << message << std::endl;
}

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

json candidateJson(const CandidateInfo& c) {
  json j = {{"type", toString(c.type)},
            {"address", c.address},
            {"port", c.port},
            {"transport", c.transport}};
  if (!c.relayProtocol.empty()) j["relayProtocol"] = c.relayProtocol;
  return j;
}

json pairJson(const std::optional<SelectedPair>& p) {
  if (!p) return nullptr;
  return {{"local", candidateJson(p->local)}, {"remote", candidateJson(p->remote)}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"claynet NAT lab peer (tests/nat)"};
  std::string signal, id, remote, caFile;
  std::vector<std::string> ice;
  bool relayOnly = false, verbose = false;
  long timeoutMs = 30000, iceTimeoutMs = 30000, disconnectedAfterMs = 3000, failedAfterMs = 30000;
  app.add_option("--signal", signal, "PeerJS server, e.g. ws://signal.lab.test:9000/")->required();
  app.add_option("--id", id, "our peer id")->required();
  app.add_option("--connect", remote, "open the connection to this peer (else accept one)");
  app.add_option("--ice", ice, "STUN/TURN server, repeatable: stun:host:port, turn:u:p@host:port");
  app.add_flag("--relay-only", relayOnly, "ICE transport policy relay");
  app.add_option("--ca-file", caFile, "extra CA certificates (PEM) for turns: servers");
  app.add_option("--timeout-ms", timeoutMs, "give up when not open after this many ms")
      ->check(CLI::PositiveNumber);
  app.add_option("--ice-timeout", iceTimeoutMs, "Configuration::iceTimeout in ms");
  app.add_option("--disconnected-after", disconnectedAfterMs,
                 "Configuration::disconnectedAfter in ms");
  app.add_option("--failed-after", failedAfterMs, "Configuration::failedAfter in ms");
  app.add_flag("--verbose", verbose, "log transport diagnostics to stderr");
  CLI11_PARSE(app, argc, argv);
  g_name += " " + id;

  PeerJsOptions options;
  if (Result r = network::parseSignalingUrl(signal, options.server); !r) {
    std::cerr << "--signal: " << r.error() << "\n";
    return 2;
  }
  options.id = id;
  options.rtc = Configuration{};
  for (const auto& s : ice) options.rtc.iceServers.push_back(cli::parseIceSpec(s));
  options.rtc.iceTransportPolicy = relayOnly ? IceTransportPolicy::Relay : IceTransportPolicy::All;
  options.rtc.caFile = caFile;
  options.rtc.iceTimeout = std::chrono::milliseconds(iceTimeoutMs);
  options.rtc.disconnectedAfter = std::chrono::milliseconds(disconnectedAfterMs);
  options.rtc.failedAfter = std::chrono::milliseconds(failedAfterMs);
  if (verbose)
    options.onTransportDiagnostic = [](const std::string&, const std::string&,
                                       const std::string& phase, const std::string& detail) {
      log("rtc " + phase + ": " + detail);
    };

  Runtime rt;
  auto peer = PeerJsPeer::create(rt, options);
  std::shared_ptr<PeerJsConnection> conn;
  Clock::time_point connectStart{};
  bool open = false, closed = false;
  std::optional<SelectedPair> lastPair;

  // Streaming and its check: every message must arrive once, in order.
  double streamHz = 0;
  Clock::time_point nextSend{};
  uint64_t sent = 0, received = 0;
  std::optional<uint64_t> remoteEnd;
  bool finishing = false, resultSent = false;
  std::string orderError;
  // Round trips.
  long pingsLeft = 0;
  std::vector<double> rtts;
  Clock::time_point pingSent{};

  auto result = [&](bool ok, const std::string& detail) {
    if (resultSent) return;
    resultSent = true;
    emit({{"event", "result"},
          {"ok", ok},
          {"sent", sent},
          {"received", received},
          {"detail", detail}});
  };
  auto checkDone = [&] {
    if (!finishing || !remoteEnd || resultSent) return;
    if (!orderError.empty()) return result(false, orderError);
    if (received != *remoteEnd)
      return result(false, "received " + std::to_string(received) + " of the " +
                               std::to_string(*remoteEnd) + " the remote sent");
    result(true,
           "received all " + std::to_string(received) + " in order; sent " + std::to_string(sent));
  };
  auto sendPing = [&] {
    pingSent = Clock::now();
    (void)conn->send(json{{"ping", 1}});
  };

  auto attach = [&](const std::shared_ptr<PeerJsConnection>& c) {
    conn = c;
    PeerJsConnection* raw = c.get();
    raw->onOpen([&, raw] {
      open = true;
      auto pc = raw->peerConnection();
      lastPair = pc ? pc->selectedPair() : std::nullopt;
      emit({{"event", "open"}, {"connectMs", msSince(connectStart)}, {"pair", pairJson(lastPair)}});
    });
    raw->onData([&, raw](const json& v) {
      if (v.contains("seq")) {
        uint64_t n = v["seq"].get<uint64_t>();
        if (n != received && orderError.empty())
          orderError = "message " + std::to_string(n) + " arrived where " +
                       std::to_string(received) + " was due";
        ++received;
      } else if (v.contains("ping")) {
        (void)raw->send(json{{"pong", 1}});
      } else if (v.contains("pong")) {
        rtts.push_back(msSince(pingSent));
        if (--pingsLeft > 0) {
          sendPing();
        } else {
          std::vector<double> s = rtts;
          std::sort(s.begin(), s.end());
          emit({{"event", "rtt"}, {"p50Ms", s[s.size() / 2]}, {"samples", s.size()}});
          rtts.clear();
        }
      } else if (v.contains("end")) {
        remoteEnd = v["end"].get<uint64_t>();
        checkDone();
      }
    });
    raw->onClose([&] {
      closed = true;
      emit({{"event", "state"}, {"state", "closed"}, {"reason", "the connection closed"}});
      if (!resultSent && finishing) result(false, "the connection closed before the end");
    });
    raw->onError([](const PeerJsError& e) { emit({{"event", "error"}, {"detail", e.text()}}); });
    // Delivered before the connection lets go of its peer connection, so the reason is still there.
    raw->onStateChange([raw](PeerState s) {
      auto pc = raw->peerConnection();
      StateReason why = pc ? pc->stateReason() : StateReason{};
      emit({{"event", "state"},
            {"state", toString(s)},
            {"code", toString(why.code)},
            {"reason", why.detail}});
    });
  };

  peer->onOpen([&](const std::string& openedId) {
    emit({{"event", "registered"}, {"id", openedId}});
    if (remote.empty() || conn) return;
    PeerJsConnectOptions co;
    co.serialization = Serialization::Json;
    co.reliable = true;
    co.label = "nat";
    connectStart = Clock::now();
    std::shared_ptr<PeerJsConnection> c;
    if (Result r = peer->connect(remote, co, c); !r) {
      emit({{"event", "error"}, {"detail", r.error()}});
      return;
    }
    attach(c);
  });
  peer->onConnection([&](std::shared_ptr<PeerJsConnection> c) {
    if (conn) return;
    connectStart = Clock::now();
    attach(c);
  });
  peer->onError([](const PeerJsError& e) { emit({{"event", "error"}, {"detail", e.text()}}); });
  if (Result r = peer->open(); !r) {
    emit({{"event", "error"}, {"detail", r.error()}});
    return 1;
  }

  cli::startStdinReader();
  bool quit = false;
  const auto openDeadline = g_t0 + std::chrono::milliseconds(timeoutMs);
  bool timedOut = false;
  // Bounded by the open deadline, by stdin's "close" or EOF, and by the 10-minute cap below.
  while (!quit && Clock::now() - g_t0 < std::chrono::minutes(10)) {
    rt.waitAndPoll(std::chrono::milliseconds(5));
    auto now = Clock::now();
    if (!open && !timedOut && now >= openDeadline) {
      timedOut = true;
      auto pc = conn ? conn->peerConnection() : nullptr;
      emit({{"event", "timeout"},
            {"state", pc ? toString(pc->state()) : "none"},
            {"reason", pc ? pc->stateReason().detail : std::string()}});
    }
    if (conn && !closed) {
      if (auto pc = conn->peerConnection()) {
        auto p = pc->selectedPair();
        if (open && p && (!lastPair || pairJson(p) != pairJson(lastPair))) {
          lastPair = p;
          emit({{"event", "pair"}, {"pair", pairJson(p)}});
        }
      }
    }
    if (open && streamHz > 0 && !finishing && now >= nextSend) {
      if (conn->send(json{{"seq", sent}})) ++sent;
      nextSend += std::chrono::microseconds(static_cast<long>(1e6 / streamHz));
      if (nextSend < now) nextSend = now;
    }
    for (const std::string& line : cli::takeStdinLines()) {
      if (line.rfind("stream ", 0) == 0) {
        streamHz = std::strtod(line.c_str() + 7, nullptr);
        nextSend = Clock::now();
      } else if (line.rfind("rtt ", 0) == 0 && open) {
        pingsLeft = std::max(1L, std::strtol(line.c_str() + 4, nullptr, 10));
        sendPing();
      } else if (line == "restart" && conn) {
        if (Result r = conn->restartIce(); !r)
          emit({{"event", "error"}, {"detail", "restart: " + r.error()}});
      } else if (line == "finish" && conn) {
        finishing = true;
        (void)conn->send(json{{"end", sent}});
        checkDone();
      } else if (line == "close") {
        quit = true;
      }
    }
    if (cli::stdinFinished()) quit = true;
  }
  if (conn) conn->close();
  peer->destroy();
  auto until = Clock::now() + std::chrono::milliseconds(300);
  while (Clock::now() < until) rt.waitAndPoll(std::chrono::milliseconds(10));
  return 0;
}
