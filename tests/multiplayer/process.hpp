// Child processes for the multiplayer tests: spawn with pipes, read stdout line by line with a
// deadline, close stdin, wait with a deadline. Every child is killed when its object goes.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace claynet::test {

class Child {
 public:
  /// Starts `argv`; its stdout is read through readLine() (or, without `captureStdout`, is the
  /// test's own, so that a chatty server can never fill an unread pipe), stderr is the test's.
  static std::unique_ptr<Child> spawn(const std::vector<std::string>& argv,
                                      bool captureStdout = true) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return nullptr;
    if (pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return nullptr;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    if (captureStdout) posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    if (rc != 0) {
      ::close(in[1]);
      ::close(out[0]);
      return nullptr;
    }
    auto c = std::unique_ptr<Child>(new Child);
    c->pid_ = pid;
    c->stdin_ = in[1];
    c->stdout_ = out[0];
    fcntl(c->stdout_, F_SETFL, O_NONBLOCK);
    return c;
  }

  ~Child() {
    closeStdin();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdout_ >= 0) ::close(stdout_);
  }

  /// The next whole line of stdout, waiting up to `timeout`; empty when none came (or at EOF).
  std::optional<std::string> readLine(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      if (eof_) return std::nullopt;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() < 0) return std::nullopt;
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 50))) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n > 0)
        buffer_.append(buf, static_cast<std::size_t>(n));
      else if (n == 0)
        eof_ = true;
    }
  }

  void closeStdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }

  /// The exit status (or 128 + signal), waiting up to `timeout`; nullopt if it is still running.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() >= end) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void kill(int signal) {
    if (pid_ > 0) ::kill(pid_, signal);
  }

 private:
  Child() = default;
  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

/// Waits until something accepts TCP connections on 127.0.0.1:port.
inline bool waitForPort(uint16_t port, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

/// A PeerJS server for the test: the npm `peer` package (the reference), or `claynet signal`.
struct SignalServer {
  enum class Kind { NpmPeer, ClaynetSignal };

  /// Starts it on 127.0.0.1:port and waits until it listens; null when it cannot start.
  static std::unique_ptr<Child> start(Kind kind, uint16_t port, int expireTimeoutMs) {
    std::vector<std::string> argv;
    if (kind == Kind::NpmPeer) {
      argv = {"node",
              std::string(CLAYNET_SOURCE_DIR) + "/node_modules/peer/dist/bin/peerjs.js",
              "--port",
              std::to_string(port),
              "--expire_timeout",
              std::to_string(expireTimeoutMs)};
    } else {
      argv = {std::string(CLAYNET_BIN_DIR) + "/claynet",
              "signal",
              "--host",
              "127.0.0.1",
              "--port",
              std::to_string(port),
              "--expire-timeout",
              std::to_string(expireTimeoutMs)};
    }
    auto child = Child::spawn(argv, false);
    if (!child || !waitForPort(port, std::chrono::seconds(20))) return nullptr;
    return child;
  }
};

}  // namespace claynet::test
