#include <algorithm>
#include <future>
#include <limits>
#include <thread>

#include "rtc/gio_types.hpp"
#include "rtc/runtime_core.hpp"
#include "rtc/sctp_transport.hpp"

namespace claynet {

namespace impl {

namespace {

// GLib queues sources for the network thread under a GMutex, which on Linux is a bare futex that
// ThreadSanitizer cannot see. These mark the hand-over of a task to the network thread as the
// synchronisation it is, so TSan builds report only real races.
#if defined(__SANITIZE_THREAD__)
#define CLAYNET_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CLAYNET_TSAN_BUILD 1
#endif
#endif
#ifdef CLAYNET_TSAN_BUILD
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
void handOver(void* task) { __tsan_release(task); }
void takeOver(void* task) { __tsan_acquire(task); }
#else
void handOver(void*) {}
void takeOver(void*) {}
#endif

// usrsctp keeps one clock for the whole process, so exactly one runtime advances it.
std::atomic<RuntimeCore*> g_sctpTickOwner{nullptr};
constexpr guint kSctpTickMs = 10;
}  // namespace

RuntimeCore::RuntimeCore(const Runtime::Options& options)
    : options_(options), delivery_(options.delivery) {
  rtc::registerGioTypes();  // before this runtime's thread, or any resolver thread, exists
  certificate_ = std::make_unique<rtc::Certificate>();
  rtc::SctpTransport::initGlobal();
  context_ = g_main_context_new();
  loop_ = g_main_loop_new(context_, FALSE);
  std::promise<void> started;
  auto ready = started.get_future();
  thread_ = std::thread([this, &started] {
    threadId_ = std::this_thread::get_id();
    started.set_value();
    threadMain();
  });
  ready.wait();
}

RuntimeCore::~RuntimeCore() {
  shutdown();
  g_main_loop_unref(loop_);
  g_main_context_unref(context_);
}

void RuntimeCore::threadMain() {
  g_main_context_push_thread_default(context_);
  lastTickUs_ = g_get_monotonic_time();
  sctpTimer_ = g_timeout_source_new(kSctpTickMs);
  g_source_set_callback(sctpTimer_, &RuntimeCore::tickSctp, this, nullptr);
  g_source_attach(sctpTimer_, context_);
  g_main_loop_run(loop_);
  g_source_destroy(sctpTimer_);
  g_source_unref(sctpTimer_);
  RuntimeCore* self = this;
  g_sctpTickOwner.compare_exchange_strong(self, nullptr);
  // Let sources that were already dispatched finish releasing what they hold.
  while (g_main_context_iteration(context_, FALSE)) {
  }
  loopExited_.store(true, std::memory_order_release);
  g_main_context_pop_thread_default(context_);
}

gboolean RuntimeCore::tickSctp(gpointer data) {
  auto* self = static_cast<RuntimeCore*>(data);
  gint64 now = g_get_monotonic_time();
  RuntimeCore* owner = g_sctpTickOwner.load();
  if (owner == nullptr)
    g_sctpTickOwner.compare_exchange_strong(owner, self), owner = g_sctpTickOwner.load();
  if (owner == self) {
    auto elapsedMs = static_cast<uint32_t>((now - self->lastTickUs_) / 1000);
    if (elapsedMs > 0) {
      self->lastTickUs_ += static_cast<gint64>(elapsedMs) * 1000;
      rtc::SctpTransport::handleTimers(elapsedMs);
    }
  } else {
    self->lastTickUs_ = now;
  }
  return G_SOURCE_CONTINUE;
}

void RuntimeCore::post(std::function<void()> task) {
  if (stopped_.load(std::memory_order_acquire)) return;
  // Not g_main_context_invoke: on the network thread it runs the task at once, and post() exists
  // to run things later, from a fresh stack (e.g. freeing a transport inside its own callback).
  GSource* source = g_idle_source_new();
  g_source_set_priority(source, G_PRIORITY_DEFAULT);
  attach(source, std::move(task));
  g_source_unref(source);
}

GSource* RuntimeCore::postAfter(std::chrono::milliseconds delay, std::function<void()> task) {
  if (stopped_.load(std::memory_order_acquire)) return nullptr;
  GSource* source = g_timeout_source_new(static_cast<guint>(
      std::clamp<std::int64_t>(delay.count(), 0, std::numeric_limits<guint>::max())));
  attach(source, std::move(task));
  return source;
}

void RuntimeCore::attach(GSource* source, std::function<void()> task) {
  auto* fn = new std::function<void()>(std::move(task));
  handOver(fn);
  g_source_set_callback(
      source,
      [](gpointer data) -> gboolean {
        takeOver(data);
        (*static_cast<std::function<void()>*>(data))();
        // The source may be freed on another thread (a postAfter() cancelled by its owner), after
        // GLib's atomic unref, which TSan cannot see either.
        handOver(data);
        return G_SOURCE_REMOVE;
      },
      fn,
      [](gpointer data) {
        takeOver(data);
        delete static_cast<std::function<void()>*>(data);
      });
  g_source_attach(source, context_);
}

void RuntimeCore::run(const std::function<void()>& task) {
  if (onNetworkThread()) {
    task();
    return;
  }
  if (stopped_.load(std::memory_order_acquire)) {
    std::lock_guard lock(runMutex_);
    task();
    return;
  }
  std::promise<void> done;
  auto finished = done.get_future();
  // g_main_context_invoke would run inline if this thread could acquire the context, which it
  // must not: only the network thread touches transport state.
  GSource* source = g_idle_source_new();  // our reference lets us test it after dispatch
  g_source_set_priority(source, G_PRIORITY_HIGH);
  struct Call {
    const std::function<void()>* task;
    std::promise<void>* done;
  } call{&task, &done};
  handOver(&call);
  g_source_set_callback(
      source,
      [](gpointer data) -> gboolean {
        takeOver(data);
        auto* c = static_cast<Call*>(data);
        (*c->task)();
        c->done->set_value();
        return G_SOURCE_REMOVE;
      },
      &call, nullptr);
  g_source_attach(source, context_);
  struct Unref {
    GSource* s;
    ~Unref() { g_source_unref(s); }
  } unref{source};
  // The loop may stop before it gets to the source; then run the task here instead.
  while (finished.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (loopExited_.load(std::memory_order_acquire) && !g_source_is_destroyed(source)) {
      g_source_destroy(source);
      std::lock_guard lock(runMutex_);
      task();
      return;
    }
  }
}

void RuntimeCore::deliver(std::function<void()> event) {
  if (delivery_ == Delivery::NetworkThread) {
    event();
    return;
  }
  std::function<void()> hook;
  {
    std::lock_guard lock(eventsMutex_);
    bool wasEmpty = events_.empty();
    events_.push_back(std::move(event));
    if (wasEmpty) hook = wakeupHook_;
  }
  eventsCv_.notify_one();
  if (hook) hook();
}

void RuntimeCore::deliverFromAnyThread(std::function<void()> event) {
  if (delivery_ == Delivery::NetworkThread && !onNetworkThread()) {
    post([self = shared_from_this(), event = std::move(event)]() mutable {
      self->deliver(std::move(event));
    });
    return;
  }
  deliver(std::move(event));
}

std::size_t RuntimeCore::poll(std::size_t max) {
  std::size_t ran = 0;
  while (ran < max) {
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard lock(eventsMutex_);
      if (events_.empty()) break;
      if (events_.size() <= max - ran) {
        batch.swap(events_);
      } else {
        for (std::size_t i = 0; i < max - ran; ++i) {
          batch.push_back(std::move(events_.front()));
          events_.pop_front();
        }
      }
    }
    for (auto& e : batch) {
      e();
      ++ran;
    }
  }
  return ran;
}

std::size_t RuntimeCore::waitAndPoll(std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(eventsMutex_);
    eventsCv_.wait_for(lock, timeout, [this] { return !events_.empty(); });
  }
  return poll(static_cast<std::size_t>(-1));
}

void RuntimeCore::setWakeupHook(std::function<void()> hook) {
  bool pending;
  {
    std::lock_guard lock(eventsMutex_);
    wakeupHook_ = std::move(hook);
    pending = !events_.empty();
    hook = wakeupHook_;
  }
  if (pending && hook) hook();
}

void RuntimeCore::registerCloser(void* key, std::function<void()> closer) {
  std::lock_guard lock(closersMutex_);
  closers_.emplace_back(key, std::move(closer));
}

void RuntimeCore::unregisterCloser(void* key) {
  std::lock_guard lock(closersMutex_);
  std::erase_if(closers_, [key](const auto& c) { return c.first == key; });
}

void RuntimeCore::beginLinger(void* key, std::function<void()> force) {
  lingering_.emplace_back(key, std::move(force));
}

void RuntimeCore::endLinger(void* key) {
  std::erase_if(lingering_, [key](const auto& l) { return l.first == key; });
}

void RuntimeCore::shutdown() {
  if (stopped_.load()) return;
  std::vector<std::pair<void*, std::function<void()>>> closers;
  {
    std::lock_guard lock(closersMutex_);
    closers.swap(closers_);
  }
  for (auto& c : closers) run(c.second);
  // A last round so transports can flush their goodbyes (SCTP ABORT, DTLS close_notify).
  run([] {});
  // TURN deallocations get a moment to reach the server; what is still waiting then is cut short.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  bool waiting = true;
  while (waiting) {
    run([&] { waiting = !lingering_.empty(); });
    if (!waiting || std::chrono::steady_clock::now() >= until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  run([this] {
    while (!lingering_.empty()) {
      auto force = std::move(lingering_.front().second);
      lingering_.erase(lingering_.begin());
      force();
    }
  });
  stopped_.store(true, std::memory_order_release);
  g_main_loop_quit(loop_);
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(eventsMutex_);
  events_.clear();
}

}  // namespace impl

Runtime::Runtime() : Runtime(Options{}) {}
Runtime::Runtime(Options options) : core_(std::make_shared<impl::RuntimeCore>(options)) {}
Runtime::~Runtime() { core_->shutdown(); }
std::size_t Runtime::poll(std::size_t max) { return core_->poll(max); }
std::size_t Runtime::waitAndPoll(std::chrono::milliseconds timeout) {
  return core_->waitAndPoll(timeout);
}
void Runtime::setWakeupHook(std::function<void()> hook) { core_->setWakeupHook(std::move(hook)); }
Delivery Runtime::delivery() const { return core_->delivery(); }

}  // namespace claynet
