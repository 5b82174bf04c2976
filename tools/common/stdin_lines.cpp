#include "stdin_lines.hpp"

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

namespace claynet::cli {

namespace {

std::mutex g_mutex;
std::deque<std::string> g_lines;
std::atomic<bool> g_eof{false};
std::once_flag g_started;

}  // namespace

void startStdinReader() {
  std::call_once(g_started, [] {
    std::thread([] {
      std::string line;
      while (std::getline(std::cin, line)) {
        std::lock_guard lock(g_mutex);
        g_lines.push_back(line);
      }
      g_eof = true;
    }).detach();
  });
}

std::deque<std::string> takeStdinLines() {
  std::deque<std::string> lines;
  std::lock_guard lock(g_mutex);
  lines.swap(g_lines);
  return lines;
}

bool stdinFinished() {
  if (!g_eof) return false;
  std::lock_guard lock(g_mutex);
  return g_lines.empty();
}

}  // namespace claynet::cli
