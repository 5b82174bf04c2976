// NetworkImpl: what the application is told. Callbacks are queued while a handler runs and
// called when the outermost one returns (Entry); properties notify only when they change.
#include "network/network_impl.hpp"

namespace claynet::network {

void NetworkImpl::flush() {
  flushing_ = true;
  while (!pending_.empty() && !dead_) {
    auto f = std::move(pending_.front());
    pending_.pop_front();
    f();
  }
  flushing_ = false;
}

void NetworkImpl::notify(std::function<void()> Callbacks::*which) {
  queue([this, which] {
    auto f = cb_.*which;
    if (f) f();
  });
}

void NetworkImpl::emitText(std::function<void(const std::string&)> Callbacks::*which,
                           std::string text) {
  queue([this, which, text = std::move(text)] {
    auto f = cb_.*which;
    if (f) f(text);
  });
}

void NetworkImpl::emitMessage(std::string from, json data, double sentAt) {
  queue([this, from = std::move(from), data = std::move(data), sentAt] {
    auto f = cb_.messageReceived;
    if (f) f(from, data, sentAt);
  });
}

void NetworkImpl::emitState(std::string from, json data, double sentAt, std::string key) {
  queue([this, from = std::move(from), data = std::move(data), sentAt, key = std::move(key)] {
    auto f = cb_.stateReceived;
    if (f) f(from, data, sentAt, key);
  });
}

void NetworkImpl::diag(const std::string& phase, std::string detail) {
  if (!verbose_) return;
  queue([this, phase, detail = std::move(detail)] {
    auto f = cb_.diagnosticMessage;
    if (f) f(phase, detail);
  });
}

void NetworkImpl::error(Network::ErrorCode code, std::string message, std::string phase) {
  lastError_ = {code, std::move(message), std::move(phase)};
  queue([this, e = lastError_] {
    if (auto f = cb_.errorOccurred) f(e.message);
    if (auto f = cb_.typedError) f(e);
  });
}

void NetworkImpl::setStatus(Network::Status s) {
  if (status_ == s) return;
  status_ = s;
  notify(&Callbacks::statusChanged);
  syncSessionTimeSynced();  // true only in a network
}

// sessionTimeSynced follows the clock and the status, notifying only on a change.
void NetworkImpl::syncSessionTimeSynced() {
  if (sessionTimeSynced_ == sessionTimeSynced()) return;
  sessionTimeSynced_ = sessionTimeSynced();
  notify(&Callbacks::sessionTimeSyncedChanged);
}

// connectionPhase follows the timeline, notifying only on a change.
void NetworkImpl::syncPhase() {
  const std::string& p = node_.timeline().phase();
  if (phase_ == p) return;
  phase_ = p;
  notify(&Callbacks::connectionPhaseChanged);
}

void NetworkImpl::setIsHost(bool h) {
  if (isHost_ == h) return;
  isHost_ = h;
  notify(&Callbacks::isHostChanged);
}

void NetworkImpl::setNetworkId(std::string id) {
  if (networkId_ == id) return;
  networkId_ = std::move(id);
  notify(&Callbacks::networkIdChanged);
}

void NetworkImpl::setNodeId(std::string id) {
  if (nodeId_ == id) return;
  nodeId_ = std::move(id);
  notify(&Callbacks::nodeIdChanged);
}

void NetworkImpl::setLatency(int l) {
  if (latency_ == l) return;
  latency_ = l;
  notify(&Callbacks::latencyChanged);
}

void NetworkImpl::setPhaseTiming(json t) {
  if (phaseTiming_ == t) return;
  phaseTiming_ = std::move(t);
  notify(&Callbacks::phaseTimingChanged);
}

}  // namespace claynet::network
