// Lines from stdin without blocking the caller: a reader thread queues them, the poll loop of a
// command takes them. The thread is detached because a read from a terminal cannot be
// interrupted; it may outlive the command, so its state is static.
#pragma once

#include <deque>
#include <string>

namespace claynet::cli {

/// Starts the reader thread (once per process).
void startStdinReader();
/// The lines read since the last call.
std::deque<std::string> takeStdinLines();
/// True once stdin has ended and every line has been taken.
bool stdinFinished();

}  // namespace claynet::cli
