// The child side of `claynet bench network`: one claynet::Network node per process, driven by the
// JSON lines described in network_bench.hpp. Every node sends its state updates on a fixed
// schedule; each update carries the steady-clock time of its broadcastState() call, which a
// receiver on the same machine subtracts from its own steady clock at stateReceived().
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "claynet/network.hpp"
#include "network_bench.hpp"

namespace claynet::bench {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

void emit(const json& j) {
  std::string line = j.dump() + "\n";
  // stdout is a pipe the parent reads; a partial line would confuse it, so write it whole.
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(1, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// A state update whose compact JSON is exactly `bytes` long (when `bytes` leaves room for the
// fields at all): {"n":seq,"p":"xx...","ts":ns}.
json stateUpdate(long long seq, std::int64_t ts, int bytes) {
  json j = {{"n", seq}, {"p", ""}, {"ts", ts}};
  std::size_t base = j.dump().size();
  if (static_cast<std::size_t>(bytes) > base)
    j["p"] = std::string(static_cast<std::size_t>(bytes) - base, 'x');
  return j;
}

// Lines from stdin, read without blocking.
class StdinLines {
 public:
  StdinLines() {
    int flags = fcntl(0, F_GETFL);
    if (flags >= 0) fcntl(0, F_SETFL, flags | O_NONBLOCK);
  }
  /// Reads what is there; returns false at end of input.
  bool read(std::vector<std::string>& lines) {
    char buf[4096];
    for (int i = 0; i < 64; ++i) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n > 0) {
        buffer_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) eof_ = true;
      break;
    }
    std::size_t nl;
    while ((nl = buffer_.find('\n')) != std::string::npos) {
      lines.push_back(buffer_.substr(0, nl));
      buffer_.erase(0, nl + 1);
    }
    return !eof_;
  }

 private:
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace

int runNetworkBenchNode(bool host, const NetworkOptions& options) {
  // An orphan must not outlive the benchmark: it dies with the parent (and ends anyway at the end
  // of its stdin, which the parent holds, or at its own deadline).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);

  Runtime runtime;
  Network net(runtime);
  auto configure = [](const char* what, const Result& r) {
    if (!r) emit({{"event", "error"}, {"message", std::string(what) + ": " + r.error()}});
    return r.ok();
  };
  // Everything stays on loopback: the LAN code and the embedded server on 127.0.0.1, ICE host
  // candidates on 127.0.0.1 only, and a STUN server there too, since an empty list would mean
  // Google's public ones.
  if (!configure("signalingMode", net.setSignalingMode(Network::SignalingMode::Local)) ||
      !configure("localAddress", net.setLocalAddress("127.0.0.1")) ||
      !configure("iceLocalAddresses", net.setIceLocalAddresses({"127.0.0.1"})) ||
      !configure("iceServers",
                 net.setIceServers(std::vector<IceServer>{{"stun:127.0.0.1:9", {}, {}}})) ||
      !configure("maxNodes", net.setMaxNodes(options.nodes)))
    return 1;

  Clock::time_point t0;
  bool joinedReported = false, allJoinedReported = false;
  long long received = 0;
  std::vector<long long> relayedUs, directUs;
  const std::size_t expected = static_cast<std::size_t>(options.seconds) *
                               static_cast<std::size_t>(options.hz) *
                               static_cast<std::size_t>(options.nodes);
  relayedUs.reserve(expected);
  directUs.reserve(expected);

  net.onNetworkCreated([](const std::string& code) {
    emit({{"event", "created"}, {"code", code}});
  });
  net.onErrorOccurred([](const std::string& message) {
    emit({{"event", "error"}, {"message", message}});
  });
  net.onStatusChanged([&] {
    emit({{"event", "status"},
          {"status", toString(net.status())},
          {"phase", net.connectionPhase()}});
    if (!host && !joinedReported && net.connected()) {
      joinedReported = true;
      emit({{"event", "joined"}, {"ms", msSince(t0)}, {"id", net.nodeId()}});
    }
  });
  net.onNodesChanged([&] {
    if (host && !allJoinedReported && net.nodeCount() == options.nodes) {
      allJoinedReported = true;
      emit({{"event", "allJoined"}, {"ms", msSince(t0)}});
    }
  });
  net.onStateReceived([&](const std::string& from, const json& data) {
    const std::int64_t now = nowNs();
    ++received;
    auto ts = data.find("ts");
    if (ts == data.end() || !ts->is_number_integer()) return;
    const long long us = (now - ts->get<std::int64_t>()) / 1000;
    // At a joiner, an update from another joiner came through the host's relay.
    if (!host && from != net.hostId())
      relayedUs.push_back(us);
    else
      directUs.push_back(us);
  });

  StdinLines in;
  std::vector<std::string> lines;
  const auto period = std::chrono::nanoseconds(1'000'000'000LL / std::max(1, options.hz));
  const long long total = static_cast<long long>(options.seconds) * options.hz;
  bool sending = false;
  Clock::time_point windowStart, nextSend;
  double cpuStart = 0;
  long long sent = 0, failed = 0;
  bool quit = false;
  // Bounded even if the parent stops talking without dying.
  const auto hardDeadline = Clock::now() + std::chrono::seconds(options.seconds) + 180s;
  emit({{"event", "ready"}});

  while (!quit && Clock::now() < hardDeadline) {
    // While sending, sleep until the next update is due (events wake us at once); otherwise
    // check stdin every millisecond so that commands are taken without delay.
    auto timeout = 1ms;
    if (sending) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(nextSend - Clock::now());
      timeout = std::clamp(left, 0ms, 20ms);
    }
    runtime.waitAndPoll(timeout);

    lines.clear();
    if (!in.read(lines)) quit = true;
    for (const auto& line : lines) {
      json cmd = json::parse(line, nullptr, false);
      const std::string c = cmd.is_object() ? cmd.value("cmd", "") : "";
      if (c == "host") {
        t0 = Clock::now();
        configure("host", net.host());
      } else if (c == "join") {
        t0 = Clock::now();
        configure("join", net.join(cmd.value("code", "")));
      } else if (c == "start") {
        sending = true;
        windowStart = nextSend = Clock::now();
        cpuStart = cpuSeconds();
      } else if (c == "report") {
        emit({{"event", "report"},
              {"received", received},
              {"relayed_us", relayedUs},
              {"direct_us", directUs}});
      } else if (c == "quit") {
        quit = true;
      }
    }

    if (sending && Clock::now() >= nextSend) {
      // One update per due slot; slots missed while this process did not run are skipped, not
      // sent in a burst, and so are not counted as sent.
      if (auto r = net.broadcastState(stateUpdate(sent + failed, nowNs(), options.bytes)); r)
        ++sent;
      else
        ++failed;
      auto now = Clock::now();
      nextSend += period;
      if (nextSend < now) nextSend = now + period - (now - nextSend) % period;
      if (sent + failed >= total || now - windowStart >= std::chrono::seconds(options.seconds)) {
        sending = false;
        const double wall = std::chrono::duration<double>(now - windowStart).count();
        emit({{"event", "sent"},
              {"count", sent},
              {"failed", failed},
              {"cpu_s", cpuSeconds() - cpuStart},
              {"wall_s", wall}});
      }
    }
  }
  net.leave();
  // Let the goodbyes go out before the runtime closes the connections.
  for (int i = 0; i < 20; ++i) runtime.waitAndPoll(5ms);
  return 0;
}

}  // namespace claynet::bench
