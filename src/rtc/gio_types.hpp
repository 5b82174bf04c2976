// GLib's type system, warmed before claynet starts threads.
#pragma once

namespace claynet::rtc {

/// Registers, once per process, the GIO types that GLib's own worker threads create objects of
/// (the resolver's socket addresses, GTask, TLS), and loads GIO's modules. GLib 2.74 deadlocks
/// when one thread initialises a class (libsoup's session on a network thread) while another
/// registers a type that adds an interface (GInetSocketAddress on a resolver thread); with the
/// types registered before the first network thread exists, no thread registers them later.
/// Safe to call from any thread, any number of times.
void registerGioTypes();

}  // namespace claynet::rtc
