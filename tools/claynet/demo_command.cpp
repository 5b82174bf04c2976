#include "demo_command.hpp"

#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "exit_codes.hpp"
#include "status_table.hpp"

namespace claynet::cli {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Subprocess = claynet::process::Child;
using claynet::process::selfPath;

constexpr milliseconds kHostDeadline{15000};   // until the host has its code
constexpr milliseconds kJoinDeadline{30000};   // until every node sees every other
constexpr milliseconds kSettle{1000};          // for traffic in flight after the stop
constexpr milliseconds kReportDeadline{5000};  // for the final stats of every node
constexpr milliseconds kExitDeadline{5000};    // for each node to leave and exit
constexpr int kChatEveryMs = 500;
constexpr int kStateHz = 60;

volatile std::sig_atomic_t g_interrupted = 0;
void onInterrupt(int) { g_interrupted = 1; }

struct Node {
  std::string name;  // "host", "join1", ...
  std::unique_ptr<Subprocess> process;
  json stats = json::object();
  int reports = 0;
  std::string code;   // the host's, from networkCreated
  std::string error;  // from the node's error event
  std::optional<int> exitStatus;

  std::string id() const { return stats.value("nodeId", std::string()); }
};

// One round: the nodes of one topology, from start to exit.
class Round {
 public:
  Round(const DemoOptions& options, std::string topology, bool live)
      : options_(options),
        topology_(std::move(topology)),
        display_(topology_ == "mesh" ? "Mesh" : "Star"),
        live_(live) {}

  ~Round() {
    for (auto& n : nodes_) n.process.reset();  // kills and reaps any left
  }

  // Runs the round; "" when every node saw every other, else the reason.
  std::string run() {
    if (auto e = start(); !e.empty()) return e;
    draw("joined");
    for (auto& n : nodes_) n.process->writeLine("/traffic start");
    trafficStart_ = Clock::now();
    const auto trafficEnd = trafficStart_ + std::chrono::seconds(options_.seconds);
    auto lastPlain = Clock::now();
    while (Clock::now() < trafficEnd) {
      if (auto e = pump(milliseconds(250)); !e.empty()) return e;
      if (drawsLive() || Clock::now() - lastPlain >= std::chrono::seconds(5)) {
        lastPlain = Clock::now();
        draw("traffic");
      }
    }
    for (auto& n : nodes_) n.process->writeLine("/traffic stop");
    trafficSeconds_ = std::chrono::duration<double>(Clock::now() - trafficStart_).count();
    if (auto e = pumpFor(kSettle); !e.empty()) return e;
    std::vector<int> before;
    for (auto& n : nodes_) {
      before.push_back(n.reports);
      n.process->writeLine("/report");
    }
    auto fresh = [&] {
      for (std::size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i].reports <= before[i]) return false;
      return true;
    };
    if (auto e = waitFor(fresh, kReportDeadline, "the final figures of every node"); !e.empty())
      return e;
    draw("done");
    if (table_) table_->release();
    if (auto e = stop(); !e.empty()) return e;
    return check();
  }

  json summary() const {
    json nodes = json::array();
    long long chatSent = 0, chatDelivered = 0, stateSent = 0, stateDelivered = 0;
    double slowestJoin = 0;
    for (const auto& n : nodes_) {
      long long others = static_cast<long long>(nodes_.size()) - 1;
      long long cs = n.stats.value("chatSent", 0LL), ss = n.stats.value("stateSent", 0LL);
      chatSent += cs * others;
      stateSent += ss * others;
      chatDelivered += delivered(n, "chatFrom");
      stateDelivered += delivered(n, "stateFrom");
      slowestJoin =
          std::max(slowestJoin, n.stats.value("phaseTiming", json::object()).value("total", 0.0));
      nodes.push_back({{"name", n.name},
                       {"nodeId", n.id()},
                       {"phaseTiming", n.stats.value("phaseTiming", json::object())},
                       {"latency", n.stats.value("latency", -1)},
                       {"nodesSeen", n.stats.value("nodes", json::array())},
                       {"msgSent", n.stats.value("msgSent", 0LL)},
                       {"msgRecv", n.stats.value("msgRecv", 0LL)},
                       {"bytesSent", n.stats.value("bytesSent", 0LL)},
                       {"bytesRecv", n.stats.value("bytesRecv", 0LL)},
                       {"chatSent", cs},
                       {"chatRecv", n.stats.value("chatRecv", 0LL)},
                       {"stateSent", ss},
                       {"stateRecv", n.stats.value("stateRecv", 0LL)},
                       {"stateDelivered", delivered(n, "stateFrom")}});
    }
    return {{"topology", topology_},
            {"nodes", nodes},
            {"trafficSeconds", trafficSeconds_},
            {"slowestJoinMs", slowestJoin},
            {"chatSent", chatSent},
            {"chatDelivered", chatDelivered},
            {"stateSent", stateSent},
            {"stateDelivered", stateDelivered},
            {"everySawEvery", sawEvery_}};
  }

 private:
  std::vector<std::string> nodeArgs(bool host) const {
    std::vector<std::string> a = {selfPath()};
    if (host) {
      a.insert(a.end(), {"host", "--local", "--local-address", "127.0.0.1", "--max-nodes",
                         std::to_string(options_.nodes)});
    } else {
      a.insert(a.end(), {"join", nodes_[0].code});
    }
    // Without --ice the nodes would use Google's STUN servers, and their names would be looked
    // up; a STUN address on loopback (nothing answers there) keeps every packet on this machine.
    a.insert(a.end(),
             {"--json", "--ice-local", "127.0.0.1", "--ice", "stun:127.0.0.1:3478", "--topology",
              topology_, "--timeout", "15", "--demo-child", "--report-ms", "250", "--chat-every",
              std::to_string(kChatEveryMs), "--state-hz", std::to_string(kStateHz)});
    return a;
  }

  std::string spawn(const std::string& name, bool host) {
    std::string error;
    auto p = Subprocess::spawn(nodeArgs(host), {}, error);
    if (!p) return "cannot start the " + name + " node: " + error;
    Node n;
    n.name = name;
    n.process = std::move(p);
    nodes_.push_back(std::move(n));
    return "";
  }

  std::string start() {
    if (auto e = spawn("host", true); !e.empty()) return e;
    if (auto e = waitFor([&] { return !nodes_[0].code.empty(); }, kHostDeadline,
                         "the host's network code");
        !e.empty())
      return e;
    for (int i = 1; i < options_.nodes; ++i)
      if (auto e = spawn("join" + std::to_string(i), false); !e.empty()) return e;
    const int want = options_.nodes;
    auto allIn = [&] {
      for (const auto& n : nodes_)
        if (n.stats.value("nodeCount", 0) != want) return false;
      return true;
    };
    return waitFor(allIn, kJoinDeadline, "every node to see every other");
  }

  // Joiners leave first, so that the host's leaving does not end their sessions for them.
  std::string stop() {
    for (std::size_t i = nodes_.size(); i-- > 0;) {
      Node& n = nodes_[i];
      n.process->writeLine("/quit");
      auto end = Clock::now() + kExitDeadline;
      while (!n.exitStatus && Clock::now() < end) {
        // Every node, not only this one: the others still print their stats, and a full pipe
        // would block one of them before its own /quit.
        for (auto& other : nodes_) other.process->readLines();
        n.exitStatus = n.process->wait(milliseconds(50));
      }
      if (!n.exitStatus) {
        n.process->kill(SIGKILL);
        n.process->wait(milliseconds(2000));
        return n.name + " did not exit within " + std::to_string(kExitDeadline.count()) +
               " ms after /quit";
      }
      if (*n.exitStatus != 0)
        return n.name + " exited with status " + std::to_string(*n.exitStatus) +
               (n.error.empty() ? "" : ": " + n.error);
    }
    return "";
  }

  std::string check() {
    std::string missing;
    for (const auto& n : nodes_) {
      for (const auto& other : nodes_) {
        if (&other == &n) continue;
        const std::string id = other.id();
        bool chat = n.stats.value("chatFrom", json::object()).value(id, 0LL) > 0;
        bool state = n.stats.value("stateFrom", json::object()).value(id, 0LL) > 0;
        if (!chat || !state)
          missing += (missing.empty() ? "" : "; ") + n.name + " got no " +
                     (!chat ? (!state ? "chat or state" : "chat") : "state") + " from " +
                     other.name;
      }
    }
    sawEvery_ = missing.empty();
    return missing;
  }

  static long long delivered(const Node& n, const char* counter, const std::vector<Node>& all) {
    long long total = 0;
    for (const auto& other : all)
      if (&other != &n) total += other.stats.value(counter, json::object()).value(n.id(), 0LL);
    return total;
  }
  long long delivered(const Node& n, const char* counter) const {
    return delivered(n, counter, nodes_);
  }

  // Reads every node's output for up to `d`; a node that died or failed ends the round.
  std::string pump(milliseconds d) {
    auto end = Clock::now() + d;
    do {
      if (g_interrupted) return "interrupted";
      std::vector<pollfd> fds;
      for (auto& n : nodes_)
        if (!n.process->eof()) fds.push_back({n.process->stdoutFd(), POLLIN, 0});
      auto left = std::chrono::duration_cast<milliseconds>(end - Clock::now()).count();
      ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(left, 0, 50)));
      for (auto& n : nodes_) {
        for (const auto& line : n.process->readLines()) take(n, line);
        if (n.process->eof()) {
          n.exitStatus = n.process->wait(milliseconds(2000));
          return n.name + " stopped" +
                 (n.exitStatus ? " (exit status " + std::to_string(*n.exitStatus) + ")" : "") +
                 (n.error.empty() ? "" : ": " + n.error);
        }
      }
    } while (Clock::now() < end);
    return "";
  }

  std::string pumpFor(milliseconds d) {
    auto end = Clock::now() + d;
    while (Clock::now() < end)
      if (auto e = pump(milliseconds(250)); !e.empty()) return e;
    return "";
  }

  std::string waitFor(const std::function<bool()>& done, milliseconds deadline,
                      const std::string& what) {
    auto end = Clock::now() + deadline;
    while (!done()) {
      if (Clock::now() >= end)
        return "gave up after " + std::to_string(deadline.count()) + " ms waiting for " + what;
      if (auto e = pump(milliseconds(250)); !e.empty()) return e;
      if (drawsLive()) draw("connecting");
    }
    return "";
  }

  void take(Node& n, const std::string& line) {
    json e = json::parse(line, nullptr, false);
    if (!e.is_object()) return;
    const std::string event = e.value("event", "");
    if (event == "stats") {
      n.stats = e;
      ++n.reports;
    } else if (event == "networkCreated") {
      n.code = e.value("code", "");
    } else if (event == "error") {
      n.error = e.value("message", "") + ". " + e.value("advice", "");
    }
  }

  // Redrawn in place on every pump; a terminal too narrow for the table gets a snapshot now and
  // then, as a pipe does.
  bool drawsLive() const { return live_ && (!table_ || table_->drawingInPlace()); }

  void draw(const std::string& stage) {
    if (options_.json) return;
    if (!table_) table_ = std::make_unique<LiveTable>(stdout, live_);
    std::vector<TableRow> rows;
    const int others = static_cast<int>(nodes_.size()) - 1;
    for (const auto& n : nodes_) {
      const json& s = n.stats;
      json t = s.value("phaseTiming", json::object());
      long long sent = s.value("stateSent", 0LL);
      long long got = delivered(n, "stateFrom");
      std::string pct = "-";
      if (sent > 0 && others > 0) {
        char b[32];
        // While traffic flows, a receiver's figures may be a moment newer than the sender's;
        // the final ones (after the traffic has stopped and settled) are exact.
        std::snprintf(b, sizeof b, " (%.1f%%)",
                      std::min(100.0, 100.0 * static_cast<double>(got) / (sent * others)));
        pct = formatCount(got) + b;
      }
      rows.push_back(
          {n.name, n.id().empty() ? "-" : n.id(),
           std::to_string(std::max(0, s.value("nodeCount", 0) - 1)) + "/" +
               std::to_string(options_.nodes - 1),
           formatMs(t.value("signaling", -1.0)) + "/" + formatMs(t.value("ice", -1.0)) + "/" +
               formatMs(t.value("datachannel", -1.0)),
           formatMs(t.value("total", -1.0)), formatMs(s.value("latency", -1)),
           formatCount(s.value("msgSent", 0.0)) + "/" + formatCount(s.value("msgRecv", 0.0)),
           formatCount(s.value("bytesSent", 0.0)) + "/" + formatCount(s.value("bytesRecv", 0.0)),
           formatCount(static_cast<double>(sent)), pct});
    }
    std::string progress = display_ + ": ";
    if (stage == "connecting") {
      progress += "connecting ...";
    } else if (stage == "joined") {
      progress += "every node has joined; the traffic starts";
    } else {
      double s = stage == "done"
                     ? trafficSeconds_
                     : std::chrono::duration<double>(Clock::now() - trafficStart_).count();
      char b[160];
      std::snprintf(
          b, sizeof b, "%s %.1f s of %d s: every node chats every %.1f s and sends state at %d Hz",
          stage == "done" ? "traffic done," : "traffic", std::min(s, 1.0 * options_.seconds),
          options_.seconds, kChatEveryMs / 1000.0, kStateHz);
      progress += b;
    }
    table_->show({"node", "id", "peers", "sig/ice/dc ms", "join ms", "rtt ms", "msgs out/in",
                  "bytes out/in", "state sent", "delivered to others"},
                 rows, {progress});
  }

  const DemoOptions& options_;
  std::string topology_;
  std::string display_;  // "Star", "Mesh"
  bool live_;
  std::vector<Node> nodes_;
  std::unique_ptr<LiveTable> table_;
  Clock::time_point trafficStart_ = Clock::now();
  double trafficSeconds_ = 0;
  bool sawEvery_ = false;
};

void printSummary(const std::vector<json>& rounds) {
  std::vector<TableRow> rows;
  for (const auto& r : rounds) {
    auto ratio = [&](const char* got, const char* sent) {
      long long g = r.value(got, 0LL), s = r.value(sent, 0LL);
      char b[64];
      std::snprintf(b, sizeof b, "%lld/%lld (%.1f%%)", g, s, s > 0 ? 100.0 * g / s : 0.0);
      return std::string(b);
    };
    rows.push_back({r.value("topology", ""), std::to_string(r["nodes"].size()),
                    formatMs(r.value("slowestJoinMs", -1.0)), ratio("chatDelivered", "chatSent"),
                    ratio("stateDelivered", "stateSent"),
                    r.value("everySawEvery", false) ? "yes" : "NO"});
  }
  std::printf("\nclaynet demo: summary (every node in its own process, Local mode, 127.0.0.1)\n");
  for (const auto& l : layoutTable({"topology", "nodes", "slowest join ms", "chat delivered",
                                    "state delivered", "every node saw every other"},
                                   rows))
    std::printf("%s\n", l.c_str());
}

}  // namespace

int runDemo(const DemoOptions& options) {
  struct sigaction sa {};
  sa.sa_handler = onInterrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a node that died must not take the demo with it

  const bool live = !options.json && LiveTable::isTerminal(stdout);
  if (!options.json) {
    std::printf(
        "claynet demo: a host and %d joiners, each its own process, in Local mode on 127.0.0.1;\n"
        "%d s of chat and %d Hz state, first in Star topology, then in Mesh\n\n",
        options.nodes - 1, options.seconds, kStateHz);
    std::fflush(stdout);
  }
  std::vector<json> rounds;
  std::string failure;
  for (const char* topology : {"star", "mesh"}) {
    Round round(options, topology, live);
    if (!options.json) std::printf("%s\n", topology[0] == 's' ? "Star" : "Mesh");
    failure = round.run();
    json summary = round.summary();
    summary["topology"] = topology[0] == 's' ? "Star" : "Mesh";
    rounds.push_back(summary);
    if (!failure.empty()) {
      failure = summary["topology"].get<std::string>() + ": " + failure;
      break;
    }
  }
  if (options.json) {
    json out = {{"ok", failure.empty()}, {"rounds", rounds}};
    if (!failure.empty()) out["error"] = failure;
    std::cout << out.dump() << std::endl;
  } else if (failure.empty()) {
    printSummary(rounds);
    std::printf("claynet demo: OK: in both topologies every node saw every other\n");
  }
  if (!failure.empty()) {
    std::fprintf(stderr, "claynet demo: FAILED: %s\n", failure.c_str());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace claynet::cli
