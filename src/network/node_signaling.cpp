// NodeCore's signaling role: which id a session registers, what a taken code or id, a refusal or a
// lost server does to it, the Local server, and the connection timeout. The executor registers,
// starts the server and dials as told, and reports back.
#include "claynet/lan_code.hpp"
#include "network/link_supervision.hpp"
#include "network/network_config.hpp"
#include "network/node_core.hpp"
#include "network/signaling_errors.hpp"

namespace claynet::network {

NodeCore::NodeCore(NodeIds ids) : ids_(std::move(ids)) {
  if (!ids_.networkCode) ids_.networkCode = generateNetworkCode;
  if (!ids_.nodeId) ids_.nodeId = randomNodeId;
  if (!ids_.lanSecret) ids_.lanSecret = generateLanSecret;
}

void NodeCore::host(const NodeSettings& settings, bool local, Time now, NodeActions& out) {
  hosting(settings, now);
  timeline_.begin(now);
  nextTick_ = now + kTickInterval;
  role_ = local ? Role::LocalHost : Role::CloudHost;
  if (local) {
    NodeAction start{NodeAction::Kind::StartLocalServer};
    start.text = ids_.lanSecret();
    out.push_back(std::move(start));
    return;
  }
  registerAs(ids_.networkCode(), out);
}

void NodeCore::join(const std::string& hostId, const std::string& networkId,
                    const NodeSettings& settings, Time now, NodeActions& out) {
  clear();
  timeline_.begin(now);
  nextTick_ = now + kTickInterval;
  role_ = Role::Joiner;
  networkId_ = networkId;
  joinAs(ids_.nodeId(), hostId, settings, now, out);
}

// Under `id`: Register it, and Dial the host (PeerJS queues the offer until the id is open).
void NodeCore::joinAs(const std::string& id, const std::string& hostId,
                      const NodeSettings& settings, Time now, NodeActions& out) {
  joining(id, hostId, settings, now);
  registerAs(self_, out);
  NodeAction dial{NodeAction::Kind::Dial};
  dial.peer = hostId;
  out.push_back(std::move(dial));
}

void NodeCore::localServerStarted(const std::string& lanCode, NodeActions& out) {
  if (role_ != Role::LocalHost) return;
  networkId_ = lanCode;  // the LAN code names the network; the host's id is Clayground's HOST
  registerAs(Network::kLocalHostId, out);
}

void NodeCore::localServerFailed(const std::string& why, NodeActions& out) {
  fail(Network::ErrorCode::CannotHost, why, out);
}

void NodeCore::registerFailed(const std::string& why, NodeActions& out) {
  fail(role_ == Role::LocalHost ? Network::ErrorCode::CannotHost
                                : Network::ErrorCode::SignalingFailed,
       "could not register with the signaling server: " + why, out);
}

void NodeCore::signalingOpened(const std::string& id, Time now, NodeActions& out) {
  if (role_ == Role::None) return;
  if (registeredOnce_) {
    diag(out, "registered again as " + id, "signaling");
    signalingDown_ = false;
    setAccepting(true, out);
    return;
  }
  registeredOnce_ = true;
  signalingDown_ = false;  // a drop before the first registration is over with it
  if (!host_) {
    diag(out, "registered as " + id + " (" + std::to_string(timeline_.elapsedMs(now)) + " ms)",
         "signaling");
    NodeAction reg{NodeAction::Kind::Registered};
    reg.peer = id;
    out.push_back(std::move(reg));
    return;
  }
  nlohmann::json timing = timeline_.hosted(now);
  diag(out, "registered as " + id + " (" + timing["total"].dump() + " ms)", "signaling");
  registered(id);
  if (networkId_.empty()) networkId_ = id;
  NodeAction hosted{NodeAction::Kind::Hosted};
  hosted.peer = id;
  hosted.text = networkId_;
  hosted.value = std::move(timing);
  out.push_back(std::move(hosted));
  setAccepting(true, out);
}

void NodeCore::signalingError(const PeerJsError& err, Time now, NodeActions& out) {
  diag(out, "signaling error: " + err.text(), "signaling");
  if (role_ == Role::None) return;
  SignalingRole role;
  role.host = host_;
  role.cloud = role_ != Role::LocalHost;
  role.connecting = stage_ == Stage::Connecting;
  role.hostId = hostId();
  role.networkId = networkId_;
  SignalingStep step = judgeSignalingError(err, role, hostTries_, joinerTries_);
  switch (step.kind) {
    case SignalingStep::Kind::Ignore:
      return;
    case SignalingStep::Kind::NewHostCode:
      diag(out, "the code is taken; trying another one", "signaling");
      out.push_back({NodeAction::Kind::Unregister});
      registerAs(ids_.networkCode(), out);
      return;
    case SignalingStep::Kind::NewJoinerId: {
      diag(out, "our random id is taken; trying another one", "signaling");
      out.push_back({NodeAction::Kind::Unregister});
      // Copies: joining() replaces both.
      const std::string host = hostId_;
      const NodeSettings settings = settings_;
      joinAs(ids_.nodeId(), host, settings, now, out);
      return;
    }
    case SignalingStep::Kind::Refused:
      refusedBy({RefusalReason::Refused, std::move(step.message)}, "signaling", out);
      return;
    case SignalingStep::Kind::Fail:
      fail(step.code, std::move(step.message), out);
      return;
  }
}

void NodeCore::signalingLost(const std::string& reason, NodeActions& out) {
  diag(out, "signaling server connection lost: " + reason, "signaling");
  if (stage_ == Stage::Idle || signalingDown_) return;
  signalingDown_ = true;
  setAccepting(false, out);
  out.push_back({NodeAction::Kind::SignalingLost});
}

// ---- inside ----

void NodeCore::registerAs(std::string id, NodeActions& out) {
  NodeAction reg{NodeAction::Kind::Register};
  reg.peer = std::move(id);
  out.push_back(std::move(reg));
}

void NodeCore::setAccepting(bool on, NodeActions& out) {
  on = on && host_ && stage_ == Stage::Connected;
  if (accepting_ == on) return;
  accepting_ = on;
  out.push_back({NodeAction::Kind::AcceptingJoins});
}

void NodeCore::fail(Network::ErrorCode code, std::string text, NodeActions& out) {
  NodeAction failed{NodeAction::Kind::Failed};
  failed.error = code;
  failed.text = std::move(text);
  failed.phase = stage_ == Stage::Connecting ? timeline_.connectingPhase() : "";
  out.push_back(std::move(failed));
}

bool NodeCore::timedOut(Time now, NodeActions& out) {
  const auto limit = settings_.connectionTimeout.count();
  if (stage_ != Stage::Connecting || limit <= 0 || timeline_.elapsedMs(now) < limit) return false;
  NodeAction t{NodeAction::Kind::TimedOut};
  t.phase = timeline_.connectingPhase();
  t.text = "Connection timed out after " + std::to_string(limit) + " ms in phase " + t.phase;
  out.push_back(std::move(t));
  return true;
}

}  // namespace claynet::network
