// The network tests' helpers: claynet-network-node children (../common/child_process.hpp),
// spoken to with JSON lines, and a signaling server that never answers.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "../common/child_process.hpp"

namespace claynet::test {

using json = nlohmann::json;
using Process = Child;

/// A TCP server that accepts connections and never says anything: a signaling server that hangs.
class SilentServer {
 public:
  SilentServer(const std::string& address, uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 16) == 0;
    if (ok_) {
      thread_ = std::thread([this] {
        while (!stop_) {
          pollfd p{fd_, POLLIN, 0};
          if (::poll(&p, 1, 50) <= 0) continue;
          int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
          if (c >= 0) held_.push_back(c);  // read nothing, answer nothing
        }
      });
    }
  }
  ~SilentServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int c : held_) ::close(c);
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<int> held_;
};

}  // namespace claynet::test
