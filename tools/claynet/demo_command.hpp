// `claynet demo`: a host and joiners, each a `claynet host|join --demo-child` process of its own,
// in Local mode on 127.0.0.1; chat and 60 Hz state go around for a while, once in Star and once
// in Mesh, under a live table; a summary at the end says whether every node saw every other.
#pragma once

namespace claynet::cli {

struct DemoOptions {
  int seconds = 10;  // of traffic, per topology
  int nodes = 4;     // the host included
  bool json = false;
};

/// Returns the exit code: 0 when every node saw every other in both topologies.
int runDemo(const DemoOptions& options);

}  // namespace claynet::cli
