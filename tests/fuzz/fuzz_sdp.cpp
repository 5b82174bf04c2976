// libFuzzer target: a remote session description as claynet parses it (sdp::parse), and the
// description claynet would write from what it parsed.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "rtc/sdp.hpp"

namespace sdp = claynet::rtc::sdp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  sdp::Session session;
  if (!sdp::parse(text, session).ok()) return 0;
  (void)sdp::effectiveMaxMessageSize(session);
  // What claynet parsed, it can write, and reading that back gives the same session.
  const std::string written = sdp::generate(session);
  sdp::Session again;
  if (!sdp::parse(written, again).ok()) std::abort();
  if (again.iceUfrag != session.iceUfrag || again.icePwd != session.icePwd ||
      again.fingerprint != session.fingerprint || again.setup != session.setup ||
      again.mid != session.mid || again.sctpPort != session.sctpPort ||
      again.maxMessageSize != session.maxMessageSize ||
      again.legacySctpmap != session.legacySctpmap ||
      again.candidates.size() != session.candidates.size() ||
      again.endOfCandidates != session.endOfCandidates)
    std::abort();
  if (sdp::generate(again) != written) std::abort();
  return 0;
}
