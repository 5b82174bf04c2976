// claynet-peerjs-peer: the claynet side of the PeerJS interop tests. It registers with a PeerJS
// server, opens (or accepts) one DataConnection, sends the standard value set of a serialization
// and checks that the other side's set arrives intact. The contract (command line, stdout JSON
// lines, stdin "close") is shared with tests/signaling/peer_browser_peerjs.mjs, and the
// orchestrator is tests/signaling/run_peerjs.mjs.
//
// stdout carries only JSON event lines: {"event":"open"|"connection"|"result"|"error",...}.
// Logs go to stderr. Exit status: 0 when the result is ok, 1 when not, 2 on a bad command line.
#include <poll.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "claynet/lan_code.hpp"
#include "claynet/peerjs.hpp"
#include "claynet/signal_server.hpp"
#include "standard_sets.hpp"

using namespace claynet;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string g_name = "claynet-peerjs-peer";
Clock::time_point g_t0 = Clock::now();

void emit(const json& event) {
  std::cout << event.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;
}

void log(const std::string& message) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - g_t0).count();
  std::cerr << "[" << g_name << " " << ms << "ms] " << message << std::endl;
}

using interop::standardSet;

std::string show(const json& v) {
  std::string s;
  if (v.is_binary()) {
    const auto& b = v.get_binary();
    s = "<bytes(" + std::to_string(b.size()) + ")";
    if (b.size() <= 8) {
      s += " ";
      for (std::size_t i = 0; i < b.size(); ++i) s += (i ? "," : "") + std::to_string(b[i]);
    }
    s += ">";
  } else {
    s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return s.size() > 120 ? s.substr(0, 117) + "..." : s;
}

// Where two values differ, or nothing. Numbers compare by value (200 as uint8 equals 200).
std::optional<std::string> diff(const json& expected, const json& got, const std::string& at) {
  if (expected.is_binary()) {
    if (!got.is_binary())
      return at + ": expected bytes(" + std::to_string(expected.get_binary().size()) + "), got " +
             got.type_name() + " " + show(got);
    const auto& a = expected.get_binary();
    const auto& b = got.get_binary();
    if (a.size() != b.size())
      return at + ": expected bytes(" + std::to_string(a.size()) + "), got bytes(" +
             std::to_string(b.size()) + ")";
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i])
        return at + ": bytes differ first at index " + std::to_string(i) + " (expected " +
               std::to_string(a[i]) + ", got " + std::to_string(b[i]) + ")";
    return std::nullopt;
  }
  if (expected.is_array()) {
    if (!got.is_array()) return at + ": expected array, got " + got.type_name() + " " + show(got);
    if (expected.size() != got.size())
      return at + ": expected " + std::to_string(expected.size()) + " items, got " + show(got);
    for (std::size_t i = 0; i < expected.size(); ++i)
      if (auto d = diff(expected[i], got[i], at + "[" + std::to_string(i) + "]")) return d;
    return std::nullopt;
  }
  if (expected.is_object()) {
    if (!got.is_object()) return at + ": expected object, got " + got.type_name() + " " + show(got);
    if (expected.size() != got.size())
      return at + ": expected " + show(expected) + ", got " + show(got);
    for (const auto& [k, v] : expected.items()) {
      auto it = got.find(k);
      if (it == got.end()) return at + ": key " + k + " is missing in " + show(got);
      if (auto d = diff(v, *it, at + "." + k)) return d;
    }
    return std::nullopt;
  }
  if (expected != got || expected.is_number() != got.is_number() ||
      (expected.is_number_float() != got.is_number_float() &&
       expected.get<double>() != got.get<double>()))
    return at + ": expected " + expected.type_name() + " " + show(expected) + ", got " +
           got.type_name() + " " + show(got);
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"claynet PeerJS interop peer (contract: tests/signaling/interop_contract.md)"};
  std::string host, path = "/", key = "peerjs", id, remote, serializationText = "binary", caFile;
  int port = 0;
  long timeoutMs = 30000;
  bool secure = false, insecure = false, verbose = false;
  std::vector<std::string> localAddresses;
  std::string joinLan, lanAddressOverride;
  bool localHost = false;
  app.add_option("--host", host, "signaling server host (not with --local-host / --join-lan)");
  app.add_option("--port", port, "signaling server port")->check(CLI::Range(1, 65535));
  app.add_flag("--local-host", localHost,
               "Local mode: embed a signaling server on an ephemeral port, print its LAN code");
  app.add_option("--lan-address", lanAddressOverride, "with --local-host: the address in the code");
  app.add_option("--join-lan", joinLan, "Local mode: use the server a LAN code names");
  app.add_option("--path", path, "server path");
  app.add_option("--key", key, "server key");
  app.add_flag("--secure", secure, "use wss:// and https://");
  app.add_flag("--insecure", insecure, "with --secure: accept any certificate (tests only)");
  app.add_option("--ca", caFile, "with --secure: a PEM file of CA certificates to trust too");
  app.add_option("--id", id, "our peer id")->required();
  app.add_option("--connect", remote, "open a DataConnection to this peer (else accept one)");
  app.add_option("--serialization", serializationText, "binary | json | raw")
      ->check(CLI::IsMember({"binary", "json", "raw"}));
  app.add_option("--timeout-ms", timeoutMs, "give up after this many ms")
      ->check(CLI::PositiveNumber);
  app.add_option("--local-address", localAddresses, "restrict ICE host candidates to these");
  app.add_flag("--verbose", verbose, "log transport diagnostics to stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (localHost + !joinLan.empty() + !host.empty() != 1 || (!host.empty() && port == 0)) {
    std::cerr << "give exactly one of --host/--port, --local-host, --join-lan CODE\n";
    return 2;
  }
  if (!joinLan.empty()) {
    std::uint16_t lanPort = 0;
    if (auto r = decodeLanCode(joinLan, host, lanPort); !r) {
      std::cerr << "--join-lan: " << r.error() << "\n";
      return 2;
    }
    port = lanPort;
  }
  Serialization serialization = Serialization::Binary;
  (void)parseSerialization(serializationText, serialization);
  g_name = "claynet-peerjs-peer " + id;
  const bool opener = !remote.empty();
  const std::vector<json> expected = standardSet(serialization);

  Runtime rt;
  // Local mode: this process is also the signaling server, as a Network host is.
  std::unique_ptr<SignalServer> localServer;
  if (localHost) {
    SignalServerOptions serverOptions;
    serverOptions.host = "0.0.0.0";
    serverOptions.port = 0;
    localServer = std::make_unique<SignalServer>(rt, serverOptions);
    if (auto r = localServer->start(); !r) {
      emit({{"event", "error"}, {"detail", "local signaling server: " + r.error()}});
      return 1;
    }
    const std::string address = lanAddress(lanAddressOverride);
    std::uint32_t ip = 0;
    (void)parseIPv4(address, ip);
    emit({{"event", "lan-code"},
          {"code", encodeLanCode(ip, localServer->port())},
          {"address", address},
          {"port", localServer->port()}});
    host = "127.0.0.1";
    port = localServer->port();
  }
  PeerJsOptions options;
  options.server.host = host;
  options.server.port = static_cast<uint16_t>(port);
  options.server.path = path;
  options.server.key = key;
  options.server.secure = secure;
  options.server.verifyCertificate = !insecure;
  options.server.caFile = caFile;
  options.id = id;
  options.rtc = Configuration{};  // no STUN: the tests run in a sealed namespace
  options.rtc.localAddresses = localAddresses;
  auto peer = PeerJsPeer::create(rt, options);

  bool printedOpen = false;
  std::optional<std::pair<bool, std::string>> result;
  Clock::time_point resultAt{};
  std::shared_ptr<PeerJsConnection> conn;
  bool connOpen = false;
  std::size_t received = 0, sent = 0;

  auto finish = [&](bool ok, const std::string& detail) {
    if (result) return;
    result = {ok, detail};
    resultAt = Clock::now();
    log(std::string("result ok=") + (ok ? "true" : "false") + ": " + detail);
    emit({{"event", "result"}, {"ok", ok}, {"detail", detail}});
  };

  auto attach = [&](const std::shared_ptr<PeerJsConnection>& connection) {
    conn = connection;
    // `conn` owns it for the whole run; a shared_ptr inside its own callback would be a cycle.
    PeerJsConnection* c = connection.get();
    c->onOpen([&, c] {
      if (connOpen) return;
      connOpen = true;
      log("connection " + c->connectionId() + " open (label \"" + c->label() +
          "\", serialization " + std::string(toString(c->serialization())) + ", reliable " +
          (c->reliable() ? "true" : "false") + ", metadata " + show(c->metadata()) + ")");
      emit({{"event", "connection"},
            {"peer", c->peer()},
            {"serialization", std::string(toString(c->serialization()))}});
      for (const auto& v : expected) {
        if (Result r = c->send(v); !r) {
          finish(false, "send of value " + std::to_string(sent + 1) + " failed: " + r.error());
          return;
        }
        ++sent;
      }
      log("sent all " + std::to_string(sent) + " values");
      if (received == expected.size())
        finish(true, "received all " + std::to_string(expected.size()) + " " + serializationText +
                         " values and sent all " + std::to_string(sent));
    });
    c->onData([&](const json& v) {
      std::size_t idx = received++;
      if (idx >= expected.size()) {
        emit({{"event", "error"},
              {"detail", "unexpected extra value " + std::to_string(idx + 1) + ": " + show(v)}});
        return;
      }
      if (result) return;
      std::string at =
          "value " + std::to_string(idx + 1) + " of " + std::to_string(expected.size());
      if (auto d = diff(expected[idx], v, at)) {
        finish(false, *d);
        return;
      }
      if (verbose) log(at + " ok: " + show(v));
      if (received == expected.size() && sent == expected.size())
        finish(true, "received all " + std::to_string(expected.size()) + " " + serializationText +
                         " values and sent all " + std::to_string(sent));
    });
    c->onError([&](const PeerJsError& e) {
      emit({{"event", "error"}, {"detail", "connection error " + e.text()}});
      finish(false, "connection error " + e.text() + " after " + std::to_string(received) + " of " +
                        std::to_string(expected.size()) + " values");
    });
    c->onClose([&] {
      log("connection closed");
      finish(false, "connection closed after " + std::to_string(received) + " of " +
                        std::to_string(expected.size()) + " values");
    });
    if (verbose) {
      if (auto pc = c->peerConnection())
        pc->onDiagnostic([](const std::string& phase, const std::string& detail) {
          log("rtc " + phase + ": " + detail);
        });
    }
  };

  peer->onOpen([&](const std::string& openedId) {
    if (printedOpen) {
      log("registered again with the server (reconnected)");
      return;
    }
    printedOpen = true;
    emit({{"event", "open"}, {"id", openedId}});
    if (!opener) return;
    log("connecting to " + remote + " (serialization " + serializationText + ")");
    PeerJsConnectOptions co;
    co.serialization = serialization;
    co.reliable = true;
    co.label = "interop";
    co.metadata = json{{"from", openedId}};
    std::shared_ptr<PeerJsConnection> c;
    if (Result r = peer->connect(remote, co, c); !r) {
      emit({{"event", "error"}, {"detail", r.error()}});
      finish(false, "connect failed: " + r.error());
      return;
    }
    attach(c);
  });
  peer->onConnection([&](std::shared_ptr<PeerJsConnection> c) {
    log("incoming connection " + c->connectionId() + " from " + c->peer() + " (label \"" +
        c->label() + "\", serialization " + std::string(toString(c->serialization())) +
        ", reliable " + (c->reliable() ? "true" : "false") + ", metadata " + show(c->metadata()) +
        ")");
    if (opener || conn) {
      emit({{"event", "error"},
            {"detail",
             "unexpected incoming connection " + c->connectionId() + " from " + c->peer()}});
      return;
    }
    std::vector<std::string> problems;
    if (c->serialization() != serialization)
      problems.push_back("serialization is " + std::string(toString(c->serialization())) +
                         ", expected " + serializationText);
    if (c->label() != "interop")
      problems.push_back("label is \"" + c->label() + "\", expected \"interop\"");
    if (!c->reliable()) problems.push_back("reliable is not true");
    const json& md = c->metadata();
    if (!md.is_object() || !md.contains("from") || md["from"] != c->peer())
      problems.push_back("metadata is " + show(md) + ", expected {\"from\":\"" + c->peer() + "\"}");
    attach(c);
    if (!problems.empty()) {
      std::string all;
      for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
      finish(false, "incoming connection from " + c->peer() + ": " + all);
    }
  });
  peer->onError([&](const PeerJsError& e) {
    emit({{"event", "error"}, {"detail", "peer error " + e.text()}});
    // Before the connection is up every peer error ends the attempt; afterwards the data channel
    // does not need the server any more.
    if (!connOpen) finish(false, "peer error before the connection opened: " + e.text());
  });
  peer->onDisconnected(
      [&](const std::string& reason) { log("disconnected from the signaling server: " + reason); });

  if (Result r = peer->open(); !r) {
    emit({{"event", "error"}, {"detail", r.error()}});
    finish(false, "cannot open: " + r.error());
  }

  const auto deadline = g_t0 + std::chrono::milliseconds(timeoutMs);
  bool stdinClosed = false;  // "close" or EOF
  std::string stdinBuffer;
  // Bounded: the timeout, then at most 5 s after the result.
  for (;;) {
    rt.waitAndPoll(std::chrono::milliseconds(10));
    if (!stdinClosed) {
      pollfd pfd{STDIN_FILENO, POLLIN, 0};
      while (!stdinClosed && ::poll(&pfd, 1, 0) > 0) {
        char buf[256];
        ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n <= 0) {
          stdinClosed = true;
          break;
        }
        stdinBuffer.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = stdinBuffer.find('\n')) != std::string::npos) {
          std::string line = stdinBuffer.substr(0, nl);
          stdinBuffer.erase(0, nl + 1);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          if (line == "close") stdinClosed = true;
        }
        if (stdinBuffer.size() > 4096) stdinBuffer.clear();
      }
    }
    auto now = Clock::now();
    if (!result && now >= deadline) {
      std::string why;
      if (!printedOpen)
        why = "never registered with the signaling server";
      else if (!conn)
        why = opener ? "no connection object" : "no incoming connection";
      else if (!connOpen) {
        auto pc = conn->peerConnection();
        why = std::string("connection never opened (peer connection ") +
              (pc ? toString(pc->state()) : "gone") +
              (pc && !pc->failureReason().empty() ? ": " + pc->failureReason() : "") + ")";
      } else {
        why = "connection open; sent " + std::to_string(sent) + ", received " +
              std::to_string(received) + " of " + std::to_string(expected.size()) + " values";
      }
      finish(false, "timeout after " + std::to_string(timeoutMs) + " ms: " + why);
    }
    if (result && (stdinClosed || now - resultAt >= std::chrono::seconds(5))) break;
  }
  if (conn) conn->close();
  peer->destroy();
  // Let the close go out (SCTP stream reset, WebSocket close).
  auto until = Clock::now() + std::chrono::milliseconds(200);
  while (Clock::now() < until) rt.waitAndPoll(std::chrono::milliseconds(10));
  return result && result->first ? 0 : 1;
}
