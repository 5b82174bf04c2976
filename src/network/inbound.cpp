#include "network/inbound.hpp"

#include "network/relay.hpp"

namespace claynet::network {

InboundOutcome Inbound::take(const std::string& peer, const Envelope& env,
                             const InboundContext& ctx, const Membership& members, double nowMs) {
  InboundOutcome out;
  if (ctx.host) {
    if (!members.contains(peer)) return out;  // not admitted (yet, or any more)
    HostRoute r = routeAtHost(env, peer, ctx.self, ctx.readyJoiners, ctx.relay);
    if (r.unknownTarget) {
      out.notes.push_back("dropped a message from " + peer + " for unknown node " +
                          env.to.value_or(""));
      return out;
    }
    // A stale state, or a batch with nothing new, goes no further.
    if (!accept(r.origin, env, nowMs, r.deliverLocally, out)) return out;
    out.forwardTo = std::move(r.forwardTo);
    out.forwarded = std::move(r.forwarded);
    return out;
  }
  if (peer == ctx.hostId) {
    // A Clayground host ignores `to` and relays a sendTo to every joiner: keep only our own.
    if (env.to && *env.to != ctx.self) return out;
    // The host may name another origin, but only a node of the roster (Clayground's rule): a
    // state of a node that has just left, or a name made up, goes nowhere.
    const std::string origin = originAtReceiver(env, peer, ctx.hostId);
    if (origin != ctx.hostId && !members.contains(origin)) {
      out.notes.push_back("dropped a message from " + origin + ", which is not in the network");
      return out;
    }
    accept(origin, env, nowMs, true, out);
    return out;
  }
  // Mesh, directly from another node: its own message (`from` means nothing here).
  if (!members.contains(peer)) {
    out.early = true;
    return out;
  }
  accept(peer, env, nowMs, true, out);
  return out;
}

bool Inbound::accept(const std::string& origin, const Envelope& env, double nowMs, bool raise,
                     InboundOutcome& out) {
  StateIntake::Outcome in = intake_.accept(origin, env, nowMs);
  if (in.keysCappedNow)
    out.notes.push_back(origin + " sent more than " +
                        std::to_string(StateIntake::kMaxKeysPerOrigin) +
                        " state keys; updates of further keys are dropped");
  if (!in.fresh) {
    out.notes.push_back("dropped a stale state update " + std::to_string(env.seq) + " from " +
                        origin);
    return false;
  }
  const double sentAt = env.sentAt.value_or(-1);
  if (env.kind != EnvelopeKind::Message) transit_.arrived(origin, sentAt, nowMs);
  if (!raise) return true;
  switch (env.kind) {
    case EnvelopeKind::Message:
      out.deliveries.push_back({origin, false, env.data, sentAt, {}});
      break;
    case EnvelopeKind::State:
      out.deliveries.push_back({origin, true, env.data, sentAt, {}});
      break;
    default:
      for (std::size_t i : *in.fresh)
        out.deliveries.push_back({origin, true, env.entries[i].data, sentAt, env.entries[i].key});
  }
  return true;
}

void Inbound::forget(const std::string& origin) {
  intake_.forget(origin);
  transit_.forget(origin);
}

void Inbound::clear() {
  intake_.clear();
  transit_.clear();
}

}  // namespace claynet::network
