// Why ICE found no path, in words that fit the case: what was gathered and received, and what
// would help. Sans-IO: it reads IceStats only.
#pragma once

#include <string>

#include "claynet/peer_connection.hpp"

namespace claynet::rtc {

/// `what` (e.g. "ICE found no working path to the remote peer in 30000 ms"), then the candidates
/// of both sides, then advice: add a TURN server when none is configured; check the TURN server
/// when one is configured but gave no relay candidate; look at the remote when this side relayed
/// and the remote did not; and what the remote's mDNS-only candidates mean. Server problems
/// (a name that did not resolve, a refused certificate) come last.
std::string iceFailureDetail(const std::string& what, const IceStats& stats);

/// The same without `what`: "(local candidates: ...; remote: ...); advice[; problems]".
std::string iceAdvice(const IceStats& stats);

}  // namespace claynet::rtc
