// A child process with stdin and stdout as pipes, for `claynet demo`, whose nodes are `claynet`
// processes of their own. Every wait is bounded; a child still running when its object goes is
// killed and reaped, so the demo never leaves a process behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace claynet::cli {

class Subprocess {
 public:
  /// Starts argv[0] (a path) with these arguments; stderr stays the caller's. nullptr (and
  /// `error` set) when it cannot start.
  static std::unique_ptr<Subprocess> spawn(const std::vector<std::string>& argv,
                                           std::string& error);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  /// Whole lines of stdout that have arrived, without waiting.
  std::vector<std::string> readLines();
  /// True once the child has closed its stdout (it has usually exited).
  bool eof() const { return eof_; }
  /// The stdout descriptor, for poll().
  int stdoutFd() const { return stdout_; }
  /// False when the child no longer reads its stdin.
  bool writeLine(const std::string& line);
  void closeStdin();
  /// The exit status (128 + signal when killed), waiting up to `timeout`; nullopt if it runs on.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  void kill(int signal);
  pid_t pid() const { return pid_; }

 private:
  Subprocess() = default;
  pid_t pid_ = -1;
  std::optional<int> status_;
  int stdin_ = -1, stdout_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

/// The path of the running executable (/proc/self/exe), so that the demo starts the same build.
std::string selfPath();

}  // namespace claynet::cli
