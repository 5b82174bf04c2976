// claynet::Network, the public class: its settings checked and stored, its calls and callbacks
// handed to NetworkImpl (network_impl.hpp), which runs the session.
#include "claynet/network.hpp"

#include "claynet/lan_code.hpp"
#include "network/network_config.hpp"
#include "network/network_impl.hpp"
#include "network/network_testing.hpp"

namespace claynet {

using nlohmann::json;

namespace network {

Result NetworkImpl::sendRaw(const std::string& target, const json& envelope, bool stateLink) {
  Entry entry(*this);
  Link* link = find(target);
  const auto info = node_.link(target);
  if (!link || !info || !info->dataOpen)
    return Result::failure("no open link to \"" + target + "\"");
  Outgoing out;
  out.value = envelope;
  if (Result r = encodeJson(envelope, out.bytes); !r) return r;
  if (stateLink && link->stateOpen()) return sendState(*link, out);
  return sendOn(link->data, out);
}

// The codes a Cloud host registers: those a test forced first (forceCodes), then random ones.
NodeIds NetworkImpl::ids() {
  NodeIds ids;
  ids.networkCode = [this] { return nextCode(); };
  return ids;
}

std::string NetworkImpl::nextCode() {
  if (forcedCodes_.empty()) return generateNetworkCode();
  std::string code = std::move(forcedCodes_.front());
  forcedCodes_.pop_front();
  return code;
}

std::vector<std::string> NetworkImpl::directLinks() const {
  std::vector<std::string> out;
  for (const auto& id : node_.linkPeers())
    if (node_.link(id)->dataOpen && node_.members().contains(id)) out.push_back(id);
  return out;
}
// ---- test hooks ----

Result NetworkTesting::sendRaw(Network& network, const std::string& nodeId, const json& envelope,
                               bool stateLink) {
  return network.impl_->sendRaw(nodeId, envelope, stateLink);
}

std::vector<std::string> NetworkTesting::directLinks(const Network& network) {
  return network.impl_->directLinks();
}

void NetworkTesting::forceCodes(Network& network, std::vector<std::string> codes) {
  network.impl_->forcedCodes_.assign(codes.begin(), codes.end());
}

void NetworkTesting::setOpenLimit(Network& network, std::chrono::milliseconds limit) {
  network.impl_->openLimit_ = limit;
}

}  // namespace network

// ---- Network ----

Network::Network(Runtime& runtime) : impl_(std::make_shared<network::NetworkImpl>(runtime)) {}
Network::~Network() { impl_->shutdown(); }

bool Network::autoRelay() const { return impl_->autoRelay_; }
void Network::setAutoRelay(bool on) { impl_->setAutoRelay(on); }

int Network::connectionTimeout() const { return impl_->timeoutMs_; }
Result Network::setConnectionTimeout(int ms) {
  if (ms < 0)
    return Result::failure(
        "connectionTimeout must be 0 (no timeout) or a positive number of ms, "
        "not " +
        std::to_string(ms));
  impl_->timeoutMs_ = ms;
  return {};
}

const std::vector<IceServer>& Network::iceServers() const { return impl_->iceServers_; }
Result Network::setIceServers(std::vector<IceServer> servers) {
  if (Result r = impl_->configurable("iceServers"); !r) return r;
  if (Result r = network::validateIceServers(servers); !r) return r;
  impl_->iceServers_ = std::move(servers);
  return {};
}
Result Network::setIceServers(const json& servers) {
  if (Result r = impl_->configurable("iceServers"); !r) return r;
  std::vector<IceServer> list;
  if (Result r = network::parseIceServers(servers, list); !r) return r;
  impl_->iceServers_ = std::move(list);
  return {};
}
json Network::iceServersJson() const { return network::iceServersToJson(impl_->iceServers_); }

int Network::maxNodes() const { return impl_->maxNodes_; }
Result Network::setMaxNodes(int n) {
  if (n < kMinNodes || n > kMaxNodes) return Result::failure("maxNodes must be between 2 and 8");
  if (Result r = impl_->configurable("maxNodes"); !r) return r;
  impl_->maxNodes_ = n;
  return {};
}

Network::SignalingMode Network::signalingMode() const { return impl_->mode_; }
Result Network::setSignalingMode(SignalingMode mode) {
  if (Result r = impl_->configurable("signalingMode"); !r) return r;
  impl_->mode_ = mode;
  return {};
}

const std::string& Network::signalingUrl() const { return impl_->signalingUrl_; }
Result Network::setSignalingUrl(std::string url) {
  if (Result r = impl_->configurable("signalingUrl"); !r) return r;
  if (url.empty()) {
    impl_->signalingUrl_.clear();
    impl_->signalingServer_ = PeerJsServer{};
    return {};
  }
  PeerJsServer server;
  if (Result r = network::parseSignalingUrl(url, server); !r) return r;
  impl_->signalingUrl_ = std::move(url);
  impl_->signalingServer_ = std::move(server);
  return {};
}

Network::Topology Network::topology() const { return impl_->topology_; }
Result Network::setTopology(Topology topology) {
  if (Result r = impl_->configurable("topology"); !r) return r;
  impl_->topology_ = topology;
  return {};
}

bool Network::verbose() const { return impl_->verbose_; }
void Network::setVerbose(bool on) { impl_->verbose_ = on; }

const std::string& Network::localAddress() const { return impl_->localAddress_; }
Result Network::setLocalAddress(std::string address) {
  if (Result r = impl_->configurable("localAddress"); !r) return r;
  if (!address.empty() && !isIPv4Literal(address))
    return Result::failure("localAddress must be an IPv4 address such as 192.168.1.20, not \"" +
                           address + "\"");
  impl_->localAddress_ = std::move(address);
  return {};
}

const std::vector<std::string>& Network::iceLocalAddresses() const {
  return impl_->iceLocalAddresses_;
}
Result Network::setIceLocalAddresses(std::vector<std::string> addresses) {
  if (Result r = impl_->configurable("iceLocalAddresses"); !r) return r;
  impl_->iceLocalAddresses_ = std::move(addresses);
  return {};
}

const std::string& Network::iceCaFile() const { return impl_->iceCaFile_; }
Result Network::setIceCaFile(std::string path) {
  if (Result r = impl_->configurable("iceCaFile"); !r) return r;
  impl_->iceCaFile_ = std::move(path);
  return {};
}

bool Network::verifySignalingCertificate() const { return impl_->verifySignalingCertificate_; }
Result Network::setVerifySignalingCertificate(bool on) {
  if (Result r = impl_->configurable("verifySignalingCertificate"); !r) return r;
  impl_->verifySignalingCertificate_ = on;
  return {};
}

Network::Status Network::status() const { return impl_->status_; }
bool Network::connected() const { return impl_->status_ == Status::Connected; }
const std::string& Network::connectionPhase() const { return impl_->phase_; }
const std::string& Network::hostId() const { return impl_->hostId(); }
double Network::sessionTime() const { return impl_->sessionTime(); }
bool Network::sessionTimeSynced() const { return impl_->sessionTimeSynced(); }
double Network::transitMs(const std::string& nodeId) const { return impl_->transitMs(nodeId); }
double Network::stateAgeMs(const std::string& nodeId) const {
  return impl_->stateAgeMs(nodeId, std::nullopt);
}
double Network::stateAgeMs(const std::string& nodeId, const std::string& key) const {
  return impl_->stateAgeMs(nodeId, key);
}
Result Network::broadcastState(const json& data, const std::string& key) {
  return impl_->broadcastKeyed(data, key);
}
void Network::flushState() { impl_->flushState(); }
const std::map<std::string, std::string>& Network::clientTokens() const {
  return impl_->clientTokens();
}
int Network::gracePeriod() const { return impl_->gracePeriodMs_; }
Result Network::setGracePeriod(int ms) {
  if (ms < 0)
    return Result::failure(
        "gracePeriod must be 0 (no silence check) or a positive number of ms, "
        "not " +
        std::to_string(ms));
  impl_->setGracePeriod(ms);
  return {};
}
const std::string& Network::hostLostReason() const { return impl_->hostLostReason_; }
bool Network::acceptingJoins() const { return impl_->acceptingJoins_; }
json Network::syncStats() const { return impl_->syncStats(); }
void Network::onSyncStatsChanged(std::function<void()> cb) {
  impl_->cb_.syncStatsChanged = std::move(cb);
}
void Network::onSignalingLost(std::function<void()> cb) {
  impl_->cb_.signalingLost = std::move(cb);
}
void Network::onAcceptingJoinsChanged(std::function<void()> cb) {
  impl_->cb_.acceptingJoinsChanged = std::move(cb);
}
void Network::onHostLost(std::function<void(const std::string&, const std::string&)> cb) {
  impl_->cb_.hostLost = std::move(cb);
}
void Network::onHostLostReasonChanged(std::function<void()> cb) {
  impl_->cb_.hostLostReasonChanged = std::move(cb);
}
const std::string& Network::appId() const { return impl_->appId_; }
Result Network::setAppId(std::string appId) {
  if (Result r = impl_->configurable("appId"); !r) return r;
  impl_->appId_ = std::move(appId);
  return {};
}
const std::string& Network::password() const { return impl_->password_; }
Result Network::setPassword(std::string password) {
  if (Result r = impl_->configurable("password"); !r) return r;
  impl_->password_ = std::move(password);
  return {};
}
const std::string& Network::clientToken() const { return impl_->clientToken_; }
Result Network::setClientToken(std::string token) {
  if (Result r = impl_->configurable("clientToken"); !r) return r;
  impl_->clientToken_ = std::move(token);
  return {};
}
const json& Network::phaseTiming() const { return impl_->phaseTiming_; }
bool Network::isHost() const { return impl_->isHost_; }
const std::string& Network::networkId() const { return impl_->networkId_; }
const std::string& Network::nodeId() const { return impl_->nodeId_; }
const std::vector<std::string>& Network::nodes() const { return impl_->nodes(); }
int Network::nodeCount() const {
  return connected() ? static_cast<int>(impl_->nodes().size()) + 1 : 0;
}
int Network::latency() const { return impl_->latency_; }
json Network::peerStats() const { return impl_->peerStats(); }

Result Network::host() { return impl_->host(); }
Result Network::join(const std::string& code) { return impl_->join(code); }
void Network::leave() { impl_->leave(); }
Result Network::broadcast(const json& data) { return impl_->broadcast(data, false); }
Result Network::broadcastState(const json& data) { return impl_->broadcast(data, true); }
Result Network::sendTo(const std::string& nodeId, const json& data) {
  return impl_->sendTo(nodeId, data);
}

void Network::onNetworkCreated(std::function<void(const std::string&)> cb) {
  impl_->cb_.networkCreated = std::move(cb);
}
void Network::onNodeJoined(std::function<void(const std::string&)> cb) {
  impl_->cb_.nodeJoined = std::move(cb);
}
void Network::onNodeLeft(std::function<void(const std::string&)> cb) {
  impl_->cb_.nodeLeft = std::move(cb);
}
void Network::onMessageReceived(std::function<void(const std::string&, const json&)> cb) {
  if (!cb) return onMessageReceived(MessageCallback{});
  onMessageReceived(
      [cb = std::move(cb)](const std::string& from, const json& data, double) { cb(from, data); });
}
void Network::onMessageReceived(MessageCallback cb) { impl_->cb_.messageReceived = std::move(cb); }
void Network::onStateReceived(std::function<void(const std::string&, const json&)> cb) {
  if (!cb) return onStateReceived(StateCallback{});
  onStateReceived([cb = std::move(cb)](const std::string& from, const json& data, double,
                                       const std::string&) { cb(from, data); });
}
void Network::onStateReceived(StateCallback cb) { impl_->cb_.stateReceived = std::move(cb); }
void Network::onSessionTimeSyncedChanged(std::function<void()> cb) {
  impl_->cb_.sessionTimeSyncedChanged = std::move(cb);
}
void Network::onErrorOccurred(std::function<void(const std::string&)> cb) {
  impl_->cb_.errorOccurred = std::move(cb);
}
void Network::onDiagnosticMessage(std::function<void(const std::string&, const std::string&)> cb) {
  impl_->cb_.diagnosticMessage = std::move(cb);
}
void Network::onJoinRefused(std::function<void(const std::string&, const std::string&)> cb) {
  impl_->cb_.joinRefused = std::move(cb);
}
void Network::onClientTokensChanged(std::function<void()> cb) {
  impl_->cb_.clientTokensChanged = std::move(cb);
}
void Network::onError(std::function<void(const Error&)> cb) {
  impl_->cb_.typedError = std::move(cb);
}
const Network::Error& Network::lastError() const { return impl_->lastError_; }
void Network::onConnectionTimedOut(std::function<void()> cb) {
  impl_->cb_.connectionTimedOut = std::move(cb);
}
void Network::onStatusChanged(std::function<void()> cb) {
  impl_->cb_.statusChanged = std::move(cb);
}
void Network::onConnectionPhaseChanged(std::function<void()> cb) {
  impl_->cb_.connectionPhaseChanged = std::move(cb);
}
void Network::onPhaseTimingChanged(std::function<void()> cb) {
  impl_->cb_.phaseTimingChanged = std::move(cb);
}
void Network::onIsHostChanged(std::function<void()> cb) {
  impl_->cb_.isHostChanged = std::move(cb);
}
void Network::onNetworkIdChanged(std::function<void()> cb) {
  impl_->cb_.networkIdChanged = std::move(cb);
}
void Network::onNodeIdChanged(std::function<void()> cb) {
  impl_->cb_.nodeIdChanged = std::move(cb);
}
void Network::onNodesChanged(std::function<void()> cb) { impl_->cb_.nodesChanged = std::move(cb); }
void Network::onLatencyChanged(std::function<void()> cb) {
  impl_->cb_.latencyChanged = std::move(cb);
}
void Network::onPeerStatsChanged(std::function<void()> cb) {
  impl_->cb_.peerStatsChanged = std::move(cb);
}

const char* toString(Network::Topology t) { return t == Network::Topology::Mesh ? "Mesh" : "Star"; }
const char* toString(Network::SignalingMode m) {
  return m == Network::SignalingMode::Local ? "Local" : "Cloud";
}
const char* toString(Network::ErrorCode code) {
  switch (code) {
    case Network::ErrorCode::None:
      return "none";
    case Network::ErrorCode::InvalidCode:
      return "invalid-code";
    case Network::ErrorCode::WrongLanCode:
      return "wrong-lan-code";
    case Network::ErrorCode::NoSuchNetwork:
      return "no-such-network";
    case Network::ErrorCode::SignalingFailed:
      return "signaling-failed";
    case Network::ErrorCode::CannotHost:
      return "cannot-host";
    case Network::ErrorCode::TimedOut:
      return "timed-out";
    case Network::ErrorCode::CouldNotConnect:
      return "could-not-connect";
    case Network::ErrorCode::NetworkFull:
      return "network-full";
    case Network::ErrorCode::JoinRefused:
      return "join-refused";
    case Network::ErrorCode::Rejected:
      return "rejected";
    case Network::ErrorCode::HostLeft:
      return "host-left";
    case Network::ErrorCode::HostTimeout:
      return "host-timeout";
    case Network::ErrorCode::HostConnectionLost:
      return "connection-lost";
  }
  return "none";
}

const char* toString(Network::Status s) {
  switch (s) {
    case Network::Status::Disconnected:
      return "Disconnected";
    case Network::Status::Connecting:
      return "Connecting";
    case Network::Status::Connected:
      return "Connected";
    case Network::Status::Error:
      return "Error";
  }
  return "?";
}

}  // namespace claynet
