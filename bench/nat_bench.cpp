#include "nat_bench.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "bench_stats.hpp"
#include "child_process.hpp"

namespace claynet::bench {

namespace {

using json = nlohmann::json;

struct Path {
  const char* name;  // as in bench-method.md
  const char* row;   // tests/nat/run_nat.mjs
};
// The rows put the peers where each path is the one ICE selects (run_nat.mjs asserts it).
const Path kPaths[] = {{"host", "lan"},
                       {"srflx", "cone-cone"},
                       {"relay-udp", "sym-sym-turn"},
                       {"relay-tcp", "udp-blocked-tcp"},
                       {"relay-tls", "udp-blocked-tls"}};

// One lab run of one case; its JSON figures, or an error.
json runCase(const std::string& dir, const std::string& claynet, const std::string& natPeer,
             const std::string& name, int roundTrips, std::string& error) {
  std::string work =
      (std::filesystem::temp_directory_path() / ("claynet-bench-nat-" + std::to_string(::getpid())))
          .string();
  std::vector<std::string> argv = {dir + "/tests/nat/lab.sh",
                                   "run",
                                   work,
                                   "node",
                                   dir + "/tests/nat/run_nat.mjs",
                                   "--case",
                                   name,
                                   "--json",
                                   "--rtt",
                                   std::to_string(roundTrips),
                                   "--claynet",
                                   claynet,
                                   "--nat-peer",
                                   natPeer};
  // run_nat.mjs narrates on stderr: kept in a file, shown when the case fails.
  const std::string logPath = work + ".log";
  int logFd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  process::SpawnOptions so;
  so.stderrFd = logFd;
  std::string spawnError;
  auto child = process::Child::spawn(argv, so, spawnError);
  if (logFd >= 0) ::close(logFd);
  if (!child) {
    error = spawnError;
    return nullptr;
  }
  json figures;
  while (auto line = child->readLine(std::chrono::seconds(120))) {
    json j = json::parse(*line, nullptr, false);
    if (j.is_object() && j.contains("case")) figures = j;
  }
  auto status = child->wait(std::chrono::seconds(20));
  std::error_code ec;
  std::filesystem::remove_all(work, ec);
  std::ifstream log(logPath);
  std::string narration((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  std::filesystem::remove(logPath, ec);
  if (!figures.is_object() || !figures.value("ok", false)) {
    error = name + " did not pass (exit " + (status ? std::to_string(*status) : "?") +
            "); its log ends:\n" +
            narration.substr(narration.size() > 4000 ? narration.size() - 4000 : 0);
    return nullptr;
  }
  return figures;
}

}  // namespace

int natBenchMain(const std::string& dir, const std::string& claynet, const std::string& natPeer,
                 const NatOptions& o, bool asJson) {
  if (::geteuid() != 0) {
    std::cerr << "claynet bench nat: the NAT lab needs root (network namespaces, nftables)\n";
    return 1;
  }
  std::vector<std::pair<std::string, std::string>> stacks = {{"claynet", "claynet"}};
  if (o.chromium) stacks.push_back({"chromium", "control"});
  json out = json::object();
  for (const auto& path : kPaths) {
    for (const auto& [stack, pair] : stacks) {
      std::vector<double> connect, rtt;
      for (int i = 0; i < o.runs; ++i) {
        std::string error;
        json f =
            runCase(dir, claynet, natPeer, std::string(path.row) + "/" + pair, o.roundTrips, error);
        if (f.is_null()) {
          std::cerr << "claynet bench nat: " << path.name << " " << stack << ": " << error << "\n";
          return 1;
        }
        connect.push_back(f.value("connectMs", 0.0));
        rtt.push_back(f.value("rttMs", 0.0));
        if (!asJson)
          std::fprintf(stderr, "  %-10s %-8s run %d: connect %.1f ms, rtt %.3f ms\n", path.name,
                       stack.c_str(), i + 1, connect.back(), rtt.back());
      }
      out[path.name][stack] = {{"connect_ms", median(connect)}, {"rtt_ms", median(rtt)}};
    }
  }
  if (asJson) {
    std::cout << out.dump() << std::endl;
    return 0;
  }
  std::printf("claynet bench nat: the NAT lab (tests/nat/lab.sh), median of %d run%s each%s\n",
              o.runs, o.runs == 1 ? "" : "s",
              o.chromium ? "; Chromium (PeerJS 1.5.5) in the same run" : "");
  std::printf("%-10s %12s %12s %7s %10s %10s %7s\n", "path", "claynet ms", "Chromium ms", "ratio",
              "rtt ms", "Chr. rtt", "ratio");
  for (const auto& path : kPaths) {
    const json& c = out[path.name]["claynet"];
    double cc = c["connect_ms"], cr = c["rtt_ms"];
    if (!o.chromium) {
      std::printf("%-10s %12s %12s %7s %10s\n", path.name, formatFigure(cc, 1).c_str(), "-", "-",
                  formatFigure(cr, 3).c_str());
      continue;
    }
    const json& b = out[path.name]["chromium"];
    double bc = b["connect_ms"], br = b["rtt_ms"];
    std::printf("%-10s %12s %12s %7s %10s %10s %7s\n", path.name, formatFigure(cc, 1).c_str(),
                formatFigure(bc, 1).c_str(), formatFigure(bc > 0 ? cc / bc : 0, 2).c_str(),
                formatFigure(cr, 3).c_str(), formatFigure(br, 3).c_str(),
                formatFigure(br > 0 ? cr / br : 0, 2).c_str());
  }
  return 0;
}

}  // namespace claynet::bench
