#include "rtc/gio_types.hpp"

#include <gio/gio.h>

#include <mutex>

namespace claynet::rtc {

void registerGioTypes() {
  static std::once_flag once;
  std::call_once(once, [] {
    // What resolver, proxy and TLS worker threads instantiate, and what class initialisers on
    // the network thread refer to (libsoup's session has GInetSocketAddress properties).
    const GType types[] = {
        G_TYPE_TASK,
        G_TYPE_CANCELLABLE,
        G_TYPE_INET_ADDRESS,
        G_TYPE_SOCKET_ADDRESS,
        G_TYPE_INET_SOCKET_ADDRESS,
        G_TYPE_NATIVE_SOCKET_ADDRESS,
        G_TYPE_PROXY_ADDRESS,
        G_TYPE_NETWORK_ADDRESS,
        G_TYPE_NETWORK_SERVICE,
        G_TYPE_SOCKET,
        G_TYPE_SOCKET_CONNECTION,
        G_TYPE_TCP_CONNECTION,
        G_TYPE_SOCKET_CLIENT,
        G_TYPE_RESOLVER,
        G_TYPE_TLS_CERTIFICATE,
        G_TYPE_TLS_DATABASE,
        G_TYPE_TLS_INTERACTION,
        G_TYPE_TLS_CONNECTION,
    };
    for (GType t : types) g_type_ensure(t);
    // The default resolver is GLib's threaded one (a private type), created here, not first on
    // a network thread; the TLS backend loads every GIO module, whose types register on load.
    g_object_unref(g_resolver_get_default());
    g_tls_backend_get_default();
  });
}

}  // namespace claynet::rtc
