// RuntimeCore::postAfter, the one timer Network runs on (its deadlines): it fires on the network
// thread, not before its delay, and not at all once cancelled or once the runtime has stopped.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "claynet/runtime.hpp"
#include "rtc/runtime_core.hpp"

using namespace claynet;
using namespace std::chrono_literals;

namespace {

bool waitFor(const std::atomic<bool>& flag, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!flag.load() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(2ms);
  return flag.load();
}

void cancel(GSource* source) {
  g_source_destroy(source);
  g_source_unref(source);
}

}  // namespace

TEST(RuntimeTimer, RunsOnTheNetworkThreadNoSoonerThanItsDelay) {
  Runtime rt;
  const auto& core = rt.core();
  std::atomic<bool> ran{false}, onNetworkThread{false};
  std::atomic<std::int64_t> afterMs{-1};
  const auto start = std::chrono::steady_clock::now();
  GSource* source = core->postAfter(40ms, [&] {
    onNetworkThread = core->onNetworkThread();
    afterMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    ran = true;
  });
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(waitFor(ran, 10s));
  EXPECT_TRUE(onNetworkThread);
  EXPECT_GE(afterMs.load(), 40);
  cancel(source);  // after it ran: only drops the caller's reference
}

TEST(RuntimeTimer, ACancelledTimerNeverRuns) {
  Runtime rt;
  std::atomic<bool> cancelled{false}, later{false};
  GSource* source = rt.core()->postAfter(30ms, [&] { cancelled = true; });
  ASSERT_NE(source, nullptr);
  cancel(source);
  // A second timer, due after the first, proves the network thread got past its time.
  GSource* second = rt.core()->postAfter(120ms, [&] { later = true; });
  ASSERT_TRUE(waitFor(later, 10s));
  EXPECT_FALSE(cancelled);
  cancel(second);
}

TEST(RuntimeTimer, ANegativeDelayRunsAtOnceAndAStoppedRuntimeTakesNone) {
  Runtime rt;
  std::atomic<bool> ran{false};
  GSource* source = rt.core()->postAfter(-5ms, [&] { ran = true; });
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(waitFor(ran, 10s));
  cancel(source);
  rt.core()->shutdown();
  EXPECT_EQ(rt.core()->postAfter(1ms, [] {}), nullptr);
}
