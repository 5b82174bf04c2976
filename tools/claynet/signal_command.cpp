#include "signal_command.hpp"

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "claynet/runtime.hpp"
#include "claynet/signal_server.hpp"
#include "exit_codes.hpp"

namespace claynet::cli {

int runSignal(const SignalFlags& flags) {
  claynet::SignalServerOptions options;
  options.host = flags.host;
  options.port = static_cast<std::uint16_t>(flags.port);
  options.path = flags.path;
  options.key = flags.key;
  options.aliveTimeout = std::chrono::milliseconds(flags.aliveTimeout);
  options.expireTimeout = std::chrono::milliseconds(flags.expireTimeout);
  options.concurrentLimit = static_cast<std::size_t>(flags.concurrentLimit);
  options.allowDiscovery = flags.allowDiscovery;
  options.tlsKeyFile = flags.sslKey;
  options.tlsCertFile = flags.sslCert;
  options.floodMessagesPerSecond = flags.floodLimit;
  options.floodMessageBurst = 2 * flags.floodLimit;
  options.redisUrl = flags.redis;
  options.redisPrefix = flags.redisPrefix;
  // Redis lost and back, messages refused meanwhile: an operator needs these without --verbose.
  options.clusterLog = [](const std::string& line) {
    std::fprintf(stderr, "claynet signal: %s\n", line.c_str());
  };
  if (flags.verbose)
    options.log = [](const std::string& line) {
      std::fprintf(stderr, "claynet signal: %s\n", line.c_str());
    };
  // SIGINT/SIGTERM are taken with sigwait below; block them before the network thread starts
  // so that it inherits the mask and they reach this thread only.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
  claynet::Runtime runtime;
  claynet::SignalServer server(runtime, options);
  if (auto r = server.start(); !r) {
    std::fprintf(stderr, "claynet signal: %s\n", r.error().c_str());
    if (r.error().find("in use") != std::string::npos)
      std::fprintf(stderr,
                   "claynet signal: another server holds port %d; stop it, or choose another "
                   "port with --port (0: any free one)\n",
                   flags.port);
    return kExitFailure;
  }
  std::printf("claynet signal: listening on %s (key %s)%s\n", server.url().c_str(),
              flags.key.c_str(),
              flags.redis.empty() ? "" : ", one id space with the instances on the same Redis");
  std::fflush(stdout);
  int received = 0;
  sigwait(&stopSignals, &received);
  server.stop();
  std::printf("claynet signal: stopped (%s)\n", received == SIGINT ? "SIGINT" : "SIGTERM");
  return kExitOk;
}

}  // namespace claynet::cli
