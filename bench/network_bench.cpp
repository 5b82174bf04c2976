// `claynet bench network`, the parent side: starts the host and the joiners as child processes
// (`claynet bench network-node`), walks them through joining and the state-update window with
// JSON lines (network_bench.hpp), and turns what they report into the figures.
#include "network_bench.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "bench_stats.hpp"
#include "child_process.hpp"

namespace claynet::bench {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string tail(const std::string& path, std::size_t max = 1500) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  std::string t = s.str();
  return t.size() > max ? "..." + t.substr(t.size() - max) : t;
}

// One node process: stdin and stdout are pipes, stderr goes to a log file kept for error reports.
class Node {
 public:
  std::string name;  // "host" or "joiner 3"
  // What it has reported so far.
  bool ready = false;
  std::string code;
  double allJoinedMs = -1, joinedMs = -1;
  json sent, report;
  std::string status = "Disconnected", phase, lastError;

  static std::unique_ptr<Node> spawn(const std::string& name, std::vector<std::string> args,
                                     std::string& error) {
    auto n = std::unique_ptr<Node>(new Node);
    n->name = name;
    char logTemplate[] = "/tmp/claynet-bench-network-XXXXXX";
    // Close-on-exec: the other nodes must not inherit this one's descriptors.
    int logFd = mkostemp(logTemplate, O_CLOEXEC);
    if (logFd < 0) {
      error = "cannot create a log file: " + std::string(std::strerror(errno));
      return nullptr;
    }
    n->logPath_ = logTemplate;
    n->child_ = process::Child::spawn(args, {.captureStdout = true, .stderrFd = logFd}, error);
    close(logFd);
    if (!n->child_) return nullptr;
    return n;
  }

  ~Node() {
    if (child_ && !exited()) {
      requestQuit();
      // A node leaves the network and exits within ~100 ms; past 3 s it is stuck (the Child
      // kills and reaps it).
      for (int i = 0; i < 300 && !exited(); ++i) std::this_thread::sleep_for(10ms);
    }
    child_.reset();
    if (!logPath_.empty()) unlink(logPath_.c_str());
  }

  void command(const json& cmd) {
    // A node that died returns false here; the wait that follows reports that.
    if (child_) child_->writeLine(cmd.dump());
  }

  /// Asks the node to leave and exit (once).
  void requestQuit() {
    command({{"cmd", "quit"}});
    if (child_) child_->closeStdin();
  }

  int stdoutFd() const { return child_->stdoutFd(); }

  /// Waits up to `timeout` for the process to exit; true if it exited with status 0.
  bool exitsCleanly(std::chrono::milliseconds timeout) {
    for (auto end = Clock::now() + timeout; !exited() && Clock::now() < end;)
      std::this_thread::sleep_for(10ms);
    return exited() && cleanExit_;
  }

  /// True once the process has exited (and been reaped).
  bool exited() {
    auto status = child_->wait(0ms);
    if (!status) return false;
    cleanExit_ = *status == 0;
    exitDescription_ = *status < 128 ? "exited with " + std::to_string(*status)
                                     : "killed by signal " + std::to_string(*status - 128);
    return true;
  }

  /// Reads what stdout has and takes in every whole line.
  void fill() {
    for (const auto& line : child_->readLines()) take(line);
  }

  /// For error messages: where the node got to, and the end of its log.
  std::string describe() {
    std::string d = name + " (status " + status + (phase.empty() ? "" : ", phase " + phase) + ")";
    if (exited()) d += ", " + exitDescription_;
    if (!lastError.empty()) d += "; its last error: " + lastError;
    std::string log = tail(logPath_);
    if (!log.empty()) d += "; its stderr: " + log;
    return d;
  }

 private:
  Node() = default;

  void take(const std::string& line) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_object()) return;
    const std::string e = j.value("event", "");
    if (e == "ready") ready = true;
    if (e == "created") code = j.value("code", "");
    if (e == "allJoined") allJoinedMs = j.value("ms", 0.0);
    if (e == "joined") joinedMs = j.value("ms", 0.0);
    if (e == "status") {
      status = j.value("status", "");
      phase = j.value("phase", "");
    }
    if (e == "error") lastError = j.value("message", "");
    if (e == "sent") sent = j;
    if (e == "report") report = j;
  }

  std::unique_ptr<process::Child> child_;
  bool cleanExit_ = false;
  std::string logPath_, exitDescription_;
};

using Nodes = std::vector<std::unique_ptr<Node>>;

// Reads the nodes' output until `done(node)` holds for every node, or for none when `done` is
// empty (a pause that still watches the nodes). Fails, setting `error` to "<what>: <node>...",
// when a node exits or reports an error, or when `deadline` passes (naming the first node not
// done).
bool waitFor(Nodes& nodes, Clock::time_point deadline, const std::string& what,
             const std::function<bool(Node&)>& done, std::string& error) {
  std::vector<pollfd> fds;
  for (auto& n : nodes) fds.push_back({n->stdoutFd(), POLLIN, 0});
  for (;;) {
    for (auto& n : nodes) n->fill();
    for (auto& n : nodes) {
      if (!n->lastError.empty() || n->exited()) {
        error = what + ": " + n->describe();
        return false;
      }
    }
    auto notDone = nodes.end();
    if (done) {
      notDone = std::find_if(nodes.begin(), nodes.end(), [&](auto& n) { return !done(*n); });
      if (notDone == nodes.end()) return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      if (!done) return true;
      error = what + ": " + (*notDone)->describe();
      return false;
    }
    // Short waits: exits are noticed through waitpid, not through the pipe.
    int rc =
        ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(left.count(), 50)));
    if (rc < 0 && errno != EINTR) {
      error = what + ": poll: " + std::strerror(errno);
      return false;
    }
  }
}

double percentile(std::vector<double>& v, int p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, v.size() * static_cast<std::size_t>(p) / 100)];
}

}  // namespace

NetworkFigures runNetworkBench(const std::string& self, const NetworkOptions& o) {
  NetworkFigures f;
  f.nodes = o.nodes;
  signal(SIGPIPE, SIG_IGN);
  Nodes nodes;
  // On every way out: all nodes leave at once, before each is waited for in turn.
  struct QuitAll {
    Nodes& nodes;
    ~QuitAll() {
      for (auto& n : nodes) n->requestQuit();
    }
  } quitAll{nodes};
  for (int i = 0; i < o.nodes; ++i) {
    std::vector<std::string> args = {self,
                                     "bench",
                                     "network-node",
                                     "--role",
                                     i == 0 ? "host" : "joiner",
                                     "--nodes",
                                     std::to_string(o.nodes),
                                     "--seconds",
                                     std::to_string(o.seconds),
                                     "--hz",
                                     std::to_string(o.hz),
                                     "--bytes",
                                     std::to_string(o.bytes)};
    auto n = Node::spawn(i == 0 ? "host" : "joiner " + std::to_string(i), args, f.error);
    if (!n) return f;
    nodes.push_back(std::move(n));
  }
  Node& host = *nodes[0];

  if (!waitFor(
          nodes, Clock::now() + 20s, "a node did not start within 20 s",
          [](Node& n) { return n.ready; }, f.error))
    return f;

  host.command({{"cmd", "host"}});
  if (!waitFor(
          nodes, Clock::now() + 15s, "the host did not create a network within 15 s",
          [&](Node& n) { return &n != &host || !n.code.empty(); }, f.error))
    return f;
  for (std::size_t i = 1; i < nodes.size(); ++i)
    nodes[i]->command({{"cmd", "join"}, {"code", host.code}});
  // Joined: a joiner is Connected, and the host counts every node.
  if (!waitFor(
          nodes, Clock::now() + std::chrono::seconds(o.joinTimeoutS),
          "not every node joined within " + std::to_string(o.joinTimeoutS) + " s",
          [&](Node& n) { return &n == &host ? n.allJoinedMs >= 0 : n.joinedMs >= 0; }, f.error))
    return f;
  f.all_joined_ms = host.allJoinedMs;
  std::vector<double> joins;
  for (std::size_t i = 1; i < nodes.size(); ++i) joins.push_back(nodes[i]->joinedMs);
  f.join_ms_p50 = median(joins);
  f.join_ms_max = *std::max_element(joins.begin(), joins.end());

  // Let the state channels that open after Connected come up, so that the window measures the
  // steady state.
  if (!waitFor(nodes, Clock::now() + 500ms, "a node failed after joining", {}, f.error)) return f;

  for (auto& n : nodes) n->command({{"cmd", "start"}});
  if (!waitFor(
          nodes, Clock::now() + std::chrono::seconds(o.seconds) + 20s,
          "not every node finished sending within " + std::to_string(o.seconds + 20) + " s",
          [](Node& n) { return !n.sent.is_null(); }, f.error))
    return f;
  // Updates still in flight arrive within a few ms; then everyone reports.
  if (!waitFor(nodes, Clock::now() + 300ms, "a node failed after sending", {}, f.error)) return f;
  for (auto& n : nodes) n->command({{"cmd", "report"}});
  if (!waitFor(
          nodes, Clock::now() + 20s, "not every node reported within 20 s",
          [](Node& n) { return !n.report.is_null(); }, f.error))
    return f;

  std::vector<double> relayed, direct;
  double joinerCpu = 0;
  for (auto& n : nodes) {
    f.state_sent += n->sent.value("count", 0LL) * (o.nodes - 1);
    f.send_failures += n->sent.value("failed", 0LL);
    f.state_received += n->report.value("received", 0LL);
    for (const auto& v : n->report["relayed_us"]) relayed.push_back(v.get<double>());
    for (const auto& v : n->report["direct_us"]) direct.push_back(v.get<double>());
    const double wall = n->sent.value("wall_s", 0.0);
    const double pct = wall > 0 ? 100.0 * n->sent.value("cpu_s", 0.0) / wall : 0;
    if (n.get() == &host)
      f.host_cpu_pct = pct;
    else
      joinerCpu += pct;
  }
  f.joiner_cpu_pct = joinerCpu / (o.nodes - 1);
  f.state_delivered_ratio =
      f.state_sent > 0 ? static_cast<double>(f.state_received) / static_cast<double>(f.state_sent)
                       : 0;
  f.state_latency_p50_us = percentile(relayed, 50);
  f.state_latency_p99_us = percentile(relayed, 99);
  f.direct_latency_p50_us = percentile(direct, 50);
  if (f.state_received == 0) f.error = "no state update arrived anywhere";

  // A node that does not leave and exit cleanly (a crash, a sanitizer's report) fails the run.
  for (auto& n : nodes) n->requestQuit();
  for (auto& n : nodes)
    if (f.error.empty() && !n->exitsCleanly(10s))
      f.error = "a node did not exit cleanly after leaving: " + n->describe();
  return f;
}

namespace {

json toJson(const NetworkFigures& f) {
  return {{"join_ms_p50", f.join_ms_p50},
          {"join_ms_max", f.join_ms_max},
          {"all_joined_ms", f.all_joined_ms},
          {"state_latency_p50_us", f.state_latency_p50_us},
          {"state_latency_p99_us", f.state_latency_p99_us},
          {"direct_latency_p50_us", f.direct_latency_p50_us},
          {"state_delivered_ratio", f.state_delivered_ratio},
          {"host_cpu_pct", f.host_cpu_pct},
          {"joiner_cpu_pct", f.joiner_cpu_pct},
          {"state_sent", f.state_sent},
          {"state_received", f.state_received},
          {"send_failures", f.send_failures}};
}

// The figures of the table, in its order; the rest are in --json only.
const char* kTableKeys[] = {"join_ms_p50",           "all_joined_ms",
                            "state_latency_p50_us",  "state_latency_p99_us",
                            "direct_latency_p50_us", "state_delivered_ratio",
                            "host_cpu_pct",          "joiner_cpu_pct"};

std::string fmt(double v) { return formatFigure(v, 3); }

}  // namespace

int networkBenchMain(const std::string& self, const NetworkOptions& options, int runs,
                     bool asJson) {
  std::vector<json> results;
  for (int i = 0; i < runs; ++i) {
    auto fig = runNetworkBench(self, options);
    if (!fig.error.empty()) {
      std::cerr << "claynet bench network: run " << (i + 1) << ": " << fig.error << "\n";
      return 1;
    }
    results.push_back(toJson(fig));
    if (!asJson)
      std::cerr << "run " << (i + 1) << "/" << runs << ": " << results.back().dump() << "\n";
  }
  json out;
  for (auto& [key, ignored] : results.front().items()) {
    std::vector<double> v;
    for (auto& r : results) v.push_back(r[key].get<double>());
    if (results.front()[key].is_number_integer())
      out[key] = static_cast<long long>(median(v));  // counts stay counts
    else
      out[key] = median(v);
  }
  out["nodes"] = options.nodes;
  out["seconds"] = options.seconds;
  out["hz"] = options.hz;
  out["bytes"] = options.bytes;
  out["runs"] = runs;
  if (asJson) {
    std::cout << out.dump() << std::endl;
    return 0;
  }
  std::printf(
      "claynet bench network: a host and %d joiners, one process each, Local mode on 127.0.0.1;\n"
      "every node sends %d-byte state updates at %d Hz for %d s%s\n",
      options.nodes - 1, options.bytes, options.hz, options.seconds,
      runs > 1 ? (", median of " + std::to_string(runs) + " runs").c_str() : "");
  std::printf("%-24s %12s\n", "figure", "claynet");
  for (const char* k : kTableKeys)
    std::printf("%-24s %12s\n", k, fmt(out[k].get<double>()).c_str());
  return 0;
}

}  // namespace claynet::bench
