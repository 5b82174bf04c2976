// The one child-process helper of the project: `claynet demo` (its nodes are `claynet`
// processes), `claynet bench network` and the process tests (cli, network, multiplayer) all start
// children through it. stdin and stdout are pipes; every wait is bounded; a child still running
// when its object goes is killed and reaped, so nothing is left behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace claynet::process {

struct SpawnOptions {
  /// False: the child's stdout is the caller's, so that a chatty server can never fill a pipe
  /// nobody reads.
  bool captureStdout = true;
  /// A descriptor to become the child's stderr (e.g. a log file); -1 keeps the caller's.
  int stderrFd = -1;
};

class Child {
 public:
  /// Starts argv[0] (a path, or a name looked up in PATH) with these arguments. nullptr (and
  /// `error` set) when it cannot start.
  static std::unique_ptr<Child> spawn(const std::vector<std::string>& argv,
                                      const SpawnOptions& options, std::string& error);
  static std::unique_ptr<Child> spawn(const std::vector<std::string>& argv,
                                      bool captureStdout = true);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  /// Whole lines of stdout that have arrived, without waiting.
  std::vector<std::string> readLines();
  /// The next whole line, waiting up to `timeout`; nullopt when none came (or at EOF).
  std::optional<std::string> readLine(std::chrono::milliseconds timeout);
  /// True once the child has closed its stdout (it has usually exited).
  bool eof() const { return eof_; }
  /// The stdout descriptor, for poll().
  int stdoutFd() const { return stdout_; }
  /// False when the child no longer reads its stdin (never SIGPIPE: that is ignored here).
  bool writeLine(const std::string& line);
  void closeStdin();
  /// The exit status (128 + signal when killed), waiting up to `timeout`; nullopt if it runs on.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  void kill(int signal);
  /// -1 once reaped.
  pid_t pid() const { return pid_; }

 private:
  Child() = default;
  void fill();

  pid_t pid_ = -1;
  std::optional<int> status_;
  int stdin_ = -1, stdout_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

/// The path of the running executable (/proc/self/exe), so that children run the same build.
std::string selfPath();

/// Waits up to `timeout` until something accepts TCP connections on address:port (IPv4).
bool waitForPort(const std::string& address, std::uint16_t port, std::chrono::milliseconds timeout);

}  // namespace claynet::process
