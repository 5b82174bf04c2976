// What a `host` or `join` failure means for the user: the exit code and what to do about it,
// chosen by the error's code (Network::ErrorCode), never by its text.
#pragma once

#include <string>

#include "claynet/network.hpp"

namespace claynet::cli {

struct Failure {
  int exitCode;
  std::string advice;  // one sentence on what to do; may be empty
};

/// `connected`: whether the node had been in the network (a later failure is a lost network,
/// not a failure to connect). `code` (the network's) goes into the advice. `turnConfigured`:
/// --ice named a TURN server (the advice for a path that did not form differs).
Failure classifyFailure(const Network::Error& error, bool connected, bool isHost,
                        const std::string& code, bool turnConfigured = false);

}  // namespace claynet::cli
