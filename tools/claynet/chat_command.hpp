// `claynet host` and `claynet join CODE`: one claynet::Network node in a terminal. Each stdin line
// is broadcast to the network, `/to NODE text` goes to one node, `/peers` shows the peers table,
// `/quit` (or the end of stdin, or Ctrl-C) leaves. `--json` turns the output into JSON lines.
#pragma once

#include <string>

#include "connection_options.hpp"

namespace claynet::cli {

struct ChatOptions {
  ConnectionOptions connection;
  bool host = false;
  std::string code;  // join only
  /// Hidden, for `claynet demo`: `/traffic start|stop` on stdin start and stop generated chat
  /// (every chatEveryMs) and state at stateHz; `/report` prints a stats event at once.
  bool demoChild = false;
  int chatEveryMs = 500;
  int stateHz = 60;
  /// With --json: a stats event this often while connected (0: only on /peers).
  int reportMs = 1000;
};

/// Runs until the node leaves; returns the exit code (exit_codes.hpp).
int runChat(const ChatOptions& options);

}  // namespace claynet::cli
