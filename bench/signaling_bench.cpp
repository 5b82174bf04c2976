// The load generator of `claynet bench signaling`: one thread, epoll, non-blocking sockets and
// claynet's own WebSocket framing, so that the client costs little next to the server it drives
// (its CPU is reported beside the server's). Clients mask with the key 0, which RFC 6455 allows a
// non-browser client; it keeps masking out of the client's budget.
#include "signaling_bench.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "signaling/signal_server_frames.hpp"

extern char** environ;

namespace claynet::bench {

namespace {

namespace ws = claynet::signaling::ws;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void raiseOpenFileLimit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// ---- the server process ----

struct Child {
  pid_t pid = -1;
  std::string logPath;
};

std::string readFile(const std::string& path, std::size_t max = 4000) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  std::string t = s.str();
  return t.size() > max ? t.substr(t.size() - max) : t;
}

bool spawnServer(const ServerCommand& cmd, int port, Child& child, std::string& error) {
  char logTemplate[] = "/tmp/claynet-bench-signal-XXXXXX";
  int logFd = mkstemp(logTemplate);
  if (logFd < 0) {
    error = "cannot create a log file: " + std::string(std::strerror(errno));
    return false;
  }
  child.logPath = logTemplate;
  std::vector<std::string> args = cmd.argv;
  args.push_back("--port");
  args.push_back(std::to_string(port));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, logFd, 1);
  posix_spawn_file_actions_adddup2(&actions, logFd, 2);
  int rc = posix_spawnp(&child.pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(logFd);
  if (rc != 0) {
    error = "cannot start " + args[0] + ": " + std::strerror(rc);
    child.pid = -1;
    return false;
  }
  return true;
}

void stopServer(Child& child) {
  if (child.pid <= 0) return;
  kill(child.pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(child.pid, nullptr, WNOHANG) == child.pid) {
      child.pid = -1;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  if (child.pid > 0) {
    kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    child.pid = -1;
  }
  if (!child.logPath.empty()) unlink(child.logPath.c_str());
}

bool alive(const Child& child) {
  return child.pid > 0 && waitpid(child.pid, nullptr, WNOHANG) == 0;
}

bool waitForPort(int port, const Child& child, std::string& error) {
  auto deadline = Clock::now() + 20s;
  while (Clock::now() < deadline) {
    if (!alive(child)) {
      error = "the server exited at start; it printed: " + readFile(child.logPath);
      return false;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(50ms);
  }
  error = "the server did not listen on port " + std::to_string(port) + " within 20 s";
  return false;
}

// CPU seconds (user + system) of a process, from /proc.
double cpuSeconds(pid_t pid) {
  std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat", 1 << 16);
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 0; i < 13 && in >> field; ++i) {
    if (i == 11) utime = std::stod(field);
    if (i == 12) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double rssMb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

double selfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// ---- the load generator ----

class Load;

struct Client final : ws::FrameSink {
  enum class State { Connecting, Handshake, Open, Closed };
  Load* load = nullptr;
  int index = 0;
  int fd = -1;
  State state = State::Connecting;
  bool registered = false;  // got OPEN
  bool writeArmed = false;
  bool dirty = false;
  std::string header;
  ws::FrameReader reader{ws::Role::Client, 1 << 20};
  std::string out;
  std::size_t outOffset = 0;
  int pair = -1;
  bool receiver = false;

  void onMessage(bool binary, std::string_view text) override;
  void onPing(std::string_view payload) override {
    ws::appendMaskedFrame(out, ws::Opcode::Pong, payload, 0);
  }
  void onClose(std::uint16_t code, std::string_view reason) override;
};

class Load {
 public:
  Load(int port, std::string path) : port_(port), path_(std::move(path)) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
  }
  ~Load() {
    closeAll();
    if (epoll_ >= 0) ::close(epoll_);
  }

  // Starts connecting a client; it registers as `id` on the server at `port` (0: the default).
  void start(const std::string& id, int port = 0) {
    if (port == 0) port = port_;
    auto c = std::make_unique<Client>();
    c->load = this;
    c->index = static_cast<int>(clients_.size());
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
      problem("socket: " + std::string(std::strerror(errno)));
      c->state = Client::State::Closed;
      clients_.push_back(std::move(c));
      ++failed_;
      return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(c->fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (rc != 0 && errno != EINPROGRESS) {
      problem("connect: " + std::string(std::strerror(errno)));
      ::close(c->fd);
      c->fd = -1;
      c->state = Client::State::Closed;
      clients_.push_back(std::move(c));
      ++failed_;
      return;
    }
    c->out = "GET " + path_ + "peerjs?key=peerjs&id=" + id + "&token=t" + id +
             "&version=1.5.5 HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
             "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c.get();
    c->writeArmed = true;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, c->fd, &ev);
    ++handshaking_;
    clients_.push_back(std::move(c));
  }

  // One round of the event loop: waits at most `timeout` for events, handles them, flushes.
  void poll(std::chrono::milliseconds timeout) {
    epoll_event events[1024];
    int n = epoll_wait(epoll_, events, 1024, static_cast<int>(timeout.count()));
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Client*>(events[i].data.ptr);
      if (c->state == Client::State::Closed) continue;
      if (c->state == Client::State::Connecting && (events[i].events & (EPOLLOUT | EPOLLERR))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          fail(*c, "connect: " + std::string(std::strerror(err)));
          continue;
        }
        c->state = Client::State::Handshake;
      }
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) readFrom(*c);
      if (c->state != Client::State::Closed && (events[i].events & EPOLLOUT)) markDirty(*c);
    }
    flushDirty();
  }

  void send(Client& c, std::string_view frameBytes) {
    c.out.append(frameBytes);
    markDirty(c);
  }
  void markDirty(Client& c) {
    if (c.dirty) return;
    c.dirty = true;
    dirty_.push_back(&c);
  }
  void flushDirty() {
    for (std::size_t i = 0; i < dirty_.size(); ++i) {
      Client* c = dirty_[i];
      c->dirty = false;
      if (c->state != Client::State::Closed && c->state != Client::State::Connecting) flush(*c);
    }
    dirty_.clear();
  }

  void heartbeatAll() {
    std::string hb;
    ws::appendMaskedFrame(hb, ws::Opcode::Text, R"({"type":"HEARTBEAT"})", 0);
    for (auto& c : clients_)
      if (c->registered && c->state == Client::State::Open) send(*c, hb);
    flushDirty();
  }

  void closeAll() {
    for (auto& c : clients_) {
      if (c->fd < 0) continue;
      // Reset rather than FIN: no TIME_WAIT left behind by tens of thousands of sockets.
      linger l{1, 0};
      setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      ::close(c->fd);
      c->fd = -1;
      c->state = Client::State::Closed;
    }
  }

  Client& client(int i) { return *clients_[static_cast<std::size_t>(i)]; }
  std::size_t size() const { return clients_.size(); }
  int registered() const { return registered_; }
  int failed() const { return failed_; }
  int handshaking() const { return handshaking_; }
  int closedAfterOpen() const { return closedAfterOpen_; }
  long long problems() const { return problems_; }
  const std::string& firstProblem() const { return firstProblem_; }

  // Phase (b): OFFERs from pair senders to pair receivers.
  struct Pair {
    int sender = -1;
    int receiver = -1;
    std::string frame;   // one masked OFFER frame to the receiver
    std::string prefix;  // what the forwarded text starts with
    int inFlight = 0;
  };
  std::vector<Pair> pairs;
  int window = 32;
  long long offersReceived = 0;

  void topUp(Pair& p) {
    Client& s = client(p.sender);
    if (s.state != Client::State::Open) return;
    int n = window - p.inFlight;
    for (int i = 0; i < n; ++i) s.out.append(p.frame);
    p.inFlight = window;
    markDirty(s);
  }

  void onMessage(Client& c, std::string_view text) {
    if (!c.registered) {
      if (text == R"({"type":"OPEN"})") {
        c.registered = true;
        ++registered_;
        --handshaking_;
        return;
      }
      problem("unexpected first frame: " + std::string(text.substr(0, 200)));
      return;
    }
    if (c.receiver && c.pair >= 0) {
      Pair& p = pairs[static_cast<std::size_t>(c.pair)];
      if (text.compare(0, p.prefix.size(), p.prefix) != 0) {
        problem("unexpected frame at a receiver: " + std::string(text.substr(0, 200)));
        return;
      }
      ++offersReceived;
      if (--p.inFlight <= window / 2) topUp(p);
      return;
    }
    problem("unexpected frame: " + std::string(text.substr(0, 200)));
  }

  void onClosed(Client& c, const std::string& why) { fail(c, why); }

 private:
  void problem(const std::string& what) {
    if (problems_++ == 0) firstProblem_ = what;
  }

  void fail(Client& c, const std::string& why) {
    if (c.state == Client::State::Closed) return;
    if (c.registered)
      ++closedAfterOpen_;
    else {
      ++failed_;
      --handshaking_;
    }
    problem("client " + std::to_string(c.index) + ": " + why);
    c.state = Client::State::Closed;
    if (c.fd >= 0) {
      epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      c.fd = -1;
    }
  }

  void readFrom(Client& c) {
    char buf[65536];
    for (int round = 0; round < 16 && c.state != Client::State::Closed; ++round) {
      ssize_t n = ::read(c.fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        fail(c, "read: " + std::string(std::strerror(errno)));
        return;
      }
      if (n == 0) {
        fail(c, "the server closed the connection");
        return;
      }
      char* data = buf;
      std::size_t size = static_cast<std::size_t>(n);
      if (c.state == Client::State::Handshake) {
        c.header.append(data, size);
        auto end = c.header.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (c.header.size() > 16384) fail(c, "oversize handshake response");
          continue;
        }
        if (c.header.compare(0, 12, "HTTP/1.1 101") != 0) {
          fail(c, "handshake refused: " + c.header.substr(0, c.header.find("\r\n")));
          return;
        }
        std::string rest = c.header.substr(end + 4);
        c.header.clear();
        c.header.shrink_to_fit();
        c.state = Client::State::Open;
        if (!rest.empty() && !c.reader.feed(rest.data(), rest.size(), c)) {
          fail(c, "bad frames: " + c.reader.errorReason());
          return;
        }
        continue;
      }
      if (!c.reader.feed(data, size, c)) {
        fail(c, "bad frames: " + c.reader.errorReason());
        return;
      }
      if (static_cast<std::size_t>(n) < sizeof buf) return;
    }
  }

  void flush(Client& c) {
    while (c.outOffset < c.out.size()) {
      ssize_t n =
          ::send(c.fd, c.out.data() + c.outOffset, c.out.size() - c.outOffset, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        fail(c, "write: " + std::string(std::strerror(errno)));
        return;
      }
      c.outOffset += static_cast<std::size_t>(n);
    }
    bool pending = c.outOffset < c.out.size();
    if (!pending) {
      c.out.clear();
      c.outOffset = 0;
    } else if (c.outOffset > 65536) {
      c.out.erase(0, c.outOffset);
      c.outOffset = 0;
    }
    if (pending != c.writeArmed) {
      epoll_event ev{};
      ev.events = EPOLLIN | (pending ? EPOLLOUT : 0u);
      ev.data.ptr = &c;
      epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
      c.writeArmed = pending;
    }
  }

  int port_;
  std::string path_;
  int epoll_ = -1;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<Client*> dirty_;
  int registered_ = 0;
  int failed_ = 0;
  int handshaking_ = 0;
  int closedAfterOpen_ = 0;
  long long problems_ = 0;
  std::string firstProblem_;
};

void Client::onMessage(bool, std::string_view text) { load->onMessage(*this, text); }
void Client::onClose(std::uint16_t code, std::string_view reason) {
  load->onClosed(*this, "close frame " + std::to_string(code) + " " + std::string(reason));
}

constexpr int kMaxHandshaking = 256;

// Opens `count` more clients named by `id(i)`, at most kMaxHandshaking handshakes at a time;
// returns false when the deadline passes first.
template <class IdFn, class PortFn>
bool openClients(Load& load, int count, IdFn id, PortFn port, Clock::time_point deadline,
                 Clock::time_point& lastHeartbeat) {
  const int target = static_cast<int>(load.size()) + count;
  int started = 0;
  while (load.registered() + load.failed() + load.closedAfterOpen() < target) {
    if (Clock::now() > deadline) return false;
    while (started < count && load.handshaking() < kMaxHandshaking) {
      load.start(id(started), port(started));
      ++started;
    }
    load.poll(5ms);
    if (Clock::now() - lastHeartbeat > 5s) {  // as browsers do
      load.heartbeatAll();
      lastHeartbeat = Clock::now();
    }
  }
  return true;
}

// A data-channel OFFER as browser PeerJS 1.5.5 sends it (protocols.md §2), ~700 bytes.
std::string offerText(const std::string& dst) {
  return R"({"type":"OFFER","payload":{"sdp":{"type":"offer","sdp":"v=0\r\no=- 4215775240449105457 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:Xk3b\r\na=ice-pwd:4dVq0nGfZ1Wm2p8sT7yRcL9e\r\na=ice-options:trickle\r\na=fingerprint:sha-256 3C:4A:9B:0E:12:6F:77:D1:5A:2C:8E:B4:90:1F:66:3D:C7:08:E2:5B:A9:44:1E:F0:72:8C:D3:59:06:BE:11:AF\r\na=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n"},"type":"data","connectionId":"dc_q8c2kx0w1e","label":"dc_q8c2kx0w1e","reliable":true,"serialization":"binary"},"dst":")" +
         dst + R"("})";
}

}  // namespace

SignalingFigures runSignalingBench(const ServerCommand& server, const SignalingOptions& options) {
  SignalingFigures f;
  f.clients_target = options.clients;
  f.pairs = options.pairs;
  f.instances = server.instances;
  raiseOpenFileLimit();
  signal(SIGPIPE, SIG_IGN);

  // The servers: one, or a redis-server and `instances` claynet instances sharing it.
  std::vector<Child> children;
  struct Stop {
    std::vector<Child>& c;
    ~Stop() {
      for (auto it = c.rbegin(); it != c.rend(); ++it) stopServer(*it);
    }
  } stopAtEnd{children};
  children.reserve(static_cast<std::size_t>(server.instances) + 2);
  Child* redis = nullptr;
  std::vector<int> ports;
  std::vector<Child*> servers;
  auto start = [&](const ServerCommand& cmd) -> bool {
    int port = freePort();
    if (port == 0) {
      f.error = "no free port on 127.0.0.1";
      return false;
    }
    children.emplace_back();
    if (!spawnServer(cmd, port, children.back(), f.error)) return false;
    if (!waitForPort(port, children.back(), f.error)) return false;
    ports.push_back(port);
    return true;
  };
  if (server.instances > 0) {
    // Loopback only, no persistence: Redis as the README's deployment section sets it up, minus
    // the network.
    if (!start({"redis",
                {"redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--daemonize", "no"}})) {
      f.error = "redis-server: " + f.error;
      return f;
    }
    redis = &children.back();
    std::string url = "redis://127.0.0.1:" + std::to_string(ports.back());
    ports.clear();
    for (int i = 0; i < server.instances; ++i) {
      ServerCommand instance = server;
      instance.argv.push_back("--redis");
      instance.argv.push_back(url);
      if (!start(instance)) return f;
      servers.push_back(&children.back());
    }
  } else {
    if (!start(server)) return f;
    servers.push_back(&children.back());
  }
  const int n = static_cast<int>(ports.size());
  auto serverRss = [&] {
    double mb = 0;
    for (auto* c : servers) mb += rssMb(c->pid);
    return mb;
  };
  auto serverCpu = [&] {
    double cpu = 0;
    for (auto* c : servers) cpu += cpuSeconds(c->pid);
    return cpu;
  };
  auto allAlive = [&](const char* while_) {
    for (auto* c : servers)
      if (!alive(*c)) {
        f.error = std::string("a server died ") + while_ + "; it printed: " + readFile(c->logPath);
        return false;
      }
    if (redis && !alive(*redis)) {
      f.error = std::string("redis-server died ") + while_ + ": " + readFile(redis->logPath);
      return false;
    }
    return true;
  };

  // (a) Hold N registered clients at once, spread over the instances.
  if (options.clients > 0) {
    Load load(ports[0], "/");
    auto t0 = Clock::now();
    auto lastHeartbeat = t0;
    bool inTime = openClients(
        load, options.clients, [](int i) { return "hold" + std::to_string(i); },
        [&](int i) { return ports[static_cast<std::size_t>(i % n)]; }, t0 + 180s, lastHeartbeat);
    f.open_s = seconds(Clock::now() - t0);
    if (!inTime) f.first_problem = "opening did not finish within 180 s";
    auto holdEnd = Clock::now() + std::chrono::seconds(options.holdSeconds);
    while (Clock::now() < holdEnd) {
      load.poll(20ms);
      if (Clock::now() - lastHeartbeat > 5s) {
        load.heartbeatAll();
        lastHeartbeat = Clock::now();
      }
    }
    f.clients_held = load.registered() - load.closedAfterOpen();
    f.server_rss_mb = serverRss();
    if (f.clients_held > 0) f.rss_kb_per_client = 1024.0 * f.server_rss_mb / f.clients_held;
    if (redis) f.redis_rss_mb = rssMb(redis->pid);
    f.errors += load.problems();
    if (f.first_problem.empty()) f.first_problem = load.firstProblem();
    if (!allAlive("while holding clients")) return f;
  }

  // (b) OFFERs between pairs, counted at the receivers. The sender of pair i sits on instance
  // i % n, its receiver on the next one: every OFFER crosses instances (when n > 1).
  if (options.pairs > 0) {
    Load load(ports[0], "/");
    load.window = options.window;
    auto t0 = Clock::now();
    auto lastHeartbeat = t0;
    // Client 2i sends to client 2i+1.
    openClients(
        load, 2 * options.pairs, [](int i) { return (i % 2 ? "r" : "s") + std::to_string(i / 2); },
        [&](int i) { return ports[static_cast<std::size_t>((i / 2 + i % 2) % n)]; }, t0 + 120s,
        lastHeartbeat);
    if (load.registered() < 2 * options.pairs) {
      f.error = "only " + std::to_string(load.registered()) + " of " +
                std::to_string(2 * options.pairs) +
                " pair clients registered: " + load.firstProblem();
      return f;
    }
    load.pairs.resize(static_cast<std::size_t>(options.pairs));
    for (int i = 0; i < options.pairs; ++i) {
      auto& p = load.pairs[static_cast<std::size_t>(i)];
      p.sender = 2 * i;
      p.receiver = 2 * i + 1;
      load.client(p.receiver).receiver = true;
      load.client(p.receiver).pair = i;
      ws::appendMaskedFrame(p.frame, ws::Opcode::Text, offerText("r" + std::to_string(i)), 0);
      p.prefix = R"({"type":"OFFER","src":"s)" + std::to_string(i) + R"(","dst":"r)" +
                 std::to_string(i) + "\"";
    }
    for (auto& p : load.pairs) load.topUp(p);
    load.flushDirty();
    auto warmEnd = Clock::now() + 1s;
    while (Clock::now() < warmEnd) load.poll(5ms);
    long long count0 = load.offersReceived;
    double serverCpu0 = serverCpu(), selfCpu0 = selfCpuSeconds();
    double redisCpu0 = redis ? cpuSeconds(redis->pid) : 0;
    auto m0 = Clock::now();
    auto mEnd = m0 + std::chrono::seconds(options.seconds);
    while (Clock::now() < mEnd) {
      load.poll(5ms);
      if (Clock::now() - lastHeartbeat > 5s) {
        load.heartbeatAll();
        lastHeartbeat = Clock::now();
      }
    }
    auto m1 = Clock::now();
    double elapsed = seconds(m1 - m0);
    f.offers_per_s = static_cast<double>(load.offersReceived - count0) / elapsed;
    f.server_cpu_pct = 100.0 * (serverCpu() - serverCpu0) / elapsed;
    f.client_cpu_pct = 100.0 * (selfCpuSeconds() - selfCpu0) / elapsed;
    if (redis) f.redis_cpu_pct = 100.0 * (cpuSeconds(redis->pid) - redisCpu0) / elapsed;
    f.errors += load.problems();
    if (f.first_problem.empty()) f.first_problem = load.firstProblem();
    if (!allAlive("while forwarding")) return f;
  }
  return f;
}

}  // namespace claynet::bench
