#include "network/admission.hpp"

namespace claynet::network {

void HostAdmission::start(const std::string& appId, const std::string& password, int maxNodes) {
  (void)clear();
  // A seed-era node can present neither an app id nor a password.
  gate_.configure(appId, password, appId.empty() && password.empty());
  maxNodes_ = maxNodes;
}

AdmissionStep HostAdmission::decide(const PendingJoiners::Decision& d, const std::string& hostId,
                                    double sessionMs, Membership& members) {
  using Kind = PendingJoiners::Decision::Kind;
  AdmissionStep step;
  step.wasMember = members.contains(d.id);
  if (d.kind == Kind::Refuse) {
    step.outcome = AdmissionStep::Outcome::Refused;
    step.reply = makeRefusal(d.refusal);
    step.notes.push_back("refused " + d.id + ": " + toString(d.refusal.reason) + ": " +
                         d.refusal.message);
    return step;
  }
  if (d.kind == Kind::Admit) {
    step.outcome = AdmissionStep::Outcome::Welcomed;
    step.reply = makeWelcome(hostId, sessionMs);
    auto token = tokens_.find(d.id);
    if (token == tokens_.end() || token->second != d.clientToken) {
      tokens_[d.id] = d.clientToken;
      step.tokensChanged = true;
    }
  } else {
    step.outcome = AdmissionStep::Outcome::Legacy;
    step.notes.push_back(d.id + " sent no hello: a node of the seeds' protocol");
  }
  // A node already in the network that came back on a new link gets only its roster again, no
  // second nodeJoined.
  members.admit(d.id, step.events);
  if (!step.wasMember)
    step.notes.push_back("admitted " + d.id + " (" + std::to_string(members.nodes().size() + 1) +
                         " of " + std::to_string(maxNodes_) + " nodes)");
  return step;
}

bool HostAdmission::forget(const std::string& id) {
  gate_.forget(id);
  return tokens_.erase(id) > 0;
}

bool HostAdmission::clear() {
  gate_.clear();
  const bool had = !tokens_.empty();
  tokens_.clear();
  return had;
}

}  // namespace claynet::network
