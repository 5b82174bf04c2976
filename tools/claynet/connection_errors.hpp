// What a `host` or `join` failure means for the user: the exit code and what to do about it.
// claynet::Network reports failures as messages (README: "Error messages an application may
// match"); this maps them.
#pragma once

#include <string>

namespace claynet::cli {

struct Failure {
  int exitCode;
  std::string advice;  // one sentence on what to do; may be empty
};

/// `connected`: whether the node had been in the network (a later failure is a lost network,
/// not a failure to connect). `code` (the network's) goes into the advice. `turnConfigured`:
/// --ice named a TURN server (the advice for a path that did not form differs).
Failure classifyFailure(const std::string& message, bool connected, bool isHost,
                        const std::string& code, bool turnConfigured = false);

}  // namespace claynet::cli
