#include "transport_bench.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "claynet/peer_connection.hpp"

namespace claynet::bench {

namespace {

using Clock = std::chrono::steady_clock;

double microseconds(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// Waits on the application thread for something the network thread signals.
struct Latch {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  void set() {
    {
      std::lock_guard lock(m);
      done = true;
    }
    cv.notify_all();
  }
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, timeout, [&] { return done; });
  }
};

Configuration loopbackOnly() {
  Configuration c;
  c.localAddresses = {"127.0.0.1"};
  return c;
}

struct Connected {
  std::unique_ptr<PeerConnection> offerer, answerer;
  std::shared_ptr<DataChannel> local, remote;
  double connectMs = 0;
};

bool connectPair(Runtime& rt, Connected& out, std::string& error) {
  Latch open, remoteReady;
  auto t0 = Clock::now();
  out.offerer = std::make_unique<PeerConnection>(rt, loopbackOnly());
  out.local = out.offerer->createDataChannel("bench");
  out.answerer = std::make_unique<PeerConnection>(rt, loopbackOnly());
  Clock::time_point opened;
  PeerConnection* offerer = out.offerer.get();
  PeerConnection* answerer = out.answerer.get();
  offerer->onLocalDescription(
      [answerer](const Description& d) { (void)answerer->setRemoteDescription(d); });
  answerer->onLocalDescription(
      [offerer](const Description& d) { (void)offerer->setRemoteDescription(d); });
  offerer->onLocalCandidate(
      [answerer](const Candidate& c) { (void)answerer->addRemoteCandidate(c); });
  answerer->onLocalCandidate(
      [offerer](const Candidate& c) { (void)offerer->addRemoteCandidate(c); });
  answerer->onDataChannel([&](std::shared_ptr<DataChannel> ch) {
    out.remote = ch;
    remoteReady.set();
  });
  out.local->onOpen([&] {
    opened = Clock::now();
    open.set();
  });
  if (Result r = offerer->createOffer(); !r) {
    error = r.error();
    return false;
  }
  if (!open.wait(std::chrono::seconds(10)) || !remoteReady.wait(std::chrono::seconds(10))) {
    error = "the connection did not open within 10 s: " + offerer->failureReason();
    return false;
  }
  out.connectMs = std::chrono::duration<double, std::milli>(opened - t0).count();
  return true;
}

void measureRtt(Connected& c, int pings, TransportFigures& fig) {
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string payload(64, 'p');
  std::vector<double> rtts;
  rtts.reserve(pings);
  Latch done;
  Clock::time_point sentAt;
  auto remote = c.remote;
  auto local = c.local;
  remote->onMessage(
      [remote](Message&& m) { (void)remote->sendBinary(m.data.data(), m.data.size()); });
  local->onMessage([&](Message&&) {
    rtts.push_back(microseconds(Clock::now() - sentAt));
    if (static_cast<int>(rtts.size()) == pings) {
      done.set();
      return;
    }
    sentAt = Clock::now();
    (void)local->sendBinary(payload.data(), payload.size());
  });
  sentAt = Clock::now();
  (void)local->sendBinary(payload.data(), payload.size());
  if (!done.wait(std::chrono::seconds(30))) {
    fig.error = "ping-pong stalled after " + std::to_string(rtts.size()) + " round trips";
    return;
  }
  remote->onMessage(nullptr);
  local->onMessage(nullptr);
  std::sort(rtts.begin(), rtts.end());
  fig.rtt_p50_us = rtts[rtts.size() / 2];
  fig.rtt_p99_us = rtts[std::min(rtts.size() - 1, rtts.size() * 99 / 100)];
}

// Streams fixed-size messages for `duration`, keeping at most `maxBuffered` queued and refilling
// when the buffered amount falls to `lowMark`. Returns {messages, bytes, seconds} at the receiver.
struct Stream {
  uint64_t messages = 0;
  uint64_t bytes = 0;
  double seconds = 0;
};

Stream stream(Connected& c, std::size_t size, std::size_t maxBuffered, std::size_t lowMark,
              std::chrono::milliseconds duration) {
  std::string payload(size, 's');
  std::atomic<bool> stop{false};
  Stream result;
  Clock::time_point first, last;
  auto local = c.local;
  local->setBufferedAmountLowThreshold(lowMark);
  c.remote->onMessage([&](Message&& m) {
    auto now = Clock::now();
    if (result.messages == 0) first = now;
    last = now;
    ++result.messages;
    result.bytes += m.data.size();
  });
  std::mutex fillMutex;  // the first fill (this thread) and refills (network thread) take turns
  auto fill = [&] {
    std::lock_guard lock(fillMutex);
    while (!stop.load(std::memory_order_relaxed) && local->bufferedAmount() < maxBuffered)
      if (!local->sendBinary(payload.data(), payload.size())) break;
  };
  local->onBufferedAmountLow(fill);
  fill();
  std::this_thread::sleep_for(duration);
  stop = true;
  local->onBufferedAmountLow(nullptr);
  // Let what is in flight arrive so the receive window closes cleanly.
  for (int i = 0; i < 200 && local->bufferedAmount() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  c.remote->onMessage(nullptr);
  result.seconds = std::chrono::duration<double>(last - first).count();
  return result;
}

}  // namespace

TransportFigures runTransportBench(const TransportOptions& options) {
  TransportFigures fig;
  Runtime rt(Runtime::Options{Delivery::NetworkThread});
  Connected c;
  if (!connectPair(rt, c, fig.error)) return fig;
  fig.connect_ms = c.connectMs;
  auto want = [&](const char* name) { return options.only.empty() || options.only == name; };
  if (want("rtt")) measureRtt(c, options.pings, fig);
  if (!fig.error.empty()) return fig;
  if (want("small")) {
    Stream small = stream(c, 64, 64 * 1024, 32 * 1024, options.throughputDuration);
    fig.small_msgs_per_s = small.seconds > 0 ? small.messages / small.seconds : 0;
  }
  if (want("goodput")) {
    Stream big = stream(c, 65535, 4 * 1024 * 1024, 1024 * 1024, options.throughputDuration);
    fig.goodput_MBps = big.seconds > 0 ? big.bytes / big.seconds / 1e6 : 0;
  }
  c.local->close();
  c.offerer->close();
  c.answerer->close();
  return fig;
}

}  // namespace claynet::bench
