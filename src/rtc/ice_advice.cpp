#include "rtc/ice_advice.hpp"

namespace claynet::rtc {

namespace {

std::string count(int n, const char* what) { return std::to_string(n) + " " + what; }

}  // namespace

std::string iceFailureDetail(const std::string& what, const IceStats& st) {
  return what + " " + iceAdvice(st);
}

std::string iceAdvice(const IceStats& st) {
  std::string local = count(st.localHost, "host") + ", " + count(st.localSrflx, "srflx") + ", " +
                      count(st.localRelay, "relay");
  std::string remote = count(st.remoteHost, "host") + ", " + count(st.remoteSrflx, "srflx") + ", " +
                       count(st.remotePrflx, "prflx") + ", " + count(st.remoteRelay, "relay");
  if (st.remoteMdnsSkipped) remote += ", " + count(st.remoteMdnsSkipped, "mDNS names skipped");
  if (st.remoteTcpSkipped) remote += ", " + count(st.remoteTcpSkipped, "TCP skipped");
  const int usableRemote = st.remoteHost + st.remoteSrflx + st.remotePrflx + st.remoteRelay;
  std::string advice;
  if (st.turnServers == 0) {
    advice =
        "no TURN server is configured: when both sides are behind NATs that give each "
        "destination its own port (symmetric or carrier-grade NAT), or UDP is blocked, only a "
        "relay connects them; add a TURN server to iceServers";
  } else if (st.localRelay == 0) {
    advice =
        "a TURN server is configured but gave no relay candidate: it was not reached or refused "
        "the credentials; check its address, port, transport and credentials, and that this "
        "network lets you reach it";
  } else if (st.remoteRelay == 0 && usableRemote > 0) {
    advice =
        "this side had a relay candidate from its TURN server, but the remote gave none and did "
        "not reach the relay: give the remote the TURN server too, or check its network";
  } else {
    advice =
        "relay candidates were exchanged and still no path worked: check that UDP (or the TURN "
        "server's TCP or TLS port) passes the firewalls on both sides";
  }
  if (usableRemote == 0)
    advice = (st.remoteMdnsSkipped
                  ? "the remote sent only mDNS host names (.local), which resolve on its own LAN "
                    "only, and none of its checks reached this side; "
                  : "the remote sent no usable candidate; ") +
             advice;
  std::string text = "(local candidates: " + local + "; remote: " + remote + "); " + advice;
  for (const auto& p : st.serverProblems) text += "; " + p;
  return text;
}

}  // namespace claynet::rtc
