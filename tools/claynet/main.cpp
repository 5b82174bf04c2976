// claynet: the command-line tool: `claynet demo`, `claynet host`, `claynet join` (chat over a
// claynet::Network), `claynet signal` (claynet-signal, a PeerJS-compatible signaling server) and
// `claynet bench ...`. The commands live in their own files; this one registers them.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bench_stats.hpp"
#include "chat_command.hpp"
#include "child_process.hpp"
#include "demo_command.hpp"
#include "nat_bench.hpp"
#include "network_bench.hpp"
#include "signal_command.hpp"
#include "signaling_bench.hpp"
#include "transport_bench.hpp"

using json = nlohmann::json;

namespace {

// Exit codes, documented in the README.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // the measurement itself failed
constexpr int kExitUsage = 2;    // bad command line (CLI11 also uses its own codes >100)

const char* kKeys[] = {"connect_ms", "rtt_p50_us", "rtt_p99_us", "small_msgs_per_s",
                       "goodput_MBps"};
const char* kGoals[] = {"<= 5", "<= 60", "<= 150", ">= 400000", ">= 100"};

json toJson(const claynet::bench::TransportFigures& f) {
  return {{"connect_ms", f.connect_ms},
          {"rtt_p50_us", f.rtt_p50_us},
          {"rtt_p99_us", f.rtt_p99_us},
          {"small_msgs_per_s", f.small_msgs_per_s},
          {"goodput_MBps", f.goodput_MBps}};
}

std::string sourceDir() {
  if (const char* env = std::getenv("CLAYNET_SOURCE_DIR")) return env;
  return CLAYNET_SOURCE_DIR;
}

// Runs the Chromium side (two RTCPeerConnections in one headless page) in a sealed namespace.
bool runChromium(int runs, json& out, std::string& error) {
  std::string dir = sourceDir();
  std::string cmd = "'" + dir + "/scripts/netns-run.sh' node '" + dir +
                    "/bench/chromium_transport.mjs' --runs " + std::to_string(runs);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) {
    error = "cannot start " + cmd;
    return false;
  }
  std::string text;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) text.append(buf, n);
  int status = pclose(pipe);
  auto start = text.rfind("\n{");
  json j = json::parse(start == std::string::npos ? text : text.substr(start + 1), nullptr, false);
  if (status != 0 || j.is_discarded() || !j.is_object()) {
    error = "the Chromium benchmark failed (" + cmd + "); it printed: " + text.substr(0, 2000);
    return false;
  }
  out = j;
  return true;
}

std::string fmt(double v) { return claynet::bench::formatFigure(v, 2); }

int benchTransport(int runs, bool asJson, const std::string& vs, int seconds,
                   const std::string& only) {
  claynet::bench::TransportOptions options;
  options.only = only;
  options.throughputDuration = std::chrono::milliseconds(seconds * 1000);
  std::vector<json> results;
  for (int i = 0; i < runs; ++i) {
    auto fig = claynet::bench::runTransportBench(options);
    if (!fig.error.empty()) {
      std::cerr << "claynet bench transport: " << fig.error << "\n";
      return kExitFailure;
    }
    results.push_back(toJson(fig));
    if (!asJson)
      std::cerr << "run " << (i + 1) << "/" << runs << ": " << results.back().dump() << "\n";
  }
  json mine;
  for (const char* k : kKeys) {
    std::vector<double> v;
    for (auto& r : results) v.push_back(r[k].get<double>());
    mine[k] = claynet::bench::median(v);
  }
  mine["runs"] = runs;
  json chromium;
  if (vs == "chromium") {
    std::string error;
    if (!runChromium(runs, chromium, error)) {
      std::cerr << "claynet bench transport: " << error << "\n";
      return kExitFailure;
    }
  }
  if (asJson) {
    if (chromium.is_null()) {
      std::cout << mine.dump() << std::endl;
    } else {
      std::cout << json{{"claynet", mine}, {"chromium", chromium}}.dump() << std::endl;
    }
    return kExitOk;
  }
  std::printf("claynet bench transport: two peer connections in one process on loopback%s\n",
              runs > 1 ? (", median of " + std::to_string(runs) + " runs").c_str() : "");
  if (chromium.is_null()) {
    std::printf("%-18s %12s %12s\n", "figure", "claynet", "goal");
    for (int i = 0; i < 5; ++i)
      std::printf("%-18s %12s %12s\n", kKeys[i], fmt(mine[kKeys[i]].get<double>()).c_str(),
                  kGoals[i]);
  } else {
    std::printf("%-18s %12s %12s %10s %12s\n", "figure", "claynet", "chromium", "ratio", "goal");
    for (int i = 0; i < 5; ++i) {
      double a = mine[kKeys[i]].get<double>();
      double b = chromium.value(kKeys[i], 0.0);
      std::printf("%-18s %12s %12s %9sx %12s\n", kKeys[i], fmt(a).c_str(), fmt(b).c_str(),
                  b > 0 ? fmt(a / b).c_str() : "-", kGoals[i]);
    }
    if (chromium.contains("chromium_version"))
      std::printf("(%s)\n", chromium["chromium_version"].dump().c_str());
  }
  return kExitOk;
}

// ---- claynet bench signaling ----

json toJson(const claynet::bench::SignalingFigures& f) {
  json j = {{"clients_target", f.clients_target},
            {"clients_held", f.clients_held},
            {"open_s", f.open_s},
            {"server_rss_mb", f.server_rss_mb},
            {"pairs", f.pairs},
            {"offers_per_s", f.offers_per_s},
            {"server_cpu_pct", f.server_cpu_pct},
            {"client_cpu_pct", f.client_cpu_pct},
            {"errors", f.errors}};
  if (!f.first_problem.empty()) j["first_problem"] = f.first_problem;
  if (f.instances > 0) {
    j["instances"] = f.instances;
    j["rss_kb_per_client"] = f.rss_kb_per_client;
    j["redis_cpu_pct"] = f.redis_cpu_pct;
    j["redis_rss_mb"] = f.redis_rss_mb;
  }
  return j;
}

// Measures each server in turn into out[name]; false (and a line on stderr) when one fails.
bool measureServers(const std::vector<claynet::bench::ServerCommand>& servers,
                    const claynet::bench::SignalingOptions& options, bool quiet, json& out) {
  for (const auto& server : servers) {
    if (!quiet) std::cerr << "measuring " << server.name << " ...\n";
    auto f = claynet::bench::runSignalingBench(server, options);
    if (!f.error.empty()) {
      std::cerr << "claynet bench signaling: " << server.name << ": " << f.error << "\n";
      return false;
    }
    out[server.name] = toJson(f);
    if (!quiet) std::cerr << server.name << ": " << out[server.name].dump() << "\n";
  }
  return true;
}

// `--cluster 1,2,3`: npm peer, then claynet-signal as a cluster of each size (a redis-server on
// loopback, the halves of every pair on different instances), all in this run.
int benchSignalingCluster(bool asJson, const claynet::bench::SignalingOptions& options,
                          const std::vector<int>& sizes) {
  std::string limit = std::to_string(options.clients + 2 * options.pairs + 100);
  std::vector<claynet::bench::ServerCommand> servers = {
      {"peerjs",
       {"node", sourceDir() + "/node_modules/peer/dist/bin/peerjs.js", "--host", "127.0.0.1",
        "--concurrent_limit", limit},
       0}};
  for (int n : sizes)
    servers.push_back({"claynet_x" + std::to_string(n),
                       {claynet::process::selfPath(), "signal", "--host", "127.0.0.1",
                        "--concurrent-limit", limit},
                       n});
  json out;
  if (!measureServers(servers, options, asJson, out)) return kExitFailure;
  if (asJson) {
    std::cout << out.dump() << std::endl;
    return kExitOk;
  }
  std::printf(
      "claynet bench signaling --cluster: npm peer 1.0.2 (one process) and claynet-signal "
      "instances sharing one redis-server, all on 127.0.0.1, same run\n");
  std::printf("%-20s", "figure");
  for (const auto& server : servers) std::printf(" %12s", server.name.c_str());
  std::printf("\n");
  const json& ref = out["peerjs"];
  for (const char* k :
       {"clients_held", "server_rss_mb", "rss_kb_per_client", "redis_rss_mb", "offers_per_s",
        "server_cpu_pct", "redis_cpu_pct", "client_cpu_pct", "errors"}) {
    std::printf("%-20s", k);
    for (const auto& server : servers) {
      const json& f = out[server.name];
      double v = f.contains(k) ? f[k].get<double>() : -1;
      if (std::string(k) == "rss_kb_per_client" && !f.contains(k) && f["clients_held"] > 0)
        v = 1024.0 * f["server_rss_mb"].get<double>() / f["clients_held"].get<double>();
      std::printf(" %12s", v < 0 ? "-" : fmt(v).c_str());
    }
    std::printf("\n");
  }
  std::printf("%-20s", "offers vs peerjs");
  for (const auto& server : servers)
    std::printf(" %11sx", fmt(out[server.name]["offers_per_s"].get<double>() /
                              std::max(1.0, ref["offers_per_s"].get<double>()))
                              .c_str());
  std::printf(
      "\n(clients_target %d spread over the instances; %d pairs, each sender on another "
      "instance than its receiver; window %d offers per pair; %d s)\n",
      options.clients, options.pairs, options.window, options.seconds);
  for (const auto& server : servers) {
    const json& f = out[server.name];
    if (f["errors"].get<long long>() > 0)
      std::printf("%s: %lld errors; the first: %s\n", server.name.c_str(),
                  f["errors"].get<long long>(), f.value("first_problem", std::string("?")).c_str());
  }
  return kExitOk;
}

int benchSignaling(bool asJson, const claynet::bench::SignalingOptions& options) {
  // Both servers get room for every client the benchmark opens, and their defaults otherwise.
  std::string limit = std::to_string(options.clients + 2 * options.pairs + 100);
  std::vector<claynet::bench::ServerCommand> servers = {
      {"claynet",
       {claynet::process::selfPath(), "signal", "--host", "127.0.0.1", "--concurrent-limit",
        limit}},
      {"peerjs",
       {"node", sourceDir() + "/node_modules/peer/dist/bin/peerjs.js", "--host", "127.0.0.1",
        "--concurrent_limit", limit}},
  };
  json out;
  if (!measureServers(servers, options, asJson, out)) return kExitFailure;
  if (asJson) {
    std::cout << out.dump() << std::endl;
    return kExitOk;
  }
  const json& a = out["claynet"];
  const json& b = out["peerjs"];
  std::printf(
      "claynet bench signaling: claynet-signal and npm peer 1.0.2, each on 127.0.0.1, same run\n");
  std::printf("%-18s %12s %12s %10s\n", "figure", "claynet", "peerjs", "ratio");
  for (const char* k : {"clients_held", "open_s", "server_rss_mb", "offers_per_s", "server_cpu_pct",
                        "client_cpu_pct", "errors"}) {
    double x = a[k].get<double>(), y = b[k].get<double>();
    bool count = std::string(k) == "clients_held" || std::string(k) == "errors";
    auto show = [&](double v) {
      return count ? std::to_string(static_cast<long long>(v)) : fmt(v);
    };
    std::printf("%-18s %12s %12s %10s\n", k, show(x).c_str(), show(y).c_str(),
                y > 0 ? (fmt(x / y) + "x").c_str() : "-");
  }
  std::printf("(clients_target %d, pairs %d, window %d offers per pair, %d s)\n", options.clients,
              options.pairs, options.window, options.seconds);
  for (const char* name : {"claynet", "peerjs"}) {
    const json& f = out[name];
    if (f["errors"].get<long long>() > 0)
      std::printf("%s: %lld errors; the first: %s\n", name, f["errors"].get<long long>(),
                  f.value("first_problem", std::string("?")).c_str());
  }
  std::printf(
      "(claynet-signal runs with its defaults, flood limit included: 1000 messages/s per client;"
      " with fewer than about 300 pairs its senders exceed that and are closed, by design)\n");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"claynet: peer-to-peer networking over WebRTC data channels"};
  app.require_subcommand(1);
  auto* bench = app.add_subcommand("bench", "measure claynet (see shared/bench-method.md)");
  bench->require_subcommand(1);
  auto* transport = bench->add_subcommand(
      "transport", "connect time, round trip, message rate and goodput of two local connections");
  int runs = 1;
  bool asJson = false;
  std::string vs;
  int seconds = 5;
  transport->add_option("--runs", runs, "repeat and report medians")->check(CLI::Range(1, 20));
  transport->add_flag("--json", asJson, "print one JSON object instead of the table");
  transport->add_option("--vs", vs, "also measure another stack the same way, in this run")
      ->check(CLI::IsMember({"chromium"}));
  transport->add_option("--seconds", seconds, "duration of each throughput measurement")
      ->check(CLI::Range(1, 60));
  std::string only;
  transport->add_option("--only", only, "measure one figure only (for profiling)")
      ->check(CLI::IsMember({"rtt", "small", "goodput"}));

  auto* signaling = bench->add_subcommand(
      "signaling", "registered clients held and OFFERs forwarded: claynet-signal vs npm peer");
  claynet::bench::SignalingOptions sigOptions;
  bool sigJson = false;
  signaling->add_flag("--json", sigJson, "print {\"claynet\": {...}, \"peerjs\": {...}}");
  signaling->add_option("--clients", sigOptions.clients, "clients to open and hold at once")
      ->check(CLI::Range(0, 100000));
  signaling->add_option("--pairs", sigOptions.pairs, "sender/receiver pairs for the OFFER rate")
      ->check(CLI::Range(0, 20000));
  std::vector<int> clusterSizes;
  signaling
      ->add_option("--cluster", clusterSizes,
                   "claynet-signal as clusters of these sizes (e.g. 1,2,3) sharing a "
                   "redis-server, beside npm peer")
      ->delimiter(',')
      ->check(CLI::Range(1, 8));
  signaling->add_option("--seconds", sigOptions.seconds, "duration of the OFFER measurement")
      ->check(CLI::Range(1, 60));

  auto* network = bench->add_subcommand(
      "network", "join time, state-update latency and delivery, host CPU of N node processes");
  claynet::bench::NetworkOptions netOptions;
  int netRuns = 3;
  bool netJson = false;
  network->add_option("--nodes", netOptions.nodes, "nodes, the host included")
      ->check(CLI::Range(2, 8))
      ->capture_default_str();
  network->add_option("--seconds", netOptions.seconds, "state-update window")
      ->check(CLI::Range(1, 120))
      ->capture_default_str();
  network->add_option("--hz", netOptions.hz, "state updates per second from each node")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  network->add_option("--bytes", netOptions.bytes, "size of each update's JSON data")
      ->check(CLI::Range(64, 16000))
      ->capture_default_str();
  network->add_option("--runs", netRuns, "repeat and report medians")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
  network->add_flag("--json", netJson, "print one JSON object instead of the table");
  // The child processes of `bench network`: one node each (hidden from --help).
  auto* networkNode = bench->add_subcommand("network-node", "one node of `bench network`");
  networkNode->group("");
  std::string nodeRole = "joiner";
  networkNode->add_option("--role", nodeRole)->check(CLI::IsMember({"host", "joiner"}));
  networkNode->add_option("--nodes", netOptions.nodes)->check(CLI::Range(2, 8));
  networkNode->add_option("--seconds", netOptions.seconds);
  networkNode->add_option("--hz", netOptions.hz);
  networkNode->add_option("--bytes", netOptions.bytes);

  auto* nat = bench->add_subcommand(
      "nat",
      "connect time and round trip on each path (host, srflx, relay over UDP/TCP/TLS) in "
      "the NAT lab, beside Chromium (needs root)");
  claynet::bench::NatOptions natOptions;
  bool natJson = false, natNoChromium = false;
  nat->add_option("--runs", natOptions.runs, "runs of each path and stack; medians are reported")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
  nat->add_option("--rtt", natOptions.roundTrips, "ping-pongs per run for the round trip")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  nat->add_flag("--no-chromium", natNoChromium, "measure claynet only");
  nat->add_flag("--json", natJson, "print one JSON object instead of the table");

  claynet::cli::SignalFlags sf;
  auto* signal = app.add_subcommand(
      "signal", "run claynet-signal, a signaling server compatible with the PeerJS server");
  signal->add_option("--host,-H", sf.host, "address to listen on")->capture_default_str();
  signal->add_option("--port,-p", sf.port, "TCP port (0: any free one)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  signal->add_option("--path", sf.path, "mount path; the WebSocket is at {path}peerjs")
      ->capture_default_str();
  signal->add_option("--key,-k", sf.key, "connection key clients must present")
      ->capture_default_str();
  signal
      ->add_option("--alive-timeout,--alive_timeout", sf.aliveTimeout,
                   "ms without HEARTBEAT before a client is dropped")
      ->check(CLI::Range(1LL, 86400000LL))
      ->capture_default_str();
  signal
      ->add_option("--expire-timeout,--expire_timeout,-t", sf.expireTimeout,
                   "ms a message waits for its destination before EXPIRE")
      ->check(CLI::Range(1LL, 86400000LL))
      ->capture_default_str();
  signal
      ->add_option("--concurrent-limit,--concurrent_limit,-c", sf.concurrentLimit,
                   "registered clients at most")
      ->check(CLI::Range(1LL, 10000000LL))
      ->capture_default_str();
  signal->add_flag("--allow-discovery,--allow_discovery", sf.allowDiscovery,
                   "serve GET {path}{key}/peers");
  signal
      ->add_option("--tls-key,--sslkey", sf.sslKey,
                   "PEM private key (with --tls-cert: https and wss)")
      ->check(CLI::ExistingFile);
  signal->add_option("--tls-cert,--sslcert", sf.sslCert, "PEM certificate (with --tls-key)")
      ->check(CLI::ExistingFile);
  signal
      ->add_option("--flood-limit", sf.floodLimit,
                   "messages per second one client may send (burst: twice that); 0: no limit")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  signal->add_option("--redis", sf.redis,
                     "redis://[user:password@]host:port[/db]: share one id space with every "
                     "instance given the same Redis (cluster mode)");
  signal
      ->add_option("--redis-prefix", sf.redisPrefix,
                   "prefix of the keys and channels in Redis (one per cluster)")
      ->capture_default_str();
  signal->add_flag("--verbose,-v", sf.verbose, "log connections, closes and ignored frames");
  claynet::cli::DemoOptions demoOptions;
  auto* demo = app.add_subcommand(
      "demo",
      "a host and 3 joiners, each its own process, on this machine: chat and 60 Hz state in Star "
      "then Mesh, a live table, a summary");
  demo->add_option("--seconds", demoOptions.seconds, "seconds of traffic in each topology")
      ->check(CLI::Range(1, 120))
      ->capture_default_str();
  demo->add_option("--nodes", demoOptions.nodes, "nodes, the host included")
      ->check(CLI::Range(2, 8))
      ->capture_default_str();
  demo->add_flag("--json", demoOptions.json, "print only the summary, as one JSON object");

  claynet::cli::ChatOptions hostOptions, joinOptions;
  hostOptions.host = true;
  auto* host = app.add_subcommand(
      "host", "host a network, print its code and chat: lines go to everyone, /to NODE text");
  auto* join = app.add_subcommand("join", "join a network by its code and chat (as host)");
  join->add_option("code", joinOptions.code, "the code `claynet host` printed")->required();
  for (auto [command, options] : {std::pair{host, &hostOptions}, std::pair{join, &joinOptions}}) {
    claynet::cli::addConnectionOptions(*command, options->connection);
    // For `claynet demo`, which runs its nodes as `claynet host|join` processes.
    command->add_flag("--demo-child", options->demoChild)->group("");
    command->add_option("--chat-every", options->chatEveryMs)
        ->check(CLI::Range(10, 60000))
        ->group("");
    command->add_option("--state-hz", options->stateHz)->check(CLI::Range(1, 1000))->group("");
    command->add_option("--report-ms", options->reportMs)->check(CLI::Range(0, 60000))->group("");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (demo->parsed()) return claynet::cli::runDemo(demoOptions);
  if (host->parsed()) return claynet::cli::runChat(hostOptions);
  if (join->parsed()) return claynet::cli::runChat(joinOptions);
  if (transport->parsed()) return benchTransport(runs, asJson, vs, seconds, only);
  if (signaling->parsed())
    return clusterSizes.empty() ? benchSignaling(sigJson, sigOptions)
                                : benchSignalingCluster(sigJson, sigOptions, clusterSizes);
  if (network->parsed())
    return claynet::bench::networkBenchMain(claynet::process::selfPath(), netOptions, netRuns,
                                            netJson);
  if (nat->parsed()) {
    natOptions.chromium = !natNoChromium;
    std::string self = claynet::process::selfPath();
    std::string natPeer = self.substr(0, self.rfind('/') + 1) + "claynet-nat-peer";
    return claynet::bench::natBenchMain(sourceDir(), self, natPeer, natOptions, natJson);
  }
  if (networkNode->parsed())
    return claynet::bench::runNetworkBenchNode(nodeRole == "host", netOptions);
  if (signal->parsed()) {
    if (sf.sslKey.empty() != sf.sslCert.empty()) {
      std::fprintf(stderr, "claynet signal: --tls-key and --tls-cert go together\n");
      return kExitUsage;
    }
    return claynet::cli::runSignal(sf);
  }
  return kExitUsage;
}
