#include "chat_command.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "connection_errors.hpp"
#include "exit_codes.hpp"
#include "printable.hpp"
#include "status_table.hpp"
#include "stdin_lines.hpp"

namespace claynet::cli {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stopSignal = 0;

void onStopSignal(int signal) { g_stopSignal = signal; }

void installStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A reader that went away (a closed pipe) must not kill the node before it says goodbye.
  std::signal(SIGPIPE, SIG_IGN);
}

// One node's session: the Network, what it has counted, and its output.
class ChatSession {
 public:
  ChatSession(Runtime& runtime, const ChatOptions& options)
      : options_(options), json_(options.connection.json), net_(runtime) {}

  int run(Runtime& runtime) {
    const char* command = options_.host ? "claynet host" : "claynet join";
    if (Result r = applyConnectionOptions(net_, options_.connection); !r) {
      std::fprintf(stderr, "%s: %s\n", command, r.error().c_str());
      return kExitUsage;
    }
    net_.setVerbose(true);  // for peerStats; diagnostics are printed only with --verbose
    wire();
    Result started = options_.host ? net_.host() : net_.join(options_.code);
    // The Result says most (what is wrong with a code); the error's code says what it means.
    if (!started && !failed_)
      fail({net_.lastError().code, started.error(), net_.lastError().phase});
    if (!json_ && !failed_ && !options_.host)
      std::printf("claynet join: connecting to %s ...\n", options_.code.c_str());
    std::fflush(stdout);

    auto lastReport = Clock::now();
    auto lastRefresh = Clock::now();
    auto nextChat = Clock::now();
    auto nextState = Clock::now();
    const auto statePeriod = std::chrono::microseconds(1000000 / std::max(1, options_.stateHz));
    bool quit = false;
    while (!quit && !failed_) {
      auto wait = std::chrono::milliseconds(20);
      if (traffic_) {
        auto untilState =
            std::chrono::duration_cast<std::chrono::milliseconds>(nextState - Clock::now());
        wait = std::clamp(untilState, std::chrono::milliseconds(1), wait);
      }
      runtime.waitAndPoll(wait);
      if (g_stopSignal) break;
      if (net_.status() == Network::Status::Error ||
          net_.status() == Network::Status::Disconnected) {
        fail(lastError_.code == Network::ErrorCode::None
                 ? Network::Error{Network::ErrorCode::None, "the network closed", ""}
                 : lastError_);
        break;
      }
      for (const auto& line : takeStdinLines())
        if (!quit) quit = handleLine(line);
      if (!quit && stdinFinished()) quit = true;
      auto now = Clock::now();
      if (traffic_ && net_.connected()) {
        if (now >= nextChat) {
          nextChat = now + std::chrono::milliseconds(options_.chatEveryMs);
          sendChat("", "hello #" + std::to_string(chatSent_ + 1) + " from " + net_.nodeId());
        }
        if (now >= nextState) {
          // Behind by more than a few frames (a busy machine): skip ahead rather than burst.
          nextState =
              now - nextState > 5 * statePeriod ? now + statePeriod : nextState + statePeriod;
          if (net_.broadcastState({{"seq", stateSent_ + 1}, {"x", stateSent_ % 640}})) ++stateSent_;
        }
      }
      if (now - lastRefresh >= std::chrono::seconds(1)) {
        lastRefresh = now;
        refreshPeers();
      }
      if (json_ && options_.reportMs > 0 && net_.connected() &&
          now - lastReport >= std::chrono::milliseconds(options_.reportMs)) {
        lastReport = now;
        emit(stats());
      }
    }
    if (failed_) {
      net_.leave();
      return exitCode_;
    }
    net_.leave();
    // Let the goodbyes leave before the Runtime closes the connections.
    auto end = Clock::now() + std::chrono::milliseconds(300);
    while (Clock::now() < end) runtime.waitAndPoll(std::chrono::milliseconds(20));
    if (json_)
      emit({{"event", "left"}, {"exitCode", kExitOk}});
    else
      std::printf("%s: left the network\n", command);
    std::fflush(stdout);
    return kExitOk;
  }

 private:
  void emit(const json& j) {
    // ASCII only: a C1 control (U+009B is a CSI) then arrives as \u009b, never raw, when the
    // lines are shown on a terminal.
    std::cout << j.dump(-1, ' ', true, json::error_handler_t::replace) << std::endl;
  }

  void notice(const std::string& text) {
    printed();
    if (json_)
      emit({{"event", "notice"}, {"text", text}});
    else
      std::printf("%s\n", text.c_str());
    std::fflush(stdout);
  }

  void wire() {
    net_.onNetworkCreated([this](const std::string& code) {
      if (json_) {
        emit({{"event", "networkCreated"},
              {"code", code},
              {"nodeId", net_.nodeId()},
              {"topology", toString(net_.topology())},
              {"maxNodes", net_.maxNodes()},
              {"phaseTiming", net_.phaseTiming()}});
        return;
      }
      // What a joiner must give as well: the same signaling server and the same topology.
      std::string joinOptions;
      if (!options_.connection.signalUrl.empty() && !options_.connection.local)
        joinOptions += " --signal " + options_.connection.signalUrl;
      if (net_.topology() == Network::Topology::Mesh) joinOptions += " --topology mesh";
      std::printf(
          "claynet host: network %s is open (%s mode, %s, up to %d nodes, ready in %s ms)\n"
          "share the code; others join with:  claynet join %s%s\n"
          "type a line to send it to everyone; /to NODE text, /peers, /quit\n",
          printable(code).c_str(), toString(net_.signalingMode()), toString(net_.topology()),
          net_.maxNodes(), formatMs(net_.phaseTiming().value("total", -1.0)).c_str(),
          printable(code).c_str(), joinOptions.c_str());
      std::fflush(stdout);
    });
    net_.onStatusChanged([this] {
      if (!net_.connected() || wasConnected_) return;
      wasConnected_ = true;
      if (options_.host) return;  // networkCreated has said it
      const json& t = net_.phaseTiming();
      if (json_) {
        emit({{"event", "connected"},
              {"nodeId", net_.nodeId()},
              {"networkId", net_.networkId()},
              {"nodes", net_.nodes()},
              {"phaseTiming", t}});
        return;
      }
      std::printf(
          "claynet join: joined %s as %s in %s ms (signaling %s, ice %s, datachannel %s); %d "
          "nodes\n"
          "type a line to send it to everyone; /to NODE text, /peers, /quit\n",
          printable(net_.networkId()).c_str(), printable(net_.nodeId()).c_str(),
          formatMs(t.value("total", -1.0)).c_str(), formatMs(t.value("signaling", -1.0)).c_str(),
          formatMs(t.value("ice", -1.0)).c_str(), formatMs(t.value("datachannel", -1.0)).c_str(),
          net_.nodeCount());
      std::fflush(stdout);
    });
    net_.onNodeJoined([this](const std::string& id) {
      if (json_) {
        emit({{"event", "nodeJoined"}, {"nodeId", id}, {"nodeCount", net_.nodeCount()}});
        return;
      }
      std::printf("+ %s joined (%s)\n", printable(id).c_str(), nodeCountText().c_str());
      printPeers();
    });
    net_.onNodeLeft([this](const std::string& id) {
      if (json_) {
        emit({{"event", "nodeLeft"}, {"nodeId", id}, {"nodeCount", net_.nodeCount()}});
        return;
      }
      printed();
      std::printf("- %s left (%s)\n", printable(id).c_str(), nodeCountText().c_str());
      std::fflush(stdout);
    });
    net_.onMessageReceived([this](const std::string& from, const json& data) {
      ++chatRecv_;
      ++chatFrom_[from];
      bool isText = data.is_object() && data.contains("text") && data["text"].is_string();
      bool priv = data.is_object() && data.value("private", false);
      if (json_) {
        json e = {{"event", "message"}, {"from", from}, {"private", priv}};
        if (isText)
          e["text"] = data["text"];
        else
          e["data"] = data;
        emit(e);
        return;
      }
      printed();
      std::printf("[%s%s] %s\n", printable(from).c_str(), priv ? " to you" : "",
                  printable(isText ? data["text"].get<std::string>() : data.dump()).c_str());
      std::fflush(stdout);
    });
    net_.onStateReceived([this](const std::string& from, const json&) {
      ++stateRecv_;
      ++stateFrom_[from];
    });
    net_.onError([this](const Network::Error& error) {
      const std::string& message = error.message;
      // Whether it ends the session shows in the status, checked after each poll.
      lastError_ = error;
      // The host leaving is the normal end of a joiner's session, said by fail() without "error".
      if (lastError_.code == Network::ErrorCode::HostLeft) return;
      if (net_.status() == Network::Status::Connected) notice("error: " + printable(message));
    });
    net_.onDiagnosticMessage([this](const std::string& phase, const std::string& detail) {
      if (!options_.connection.verbose) return;
      if (json_)
        emit({{"event", "diagnostic"}, {"phase", phase}, {"detail", detail}});
      else {
        printed();
        std::fprintf(stderr, "[%s] %s\n", printable(phase).c_str(), printable(detail).c_str());
      }
    });
  }

  std::string nodeCountText() const {
    int n = net_.nodeCount();
    return std::to_string(n) + (n == 1 ? " node" : " nodes");
  }

  // The session has ended without the user asking: say why and what to do.
  void fail(const Network::Error& error) {
    if (failed_) return;
    const std::string& message = error.message;
    failed_ = true;
    bool turn = false;
    for (const auto& s : options_.connection.ice)
      if (s.rfind("turn:", 0) == 0 || s.rfind("turns:", 0) == 0) turn = true;
    Failure f = classifyFailure(error, wasConnected_, options_.host,
                                options_.host ? net_.networkId() : options_.code, turn);
    exitCode_ = f.exitCode;
    const char* command = options_.host ? "claynet host" : "claynet join";
    if (json_)
      emit({{"event", "error"},
            {"message", message},
            {"advice", f.advice},
            {"exitCode", exitCode_}});
    if (exitCode_ == kExitOk) {
      // A normal end (the host closed the network): said as information, and `left` as for /quit.
      if (json_)
        emit({{"event", "left"}, {"exitCode", kExitOk}});
      else
        std::printf("%s: %s (%s); left the network\n", command, printable(message).c_str(),
                    printable(f.advice).c_str());
    } else {
      std::fprintf(stderr, "%s: %s\n", command, printable(message).c_str());
      if (!f.advice.empty()) std::fprintf(stderr, "%s: %s\n", command, printable(f.advice).c_str());
    }
    std::fflush(stdout);
  }

  // Returns true for /quit.
  bool handleLine(const std::string& raw) {
    if (stdinIsTerminal_) printed();  // the Enter moved the cursor off the line below the table
    std::string line = raw;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) return false;
    if (line[0] != '/') {
      sendChat("", line);
      return false;
    }
    if (line.rfind("//", 0) == 0) {  // the escape: one '/' stripped, the rest sent as it is
      sendChat("", line.substr(1));
      return false;
    }
    std::string word = line.substr(0, line.find(' '));
    std::string rest = line.size() > word.size() ? line.substr(word.size() + 1) : "";
    if (word == "/quit") return true;
    if (word == "/peers") {
      if (json_)
        emit(stats());
      else
        printPeers();
    } else if (word == "/to") {
      auto space = rest.find(' ');
      if (space == std::string::npos) {
        notice("usage: /to NODE text   (NODE: an id from /peers, or its first characters)");
        return false;
      }
      std::string node = resolveNode(rest.substr(0, space));
      if (!node.empty()) sendChat(node, rest.substr(space + 1));
    } else if (word == "/help") {
      notice(
          "a line is sent to everyone; /to NODE text sends to one node; /peers shows the peers; "
          "/quit leaves");
    } else if (word == "/traffic" && options_.demoChild) {
      traffic_ = rest == "start";
    } else if (word == "/report" && options_.demoChild) {
      emit(stats());
    } else {
      notice("unknown command " + printable(word) +
             "; /help lists them (start a line with // to send /)");
    }
    return false;
  }

  std::string resolveNode(const std::string& prefix) {
    std::vector<std::string> matches;
    for (const auto& n : net_.nodes()) {
      if (n == prefix) return n;
      if (n.rfind(prefix, 0) == 0) matches.push_back(n);
    }
    if (matches.size() == 1) return matches[0];
    std::string known;
    for (const auto& n : net_.nodes()) known += (known.empty() ? "" : ", ") + printable(n);
    notice((matches.empty() ? "no node " : "more than one node starts with ") + printable(prefix) +
           "; the nodes: " + (known.empty() ? "(none)" : known));
    return "";
  }

  void sendChat(const std::string& to, const std::string& text) {
    json data = {{"type", "chat"}, {"text", text}};
    if (!to.empty()) data["private"] = true;
    Result r = to.empty() ? net_.broadcast(data) : net_.sendTo(to, data);
    if (!r) {
      if (json_)
        emit({{"event", "sendFailed"}, {"to", to.empty() ? "*" : to}, {"error", r.error()}});
      else {
        printed();
        std::printf("not sent: %s\n", printable(r.error()).c_str());
      }
      std::fflush(stdout);
      return;
    }
    ++chatSent_;
  }

  json stats() {
    json peers = net_.peerStats();
    long long msgSent = 0, msgRecv = 0, bytesSent = 0, bytesRecv = 0;
    for (const auto& [id, p] : peers.items()) {
      msgSent += p.value("msgSent", 0LL);
      msgRecv += p.value("msgRecv", 0LL);
      bytesSent += p.value("bytesSent", 0LL);
      bytesRecv += p.value("bytesRecv", 0LL);
    }
    return {{"event", "stats"},
            {"nodeId", net_.nodeId()},
            {"isHost", net_.isHost()},
            {"status", toString(net_.status())},
            {"nodes", net_.nodes()},
            {"nodeCount", net_.nodeCount()},
            {"phaseTiming", net_.phaseTiming()},
            {"latency", net_.latency()},
            {"msgSent", msgSent},
            {"msgRecv", msgRecv},
            {"bytesSent", bytesSent},
            {"bytesRecv", bytesRecv},
            {"chatSent", chatSent_},
            {"chatRecv", chatRecv_},
            {"chatFrom", chatFrom_},
            {"stateSent", stateSent_},
            {"stateRecv", stateRecv_},
            {"stateFrom", stateFrom_},
            {"peers", peers}};
  }

  std::vector<TableRow> peerRows() const {
    json peers = net_.peerStats();
    std::vector<TableRow> rows;
    for (const auto& id : net_.nodes()) {
      json p = peers.contains(id) ? peers[id] : json::object();
      rows.push_back({printable(id), p.value("stateLink", std::string("-")),
                      formatMs(p.value("latency", -1.0)), formatCount(p.value("msgSent", 0.0)),
                      formatCount(p.value("msgRecv", 0.0)), formatCount(p.value("bytesSent", 0.0)),
                      formatCount(p.value("bytesRecv", 0.0)),
                      formatCount(p.value("stateSent", 0.0)),
                      formatCount(p.value("stateRecv", 0.0))});
    }
    return rows;
  }

  static const TableRow& peerHeader() {
    static const TableRow header = {"node",      "link",     "rtt ms",    "msgs out", "msgs in",
                                    "bytes out", "bytes in", "state out", "state in"};
    return header;
  }

  // Prints the table below whatever is on screen.
  void printPeers() {
    printed();
    std::vector<TableRow> rows = peerRows();
    if (rows.empty()) {
      std::printf("no other nodes yet\n");
    } else {
      peersTable_.show(peerHeader(), rows);
      tableLive_ = peersTable_.drawingInPlace();
      tableRows_ = rows.size();
    }
    std::fflush(stdout);
  }

  // On a terminal, the last table printed is redrawn in place as long as nothing has been printed
  // (or typed) below it and the nodes are the same; the cursor goes back to where it was, so a
  // line being typed stays as it is.
  void refreshPeers() {
    if (!tableLive_ || net_.nodes().size() != tableRows_) return;
    std::fputs(
        "\x1b"
        "7",
        stdout);
    peersTable_.show(peerHeader(), peerRows());
    std::fputs(
        "\x1b"
        "8",
        stdout);
    std::fflush(stdout);
  }

  // Something went to the screen after the table: the next one starts below it.
  void printed() {
    tableLive_ = false;
    peersTable_.release();
  }

  const ChatOptions& options_;
  bool json_;
  bool terminal_ = !json_ && LiveTable::isTerminal(stdout);
  bool stdinIsTerminal_ = ::isatty(0) != 0;
  LiveTable peersTable_{stdout, terminal_};
  bool tableLive_ = false;
  std::size_t tableRows_ = 0;
  Network net_;
  Network::Error lastError_;
  bool failed_ = false, wasConnected_ = false, traffic_ = false;
  int exitCode_ = kExitOk;
  long long chatSent_ = 0, chatRecv_ = 0, stateSent_ = 0, stateRecv_ = 0;
  std::map<std::string, long long> chatFrom_, stateFrom_;
};

}  // namespace

int runChat(const ChatOptions& options) {
  installStopHandlers();
  startStdinReader();
  Runtime runtime;
  ChatSession session(runtime, options);
  return session.run(runtime);
}

}  // namespace claynet::cli
