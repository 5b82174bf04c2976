// ICE with libnice: one stream, one component, trickled candidates.
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "claynet/configuration.hpp"
#include "claynet/peer_connection.hpp"

typedef struct _NiceAgent NiceAgent;
typedef struct _NiceCandidate NiceCandidate;

namespace claynet::rtc {

class IceTransport {
 public:
  enum class State { Checking, Connected, Failed };
  struct Callbacks {
    std::function<void(const std::string& candidate)> onLocalCandidate;  // "candidate:..."
    std::function<void()> onGatheringDone;
    std::function<void(State, const std::string& detail)> onStateChange;
    std::function<void(const uint8_t*, std::size_t)> onPacket;
    std::function<void(const SelectedPair&)> onSelectedPair;
    std::function<void(const std::string& phase, const std::string& detail)> onDiagnostic;
  };

  IceTransport(GMainContext* context, const Configuration& config, bool controlling,
               Callbacks callbacks);
  ~IceTransport();
  IceTransport(const IceTransport&) = delete;
  IceTransport& operator=(const IceTransport&) = delete;

  const std::string& ufrag() const { return ufrag_; }
  const std::string& pwd() const { return pwd_; }

  /// Starts gathering. With ICE policy relay and TURN names still resolving, it waits for them.
  void gather();
  void setRemoteCredentials(const std::string& ufrag, const std::string& pwd);
  /// Adds a "candidate:..." line. Returns false with a reason when it is skipped.
  bool addRemoteCandidate(const std::string& candidate, std::string& reason);
  void remoteGatheringDone();
  /// Sends one datagram on the selected pair; false when there is none yet.
  bool send(const uint8_t* data, std::size_t size);
  void close();

  static CandidateType typeOf(const NiceCandidate* candidate);

 private:
  struct Server {
    IceServerUrl url;
    std::string username, credential;
    std::string address;  // numeric, once known
    bool pending = false;
  };
  static void onCandidateGatheringDone(NiceAgent*, guint, gpointer);
  static void onComponentStateChanged(NiceAgent*, guint, guint, guint, gpointer);
  static void onNewCandidateFull(NiceAgent*, NiceCandidate*, gpointer);
  static void onNewSelectedPairFull(NiceAgent*, guint, guint, NiceCandidate*, NiceCandidate*,
                                    gpointer);
  static void onRecv(NiceAgent*, guint, guint, guint, gchar*, gpointer);
  static void onResolved(GObject* source, GAsyncResult* result, gpointer data);
  void applyServers();
  void enlargeSocketBuffers();
  void startGathering();
  void diag(const std::string& phase, const std::string& detail);

  GMainContext* context_;
  Configuration config_;
  Callbacks cb_;
  NiceAgent* agent_ = nullptr;
  guint stream_ = 0;
  std::string ufrag_, pwd_;
  std::vector<Server> servers_;
  GCancellable* cancel_ = nullptr;
  bool gatherRequested_ = false;
  bool gatheringStarted_ = false;
  bool connected_ = false;
  bool closed_ = false;
  std::vector<gulong> handlers_;
};

}  // namespace claynet::rtc
