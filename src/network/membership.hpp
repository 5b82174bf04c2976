// The nodes of a network as one node sees them, sans-IO: a host's admissions and departures and
// what it tells the others about them, a joiner's roster from its host (roster, node_joined,
// node_left, bye; clayground-wire.md §3) and, in Mesh, the direct links a joiner has to open
// before it counts as in. It owns no link and no clock: it is told what happened to links and
// returns what to send, what to raise and which links to drop, in the order Clayground raises it.
#pragma once

#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "network/envelope.hpp"

namespace claynet::network {

class Membership {
 public:
  /// One thing for the node to do, in order.
  struct Event {
    enum class Kind {
      NodesChanged,  ///< nodes() changed: raise nodesChanged
      Joined,        ///< raise nodeJoined(id)
      Left,          ///< raise nodeLeft(id)
      Forget,        ///< id is no node any more: forget its state and transit times
      Member,        ///< Mesh: the open link to id carries the network's traffic from now on
      Drop,          ///< the link to id is gone: it said goodbye, or the host said it left
      HostLeft,      ///< the host said goodbye
      Connected,     ///< the joiner is in: set the status Connected here, between the events
      Send,          ///< host: send `envelope` to id (over its reliable link, if it is ready)
    };
    Kind kind;
    std::string id;
    Envelope envelope;  ///< Send only
  };
  using Events = std::vector<Event>;

  /// What a joiner knows of its link to another node.
  enum class LinkState { None, Opening, Open };
  using LinkStateOf = std::function<LinkState(const std::string& id)>;

  /// Forgets everything: the node left its network.
  void clear();
  /// This node hosts a network.
  void hosting();
  /// This node joins `hostId`'s network as `selfId`; in Mesh it links to every node itself.
  void joining(std::string selfId, std::string hostId, bool mesh);

  /// The other nodes of the network in the order they came (a joiner: the host first).
  const std::vector<std::string>& nodes() const { return nodes_; }
  bool contains(const std::string& id) const;
  /// Joiner: the host's roster came (or the join went on without one).
  bool rosterReceived() const { return rosterReceived_; }
  /// Joiner: it has all it needs to count as in: the roster and, in Mesh, every link it names
  /// open or failed.
  bool settled() const { return rosterReceived_ && pendingDials_.empty(); }

  // ---- host ----

  /// Admits `id` (its handshake passed): its roster of the others goes to it, node_joined to the
  /// others, then nodesChanged and nodeJoined. A node already in that came back on a new link
  /// gets only its roster again, no second nodeJoined.
  void admit(const std::string& id, Events& out);
  /// `id`'s link is gone. If it was a node: forget it, node_left to the others, nodesChanged and
  /// nodeLeft; returns whether it was one.
  bool removed(const std::string& id, Events& out);

  // ---- joiner ----

  /// The host answered our hello (welcome, or a seed-era host's first message): the host is the
  /// first node.
  void welcomed();
  /// The joiner is in: nodesChanged, the host's nodeJoined, Connected, then the others' nodeJoined
  /// in the roster's order (Clayground's order on the welcome).
  void connect(Events& out);
  /// The host sent no roster (not claynet): the join goes on without it.
  void rosterMissing() { rosterReceived_ = true; }
  /// A system envelope (roster, node_joined, node_left, bye) that arrived from `from`.
  /// `link` tells what this node has of its link to a node (Mesh).
  void system(const std::string& from, const Envelope& env, const LinkStateOf& link, Events& out);
  /// Mesh: the direct link to `id` opened.
  void linkOpened(const std::string& id, Events& out);
  /// Mesh: the link to `id` is gone (closed, silent, said goodbye, or could not be dialed).
  /// Returns true if it was a link the join still waited for.
  bool linkGone(const std::string& id, Events& out);
  /// Mesh: whether a node that dials us is welcome: any node but the host, even before our
  /// roster came (the host may announce it yet); it carries nothing until announced.
  bool acceptsLinkFrom(const std::string& id) const;
  /// Mesh, while joining: the next node of the roster to dial, if one still waits.
  std::optional<std::string> nextDial();
  bool dialsQueued() const { return !dialQueue_.empty(); }
  /// Whether the host announced `id` (Mesh: a link from a node not announced is not one).
  bool announced(const std::string& id) const { return announced_.count(id) > 0; }

 private:
  // A node already in came back on a new link: only its roster again, no second nodeJoined.
  void readmitted(const std::string& id, Events& out);
  void add(const std::string& id, Events& out);
  void remove(const std::string& id, Events& out);
  // Mesh: `id`, announced and with its link open, is a node from now on.
  void member(const std::string& id, Events& out);
  void sendToOthers(const std::string& except, const Envelope& env, Events& out) const;

  bool host_ = false, mesh_ = false;
  bool live_ = false;  // joiner: Connected (before, joins are raised together at connect())
  std::string self_, hostId_;
  std::vector<std::string> nodes_;
  bool rosterReceived_ = false;
  std::set<std::string> announced_;     // joiner: nodes the host says are in the network
  std::set<std::string> pendingDials_;  // Mesh joiner: links still opening before we count as in
  std::deque<std::string> dialQueue_;   // Mesh joiner: nodes of the roster not dialed yet
};

}  // namespace claynet::network
