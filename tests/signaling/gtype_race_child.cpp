// One process's first contact with GLib's type system, from two threads at once, after a
// claynet::Runtime exists: a libsoup session on this thread (what the network thread does when
// it starts signaling) and a GIO socket address on another (what GLib's resolver threads do
// with every answer, e.g. for a STUN server given by name). GLib 2.74 deadlocks when a class is
// initialised on one thread while another registers a type that adds an interface; a Runtime
// must have registered those types before any thread can race on them. Exits 0, or hangs.
// Usage: claynet_gtype_race_child [spin]  (spin: busy-loop iterations before the session)
#include <gio/gio.h>
#include <libsoup/soup.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "claynet/runtime.hpp"

int main(int argc, char** argv) {
  const long spin = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 0;
  claynet::Runtime runtime;
  std::atomic<int> phase{0};
  std::thread resolverLike([&phase] {
    phase.store(1);
    while (phase.load() < 2) {
    }
    GSocketAddress* a = g_inet_socket_address_new_from_string("127.0.0.1", 9);
    g_object_unref(a);
  });
  while (phase.load() < 1) {
  }
  phase.store(2);
  for (std::atomic<long> i = 0; i < spin; ++i) {
  }
  SoupSession* session = soup_session_new();
  g_object_unref(session);
  resolverLike.join();
  return 0;
}
