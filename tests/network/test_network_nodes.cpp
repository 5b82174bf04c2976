// Label `network`: claynet::Network with every node in its own process (claynet-network-node),
// inside the test's sealed network namespace, in Local mode (the host's embedded server, LAN
// codes) and in Cloud mode (signalingUrl at `claynet signal` on 10.99.0.1).
//
// The waits below are bounds on how long a test waits for something that must happen, never
// assertions on speed.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "claynet/lan_code.hpp"
#include "claynet/network.hpp"
#include "network/link_supervision.hpp"
#include "node_process.hpp"

using namespace claynet::test;
using namespace std::chrono_literals;

namespace {

constexpr uint16_t kSignalPort = 9000;  // the test has its network namespace to itself
const std::string kSignalAddress = "10.99.0.1";

enum class Mode { Local, Cloud };

std::string modeName(const testing::TestParamInfo<Mode>& info) {
  return info.param == Mode::Local ? "Local" : "Cloud";
}

// The lines a helper script prints, up to the first that contains `until` (or a pause of `quiet`).
template <typename P>
std::string readLinesUntil(P& proc, const std::string& until, std::chrono::milliseconds quiet) {
  std::string lines;
  while (lines.find(until) == std::string::npos)
    if (auto l = proc.readLine(quiet)) {
      lines += *l + "\n";
    } else {
      break;
    }
  return lines;
}

struct Node {
  std::string name;
  std::unique_ptr<Process> proc;
  std::vector<json> lines;
  std::string id;
  bool killed = false;

  void send(const json& cmd) { EXPECT_TRUE(proc->writeLine(cmd.dump())) << name; }

  std::vector<json> events(const std::string& event) const {
    std::vector<json> out;
    for (const auto& l : lines)
      if (l.value("event", "") == event) out.push_back(l);
    return out;
  }

  std::size_t count(const std::string& event, const std::string& key, const json& value) const {
    std::size_t n = 0;
    for (const auto& l : lines)
      if (l.value("event", "") == event && l.contains(key) && l[key] == value) ++n;
    return n;
  }

  bool got(const std::string& event, const std::string& from, const json& data) const {
    for (const auto& l : lines)
      if (l.value("event", "") == event && l.value("from", "") == from && l["data"] == data)
        return true;
    return false;
  }

  bool gotData(const std::string& event, const json& data) const {
    for (const auto& l : lines)
      if (l.value("event", "") == event && l["data"] == data) return true;
    return false;
  }

  std::set<std::string> joined() const {
    std::set<std::string> s;
    for (const auto& e : events("nodeJoined")) s.insert(e["nodeId"].get<std::string>());
    return s;
  }

  bool connected() const {
    for (const auto& e : events("statusChanged"))
      if (e["status"] == "Connected") return true;
    return false;
  }

  std::string lastStatus() const {
    std::string s;
    for (const auto& e : events("statusChanged")) s = e["status"];
    return s;
  }

  std::string log() const {
    std::string s = "\n--- " + name + " (" + id + ")";
    const char* d = std::getenv("CLAYNET_TEST_DIAGNOSTICS");
    const bool diagnostics = d && std::string(d) == "1";
    for (const auto& l : lines) {
      if (!diagnostics && l.value("event", "") == "diagnosticMessage") continue;
      s += "\n  " + l.dump();
    }
    return s;
  }
};

class NetworkNodes : public testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    if (GetParam() == Mode::Cloud) {
      signal_ = Process::spawn({std::string(CLAYNET_BIN_DIR) + "/claynet", "signal", "--host",
                                kSignalAddress, "--port", std::to_string(kSignalPort)});
      ASSERT_TRUE(signal_) << "claynet signal did not start";
      ASSERT_TRUE(waitForPort(kSignalAddress, kSignalPort, 20s)) << "claynet signal not listening";
    }
  }

  void TearDown() override {
    if (HasFailure()) {
      std::string all;
      for (auto& n : nodes_) all += n->log();
      ADD_FAILURE() << "node logs:" << all;
    }
    // Let each node leave and exit on its own; a hang here is a failure too.
    for (auto& n : nodes_) n->proc->closeStdin();
    for (auto& n : nodes_) {
      auto rc = n->proc->wait(20s);
      EXPECT_TRUE(rc.has_value()) << n->name << " did not exit after its stdin closed";
      // 0: no sanitizer report, no leak, a clean exit.
      if (rc && !n->killed) {
        EXPECT_EQ(*rc, 0) << n->name << " exited with " << *rc;
      }
      // For debugging a hang: CLAYNET_TEST_GDB=1 prints the stuck node's threads.
      if (const char* g = std::getenv("CLAYNET_TEST_GDB"); !rc && g && std::string(g) == "1") {
        std::string cmd =
            "gdb -p " + std::to_string(n->proc->pid()) +
            " -batch -ex 'thread apply all bt 12' 2>/dev/null | grep -E '^#|^Thread' >&2";
        (void)std::system(cmd.c_str());
      }
    }
  }

  std::vector<std::string> modeArgs(bool host) const {
    if (GetParam() == Mode::Cloud)
      return {"--signaling-url",
              "ws://" + kSignalAddress + ":" + std::to_string(kSignalPort) + "/peerjs"};
    if (host) return {"--mode", "local"};
    return {};
  }

  Node& spawn(const std::string& name, std::vector<std::string> args) {
    std::vector<std::string> argv = {std::string(CLAYNET_BIN_DIR) + "/claynet-network-node"};
    argv.insert(argv.end(), args.begin(), args.end());
    // For debugging: CLAYNET_TEST_VERBOSE=1 turns on every node's diagnostics (printed with the
    // logs of a failed test when CLAYNET_TEST_DIAGNOSTICS=1).
    if (const char* v = std::getenv("CLAYNET_TEST_VERBOSE"); v && std::string(v) == "1")
      argv.push_back("--verbose");
    if (const char* v = std::getenv("CLAYNET_TEST_ICE"); v) {
      argv.push_back("--ice-servers");
      argv.push_back(v);
    }
    auto n = std::make_unique<Node>();
    n->name = name;
    n->proc = Process::spawn(argv);
    EXPECT_TRUE(n->proc) << "could not start " << name;
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  // Starts the host and waits for its code.
  Node& startHost(std::vector<std::string> extra = {}) {
    auto args = modeArgs(true);
    args.push_back("--host");
    args.insert(args.end(), extra.begin(), extra.end());
    Node& h = spawn("host", args);
    bool created = waitUntil([&] { return !h.events("networkCreated").empty(); }, 30s);
    EXPECT_TRUE(created) << "the host did not create a network" << h.log();
    if (created) {
      code_ = h.events("networkCreated")[0]["networkId"];
      // The host's id comes with its status Connected, just before networkCreated.
      for (const auto& e : h.events("statusChanged"))
        if (e["status"] == "Connected") h.id = e["nodeId"];
      if (GetParam() == Mode::Local) {
        EXPECT_TRUE(claynet::isLanCode(code_)) << code_;
        EXPECT_EQ(h.id, claynet::Network::kLocalHostId);  // Clayground's Local host id
      } else {
        EXPECT_TRUE(claynet::isValidNetworkCode(code_)) << code_;
        EXPECT_EQ(h.id, code_);
      }
    }
    return h;
  }

  Node& startJoiner(const std::string& name, std::vector<std::string> extra = {}) {
    auto args = modeArgs(false);
    args.push_back("--join");
    args.push_back(code_);
    args.insert(args.end(), extra.begin(), extra.end());
    return spawn(name, args);
  }

  // Starts `count` joiners and waits until each is connected and knows its id.
  std::vector<Node*> startJoiners(int count, std::vector<std::string> extra = {}) {
    std::vector<Node*> js;
    for (int i = 1; i <= count; ++i) js.push_back(&startJoiner("j" + std::to_string(i), extra));
    bool all = waitUntil(
        [&] {
          for (auto* j : js)
            if (!j->connected()) return false;
          return true;
        },
        90s);
    EXPECT_TRUE(all) << "not every joiner connected";
    for (auto* j : js) {
      for (const auto& e : j->events("statusChanged"))
        if (e["status"] == "Connected") j->id = e["nodeId"];
    }
    return js;
  }

  void pump() {
    std::vector<pollfd> fds;
    for (auto& n : nodes_)
      if (n->proc && !n->proc->eof()) fds.push_back({n->proc->stdoutFd(), POLLIN, 0});
    if (!fds.empty()) ::poll(fds.data(), fds.size(), 20);
    for (auto& n : nodes_) {
      if (!n->proc) continue;
      for (const auto& line : n->proc->readLines()) {
        json j = json::parse(line, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << n->name << " printed: " << line;
        if (!j.is_discarded()) n->lines.push_back(j);
      }
    }
  }

  bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      pump();
      if (done()) return true;
      if (std::chrono::steady_clock::now() >= end) return false;
    }
  }

  // Waits until every node in `group` knows every other one (nodeJoined for each).
  bool allKnowEachOther(const std::vector<Node*>& group, std::chrono::milliseconds timeout) {
    return waitUntil(
        [&] {
          for (auto* a : group) {
            auto known = a->joined();
            for (auto* b : group)
              if (a != b && !known.count(b->id)) return false;
          }
          return true;
        },
        timeout);
  }

  // Asks for the node's properties and returns them.
  json status(Node& n) {
    std::size_t before = n.events("status").size();
    n.send({{"cmd", "status"}});
    EXPECT_TRUE(waitUntil([&] { return n.events("status").size() > before; }, 20s)) << n.name;
    auto s = n.events("status");
    return s.empty() ? json() : s.back();
  }

  std::vector<Node*> all() {
    std::vector<Node*> v;
    for (auto& n : nodes_) v.push_back(n.get());
    return v;
  }

  std::unique_ptr<Process> signal_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::string code_;
};

// Everyone sends to everyone: broadcast (reliable) and state (lossy; at least one of a few
// updates arrives), each attributed to its real origin.
void expectFullExchange(
    NetworkNodes* t, const std::vector<Node*>& group,
    const std::function<bool(const std::function<bool()>&, std::chrono::milliseconds)>& waitUntil) {
  for (auto* n : group) n->send({{"cmd", "broadcast"}, {"data", {{"hello", n->name}}}});
  bool delivered = waitUntil(
      [&] {
        for (auto* a : group)
          for (auto* b : group)
            if (a != b && !a->got("messageReceived", b->id, json{{"hello", b->name}})) return false;
        return true;
      },
      60s);
  EXPECT_TRUE(delivered) << "not every broadcast reached every node";
  for (auto* a : group)
    for (auto* b : group)
      if (a != b) {
        EXPECT_EQ(a->count("messageReceived", "from", b->id), 1u) << a->name << " from " << b->name;
      }

  for (int round = 0; round < 5; ++round)
    for (auto* n : group) n->send({{"cmd", "state"}, {"data", {{"pos", n->name}}}});
  bool stated = waitUntil(
      [&] {
        for (auto* a : group)
          for (auto* b : group)
            if (a != b && !a->got("stateReceived", b->id, json{{"pos", b->name}})) return false;
        return true;
      },
      60s);
  EXPECT_TRUE(stated) << "not every node got a state update from every other node";
  (void)t;
}

TEST_P(NetworkNodes, StarWithRelayEightNodes) {
  Node& host = startHost();
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(7);
  auto group = all();
  ASSERT_TRUE(allKnowEachOther(group, 60s)) << "nodeJoined missing";
  for (auto* n : group) {
    json s = status(*n);
    EXPECT_EQ(s["nodeCount"], 8) << n->name;
    EXPECT_EQ(s["nodes"].size(), 7u) << n->name;
    EXPECT_EQ(s["networkId"], code_) << n->name;
    // Star: a joiner's only link is the host.
    if (n != &host) {
      EXPECT_EQ(s["links"], json::array({host.id})) << n->name;
    }
    // Every phase measured; total covers them.
    auto t = s["phaseTiming"];
    for (const char* k : {"signaling", "ice", "datachannel", "handshake", "total"})
      EXPECT_TRUE(t.contains(k) && t[k].is_number()) << n->name << " " << t.dump();
  }
  expectFullExchange(this, group,
                     [this](auto done, auto timeout) { return waitUntil(done, timeout); });

  // sendTo across the star: joiner 1 to joiner 2 through the host, nobody else sees it.
  js[0]->send({{"cmd", "sendTo"}, {"node", js[1]->id}, {"data", {{"dm", 1}}}});
  js[2]->send({{"cmd", "sendTo"}, {"node", host.id}, {"data", {{"dm", 2}}}});
  host.send({{"cmd", "sendTo"}, {"node", js[3]->id}, {"data", {{"dm", 3}}}});
  ASSERT_TRUE(waitUntil(
      [&] {
        return js[1]->got("messageReceived", js[0]->id, json{{"dm", 1}}) &&
               host.got("messageReceived", js[2]->id, json{{"dm", 2}}) &&
               js[3]->got("messageReceived", host.id, json{{"dm", 3}});
      },
      30s));
  // A marker after the direct messages: once it is in, anything relayed wrongly would be too.
  for (auto* n : js)
    n->send({{"cmd", "sendTo"}, {"node", host.id}, {"data", {{"marker", n->name}}}});
  host.send({{"cmd", "broadcast"}, {"data", {{"marker", "host"}}}});
  ASSERT_TRUE(waitUntil(
      [&] {
        for (auto* n : js)
          if (!n->got("messageReceived", host.id, json{{"marker", "host"}})) return false;
        return true;
      },
      30s));
  for (auto* n : group) {
    std::size_t dms = 0;
    for (int k = 1; k <= 3; ++k) dms += n->gotData("messageReceived", json{{"dm", k}}) ? 1 : 0;
    std::size_t expected = (n == js[1] || n == &host || n == js[3]) ? 1 : 0;
    EXPECT_EQ(dms, expected) << n->name << " saw someone else's direct message";
  }
  // sendTo to a node that is not there.
  js[0]->send({{"cmd", "sendTo"}, {"node", "nobody"}, {"data", 1}});
  ASSERT_TRUE(waitUntil(
      [&] {
        for (auto& r : js[0]->events("result"))
          if (r["cmd"] == "sendTo" && r["ok"] == false) return true;
        return false;
      },
      20s));
  for (auto& r : js[0]->events("result"))
    if (r["cmd"] == "sendTo" && r["ok"] == false) {
      EXPECT_NE(r["error"].get<std::string>().find("unknown node"), std::string::npos) << r;
    }
}

TEST_P(NetworkNodes, StarWithoutRelayTheHostRelaysByItself) {
  Node& host = startHost({"--no-relay"});
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(3);
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  js[0]->send({{"cmd", "broadcast"}, {"data", {{"from", "j1"}}}});
  js[0]->send({{"cmd", "state"}, {"data", {{"s", "j1"}}}});
  ASSERT_TRUE(waitUntil(
      [&] {
        return host.got("messageReceived", js[0]->id, json{{"from", "j1"}});
      },
      30s));
  // The host's own broadcast after it: had the host relayed j1's message, it would be in first.
  host.send({{"cmd", "broadcast"}, {"data", {{"relayed", {{"from", "j1"}}}}}});
  ASSERT_TRUE(waitUntil(
      [&] {
        return js[1]->got("messageReceived", host.id, json{{"relayed", {{"from", "j1"}}}}) &&
               js[2]->got("messageReceived", host.id, json{{"relayed", {{"from", "j1"}}}});
      },
      30s));
  for (auto* n : {js[1], js[2]}) {
    EXPECT_FALSE(n->gotData("messageReceived", json{{"from", "j1"}})) << n->name;
    EXPECT_FALSE(n->gotData("stateReceived", json{{"s", "j1"}})) << n->name;
  }
  // sendTo is addressed, so it still goes through.
  js[1]->send({{"cmd", "sendTo"}, {"node", js[2]->id}, {"data", {{"dm", "j2"}}}});
  EXPECT_TRUE(waitUntil(
      [&] {
        return js[2]->got("messageReceived", js[1]->id, json{{"dm", "j2"}});
      },
      30s));
}

TEST_P(NetworkNodes, MeshEightNodesLinkDirectly) {
  startHost({"--topology", "mesh"});
  ASSERT_FALSE(code_.empty());
  startJoiners(7, {"--topology", "mesh"});
  auto group = all();
  ASSERT_TRUE(allKnowEachOther(group, 90s)) << "nodeJoined missing";
  for (auto* n : group) {
    json s = status(*n);
    EXPECT_EQ(s["nodeCount"], 8) << n->name;
    EXPECT_EQ(s["links"].size(), 7u) << n->name << " " << s.dump();
    EXPECT_EQ(s["topology"], "Mesh");
  }
  expectFullExchange(this, group,
                     [this](auto done, auto timeout) { return waitUntil(done, timeout); });
  // Everyone sees the same node leave.
  Node* last = group.back();
  last->send({{"cmd", "leave"}});
  EXPECT_TRUE(waitUntil(
      [&] {
        for (auto* n : group)
          if (n != last && n->count("nodeLeft", "nodeId", last->id) != 1) return false;
        return true;
      },
      30s));
}

TEST_P(NetworkNodes, AJoinerBeyondMaxNodesGetsNetworkFull) {
  Node& host = startHost({"--max-nodes", "3"});
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(2);
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  Node& extra = startJoiner("extra");
  // errorOccurred comes last (Clayground's order: Error, joinRefused, errorOccurred).
  ASSERT_TRUE(waitUntil([&] { return !extra.events("errorOccurred").empty(); }, 60s));
  EXPECT_EQ(extra.lastStatus(), "Error");
  EXPECT_EQ(extra.count("errorOccurred", "message", "Network full"), 1u) << extra.log();
  EXPECT_EQ(extra.count("joinRefused", "reason", "refused"), 1u) << extra.log();
  EXPECT_EQ(extra.count("errorOccurred", "code", "network-full"), 1u) << extra.log();
  EXPECT_FALSE(extra.connected());
  EXPECT_TRUE(extra.events("nodeJoined").empty());
  // The others did not see it.
  json s = status(host);
  EXPECT_EQ(s["nodeCount"], 3);
  EXPECT_EQ(host.joined().size(), 2u);
  for (auto* j : js) EXPECT_EQ(j->joined().size(), 2u) << j->name;
}

// Clayground's handshake between claynet nodes: the right app and password get in with their
// client token; a wrong password and another app are refused with Clayground's reasons and texts,
// before anyone else hears of them.
TEST_P(NetworkNodes, TheHandshakeAdmitsAndRefusesWithClaygroundsReasons) {
  Node& host = startHost({"--app-id", "arena", "--password", "pw1"});
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(1, {"--app-id", "arena", "--password", "pw1", "--client-token", "alice"});
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  Node& wrongPassword = startJoiner("wrong-password", {"--app-id", "arena", "--password", "pw2"});
  Node& otherApp = startJoiner("other-app", {"--app-id", "other", "--password", "pw1"});
  ASSERT_TRUE(waitUntil(
      // errorOccurred comes last (Clayground's order: Error, joinRefused, errorOccurred).
      [&] {
        return !wrongPassword.events("errorOccurred").empty() &&
               !otherApp.events("errorOccurred").empty();
      },
      60s));
  auto refused = wrongPassword.events("joinRefused");
  ASSERT_EQ(refused.size(), 1u) << wrongPassword.log();
  EXPECT_EQ(refused[0]["reason"], "wrong-password");
  EXPECT_EQ(refused[0]["message"], "Wrong password");
  EXPECT_EQ(wrongPassword.count("errorOccurred", "message", "Wrong password"), 1u);
  EXPECT_EQ(wrongPassword.count("errorOccurred", "code", "join-refused"), 1u);
  refused = otherApp.events("joinRefused");
  ASSERT_EQ(refused.size(), 1u) << otherApp.log();
  EXPECT_EQ(refused[0]["reason"], "incompatible-app");
  EXPECT_EQ(refused[0]["message"], "Incompatible app: the joiner is \"other\", the host \"arena\"");
  for (Node* n : {&wrongPassword, &otherApp}) {
    EXPECT_FALSE(n->connected()) << n->name;
    EXPECT_TRUE(n->events("nodeJoined").empty()) << n->name;
  }

  json h = status(host);
  EXPECT_EQ(h["nodes"], json::array({js[0]->id}));
  EXPECT_EQ(h["clientTokens"], json({{js[0]->id, "alice"}}));
  EXPECT_EQ(h["hostId"], host.id);
  EXPECT_EQ(h["wireVersion"], 5);
  json j = status(*js[0]);
  EXPECT_EQ(j["hostId"], host.id);
  EXPECT_EQ(j["clientTokens"], json::object());
  EXPECT_TRUE(j["phaseTiming"].contains("handshake")) << j.dump();
  EXPECT_EQ(host.joined(), std::set<std::string>{js[0]->id});
  // The admitted joiner's link works both ways, state included.
  expectFullExchange(this, {&host, js[0]},
                     [this](const std::function<bool()>& d, std::chrono::milliseconds t) {
                       return waitUntil(d, t);
                     });
  // It leaves: its token goes with it.
  js[0]->send({{"cmd", "leave"}});
  ASSERT_TRUE(waitUntil([&] { return host.count("nodeLeft", "nodeId", js[0]->id) == 1; }, 30s));
  EXPECT_EQ(status(host)["clientTokens"], json::object());
}

// Keyed state in batches and the session clock between claynet nodes: keys are sequenced apart,
// the host relays batches with their origin, and every state and message says when it was sent in
// the host's session time, which a joiner's clock agrees with.
TEST_P(NetworkNodes, KeyedStateAndTheSessionClock) {
  Node& host = startHost();
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(2);
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  ASSERT_TRUE(waitUntil(
      [&] {
        for (auto* j : js)
          if (!status(*j)["sessionTimeSynced"].get<bool>()) return false;
        return true;
      },
      30s))
      << "the joiners' clocks did not sync";
  EXPECT_TRUE(status(host)["sessionTimeSynced"].get<bool>());

  Node& j1 = *js[0];
  Node& j2 = *js[1];
  // Updates queued in one turn go as one batch with the newest per key (StateBatcher's tests);
  // here each goes in its own flush, so that the sequences are known: 1, 2, 3.
  auto keyed = [&](Node& n, const std::string& key, const json& data) {
    for (const auto& e : n.events("stateReceived"))
      if (e["from"] == j1.id && e["key"] == key && e["data"] == data) return true;
    return false;
  };
  auto both = [&](const std::string& key, const json& data) {
    return waitUntil([&] { return keyed(host, key, data) && keyed(j2, key, data); }, 30s);
  };
  for (const auto& [key, data] : std::vector<std::pair<std::string, json>>{
           {"p1", {{"x", 1}}}, {"p2", {{"y", 1}}}, {"p1", {{"x", 2}}}}) {
    j1.send({{"cmd", "state"}, {"data", data}, {"key", key}});
    j1.send({{"cmd", "flush"}});
    ASSERT_TRUE(both(key, data)) << key << " " << data.dump();
  }
  // Sequences count per key: an old sequence under a new key is taken, under p1 it is stale.
  auto raw = [&](const std::string& key, const json& data) {
    j1.send({{"cmd", "raw"},
             {"node", host.id},
             {"envelope", {{"t", "b"}, {"q", 1}, {"ts", 0}, {"e", {{{"k", key}, {"d", data}}}}}},
             {"state", false}});
  };
  raw("p1", {{"x", "stale"}});
  raw("p3", {{"z", 1}});
  ASSERT_TRUE(waitUntil([&] { return keyed(host, "p3", {{"z", 1}}); }, 30s));
  ASSERT_TRUE(waitUntil([&] { return keyed(j2, "p3", {{"z", 1}}); }, 30s));  // relayed
  json sync = status(host)["syncStats"][j1.id];
  EXPECT_GE(sync["batches"].get<int>(), 5) << sync.dump();
  EXPECT_LE(sync["maxBatchBytes"].get<int>(), 1200) << sync.dump();
  EXPECT_EQ(sync["keys"]["p1"]["recv"], 2) << sync.dump();
  EXPECT_EQ(sync["keys"]["p1"]["dropped"], 1) << sync.dump();
  EXPECT_EQ(sync["keys"]["p2"]["recv"], 1) << sync.dump();
  EXPECT_EQ(sync["keys"]["p3"]["recv"], 1) << sync.dump();
  EXPECT_GE(sync["keys"]["p2"]["ageMs"].get<double>(), 0) << sync.dump();
  for (Node* n : {&host, &j2}) {
    EXPECT_FALSE(keyed(*n, "p1", {{"x", "stale"}})) << n->name;
    for (const auto& e : n->events("stateReceived")) {
      EXPECT_GE(e["sentAt"].get<double>(), 0) << n->name << ": " << e.dump();
    }
  }

  // A message from the host says when it left, in the session time the joiner also reads.
  host.send({{"cmd", "broadcast"}, {"data", "tick"}});
  ASSERT_TRUE(waitUntil([&] { return j2.got("messageReceived", host.id, "tick"); }, 30s));
  double sentAt = -1;
  for (const auto& e : j2.events("messageReceived"))
    if (e["data"] == "tick") sentAt = e["sentAt"];
  const double now = status(j2)["sessionTime"];
  EXPECT_GE(sentAt, 0);
  EXPECT_GE(now, sentAt - 10) << "the joiner's session time is behind the host's";
  EXPECT_LT(now - sentAt, 5000);
  // State from the host: its one-way delay on loopback is small, and its age is counted.
  for (int i = 0; i < 5; ++i) host.send({{"cmd", "state"}, {"data", {{"h", i}}}});
  ASSERT_TRUE(waitUntil([&] { return j2.got("stateReceived", host.id, json{{"h", 4}}); }, 30s));
  json st = status(j2);
  const double transit = st["transitMs"].value(host.id, json(-999)).is_number()
                             ? st["transitMs"][host.id].get<double>()
                             : -999;
  EXPECT_GE(transit, -10) << st.dump();
  EXPECT_LT(transit, 100) << st.dump();
  EXPECT_GE(st["stateAgeMs"][host.id].get<double>(), 0);
  EXPECT_GE(st["stateAgeMs"][j1.id].get<double>(), 0);
}

// The signaling server dies and comes back (Cloud mode): the network goes on meanwhile, the host
// takes no new joiners, says signalingLost once, registers again under the same code, and then a
// new joiner gets in with that code.
TEST_P(NetworkNodes, ANetworkOutlivesItsSignalingServer) {
  if (GetParam() != Mode::Cloud) GTEST_SKIP() << "a Local host is its own signaling server";
  Node& host = startHost();
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(1);
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  EXPECT_TRUE(status(host)["acceptingJoins"].get<bool>());
  EXPECT_FALSE(status(*js[0])["acceptingJoins"].get<bool>());
  signal_->kill(SIGKILL);
  ASSERT_TRUE(signal_->wait(10s).has_value());
  ASSERT_TRUE(waitUntil([&] { return !host.events("signalingLost").empty(); }, 20s));
  EXPECT_FALSE(status(host)["acceptingJoins"].get<bool>());
  js[0]->send({{"cmd", "broadcast"}, {"data", "without a server"}});
  EXPECT_TRUE(
      waitUntil([&] { return host.got("messageReceived", js[0]->id, "without a server"); }, 20s));
  // Several retries fail meanwhile (1 s, 2 s, 4 s ...): still one signalingLost.
  waitUntil([] { return false; }, 5s);
  signal_ = Process::spawn({std::string(CLAYNET_BIN_DIR) + "/claynet", "signal", "--host",
                            kSignalAddress, "--port", std::to_string(kSignalPort)});
  ASSERT_TRUE(signal_);
  ASSERT_TRUE(waitUntil([&] { return status(host)["acceptingJoins"].get<bool>(); }, 30s));
  EXPECT_EQ(host.events("signalingLost").size(), 1u);
  EXPECT_EQ(status(host)["networkId"], code_);
  Node& late = startJoiner("late");
  ASSERT_TRUE(waitUntil([&] { return late.connected(); }, 60s)) << late.log();
  EXPECT_TRUE(waitUntil([&] { return js[0]->joined().size() == 2; }, 30s));
  for (auto* n : all()) {
    EXPECT_TRUE(n->events("nodeLeft").empty()) << n->name;
    EXPECT_TRUE(n->events("errorOccurred").empty()) << n->name;
  }
}

// Local mode: the LAN code carries the host's secret. A code with another secret reaches the
// host's server and is turned away ("Wrong LAN code"); a malformed one fails before connecting
// ("Invalid LAN code").
TEST_P(NetworkNodes, ALanCodeWithoutItsSecretIsTurnedAway) {
  if (GetParam() != Mode::Local) GTEST_SKIP() << "LAN codes are Local mode's";
  Node& host = startHost();
  ASSERT_FALSE(code_.empty());
  std::string address, secret;
  std::uint16_t port = 0;
  ASSERT_TRUE(claynet::decodeLanCode(code_, address, port, secret).ok()) << code_;
  ASSERT_EQ(secret.size(), claynet::kLanSecretLength) << code_;
  const std::string right = code_;
  code_ = right.substr(0, right.size() - 1) + (right.back() == 'A' ? "B" : "A");
  Node& wrong = startJoiner("wrong-secret");
  code_ = right + "-X";
  Node& invalid = startJoiner("invalid");
  code_ = right;
  ASSERT_TRUE(waitUntil(
      [&] {
        // errorOccurred comes after the status Error.
        return !wrong.events("errorOccurred").empty() && !invalid.events("errorOccurred").empty() &&
               !invalid.events("result").empty();
      },
      30s));
  EXPECT_EQ(wrong.count("errorOccurred", "message", "Wrong LAN code"), 1u) << wrong.log();
  EXPECT_EQ(wrong.count("errorOccurred", "code", "wrong-lan-code"), 1u) << wrong.log();
  EXPECT_EQ(invalid.count("errorOccurred", "message", "Invalid LAN code"), 1u) << invalid.log();
  EXPECT_EQ(invalid.count("errorOccurred", "code", "invalid-code"), 1u) << invalid.log();
  auto joins = invalid.events("result");
  ASSERT_FALSE(joins.empty());
  EXPECT_NE(joins[0].value("error", "").find("more than two '-'"), std::string::npos)
      << joins[0].dump();
  // The right code still works, and the host saw nobody else.
  auto js = startJoiners(1);
  ASSERT_TRUE(allKnowEachOther({&host, js[0]}, 60s));
  EXPECT_EQ(host.joined().size(), 1u);
}

// A hostile joiner sends state under ever new keys: the host keeps at most 4096 per origin and
// counts the rest as dropped, instead of growing without bound.
TEST_P(NetworkNodes, EverNewStateKeysAreBounded) {
  Node& host = startHost();
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(1);
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  constexpr int kBatches = 10, kPerBatch = 500;
  for (int b = 0; b < kBatches; ++b) {
    json e = json::array();
    for (int i = 0; i < kPerBatch; ++i)
      e.push_back({{"k", "k" + std::to_string(b * kPerBatch + i)}, {"d", 1}});
    js[0]->send({{"cmd", "raw"},
                 {"node", host.id},
                 {"envelope", {{"t", "b"}, {"q", b + 1}, {"e", e}}},
                 {"state", false}});
  }
  json sync;
  ASSERT_TRUE(waitUntil(
      [&] {
        sync = status(host)["syncStats"][js[0]->id];
        return sync.is_object() && sync["batches"] == kBatches;
      },
      30s))
      << sync.dump();
  EXPECT_EQ(sync["keys"].size(), 4096u);
  EXPECT_EQ(sync["recv"], 4096);
  EXPECT_EQ(sync["dropped"], kBatches * kPerBatch - 4096);
  // The node is still in the network.
  js[0]->send({{"cmd", "broadcast"}, {"data", "still here"}});
  EXPECT_TRUE(waitUntil([&] { return host.got("messageReceived", js[0]->id, "still here"); }, 20s));
}

TEST_P(NetworkNodes, TheHostLeaves) {
  Node& host = startHost();
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(3);
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  host.send({{"cmd", "leave"}});
  // Clayground's order: Disconnected, nodeLeft for each node, hostLost, errorOccurred last.
  ASSERT_TRUE(waitUntil(
      [&] {
        for (auto* j : js)
          if (j->events("errorOccurred").empty()) return false;
        return true;
      },
      30s));
  for (auto* j : js) {
    EXPECT_EQ(j->lastStatus(), "Disconnected") << j->name;
    EXPECT_EQ(j->count("nodeLeft", "nodeId", host.id), 1u) << j->name;
    EXPECT_EQ(j->count("errorOccurred", "message", "The host left the network"), 1u) << j->name;
    EXPECT_EQ(j->count("hostLost", "reason", "host-left"), 1u) << j->name;
  }
}

TEST_P(NetworkNodes, TheHostKilledIsReportedLost) {
  Node& host = startHost();
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(3);
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  host.killed = true;
  host.proc->kill(SIGKILL);
  ASSERT_TRUE(host.proc->wait(10s).has_value());
  // Bounded like a killed joiner: a ping unanswered for gracePeriod (5 s) after at most 2 s.
  // errorOccurred is the last of Clayground's host-loss events.
  ASSERT_TRUE(waitUntil(
      [&] {
        for (auto* j : js)
          if (j->events("errorOccurred").empty()) return false;
        return true;
      },
      10s));
  for (auto* j : js) {
    EXPECT_EQ(j->lastStatus(), "Disconnected") << j->name;
    EXPECT_EQ(j->count("nodeLeft", "nodeId", host.id), 1u) << j->name;
    auto lost = j->events("hostLost");
    ASSERT_EQ(lost.size(), 1u) << j->name;
    EXPECT_EQ(lost[0]["reason"], "host-timeout") << j->name;
    EXPECT_EQ(lost[0]["message"], "The host did not answer for 5000 ms") << j->name;
    EXPECT_EQ(j->count("errorOccurred", "message", "The host did not answer for 5000 ms"), 1u)
        << j->name;
    EXPECT_EQ(j->count("errorOccurred", "code", "host-timeout"), 1u) << j->name;
  }
}

// A host that does not run for 3 s (stopped, as a stalled machine or a link that blinks) is still
// everyone's host afterwards: 3 s is less than gracePeriod.
TEST_P(NetworkNodes, AnOutageShorterThanTheGracePeriodLosesNobody) {
  Node& host = startHost();
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(2);
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  ASSERT_EQ(::kill(host.proc->pid(), SIGSTOP), 0);
  std::this_thread::sleep_for(3s);
  ASSERT_EQ(::kill(host.proc->pid(), SIGCONT), 0);
  // Long enough for a grace period counted from before the outage to run out.
  waitUntil([] { return false; }, 4s);
  for (auto* n : all()) {
    EXPECT_TRUE(n->events("nodeLeft").empty()) << n->name;
    EXPECT_TRUE(n->events("errorOccurred").empty()) << n->name;
    EXPECT_TRUE(n->events("hostLost").empty()) << n->name;
  }
  js[0]->send({{"cmd", "broadcast"}, {"data", "still here"}});
  EXPECT_TRUE(
      waitUntil([&] { return js[1]->got("messageReceived", js[0]->id, "still here"); }, 20s));
}

TEST_P(NetworkNodes, AJoinerKilledIsReportedLeftEverywhere) {
  startHost();
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(7);
  auto group = all();
  ASSERT_TRUE(allKnowEachOther(group, 60s));
  Node* victim = js[3];
  victim->killed = true;
  victim->proc->kill(SIGKILL);
  ASSERT_TRUE(victim->proc->wait(10s).has_value());
  // The 10 s is the bound from the issue: a ping (at most 2 s after the kill) unanswered for
  // gracePeriod (5 s).
  bool reported = waitUntil(
      [&] {
        for (auto* n : group)
          if (n != victim && n->count("nodeLeft", "nodeId", victim->id) != 1) return false;
        return true;
      },
      10s);
  EXPECT_TRUE(reported) << "nodeLeft(" << victim->id << ") did not reach every node in 10 s";
  // The network goes on without it.
  js[0]->send({{"cmd", "broadcast"}, {"data", "after"}});
  EXPECT_TRUE(waitUntil([&] { return js[1]->got("messageReceived", js[0]->id, "after"); }, 20s));
}

// Mesh: the host's roster names a node already gone from the signaling server (killed; the
// host, with a long grace period, does not know yet). The new joiner's dial to it ends in EXPIRE,
// and it joins without that node: the EXPIRE named no peer before issue 13, and a joiner took it
// for its host's and failed the whole join ("no such network").
TEST_P(NetworkNodes, AMeshJoinerWhoseRosterNamesANodeGoneFromSignalingStillJoins) {
  startHost({"--topology", "mesh", "--grace-period", "60000"});
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(2, {"--topology", "mesh"});
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  Node* gone = js[0];
  gone->killed = true;
  gone->proc->kill(SIGKILL);
  ASSERT_TRUE(gone->proc->wait(10s).has_value());
  Node& late = startJoiner("late", {"--topology", "mesh", "--verbose"});
  ASSERT_TRUE(
      waitUntil([&] { return late.connected() || !late.events("errorOccurred").empty(); }, 30s))
      << late.log();
  EXPECT_TRUE(late.connected()) << late.log();
  EXPECT_TRUE(late.events("errorOccurred").empty()) << late.log();
  EXPECT_TRUE(waitUntil([&] { return late.joined().count(js[1]->id) == 1; }, 10s)) << late.log();
  EXPECT_EQ(late.joined().count(gone->id), 0u) << late.log();
}

TEST_P(NetworkNodes, ASignalingServerThatNeverAnswersTimesOut) {
  const uint16_t silentPort = 9100;
  SilentServer silent(kSignalAddress, silentPort);
  ASSERT_TRUE(silent.ok());
  std::vector<std::string> args = {"--timeout", "2000"};
  if (GetParam() == Mode::Cloud) {
    args.insert(args.end(), {"--signaling-url", "ws://" + kSignalAddress + ":" +
                                                    std::to_string(silentPort) + "/peerjs"});
    args.insert(args.end(), {"--join", "ABCDEF"});
  } else {
    uint32_t address = 0;
    ASSERT_TRUE(claynet::parseIPv4(kSignalAddress, address));
    args.insert(args.end(), {"--join", claynet::encodeLanCode(address, silentPort)});
  }
  Node& joiner = spawn("joiner", args);
  std::vector<Node*> waiting = {&joiner};
  if (GetParam() == Mode::Cloud) {
    // A host registering with it times out too.
    waiting.push_back(
        &spawn("host", {"--timeout", "2000", "--host", "--signaling-url",
                        "ws://" + kSignalAddress + ":" + std::to_string(silentPort) + "/peerjs"}));
  }
  ASSERT_TRUE(waitUntil(
      [&] {
        for (auto* n : waiting)  // errorOccurred comes after the status Error
          if (n->events("errorOccurred").empty()) return false;
        return true;
      },
      30s));
  for (auto* n : waiting) {
    EXPECT_EQ(n->events("connectionTimedOut").size(), 1u) << n->name;
    auto errors = n->events("errorOccurred");
    ASSERT_EQ(errors.size(), 1u) << n->name;
    EXPECT_EQ(errors[0]["message"], "Connection timed out after 2000 ms in phase signaling")
        << n->name;
    EXPECT_EQ(errors[0]["phase"], "signaling") << n->name;
  }
}

// A full native Clayground host refuses a joiner at signaling with REJECT (its extension of the
// PeerJS protocol) and makes no connection: the joiner reports it at once, with Clayground's
// reason and text, instead of waiting for its connection timeout.
TEST_P(NetworkNodes, AFullClaygroundHostRefusingAtSignalingIsReportedAtOnce) {
  const uint16_t port = 9101;
  ASSERT_TRUE(std::filesystem::exists(std::string(CLAYNET_SOURCE_DIR) + "/node_modules/ws"))
      << "the npm packages are missing: run `npm ci` (make setup does)";
  std::vector<std::string> server = {
      "node", std::string(CLAYNET_SOURCE_DIR) + "/tests/network/rejecting_host_server.mjs",
      kSignalAddress, std::to_string(port)};
  std::vector<std::string> args = {"--timeout", "60000"};
  if (GetParam() == Mode::Cloud) {
    args.insert(args.end(), {"--signaling-url",
                             "ws://" + kSignalAddress + ":" + std::to_string(port) + "/peerjs"});
    args.insert(args.end(), {"--join", "ABCDEF"});
  } else {
    server.push_back("--local");
    uint32_t address = 0;
    ASSERT_TRUE(claynet::parseIPv4(kSignalAddress, address));
    args.insert(args.end(), {"--join", claynet::encodeLanCode(address, port, "K7QP2MXA")});
  }
  auto rejecting = Process::spawn(server);
  ASSERT_TRUE(rejecting);
  ASSERT_TRUE(waitForPort(kSignalAddress, port, 20s)) << "the rejecting server did not start";
  Node& joiner = spawn("joiner", args);
  // Far below the 60 s timeout: the refusal itself ends the join.
  ASSERT_TRUE(waitUntil([&] { return !joiner.events("errorOccurred").empty(); }, 20s))
      << joiner.log();
  waitUntil([] { return false; }, 1s);  // a second error, were there one, would come by now
  EXPECT_EQ(joiner.lastStatus(), "Error");
  EXPECT_EQ(joiner.count("joinRefused", "reason", "refused"), 1u) << joiner.log();
  EXPECT_EQ(joiner.count("joinRefused", "message", "Network full"), 1u) << joiner.log();
  auto errors = joiner.events("errorOccurred");
  ASSERT_EQ(errors.size(), 1u) << joiner.log();
  EXPECT_EQ(errors[0]["message"], "Network full");
  EXPECT_EQ(errors[0]["code"], "network-full");
  EXPECT_TRUE(joiner.events("connectionTimedOut").empty());
  // The joiner dialed the host by Clayground's id: HOST in Local mode, the code in Cloud mode.
  const std::string lines = readLinesUntil(*rejecting, "rejected", 5s);
  EXPECT_NE(lines.find(std::string(" to ") +
                       (GetParam() == Mode::Local ? claynet::Network::kLocalHostId : "ABCDEF")),
            std::string::npos)
      << lines;
  rejecting->kill(SIGTERM);
}

TEST_P(NetworkNodes, ASpoofedFromIsIgnored) {
  Node& host = startHost();
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(3);
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  // j1 claims its message comes from j3; the host relays it as j1's.
  js[0]->send({{"cmd", "raw"},
               {"node", host.id},
               {"envelope", {{"t", "m"}, {"d", {{"spoof", 1}}}, {"from", js[2]->id}}}});
  ASSERT_TRUE(waitUntil(
      [&] {
        return host.gotData("messageReceived", json{{"spoof", 1}}) &&
               js[1]->gotData("messageReceived", json{{"spoof", 1}}) &&
               js[2]->gotData("messageReceived", json{{"spoof", 1}});
      },
      30s));
  for (auto* n : {&host, js[1], js[2]})
    EXPECT_TRUE(n->got("messageReceived", js[0]->id, json{{"spoof", 1}})) << n->name;
  // Nor does a `to` make it skip the origin check.
  js[0]->send(
      {{"cmd", "raw"},
       {"node", host.id},
       {"envelope", {{"t", "m"}, {"d", {{"spoof", 2}}}, {"from", host.id}, {"to", js[1]->id}}}});
  ASSERT_TRUE(waitUntil(
      [&] {
        return js[1]->gotData("messageReceived", json{{"spoof", 2}});
      },
      30s));
  EXPECT_TRUE(js[1]->got("messageReceived", js[0]->id, json{{"spoof", 2}}));
}

// A Clayground host relays a sendTo to every joiner (it ignores `to`): a joiner keeps only what
// is addressed to it, or to no one.
TEST_P(NetworkNodes, AJoinerDropsARelayAddressedToAnotherNode) {
  Node& host = startHost();
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(2);
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  // Also a relay naming a node that is not in the network (Clayground's "ghost0000" check):
  // dropped, not delivered as from a stranger.
  for (const json& env :
       {json{{"t", "m"}, {"d", {{"addr", 1}}}, {"from", js[1]->id}, {"to", js[1]->id}},
        json{{"t", "m"}, {"d", {{"ghost", 1}}}, {"from", "ghost0000"}},
        json{{"t", "s"}, {"q", 1}, {"d", {{"ghost", 2}}}, {"from", "ghost0000"}},
        json{{"t", "m"}, {"d", {{"addr", 2}}}, {"from", js[1]->id}, {"to", js[0]->id}},
        json{{"t", "m"}, {"d", {{"addr", 3}}}, {"from", js[1]->id}}})
    host.send({{"cmd", "raw"}, {"node", js[0]->id}, {"envelope", env}});
  // The data link is ordered: once the third is in, the first was handled.
  ASSERT_TRUE(waitUntil([&] { return js[0]->gotData("messageReceived", json{{"addr", 3}}); }, 30s));
  EXPECT_TRUE(js[0]->got("messageReceived", js[1]->id, json{{"addr", 2}}));
  EXPECT_TRUE(js[0]->got("messageReceived", js[1]->id, json{{"addr", 3}}));
  EXPECT_FALSE(js[0]->gotData("messageReceived", json{{"addr", 1}}));
  EXPECT_FALSE(js[0]->gotData("messageReceived", json{{"ghost", 1}}));
  EXPECT_FALSE(js[0]->gotData("stateReceived", json{{"ghost", 2}}));
  EXPECT_EQ(status(*js[0])["syncStats"].count("ghost0000"), 0u);
}

TEST_P(NetworkNodes, StaleStateIsDropped) {
  Node& host = startHost({"--verbose"});
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(2, {"--verbose"});
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  // On the reliable, ordered data link, so they arrive in this order: 1000, 999 (stale), 1001.
  for (int q : {1000, 999, 1001})
    js[0]->send({{"cmd", "raw"},
                 {"node", host.id},
                 {"envelope", {{"t", "s"}, {"q", q}, {"d", {{"v", q}}}}},
                 {"state", false}});
  ASSERT_TRUE(waitUntil(
      [&] {
        return host.got("stateReceived", js[0]->id, json{{"v", 1001}});
      },
      30s));
  EXPECT_TRUE(host.got("stateReceived", js[0]->id, json{{"v", 1000}}));
  EXPECT_FALSE(host.gotData("stateReceived", json{{"v", 999}}));
  json s = status(host);
  EXPECT_GE(s["peerStats"][js[0]->id]["stateDropped"].get<int>(), 1) << s.dump();
  // Every field of Clayground's peerStats (clayground-wire.md §6.2), stateBacklog a byte count.
  for (const char* field :
       {"latency", "msgSent", "msgRecv", "bytesSent", "bytesRecv", "stateSent", "stateRecv",
        "stateChannel", "stateBacklog", "stateOrdered", "stateMaxRetransmits"})
    EXPECT_TRUE(s["peerStats"][js[0]->id].contains(field)) << field << " in " << s.dump();
  EXPECT_TRUE(s["peerStats"][js[0]->id]["stateBacklog"].is_number_unsigned()) << s.dump();
  EXPECT_GE(s["syncStats"][js[0]->id]["dropped"].get<int>(), 1) << s.dump();
  EXPECT_GE(s["syncStats"][js[0]->id]["recv"].get<int>(), 1) << s.dump();
  // The host did not pass the stale one on either.
  ASSERT_TRUE(waitUntil([&] { return js[1]->gotData("stateReceived", json{{"v", 1001}}); }, 30s));
  EXPECT_FALSE(js[1]->gotData("stateReceived", json{{"v", 999}}));
}

TEST_P(NetworkNodes, MeshReceiversDropSpoofedAndStaleDirectly) {
  startHost({"--topology", "mesh"});
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(3, {"--topology", "mesh", "--verbose"});
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  // Directly from j1 to j2: a `from` from anyone but the host means nothing.
  js[0]->send({{"cmd", "raw"},
               {"node", js[1]->id},
               {"envelope", {{"t", "m"}, {"d", {{"spoof", 1}}}, {"from", js[2]->id}}}});
  for (int q : {500, 499, 501})
    js[0]->send({{"cmd", "raw"},
                 {"node", js[1]->id},
                 {"envelope", {{"t", "s"}, {"q", q}, {"d", {{"v", q}}}}},
                 {"state", false}});
  ASSERT_TRUE(waitUntil([&] { return js[1]->gotData("stateReceived", json{{"v", 501}}); }, 30s));
  EXPECT_TRUE(js[1]->got("messageReceived", js[0]->id, json{{"spoof", 1}}));
  EXPECT_TRUE(js[1]->got("stateReceived", js[0]->id, json{{"v", 500}}));
  EXPECT_FALSE(js[1]->gotData("stateReceived", json{{"v", 499}}));
  json s = status(*js[1]);
  EXPECT_GE(s["peerStats"][js[0]->id]["stateDropped"].get<int>(), 1) << s.dump();
}

// verbose: what the issue names — signaling events, every local and remote candidate with its
// type, ICE/DTLS/SCTP state changes, the selected pair — on both sides of a link, including the
// dialing side's first candidates, which are gathered inside connect() itself.
TEST_P(NetworkNodes, VerboseReportsEveryStepOfALink) {
  Node& host = startHost({"--verbose"});
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(1, {"--verbose"});
  ASSERT_TRUE(allKnowEachOther(all(), 60s));
  for (Node* n : {js[0], &host}) {
    const std::string other = n == &host ? js[0]->id : host.id;
    std::vector<std::string> lines;
    auto read = [&] {
      lines.clear();
      for (const auto& e : n->events("diagnosticMessage")) {
        const std::string detail = e["detail"];
        if (detail.rfind(other + ": ", 0) == 0)
          lines.push_back(e["phase"].get<std::string>() + " " + detail.substr(other.size() + 2));
      }
    };
    auto first = [&](const std::string& prefix) {
      for (std::size_t i = 0; i < lines.size(); ++i)
        if (lines[i].rfind(prefix, 0) == 0) return static_cast<long>(i);
      return -1L;
    };
    // The link may form before the other side's candidates arrive: the host learns the joiner's
    // address from its checks (prflx) while the joiner's candidates still wait, up to 200 ms, for
    // the STUN names. They are reported when they come, not before the roster is complete.
    waitUntil(
        [&] {
          read();
          return first("ice remote candidate ") >= 0;
        },
        10s);
    const bool dialer = n != &host;
    const long local = first("ice local candidate ");
    const long remoteDescription =
        first(dialer ? "signaling remote answer applied" : "signaling remote offer applied");
    // Gathering starts with the offer, inside connect(): the first candidates are reported, not
    // lost to a callback attached too late. (They may come after the answer: here the default
    // STUN names never resolve, and gathering waits for them up to 200 ms from when the peer
    // began resolving them.)
    EXPECT_GE(local, 0) << n->name << " reported no local candidate" << n->log();
    EXPECT_GE(remoteDescription, 0) << n->name << n->log();
    if (dialer) {
      EXPECT_GE(first("signaling local offer created"), 0) << n->name;
    }
    EXPECT_GE(first("ice local candidate host"), 0) << n->name << ": no candidate type";
    EXPECT_GE(first("ice remote candidate "), 0) << n->name;
    EXPECT_GE(first("ice ICE state "), 0) << n->name;
    EXPECT_GE(first("ice selected pair "), 0) << n->name;
    EXPECT_GE(first("dtls DTLS connected"), 0) << n->name;
    EXPECT_GE(first("sctp SCTP association up"), 0) << n->name;
  }
}

TEST_P(NetworkNodes, BadInputGetsClearErrors) {
  // An invalid code: errorOccurred, status Error, the process stays usable.
  Node& bad = spawn("bad", {"--join", GetParam() == Mode::Local ? "LZZZZZZZZZ-0" : "ABC"});
  ASSERT_TRUE(waitUntil([&] { return !bad.events("errorOccurred").empty(); }, 20s));
  auto errors = bad.events("errorOccurred");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0]["message"].get<std::string>().find(
                GetParam() == Mode::Local ? "Invalid LAN code" : "Invalid network code"),
            std::string::npos);
  // Not connected: sending fails with a reason.
  bad.send({{"cmd", "broadcast"}, {"data", 1}});
  ASSERT_TRUE(waitUntil(
      [&] {
        return !bad.events("result").empty() && bad.events("result").back()["cmd"] == "broadcast";
      },
      20s));
  EXPECT_EQ(bad.events("result").back()["ok"], false);
  EXPECT_NE(bad.events("result").back()["error"].get<std::string>().find("not connected"),
            std::string::npos);

  // Too large a payload.
  Node& host = startHost();
  ASSERT_FALSE(code_.empty());
  auto js = startJoiners(1);
  ASSERT_TRUE(allKnowEachOther({&host, js[0]}, 60s));
  js[0]->send({{"cmd", "broadcast"}, {"data", std::string(20000, 'x')}});
  js[0]->send({{"cmd", "state"}, {"data", std::string(20000, 'x')}});
  ASSERT_TRUE(waitUntil([&] { return js[0]->events("result").size() >= 2; }, 20s));
  for (auto& r : js[0]->events("result")) {
    if (r["cmd"] != "broadcast" && r["cmd"] != "state") continue;
    EXPECT_EQ(r["ok"], false) << r;
    EXPECT_NE(r["error"].get<std::string>().find("too large"), std::string::npos) << r;
  }
  // A payload just under the limit goes through.
  js[0]->send({{"cmd", "broadcast"}, {"data", std::string(16000, 'y')}});
  EXPECT_TRUE(waitUntil(
      [&] { return host.got("messageReceived", js[0]->id, std::string(16000, 'y')); }, 30s));
}

INSTANTIATE_TEST_SUITE_P(Modes, NetworkNodes, testing::Values(Mode::Local, Mode::Cloud), modeName);

}  // namespace

// A stray client offers the host a connection whose channel never opens (no ICE candidate ever
// comes). It holds a place while it lasts, but not for good: kOpenLimit (20 s) after it came, the
// host gives it up and the next joiner gets in.
TEST_P(NetworkNodes, AStrayWhoseChannelNeverOpensDoesNotKeepAPlace) {
  if (GetParam() == Mode::Local) GTEST_SKIP() << "the stray speaks the PeerJS server's framing";
  ASSERT_TRUE(std::filesystem::exists(std::string(CLAYNET_SOURCE_DIR) + "/node_modules/ws"))
      << "the npm packages are missing: run `npm ci` (make setup does)";
  // The stray's link is given up after 8 s here instead of kOpenLimit's 20 (the rule and its 20 s
  // are NodeCore's and tested in the unit tests; this is the executor's part of it).
  constexpr auto kLimit = 8s;  // time enough for the early joiner to be refused under ASan
  Node& host = startHost({"--max-nodes", "2", "--open-limit",
                          std::to_string(std::chrono::milliseconds(kLimit).count())});
  ASSERT_FALSE(code_.empty());
  auto stray = Process::spawn(
      {"node", std::string(CLAYNET_SOURCE_DIR) + "/tests/network/stray_offer.mjs",
       "ws://" + kSignalAddress + ":" + std::to_string(kSignalPort) + "/peerjs", host.id});
  ASSERT_TRUE(stray);
  const std::string lines = readLinesUntil(*stray, "answered", 20s);
  ASSERT_NE(lines.find("answered"), std::string::npos) << lines << host.log();
  const auto strayCame = std::chrono::steady_clock::now();
  // While the stray lasts, the network of two is full.
  Node& early = startJoiner("early");
  ASSERT_TRUE(waitUntil([&] { return !early.events("errorOccurred").empty(); }, 20s))
      << early.log();
  EXPECT_EQ(early.count("joinRefused", "message", "Network full"), 1u) << early.log();
  // Once it is given up, the place is free again.
  const auto freeAt = strayCame + kLimit + 1s;
  while (std::chrono::steady_clock::now() < freeAt) waitUntil([] { return false; }, 500ms);
  Node& late = startJoiner("late");
  EXPECT_TRUE(waitUntil([&] { return late.lastStatus() == "Connected"; }, 30s))
      << late.log() << host.log();
  stray->kill(SIGTERM);
}
