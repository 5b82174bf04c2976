#include "rtc/turn_tls_tunnel.hpp"

namespace claynet::rtc {

struct TurnTlsTunnel::State {
  std::string host, address, caFile;
  uint16_t port = 0;
  uint16_t localPort = 0;
  std::function<void(const std::string&)> diag;
  GSocketService* service = nullptr;
  GCancellable* cancel = g_cancellable_new();
  GTlsDatabase* extraCa = nullptr;
  bool closed = false;

  void say(const std::string& text) const {
    if (diag && !closed)
      diag("TURN over TLS to " + host + ":" + std::to_string(port) + ": " + text);
  }
};

namespace {

using StatePtr = std::shared_ptr<TurnTlsTunnel::State>;

// One relayed connection: libnice's plain TCP side and the TLS side to the server.
struct Link {
  StatePtr state;
  GSocketConnection* local = nullptr;
  std::string rejected;  // why the certificate was refused, for the diagnostic
};

std::string describeFlags(GTlsCertificateFlags flags) {
  std::string out;
  auto add = [&](GTlsCertificateFlags f, const char* text) {
    if (flags & f) out += std::string(out.empty() ? "" : "; ") + text;
  };
  add(G_TLS_CERTIFICATE_UNKNOWN_CA, "not signed by a trusted CA");
  add(G_TLS_CERTIFICATE_BAD_IDENTITY, "does not match the server's name");
  add(G_TLS_CERTIFICATE_NOT_ACTIVATED, "not valid yet");
  add(G_TLS_CERTIFICATE_EXPIRED, "expired");
  add(G_TLS_CERTIFICATE_REVOKED, "revoked");
  add(G_TLS_CERTIFICATE_INSECURE, "insecure algorithm");
  return out.empty() ? "refused" : out;
}

// Called only when the system's CAs refused the certificate: the extra CA file may still vouch.
gboolean onAcceptCertificate(GTlsConnection*, GTlsCertificate* cert, GTlsCertificateFlags errors,
                             gpointer data) {
  auto* link = static_cast<Link*>(data);
  const auto& s = *link->state;
  if (s.extraCa) {
    GSocketConnectable* identity = g_network_address_new(s.host.c_str(), s.port);
    GTlsCertificateFlags flags = g_tls_database_verify_chain(
        s.extraCa, cert, G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER, identity, nullptr,
        G_TLS_DATABASE_VERIFY_NONE, nullptr, nullptr);
    g_object_unref(identity);
    if (flags == 0) return TRUE;
    errors = flags;
  }
  link->rejected = "certificate rejected (" + describeFlags(errors) + ")";
  return FALSE;
}

void onClientEvent(GSocketClient*, GSocketClientEvent event, GSocketConnectable*,
                   GIOStream* connection, gpointer data) {
  if (event != G_SOCKET_CLIENT_TLS_HANDSHAKING) return;
  auto* link = static_cast<Link*>(data);
  // The client was given a numeric address; the certificate must name the server's host name.
  GSocketConnectable* identity =
      g_network_address_new(link->state->host.c_str(), link->state->port);
  g_tls_client_connection_set_server_identity(G_TLS_CLIENT_CONNECTION(connection), identity);
  g_object_unref(identity);
  g_signal_connect(connection, "accept-certificate", G_CALLBACK(onAcceptCertificate), link);
}

void onSpliced(GObject*, GAsyncResult* result, gpointer data) {
  std::unique_ptr<Link> link(static_cast<Link*>(data));
  GError* error = nullptr;
  if (!g_io_stream_splice_finish(result, &error) && error) {
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      link->state->say(std::string("connection ended: ") + error->message);
    g_error_free(error);
  }
  g_object_unref(link->local);
}

void onConnected(GObject* source, GAsyncResult* result, gpointer data) {
  auto* link = static_cast<Link*>(data);
  GError* error = nullptr;
  GSocketConnection* remote =
      g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);
  g_signal_handlers_disconnect_by_data(source, link);
  g_object_unref(source);
  if (!remote) {
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      link->state->say(link->rejected.empty() ? std::string(error->message) : link->rejected);
    g_error_free(error);
    // libnice sees its TCP connection close and gives up on this relay.
    g_io_stream_close(G_IO_STREAM(link->local), nullptr, nullptr);
    g_object_unref(link->local);
    delete link;
    return;
  }
  link->state->say("TLS session up");
  g_io_stream_splice_async(G_IO_STREAM(link->local), G_IO_STREAM(remote),
                           static_cast<GIOStreamSpliceFlags>(G_IO_STREAM_SPLICE_CLOSE_STREAM1 |
                                                             G_IO_STREAM_SPLICE_CLOSE_STREAM2),
                           G_PRIORITY_DEFAULT, link->state->cancel, &onSpliced, link);
  g_object_unref(remote);  // the splice holds its own reference
}

gboolean onIncoming(GSocketService*, GSocketConnection* local, GObject*, gpointer data) {
  auto* holder = static_cast<StatePtr*>(data);
  auto* link = new Link{*holder, G_SOCKET_CONNECTION(g_object_ref(local)), {}};
  GSocketClient* client = g_socket_client_new();
  g_socket_client_set_tls(client, TRUE);
  g_socket_client_set_timeout(client, 10);
  g_signal_connect(client, "event", G_CALLBACK(onClientEvent), link);
  GSocketAddress* target =
      g_inet_socket_address_new_from_string(link->state->address.c_str(), link->state->port);
  g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(target), link->state->cancel,
                                &onConnected, link);
  g_object_unref(target);
  return TRUE;
}

}  // namespace

TurnTlsTunnel::TurnTlsTunnel(std::string host, std::string address, uint16_t port,
                             std::string caFile,
                             std::function<void(const std::string&)> onDiagnostic)
    : state_(std::make_shared<State>()) {
  state_->host = std::move(host);
  state_->address = std::move(address);
  state_->port = port;
  state_->caFile = std::move(caFile);
  state_->diag = std::move(onDiagnostic);
}

TurnTlsTunnel::~TurnTlsTunnel() {
  state_->closed = true;
  g_cancellable_cancel(state_->cancel);
  if (state_->service) {
    g_socket_service_stop(state_->service);
    g_socket_listener_close(G_SOCKET_LISTENER(state_->service));
    g_signal_handlers_disconnect_matched(state_->service, G_SIGNAL_MATCH_FUNC, 0, 0, nullptr,
                                         reinterpret_cast<gpointer>(&onIncoming), nullptr);
    g_object_unref(state_->service);
  }
  // Links still in flight hold the state; they end through the cancellation above.
  g_object_unref(state_->cancel);
  state_->cancel = nullptr;
  if (state_->extraCa) g_object_unref(state_->extraCa);
  state_->extraCa = nullptr;
}

bool TurnTlsTunnel::start(std::string& error) {
  if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
    error = "no TLS backend is available (install glib-networking)";
    return false;
  }
  if (!state_->caFile.empty()) {
    GError* err = nullptr;
    state_->extraCa = g_tls_file_database_new(state_->caFile.c_str(), &err);
    if (!state_->extraCa) {
      error = "cannot use the CA file " + state_->caFile + ": " + (err ? err->message : "?");
      if (err) g_error_free(err);
      return false;
    }
  }
  state_->service = g_socket_service_new();
  GSocketAddress* any = g_inet_socket_address_new_from_string("127.0.0.1", 0);
  GSocketAddress* effective = nullptr;
  GError* err = nullptr;
  gboolean ok =
      g_socket_listener_add_address(G_SOCKET_LISTENER(state_->service), any, G_SOCKET_TYPE_STREAM,
                                    G_SOCKET_PROTOCOL_TCP, nullptr, &effective, &err);
  g_object_unref(any);
  if (!ok) {
    error = std::string("cannot listen on 127.0.0.1: ") + (err ? err->message : "?");
    if (err) g_error_free(err);
    return false;
  }
  state_->localPort = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
  g_object_unref(effective);
  g_signal_connect_data(
      state_->service, "incoming", G_CALLBACK(onIncoming), new StatePtr(state_),
      [](gpointer data, GClosure*) { delete static_cast<StatePtr*>(data); }, GConnectFlags(0));
  g_socket_service_start(state_->service);
  return true;
}

uint16_t TurnTlsTunnel::localPort() const { return state_->localPort; }

}  // namespace claynet::rtc
