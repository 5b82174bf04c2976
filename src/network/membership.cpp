#include "network/membership.hpp"

#include <algorithm>

namespace claynet::network {

using Kind = Membership::Event::Kind;

void Membership::clear() { *this = Membership(); }

void Membership::hosting() {
  clear();
  host_ = true;
  live_ = true;  // a host announces every node the moment it is admitted
}

void Membership::joining(std::string selfId, std::string hostId, bool mesh) {
  clear();
  self_ = std::move(selfId);
  hostId_ = std::move(hostId);
  mesh_ = mesh;
}

bool Membership::contains(const std::string& id) const {
  return std::find(nodes_.begin(), nodes_.end(), id) != nodes_.end();
}

void Membership::sendToOthers(const std::string& except, const Envelope& env, Events& out) const {
  for (const auto& id : nodes_)
    if (id != except) out.push_back({Kind::Send, id, env});
}

// ---- host ----

void Membership::admit(const std::string& id, Events& out) {
  if (contains(id)) {
    readmitted(id, out);
    return;
  }
  std::vector<std::string> others = nodes_;
  nodes_.push_back(id);
  out.push_back({Kind::Send, id, makeRoster(std::move(others))});
  sendToOthers(id, makeNodeJoined(id), out);
  out.push_back({Kind::NodesChanged, {}, {}});
  out.push_back({Kind::Joined, id, {}});
}

void Membership::readmitted(const std::string& id, Events& out) {
  std::vector<std::string> others;
  for (const auto& n : nodes_)
    if (n != id) others.push_back(n);
  out.push_back({Kind::Send, id, makeRoster(std::move(others))});
}

bool Membership::removed(const std::string& id, Events& out) {
  auto it = std::find(nodes_.begin(), nodes_.end(), id);
  if (it == nodes_.end()) return false;
  nodes_.erase(it);
  out.push_back({Kind::Forget, id, {}});
  sendToOthers(id, makeNodeLeft(id), out);
  out.push_back({Kind::NodesChanged, {}, {}});
  out.push_back({Kind::Left, id, {}});
  return true;
}

// ---- joiner ----

void Membership::welcomed() {
  if (!contains(hostId_)) nodes_.insert(nodes_.begin(), hostId_);
}

void Membership::connect(Events& out) {
  live_ = true;
  out.push_back({Kind::NodesChanged, {}, {}});
  if (contains(hostId_)) out.push_back({Kind::Joined, hostId_, {}});
  out.push_back({Kind::Connected, {}, {}});
  for (const auto& id : nodes_)
    if (id != hostId_) out.push_back({Kind::Joined, id, {}});
}

void Membership::add(const std::string& id, Events& out) {
  if (contains(id)) return;
  nodes_.push_back(id);
  if (!live_) return;
  out.push_back({Kind::NodesChanged, {}, {}});
  out.push_back({Kind::Joined, id, {}});
}

void Membership::member(const std::string& id, Events& out) {
  if (contains(id)) return;
  add(id, out);
  out.push_back({Kind::Member, id, {}});  // after nodeJoined: what it sent early comes after
}

void Membership::remove(const std::string& id, Events& out) {
  out.push_back({Kind::Forget, id, {}});
  auto it = std::find(nodes_.begin(), nodes_.end(), id);
  if (it == nodes_.end()) return;
  nodes_.erase(it);
  if (!live_) return;
  out.push_back({Kind::NodesChanged, {}, {}});
  out.push_back({Kind::Left, id, {}});
}

void Membership::system(const std::string& from, const Envelope& env, const LinkStateOf& link,
                        Events& out) {
  // A goodbye: Clayground's "bye", or the seeds' node_left naming the sender itself (a node may
  // only say that it leaves itself).
  const bool goodbye = env.sys == "bye" || (env.sys == "node_left" && env.nodeId == from);
  if (host_) {
    if (goodbye && contains(from)) out.push_back({Kind::Drop, from, {}});
    return;
  }
  if (from != hostId_) {
    if (goodbye) out.push_back({Kind::Drop, from, {}});
    return;
  }
  if (env.sys == "bye") {
    out.push_back({Kind::HostLeft, {}, {}});
    return;
  }
  if (env.sys == "roster") {
    rosterReceived_ = true;
    for (const auto& id : env.nodes) {
      if (id == self_ || id == hostId_) continue;
      announced_.insert(id);
      if (!mesh_) {
        add(id, out);
        continue;
      }
      const LinkState state = link(id);
      if (state == LinkState::Open) {
        member(id, out);
      } else if (state == LinkState::None && !live_ && pendingDials_.insert(id).second) {
        dialQueue_.push_back(id);
      }
    }
    return;
  }
  if (env.sys == "node_joined") {
    const std::string& id = env.nodeId;
    if (id.empty() || id == self_ || id == hostId_) return;
    announced_.insert(id);
    if (mesh_) {
      if (link(id) == LinkState::Open) member(id, out);
    } else {
      add(id, out);
    }
    return;
  }
  if (env.sys == "node_left") {
    const std::string& id = env.nodeId;
    if (id == hostId_) {
      out.push_back({Kind::HostLeft, {}, {}});
      return;
    }
    announced_.erase(id);
    if (link(id) != LinkState::None) {
      out.push_back({Kind::Drop, id, {}});
    } else {
      pendingDials_.erase(id);  // gone before its turn to be dialed: neither dialed nor waited for
      remove(id, out);
    }
  }
}

void Membership::linkOpened(const std::string& id, Events& out) {
  if (announced(id)) member(id, out);
  pendingDials_.erase(id);
}

bool Membership::linkGone(const std::string& id, Events& out) {
  const bool waited = pendingDials_.erase(id) > 0;
  if (contains(id)) remove(id, out);
  return waited;
}

bool Membership::acceptsLinkFrom(const std::string& id) const {
  // Nodes that join after us dial us, and one admitted just after us may do so before our own
  // roster has come: waiting for it would leave the two unlinked for good. A node the host never
  // announces is closed later (kUnannouncedLimit) and carries nothing meanwhile.
  return !host_ && mesh_ && id != hostId_ && id != self_;
}

std::optional<std::string> Membership::nextDial() {
  while (!dialQueue_.empty()) {
    std::string id = dialQueue_.front();
    dialQueue_.pop_front();
    if (!live_ && pendingDials_.count(id)) return id;
  }
  return std::nullopt;
}

}  // namespace claynet::network
