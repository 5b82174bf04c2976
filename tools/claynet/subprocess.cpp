#include "subprocess.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>

extern char** environ;

namespace claynet::cli {

std::unique_ptr<Subprocess> Subprocess::spawn(const std::vector<std::string>& argv,
                                              std::string& error) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return nullptr;
  }
  if (pipe2(out, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    ::close(in[0]);
    ::close(in[1]);
    return nullptr;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    error = "cannot start " + argv[0] + ": " + std::strerror(rc);
    ::close(in[1]);
    ::close(out[0]);
    return nullptr;
  }
  auto p = std::unique_ptr<Subprocess>(new Subprocess);
  p->pid_ = pid;
  p->stdin_ = in[1];
  p->stdout_ = out[0];
  fcntl(p->stdout_, F_SETFL, O_NONBLOCK);
  return p;
}

Subprocess::~Subprocess() {
  closeStdin();
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (stdout_ >= 0) ::close(stdout_);
}

std::vector<std::string> Subprocess::readLines() {
  for (int i = 0; i < 64; ++i) {  // bounded: a chatty child cannot keep this loop forever
    char buf[8192];
    ssize_t n = ::read(stdout_, buf, sizeof buf);
    if (n == 0) eof_ = true;
    if (n <= 0) break;
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
  std::vector<std::string> lines;
  std::size_t nl;
  while ((nl = buffer_.find('\n')) != std::string::npos) {
    lines.push_back(buffer_.substr(0, nl));
    buffer_.erase(0, nl + 1);
  }
  return lines;
}

bool Subprocess::writeLine(const std::string& line) {
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

void Subprocess::closeStdin() {
  if (stdin_ >= 0) ::close(stdin_);
  stdin_ = -1;
}

std::optional<int> Subprocess::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return status_;
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Subprocess::kill(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

std::string selfPath() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "claynet";
  buf[n] = 0;
  return buf;
}

}  // namespace claynet::cli
