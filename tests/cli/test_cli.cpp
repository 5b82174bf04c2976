// Label `cli`: the `claynet` command as a user runs it, each node its own process driven through
// pipes, inside the test's sealed network namespace (scripts/netns-run.sh): host and join with
// chat, /to and /quit; the errors for a bad code, an unreachable or silent signaling server and a
// full network, with their exit codes; `claynet demo`; --help of every command.
//
// The waits below are bounds on how long a test waits for something that must happen, never
// assertions on speed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <functional>
#include <nlohmann/json.hpp>

#include "../network/node_process.hpp"
#include "claynet/lan_code.hpp"
#include "claynet/network.hpp"
#include "printable.hpp"

using namespace claynet::test;
using namespace std::chrono_literals;

namespace {

const std::string kClaynet = std::string(CLAYNET_BIN_DIR) + "/claynet";
// Exit codes of host/join (README, CLI section).
constexpr int kExitBadCode = 3, kExitUnreachable = 4, kExitNetworkFull = 5;

// A `claynet` process and every line of stdout it has printed.
struct Cli {
  std::unique_ptr<Child> proc;
  std::vector<std::string> lines;
  std::string name;

  static Cli start(const std::string& name, std::vector<std::string> args, bool mergeStderr) {
    std::string cmd = "exec '" + kClaynet + "'";
    for (const auto& a : args) cmd += " '" + a + "'";
    if (mergeStderr) cmd += " 2>&1";
    Cli c;
    c.name = name;
    c.proc = Child::spawn({"/bin/sh", "-c", cmd});
    return c;
  }

  void pump() {
    for (auto& l : proc->readLines()) lines.push_back(l);
  }

  // Waits until some line from index `from` on satisfies `pred`; returns it, or "" after
  // `timeout` or once the child has closed its stdout without one.
  std::string waitLine(const std::function<bool(const std::string&)>& pred,
                       std::chrono::milliseconds timeout, std::size_t from = 0) {
    std::size_t seen = from;
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      for (; seen < lines.size(); ++seen)
        if (pred(lines[seen])) return lines[seen];
      if (std::chrono::steady_clock::now() >= end) return "";
      if (auto l = proc->readLine(50ms))
        lines.push_back(*l);
      else if (proc->eof())
        return "";  // nothing more will come
    }
  }

  std::string waitText(const std::string& text, std::chrono::milliseconds timeout = 20s,
                       std::size_t from = 0) {
    return waitLine([&](const std::string& l) { return l.find(text) != std::string::npos; },
                    timeout, from);
  }

  json waitEvent(const std::function<bool(const json&)>& pred,
                 std::chrono::milliseconds timeout = 20s) {
    std::string l = waitLine(
        [&](const std::string& s) {
          json j = json::parse(s, nullptr, false);
          return j.is_object() && pred(j);
        },
        timeout);
    return l.empty() ? json() : json::parse(l);
  }

  json waitEvent(const std::string& event, std::chrono::milliseconds timeout = 20s) {
    return waitEvent([&](const json& j) { return j.value("event", "") == event; }, timeout);
  }

  json waitMessage(const std::string& text, std::chrono::milliseconds timeout = 20s) {
    return waitEvent(
        [&](const json& j) {
          return j.value("event", "") == "message" && j.value("text", "") == text;
        },
        timeout);
  }

  // Every line, for failure messages.
  std::string output() {
    pump();
    std::string s;
    for (const auto& l : lines) s += name + "| " + l + "\n";
    return s;
  }

  std::optional<int> exitStatus(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      pump();
      if (auto s = proc->wait(50ms)) {
        pump();  // what it printed just before it exited
        return s;
      }
      if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    }
  }
};

const std::vector<std::string> kLoopback = {"--ice-local", "127.0.0.1"};

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A host in Local mode on 127.0.0.1 (JSON lines) and its code.
std::pair<Cli, std::string> startLocalHost(int maxNodes) {
  Cli host =
      Cli::start("host",
                 std::vector<std::string>{"host", "--local", "--local-address", "127.0.0.1",
                                          "--json", "--max-nodes", std::to_string(maxNodes)} +
                     kLoopback,
                 false);
  json created = host.waitEvent("networkCreated");
  return {std::move(host), created.is_object() ? created.value("code", "") : ""};
}

std::string lanCodeFor(const std::string& address, uint16_t port) {
  uint32_t a = 0;
  EXPECT_TRUE(claynet::parseIPv4(address, a));
  return claynet::encodeLanCode(a, port);
}

TEST(Cli, HostAndJoinersChatBothWaysWithToAndQuit) {
  auto [host, code] = startLocalHost(3);
  ASSERT_FALSE(code.empty()) << host.output();
  const std::string hostId = claynet::Network::kLocalHostId;  // a Local host's id (Clayground's)

  // A speaks the human form, B JSON lines.
  Cli a = Cli::start("a", std::vector<std::string>{"join", code} + kLoopback, false);
  std::string joinedLine = a.waitText("claynet join: joined ");
  ASSERT_FALSE(joinedLine.empty()) << a.output() << host.output();
  auto as = joinedLine.find(" as ");
  ASSERT_NE(as, std::string::npos) << joinedLine;
  std::string aId = joinedLine.substr(as + 4, joinedLine.find(' ', as + 4) - as - 4);
  ASSERT_FALSE(host.waitEvent([&](const json& j) {
                     return j.value("event", "") == "nodeJoined" && j.value("nodeId", "") == aId;
                   })
                   .is_null())
      << host.output();

  Cli b = Cli::start("b", std::vector<std::string>{"join", code, "--json"} + kLoopback, false);
  json bConnected = b.waitEvent("connected");
  ASSERT_TRUE(bConnected.is_object()) << b.output() << host.output();
  std::string bId = bConnected.value("nodeId", "");
  ASSERT_FALSE(a.waitText("+ " + bId + " joined").empty()) << a.output();

  // Host to everyone.
  ASSERT_TRUE(host.proc->writeLine("hello from host"));
  EXPECT_FALSE(a.waitText("[" + hostId + "] hello from host").empty()) << a.output();
  json m = b.waitMessage("hello from host");
  ASSERT_TRUE(m.is_object()) << b.output();
  EXPECT_EQ(m.value("from", ""), hostId);
  EXPECT_FALSE(m.value("private", true));

  // A joiner to everyone: the host gets it, and B through the host's relay.
  ASSERT_TRUE(a.proc->writeLine("hi from a"));
  m = host.waitMessage("hi from a");
  ASSERT_TRUE(m.is_object()) << host.output();
  EXPECT_EQ(m.value("from", ""), aId);
  m = b.waitMessage("hi from a");
  ASSERT_TRUE(m.is_object()) << b.output();
  EXPECT_EQ(m.value("from", ""), aId);

  // /to with the first characters of an id: only A gets it. B gets the broadcast sent after it
  // (same host-to-B channel, in order), so a misrouted private message would be there before it.
  ASSERT_TRUE(host.proc->writeLine("/to " + aId.substr(0, 5) + " just for a"));
  ASSERT_TRUE(host.proc->writeLine("after the private one"));
  EXPECT_FALSE(a.waitText("[" + hostId + " to you] just for a").empty()) << a.output();
  ASSERT_TRUE(b.waitMessage("after the private one").is_object()) << b.output();
  for (const auto& l : b.lines) EXPECT_EQ(l.find("just for a"), std::string::npos) << l;

  // /to from a joiner to the host.
  ASSERT_TRUE(b.proc->writeLine("/to " + hostId + " secret for the host"));
  m = host.waitMessage("secret for the host");
  ASSERT_TRUE(m.is_object()) << host.output();
  EXPECT_EQ(m.value("from", ""), bId);
  EXPECT_TRUE(m.value("private", false));

  // /to a node that is not there: said so, nothing sent, the session goes on.
  ASSERT_TRUE(b.proc->writeLine("/to nobody hello"));
  EXPECT_TRUE(b.waitEvent([](const json& j) {
                 return j.value("event", "") == "notice" &&
                        j.value("text", "").find("no node nobody") != std::string::npos;
               }).is_object())
      << b.output();

  // /peers: the table of the other nodes, printed afresh (not the one printed on B's joining).
  a.pump();
  const std::size_t beforePeers = a.lines.size();
  ASSERT_TRUE(a.proc->writeLine("/peers"));
  EXPECT_FALSE(a.waitText("rtt ms", 20s, beforePeers).empty()) << a.output();
  EXPECT_FALSE(
      a.waitLine([&](const std::string& l) { return l.rfind(bId, 0) == 0; }, 20s, beforePeers)
          .empty())
      << a.output();

  // "//" sends a line starting with one '/'.
  ASSERT_TRUE(a.proc->writeLine("//slash from a"));
  m = b.waitMessage("/slash from a");
  ASSERT_TRUE(m.is_object()) << b.output();
  EXPECT_EQ(m.value("from", ""), aId);

  // /help lists the commands.
  const std::size_t beforeHelp = a.lines.size();
  ASSERT_TRUE(a.proc->writeLine("/help"));
  std::string help = a.waitText("/to NODE text", 20s, beforeHelp);
  EXPECT_NE(help.find("/quit"), std::string::npos) << a.output();

  // Control characters from another node never reach the terminal: ESC and the one-character
  // CSI U+009B (UTF-8 C2 9B) both arrive as '?'.
  const std::size_t beforeEscape = a.lines.size();
  ASSERT_TRUE(
      host.proc->writeLine("esc \x1b[2J csi \xc2\x9b"
                           "31m end"));
  std::string shown = a.waitText("] esc ", 20s, beforeEscape);
  EXPECT_NE(shown.find("esc ?[2J csi ?31m end"), std::string::npos) << shown;
  EXPECT_EQ(shown.find('\x1b'), std::string::npos) << shown;
  EXPECT_EQ(shown.find("\xc2\x9b"), std::string::npos) << shown;

  // /quit: A leaves, exits 0, and the others see it go.
  ASSERT_TRUE(a.proc->writeLine("/quit"));
  EXPECT_EQ(a.exitStatus(20s), 0) << a.output();
  EXPECT_FALSE(a.waitText("left the network", 1s).empty()) << a.output();
  auto leftA = [&](const json& j) {
    return j.value("event", "") == "nodeLeft" && j.value("nodeId", "") == aId;
  };
  EXPECT_TRUE(host.waitEvent(leftA).is_object()) << host.output();
  EXPECT_TRUE(b.waitEvent(leftA).is_object()) << b.output();

  // The end of stdin leaves as /quit does.
  b.proc->closeStdin();
  EXPECT_EQ(b.exitStatus(20s), 0) << b.output();
  ASSERT_TRUE(host.proc->writeLine("/quit"));
  EXPECT_EQ(host.exitStatus(20s), 0) << host.output();
  EXPECT_TRUE(host.waitEvent("left", 1s).is_object()) << host.output();
}

TEST(Cli, CloudModeThroughClaynetSignal) {
  const uint16_t port = 9000;  // the test has its network namespace to itself
  auto signal = Child::spawn(
      {kClaynet, "signal", "--host", "127.0.0.1", "--port", std::to_string(port)}, false);
  ASSERT_TRUE(signal);
  ASSERT_TRUE(waitForPort("127.0.0.1", port, 20s)) << "claynet signal is not listening";
  const std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/peerjs";

  Cli host = Cli::start(
      "host", std::vector<std::string>{"host", "--signal", url, "--json"} + kLoopback, false);
  json created = host.waitEvent("networkCreated");
  ASSERT_TRUE(created.is_object()) << host.output();
  const std::string code = created.value("code", "");
  EXPECT_EQ(code.size(), 6u) << code;

  Cli joiner = Cli::start(
      "joiner", std::vector<std::string>{"join", code, "--signal", url, "--json"} + kLoopback,
      false);
  ASSERT_TRUE(joiner.waitEvent("connected").is_object()) << joiner.output() << host.output();
  ASSERT_TRUE(host.proc->writeLine("over the cloud path"));
  EXPECT_TRUE(joiner.waitMessage("over the cloud path").is_object()) << joiner.output();

  // A code of the right form that no host holds.
  std::string other = code == "ABCDEF" ? "ABCDEG" : "ABCDEF";
  Cli stray = Cli::start(
      "stray", std::vector<std::string>{"join", other, "--signal", url} + kLoopback, true);
  EXPECT_EQ(stray.exitStatus(30s), kExitUnreachable) << stray.output();
  EXPECT_FALSE(stray.waitText("No network with code " + other, 1s).empty()) << stray.output();

  // Ctrl-C leaves as /quit does.
  joiner.proc->kill(SIGINT);
  EXPECT_EQ(joiner.exitStatus(20s), 0) << joiner.output();
  EXPECT_TRUE(host.waitEvent("nodeLeft").is_object()) << host.output();
  host.proc->kill(SIGTERM);
  EXPECT_EQ(host.exitStatus(20s), 0) << host.output();
}

TEST(Cli, ABadCodeSaysWhatACodeIsAndExits3) {
  Cli c = Cli::start("join", {"join", "NOT-A-CODE!"}, true);
  EXPECT_EQ(c.exitStatus(20s), kExitBadCode) << c.output();
  EXPECT_FALSE(c.waitText("Invalid network code", 1s).empty()) << c.output();
  EXPECT_FALSE(c.waitText("claynet host", 1s).empty()) << c.output();

  Cli j = Cli::start("join-json", {"join", "LZZZZZZZZZZZZ-1", "--json"}, false);
  EXPECT_EQ(j.exitStatus(20s), kExitBadCode) << j.output();
  json e = j.waitEvent("error", 1s);
  ASSERT_TRUE(e.is_object()) << j.output();
  EXPECT_EQ(e.value("exitCode", 0), kExitBadCode);
  EXPECT_NE(e.value("message", "").find("Invalid LAN code"), std::string::npos) << e.dump();
}

TEST(Cli, AnUnreachableSignalingServerIsReportedWithinTheTimeout) {
  // Nothing listens on this port inside the namespace.
  const uint16_t closedPort = 9;
  Cli j = Cli::start(
      "join",
      std::vector<std::string>{"join", lanCodeFor("127.0.0.1", closedPort), "--timeout", "5"},
      true);
  EXPECT_EQ(j.exitStatus(30s), kExitUnreachable) << j.output();
  EXPECT_FALSE(j.waitText("Signaling failed", 1s).empty()) << j.output();
  EXPECT_FALSE(j.waitText("check that the host is still running", 1s).empty()) << j.output();

  Cli h = Cli::start("host",
                     {"host", "--signal",
                      "ws://127.0.0.1:" + std::to_string(closedPort) + "/peerjs", "--timeout", "5"},
                     true);
  EXPECT_EQ(h.exitStatus(30s), kExitUnreachable) << h.output();
  EXPECT_FALSE(h.waitText("--local", 1s).empty()) << h.output();

  // A server that accepts and never answers: the connection timeout ends it.
  const uint16_t silentPort = 9101;
  SilentServer silent("127.0.0.1", silentPort);
  ASSERT_TRUE(silent.ok());
  Cli s = Cli::start("join-silent",
                     std::vector<std::string>{"join", lanCodeFor("127.0.0.1", silentPort),
                                              "--timeout", "2", "--json"},
                     false);
  const auto silentStart = std::chrono::steady_clock::now();
  EXPECT_EQ(s.exitStatus(30s), kExitUnreachable) << s.output();
  json e = s.waitEvent("error", 1s);
  ASSERT_TRUE(e.is_object()) << s.output();
  EXPECT_NE(e.value("message", "").find("timed out after 2000 ms"), std::string::npos) << e.dump();
  EXPECT_FALSE(e.value("advice", "").empty()) << e.dump();
  // The one timing bound of these tests, a behaviour check: --timeout 2, not the default 15 s,
  // ended it (generous, so that a slow machine cannot fail it).
  EXPECT_LT(std::chrono::steady_clock::now() - silentStart, 12s);
}

TEST(Cli, AFullNetworkExits5AndTheHostLeavingExits0) {
  auto [host, code] = startLocalHost(2);
  ASSERT_FALSE(code.empty()) << host.output();
  Cli first =
      Cli::start("first", std::vector<std::string>{"join", code, "--json"} + kLoopback, false);
  ASSERT_TRUE(first.waitEvent("connected").is_object()) << first.output() << host.output();
  Cli second = Cli::start("second", std::vector<std::string>{"join", code} + kLoopback, true);
  EXPECT_EQ(second.exitStatus(30s), kExitNetworkFull) << second.output();
  EXPECT_FALSE(second.waitText("--max-nodes", 1s).empty()) << second.output();
  // The one inside stays.
  ASSERT_TRUE(host.proc->writeLine("still here"));
  EXPECT_TRUE(first.waitMessage("still here").is_object()) << first.output();

  // The host closing the network ends the joiner's session normally.
  ASSERT_TRUE(host.proc->writeLine("/quit"));
  EXPECT_EQ(host.exitStatus(20s), 0) << host.output();
  EXPECT_EQ(first.exitStatus(20s), 0) << first.output();
  json e = first.waitEvent("error", 1s);
  ASSERT_TRUE(e.is_object()) << first.output();
  EXPECT_EQ(e.value("message", ""), "The host left the network");
  EXPECT_EQ(e.value("exitCode", -1), 0);
  EXPECT_TRUE(first.waitEvent("left", 1s).is_object()) << first.output();
}

TEST(Cli, TheHostLeavingIsNotAnErrorInTheHumanForm) {
  auto [host, code] = startLocalHost(2);
  ASSERT_FALSE(code.empty()) << host.output();
  Cli j = Cli::start("join", std::vector<std::string>{"join", code} + kLoopback, true);
  ASSERT_FALSE(j.waitText("claynet join: joined ").empty()) << j.output() << host.output();
  ASSERT_TRUE(host.proc->writeLine("/quit"));
  EXPECT_EQ(host.exitStatus(20s), 0) << host.output();
  EXPECT_EQ(j.exitStatus(20s), 0) << j.output();
  EXPECT_FALSE(j.waitText("The host left the network", 1s).empty()) << j.output();
  for (const auto& l : j.lines) EXPECT_EQ(l.find("error"), std::string::npos) << j.output();
}

TEST(Cli, AKilledHostEndsTheJoinerWithExit1) {
  auto [host, code] = startLocalHost(2);
  ASSERT_FALSE(code.empty()) << host.output();
  Cli j = Cli::start("join", std::vector<std::string>{"join", code} + kLoopback, true);
  ASSERT_FALSE(j.waitText("claynet join: joined ").empty()) << j.output() << host.output();
  host.proc->kill(SIGKILL);
  EXPECT_EQ(j.exitStatus(60s), 1) << j.output();
  // Nothing more comes from a killed host: its ping goes unanswered for gracePeriod.
  EXPECT_FALSE(j.waitText("The host did not answer for 5000 ms", 1s).empty()) << j.output();
  EXPECT_FALSE(j.waitText("the host stopped answering", 1s).empty()) << j.output();
}

TEST(Cli, AMeshHostsJoinHintNamesTheTopology) {
  Cli host = Cli::start("host",
                        std::vector<std::string>{"host", "--local", "--local-address", "127.0.0.1",
                                                 "--topology", "mesh"} +
                            kLoopback,
                        false);
  std::string hint = host.waitText("others join with:");
  EXPECT_NE(hint.find("--topology mesh"), std::string::npos) << host.output();
  ASSERT_TRUE(host.proc->writeLine("/quit"));
  EXPECT_EQ(host.exitStatus(20s), 0) << host.output();
}

TEST(Cli, VerboseShowsTheCandidates) {
  auto [host, code] = startLocalHost(2);
  ASSERT_FALSE(code.empty()) << host.output();
  Cli j = Cli::start("join", std::vector<std::string>{"join", code, "--verbose"} + kLoopback, true);
  ASSERT_FALSE(j.waitText("claynet join: joined ").empty()) << j.output() << host.output();
  EXPECT_FALSE(j.waitText("local candidate", 5s).empty()) << j.output();
  EXPECT_FALSE(j.waitText("remote candidate", 5s).empty()) << j.output();
  j.proc->closeStdin();
  EXPECT_EQ(j.exitStatus(20s), 0) << j.output();
}

TEST(Cli, AHostThatCannotListenExits6WithAdvice) {
  // No interface in the test's namespace has this address, so the embedded server cannot bind.
  Cli h = Cli::start(
      "host",
      std::vector<std::string>{"host", "--local", "--local-address", "10.9.9.9"} + kLoopback, true);
  EXPECT_EQ(h.exitStatus(20s), 6) << h.output();
  EXPECT_FALSE(h.waitText("could not start the embedded signaling server", 1s).empty())
      << h.output();
  EXPECT_FALSE(h.waitText("--local-address", 1s).empty()) << h.output();
}

TEST(Cli, ATimeoutBelowAMillisecondIsABadCommandLine) {
  Cli c = Cli::start("join", {"join", "L1HGE14A-6Y0", "--timeout", "0.0001"}, true);
  EXPECT_EQ(c.exitStatus(20s), 2) << c.output();
  EXPECT_FALSE(c.waitText("--timeout", 1s).empty()) << c.output();
}

TEST(Printable, ReplacesEveryControlCharacterAndInvalidUtf8) {
  using claynet::cli::printable;
  EXPECT_EQ(printable("plain text, ünïcödé ✓ 😀"), "plain text, ünïcödé ✓ 😀");
  EXPECT_EQ(printable("a\x1b[2Jb\x07"
                      "c\x7f"),
            "a?[2Jb?c?");
  EXPECT_EQ(printable("\xc2\x9b"
                      "31m"),
            "?31m");                                               // U+009B, the 8-bit CSI
  EXPECT_EQ(printable("\xc2\x80\xc2\x9f\xc2\xa0"), "??\xc2\xa0");  // C1 ends at U+009F
  EXPECT_EQ(printable("\x9b"
                      "31m"),
            "?31m");                            // a lone continuation byte
  EXPECT_EQ(printable("\xc0\x9b"), "??");       // overlong ESC-like forms
  EXPECT_EQ(printable("\xe2\x82"), "??");       // cut short
  EXPECT_EQ(printable("\xed\xa0\x80"), "???");  // a UTF-16 surrogate
  EXPECT_EQ(printable(std::string("nul\0x", 5)), "nul?x");
}

TEST(Cli, DemoReportsThatEveryNodeSawEveryOther) {
  Cli demo = Cli::start("demo", {"demo", "--seconds", "3", "--json"}, false);
  ASSERT_EQ(demo.exitStatus(180s), 0) << demo.output();
  ASSERT_FALSE(demo.lines.empty());
  json summary = json::parse(demo.lines.back(), nullptr, false);
  ASSERT_TRUE(summary.is_object()) << demo.output();
  EXPECT_TRUE(summary.value("ok", false)) << summary.dump();
  ASSERT_EQ(summary["rounds"].size(), 2u) << summary.dump();
  EXPECT_EQ(summary["rounds"][0].value("topology", ""), "Star");
  EXPECT_EQ(summary["rounds"][1].value("topology", ""), "Mesh");
  for (const auto& round : summary["rounds"]) {
    EXPECT_TRUE(round.value("everySawEvery", false)) << round.dump();
    ASSERT_EQ(round["nodes"].size(), 4u) << round.dump();
    for (const auto& n : round["nodes"]) {
      EXPECT_EQ(n["nodesSeen"].size(), 3u) << n.dump();
      EXPECT_GT(n.value("stateSent", 0), 0) << n.dump();
      EXPECT_GT(n.value("chatRecv", 0), 0) << n.dump();
    }
  }
}

TEST(Cli, DemoPrintsTablesAndASummaryWithoutATerminal) {
  Cli demo = Cli::start("demo", {"demo", "--seconds", "1", "--nodes", "3"}, false);
  ASSERT_EQ(demo.exitStatus(180s), 0) << demo.output();
  std::string out = demo.output();
  EXPECT_EQ(out.find("\x1b["), std::string::npos) << "ANSI codes without a terminal";
  for (const char* text : {"sig/ice/dc ms", "delivered to others", "claynet demo: summary",
                           "every node saw every other", "claynet demo: OK"})
    EXPECT_NE(out.find(text), std::string::npos) << text << "\n" << out;
}

// The live mode on a terminal (a pty through util-linux `script`): redrawing moves up one row per
// line drawn, so a line must never wrap. At 80 columns the table (wider than that) goes out as
// plain lines with no cursor movement; at 200 it is redrawn in place within the width.
TEST(Cli, DemoOnATerminalNeverWrapsARedrawnLine) {
  if (::access("/usr/bin/script", X_OK) != 0) {
    GTEST_SKIP() << "no /usr/bin/script";
  }
  for (int columns : {80, 200}) {
    const std::string cmd = "stty cols " + std::to_string(columns) + " rows 40; TERM=xterm exec '" +
                            kClaynet + "' demo --seconds 1 --nodes 2";
    Cli demo;
    demo.name = "demo@" + std::to_string(columns);
    demo.proc = Child::spawn({"/usr/bin/script", "-qec", cmd, "/dev/null"});
    ASSERT_TRUE(demo.proc);
    ASSERT_EQ(demo.exitStatus(120s), 0) << demo.output();
    std::string out = demo.output();
    EXPECT_NE(out.find("claynet demo: OK"), std::string::npos) << out;
    bool movedUp = false;
    for (const auto& l : demo.lines) {
      // What the line shows: without escape sequences and the pty's carriage return.
      std::string shown;
      for (std::size_t i = 0; i < l.size(); ++i) {
        if (l[i] == '\x1b') {
          std::size_t j = i + 1;
          if (j < l.size() && l[j] == '[') {
            while (++j < l.size() && !std::isalpha(static_cast<unsigned char>(l[j]))) {
            }
            if (j < l.size() && l[j] == 'F') movedUp = true;
          }
          i = j;
          continue;
        }
        if (l[i] != '\r') shown += l[i];
      }
      if (columns == 200 || movedUp) {
        EXPECT_LE(shown.size(), static_cast<std::size_t>(columns)) << shown;
      }
    }
    EXPECT_EQ(movedUp, columns == 200) << out;
  }
}

TEST(Cli, EveryCommandHasHelp) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> commands = {
      {"host",
       {"--local", "--signal", "--max-nodes", "--topology", "--no-relay", "--ice", "--verbose",
        "--json", "--timeout"}},
      {"join", {"code", "--signal", "--topology", "--json"}},
      {"demo", {"--seconds", "--json"}},
      {"signal", {"--port", "--key", "--path", "--tls-cert", "--tls-key"}},
  };
  for (const auto& [command, options] : commands) {
    Cli c = Cli::start(command, {command, "--help"}, false);
    EXPECT_EQ(c.exitStatus(20s), 0) << c.output();
    std::string out = c.output();
    for (const auto& o : options) EXPECT_NE(out.find(o), std::string::npos) << o << "\n" << out;
    EXPECT_EQ(out.find("--demo-child"), std::string::npos) << "hidden options stay hidden";
  }
  Cli bad = Cli::start("bad", {"host", "--topology", "ring"}, true);
  EXPECT_EQ(bad.exitStatus(20s), 2) << bad.output();
}

}  // namespace
