// Child processes for the tests that run claynet programs (multiplayer, network): spawn with
// pipes, read stdout line by line (waiting up to a deadline or not at all), write to stdin, wait
// with a deadline. Every child is killed when its object goes.
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

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace claynet::test {

class Child {
 public:
  /// Starts `argv` with stdin as a pipe. Its stdout is read through readLine()/readLines() (or,
  /// without `captureStdout`, is the test's own, so that a chatty server can never fill an unread
  /// pipe); stderr is the test's.
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
    auto p = std::unique_ptr<Child>(new Child);
    p->pid_ = pid;
    p->stdin_ = in[1];
    p->stdout_ = out[0];
    fcntl(p->stdout_, F_SETFL, O_NONBLOCK);
    return p;
  }

  ~Child() {
    closeStdin();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdout_ >= 0) ::close(stdout_);
  }

  /// Whole lines that have arrived, without waiting.
  std::vector<std::string> readLines() {
    std::vector<std::string> lines;
    fill();
    std::size_t nl;
    while ((nl = buffer_.find('\n')) != std::string::npos) {
      lines.push_back(buffer_.substr(0, nl));
      buffer_.erase(0, nl + 1);
    }
    return lines;
  }

  /// The next whole line of stdout, waiting up to `timeout`; nullopt when none came (or at EOF).
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
      fill();
    }
  }

  int stdoutFd() const { return stdout_; }
  pid_t pid() const { return pid_; }
  bool eof() const { return eof_; }

  bool writeLine(const std::string& line) {
    if (stdin_ < 0) return false;
    std::string l = line + "\n";
    const char* p = l.data();
    std::size_t left = l.size();
    while (left > 0) {
      ssize_t n = ::write(stdin_, p, left);
      if (n <= 0) return false;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    return true;
  }

  void closeStdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }

  void kill(int signal) {
    if (pid_ > 0) ::kill(pid_, signal);
  }

  /// The exit status (or 128 + signal), waiting up to `timeout`; nullopt if still running.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return exitStatus_;  // already reaped
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        exitStatus_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exitStatus_;
      }
      if (std::chrono::steady_clock::now() >= end) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  Child() = default;

  // Reads what stdout has without blocking (the descriptor is non-blocking).
  void fill() {
    for (;;) {
      char buf[8192];
      ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n > 0) {
        buffer_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) eof_ = true;
      break;
    }
  }

  pid_t pid_ = -1;
  std::optional<int> exitStatus_;
  int stdin_ = -1, stdout_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

/// Waits until something accepts TCP connections on address:port.
inline bool waitForPort(const std::string& address, uint16_t port,
                        std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace claynet::test
