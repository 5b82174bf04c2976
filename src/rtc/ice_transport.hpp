// ICE with libnice: one stream, one component, trickled candidates.
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "claynet/configuration.hpp"
#include "claynet/peer_connection.hpp"

typedef struct _NiceAgent NiceAgent;
typedef struct _NiceCandidate NiceCandidate;

namespace claynet::rtc {

class TurnTlsTunnel;
struct ResolvedName;

class IceTransport {
 public:
  enum class State { Checking, Connected, Failed };
  struct Callbacks {
    std::function<void(const std::string& candidate)> onLocalCandidate;  // "candidate:..."
    std::function<void()> onGatheringDone;
    /// Gathering goes on after it was complete: a TURN server's name resolved late.
    std::function<void()> onGatheringResumed;
    std::function<void(State, const std::string& detail)> onStateChange;
    std::function<void(const uint8_t*, std::size_t)> onPacket;
    std::function<void(const SelectedPair&)> onSelectedPair;
    std::function<void(const std::string& phase, const std::string& detail)> onDiagnostic;
    /// Closing may outlive the transport while libnice frees TURN allocations: `begin` hands
    /// over a function that ends it at once (the Runtime calls it when it shuts down first);
    /// `end` follows when it is over either way. Both optional.
    std::function<void(void* key, std::function<void()> force)> onLingerBegin;
    std::function<void(void* key)> onLingerEnd;
  };

  IceTransport(GMainContext* context, const Configuration& config, bool controlling,
               Callbacks callbacks);
  ~IceTransport();
  IceTransport(const IceTransport&) = delete;
  IceTransport& operator=(const IceTransport&) = delete;

  const std::string& ufrag() const { return ufrag_; }
  const std::string& pwd() const { return pwd_; }

  /// Starts gathering: at once, or when the STUN names still resolving have resolved (at most
  /// kStunWaitMs later). TURN servers resolved later add their relay candidates then.
  void gather();
  void setRemoteCredentials(const std::string& ufrag, const std::string& pwd);
  /// The ICE role (the side that offers controls); changed when a restart's offer turns answer.
  void setControlling(bool controlling);
  /// Adds a "candidate:..." line. Returns false with a reason when it is skipped.
  bool addRemoteCandidate(const std::string& candidate, std::string& reason);
  void remoteGatheringDone();
  /// Sends one datagram on the selected pair; false when there is none yet.
  bool send(const uint8_t* data, std::size_t size);
  /// Stops for good. With TURN allocations, libnice first frees them on the server (bounded).
  void close();

  bool connected() const { return connected_; }
  const std::optional<SelectedPair>& selectedPair() const { return selected_; }
  /// Every local candidate gathered so far, as "candidate:..." lines.
  const std::vector<std::string>& localCandidates() const { return localCandidates_; }
  const IceStats& stats() const { return stats_; }
  bool hasTurnServer() const;

  static CandidateType typeOf(const NiceCandidate* candidate);
  static constexpr guint kStunWaitMs = 200;

 private:
  struct Server {
    IceServerUrl url;
    std::string username, credential;
    std::string address;  // numeric, once known
    bool pending = false;
    bool applied = false;  // handed to libnice
    std::unique_ptr<TurnTlsTunnel> tunnel;
  };
  static void onCandidateGatheringDone(NiceAgent*, guint, gpointer);
  static void onComponentStateChanged(NiceAgent*, guint, guint, guint, gpointer);
  static void onNewCandidateFull(NiceAgent*, NiceCandidate*, gpointer);
  static void onNewSelectedPairFull(NiceAgent*, guint, guint, NiceCandidate*, NiceCandidate*,
                                    gpointer);
  static void onRecv(NiceAgent*, guint, guint, guint, gchar*, gpointer);
  static gboolean onStunWaitOver(gpointer self);
  void onServerResolved(std::size_t index, const ResolvedName& name);
  void applyServers();
  void addRelay(Server& server);
  void enlargeSocketBuffers();
  void startGathering();
  CandidateInfo infoOf(const NiceCandidate* candidate, bool local) const;
  void diag(const std::string& phase, const std::string& detail);

  GMainContext* context_;
  Configuration config_;
  Callbacks cb_;
  NiceAgent* agent_ = nullptr;
  guint stream_ = 0;
  std::string ufrag_, pwd_;
  std::vector<Server> servers_;
  GCancellable* cancel_ = nullptr;
  GSource* stunWait_ = nullptr;
  IceStats stats_;
  std::optional<SelectedPair> selected_;
  std::vector<std::string> localCandidates_;
  bool gatherRequested_ = false;
  bool gatheringStarted_ = false;
  bool gatheringDone_ = false;
  bool connected_ = false;
  bool closed_ = false;
  std::vector<gulong> handlers_;
};

}  // namespace claynet::rtc
