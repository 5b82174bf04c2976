// claynet: the command-line tool. For now: `claynet bench transport`.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "transport_bench.hpp"

using json = nlohmann::json;

namespace {

// Exit codes, documented in the README.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // the measurement itself failed
constexpr int kExitUsage = 2;    // bad command line (CLI11 also uses its own codes >100)

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

const char* kKeys[] = {"connect_ms", "rtt_p50_us", "rtt_p99_us", "small_msgs_per_s", "goodput_MBps"};
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

std::string fmt(double v) {
  char b[64];
  if (v >= 1000)
    std::snprintf(b, sizeof b, "%.0f", v);
  else if (v >= 10)
    std::snprintf(b, sizeof b, "%.1f", v);
  else
    std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

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
    mine[k] = median(v);
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
      std::printf("%-18s %12s %12s\n", kKeys[i], fmt(mine[kKeys[i]].get<double>()).c_str(), kGoals[i]);
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (transport->parsed()) return benchTransport(runs, asJson, vs, seconds, only);
  return kExitUsage;
}
