#include "rtc/ice_server_resolver.hpp"

#include <map>
#include <memory>
#include <mutex>

namespace claynet::rtc {

namespace {

using Clock = std::chrono::steady_clock;
// DNS gives GResolver no TTL; a minute keeps a moved server from being used for long, and a failed
// lookup is retried soon (a LAN party may plug into the internet meanwhile).
constexpr auto kKeepAnswer = std::chrono::seconds(60);
constexpr auto kKeepFailure = std::chrono::seconds(10);

struct Stored {
  ResolvedName name;
  Clock::time_point expires;
};

std::mutex g_mutex;
std::map<std::string, Stored>& table() {
  static auto* t = new std::map<std::string, Stored>;  // never destroyed: outlives every thread
  return *t;
}
std::map<std::string, Clock::time_point>& running() {
  static auto* r = new std::map<std::string, Clock::time_point>;
  return *r;
}

struct Lookup {
  std::string host;
  std::function<void(const ResolvedName&)> done;
};

void store(const std::string& host, const ResolvedName& name) {
  std::lock_guard lock(g_mutex);
  table()[host] = {name, Clock::now() + (name.ok ? kKeepAnswer : kKeepFailure)};
  running().erase(host);
}

void onResolved(GObject* source, GAsyncResult* result, gpointer data) {
  std::unique_ptr<Lookup> lookup(static_cast<Lookup*>(data));
  GError* error = nullptr;
  GList* addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(source), result, &error);
  if (error && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_error_free(error);
    return;  // whoever asked is gone; another lookup will come if it is still needed
  }
  ResolvedName name;
  if (error) {
    name.error = error->message;
    g_error_free(error);
  } else {
    for (GList* l = addresses; l; l = l->next) {
      auto* inet = G_INET_ADDRESS(l->data);
      bool v4 = g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV4;
      if (v4 || name.address.empty()) {
        gchar* s = g_inet_address_to_string(inet);
        name.address = s;
        g_free(s);
        if (v4) break;
      }
    }
    g_resolver_free_addresses(addresses);
    name.ok = !name.address.empty();
    if (!name.ok) name.error = "no address";
  }
  store(lookup->host, name);
  if (lookup->done) lookup->done(name);
}

}  // namespace

std::optional<ResolvedName> IceServerResolver::cached(const std::string& host) {
  std::lock_guard lock(g_mutex);
  auto it = table().find(host);
  if (it == table().end() || Clock::now() >= it->second.expires) return std::nullopt;
  return it->second.name;
}

std::optional<Clock::time_point> IceServerResolver::lookingUpSince(const std::string& host) {
  std::lock_guard lock(g_mutex);
  auto it = running().find(host);
  if (it == running().end()) return std::nullopt;
  return it->second;
}

void IceServerResolver::resolve(const std::string& host, GCancellable* cancel,
                                std::function<void(const ResolvedName&)> done) {
  {
    std::lock_guard lock(g_mutex);
    running().emplace(host, Clock::now());  // keeps the oldest start
  }
  GResolver* resolver = g_resolver_get_default();
  g_resolver_lookup_by_name_async(resolver, host.c_str(), cancel, &onResolved,
                                  new Lookup{host, std::move(done)});
  g_object_unref(resolver);
}

void IceServerResolver::clear() {
  std::lock_guard lock(g_mutex);
  table().clear();
  running().clear();
}

}  // namespace claynet::rtc
