// Helpers for the PeerJS client tests: the real npm `peer` server as a child process on
// loopback, and pumping a Runtime until something happens.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "claynet/peerjs.hpp"
#include "claynet/runtime.hpp"

extern char** environ;

namespace claynet::test {

/// Runs the runtime's events until `done` holds or `timeout` passes; returns `done()`.
inline bool pumpUntil(Runtime& rt, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    rt.waitAndPoll(std::chrono::milliseconds(5));
  }
  return true;
}

/// Runs the runtime's events for `duration`.
inline void pumpFor(Runtime& rt, std::chrono::milliseconds duration) {
  auto end = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < end) rt.waitAndPoll(std::chrono::milliseconds(5));
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
inline uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

inline bool portAccepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

/// The npm `peer` 1.0.2 server (node_modules/peer/dist/bin/peerjs.js) on 127.0.0.1.
class NpmPeerServer {
 public:
  NpmPeerServer() = default;
  ~NpmPeerServer() {
    stop();
    if (!log_.empty()) ::unlink(log_.c_str());
  }
  NpmPeerServer(const NpmPeerServer&) = delete;
  NpmPeerServer& operator=(const NpmPeerServer&) = delete;

  /// Starts it on `port` with extra flags (e.g. {"--alive_timeout", "3000"}) and waits until it
  /// accepts connections. Returns false (with the server's output in `error`) if it does not.
  bool start(uint16_t port, std::vector<std::string> extra = {}, std::string* error = nullptr) {
    port_ = port;
    if (!log_.empty()) ::unlink(log_.c_str());
    log_ = "/tmp/claynet-npm-peer-" + std::to_string(::getpid()) + "-" + std::to_string(port) +
           "-" + std::to_string(++starts_) + ".log";
    std::vector<std::string> args = {
        CLAYNET_NODE, std::string(CLAYNET_SOURCE_DIR) + "/node_modules/peer/dist/bin/peerjs.js",
        "--port",     std::to_string(port),
        "--host",     "127.0.0.1"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      pid_ = -1;
      if (error) *error = "cannot start " + args[0] + ": " + std::strerror(rc);
      return false;
    }
    for (int i = 0; i < 300; ++i) {  // up to 15 s: node needs a moment on a loaded machine
      if (portAccepts(port)) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (error)
      *error =
          "the npm peer server did not come up on port " + std::to_string(port) + ":\n" + output();
    stop();
    return false;
  }

  /// Kills it (SIGKILL: no goodbye to the clients) and waits for it to exit.
  void kill() { stop(SIGKILL); }

  void stop(int sig = SIGTERM) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string output() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  uint16_t port() const { return port_; }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  int starts_ = 0;
  std::string log_;
};

/// Server options pointing at the test server.
inline PeerJsServer localServer(uint16_t port) {
  PeerJsServer s;
  s.host = "127.0.0.1";
  s.port = port;
  s.secure = false;
  return s;
}

/// Peer options for a test: the local server, loopback-only ICE, no STUN, quick retries.
inline PeerJsOptions localPeer(uint16_t port, std::string id) {
  PeerJsOptions o;
  o.server = localServer(port);
  o.id = std::move(id);
  o.rtc = Configuration{};
  o.rtc.localAddresses = {"127.0.0.1"};
  o.reconnectDelayMin = std::chrono::milliseconds(100);
  o.reconnectDelayMax = std::chrono::milliseconds(1000);
  return o;
}

/// Records what a peer reports.
struct PeerEvents {
  std::vector<std::string> opened;
  std::vector<PeerJsError> errors;
  std::vector<std::string> disconnects;
  std::vector<std::shared_ptr<PeerJsConnection>> incoming;
  bool closed = false;

  void attach(PeerJsPeer& peer) {
    peer.onOpen([this](const std::string& id) { opened.push_back(id); });
    peer.onError([this](const PeerJsError& e) { errors.push_back(e); });
    peer.onDisconnected([this](const std::string& r) { disconnects.push_back(r); });
    peer.onConnection([this](std::shared_ptr<PeerJsConnection> c) { incoming.push_back(c); });
    peer.onClose([this] { closed = true; });
  }
  std::string errorText() const {
    std::string out;
    for (const auto& e : errors) out += e.text() + "\n";
    return out;
  }
  bool hasError(PeerJsErrorType type) const {
    for (const auto& e : errors)
      if (e.type == type) return true;
    return false;
  }
};

/// Records what a connection reports.
struct ConnEvents {
  bool opened = false;
  bool closed = false;
  std::vector<nlohmann::json> data;
  std::vector<PeerJsError> errors;

  void attach(PeerJsConnection& c) {
    c.onOpen([this] { opened = true; });
    c.onClose([this] { closed = true; });
    c.onData([this](const nlohmann::json& v) { data.push_back(v); });
    c.onError([this](const PeerJsError& e) { errors.push_back(e); });
  }
};

}  // namespace claynet::test
