#include "rtc/sctp_inbound.hpp"

#include <usrsctp.h>

#include <cstring>

namespace claynet::rtc {

namespace {

constexpr uint8_t kChunkAbort = 6;
constexpr uint16_t kCauseUserInitiatedAbort = 12;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

const char* causeName(uint16_t code) {
  switch (code) {
    case 1:
      return "invalid stream identifier";
    case 2:
      return "missing mandatory parameter";
    case 3:
      return "stale cookie";
    case 4:
      return "out of resource";
    case 5:
      return "unresolvable address";
    case 6:
      return "unrecognized chunk type";
    case 7:
      return "invalid mandatory parameter";
    case 8:
      return "unrecognized parameters";
    case 9:
      return "no user data";
    case 10:
      return "cookie received while shutting down";
    case 11:
      return "restart with new addresses";
    case 12:
      return "user-initiated abort";
    case 13:
      return "protocol violation";
    default:
      return nullptr;
  }
}

// Keeps the printable ASCII of a peer-chosen text.
std::string printable(const uint8_t* p, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n && out.size() < 200; ++i)
    if (p[i] >= 0x20 && p[i] < 0x7f) out.push_back(static_cast<char>(p[i]));
  return out;
}

// An ABORT chunk the remote sent, as usrsctp appends it to the association-change notification.
struct Abort {
  bool present = false;
  bool userInitiated = false;  // no cause, or only a user-initiated abort
  std::string text;            // the causes, for people
};

Abort parseAbort(const uint8_t* chunk, std::size_t size) {
  Abort a;
  if (size < 4 || chunk[0] != kChunkAbort) return a;
  a.present = true;
  std::size_t end = std::min<std::size_t>(size, be16(chunk + 2));
  bool otherCause = false;
  for (std::size_t at = 4; at + 4 <= end;) {
    uint16_t code = be16(chunk + at);
    std::size_t len = be16(chunk + at + 2);
    if (len < 4 || at + len > end) break;
    if (code != kCauseUserInitiatedAbort) otherCause = true;
    const char* name = causeName(code);
    std::string detail = printable(chunk + at + 4, len - 4);
    if (!a.text.empty()) a.text += "; ";
    a.text += name ? name : "cause " + std::to_string(code);
    if (!detail.empty()) a.text += " (" + detail + ")";
    at += (len + 3) & ~std::size_t{3};
  }
  a.userInitiated = !otherCause;
  return a;
}

}  // namespace

void SctpInbound::dropPartial(uint16_t sid) {
  if (sid < partial_.size()) partial_[sid].reset();
}

void SctpInbound::data(uint16_t sid, uint32_t ppid, std::string&& piece, bool eor) {
  std::size_t size = piece.size();
  if (partial_.size() <= sid) partial_.resize(sid + 1);
  auto& slot = partial_[sid];
  if (eor && !slot) {
    if (size > maxMessage_) {
      if (cb_.onDiagnostic)
        cb_.onDiagnostic("dropped a " + std::to_string(size) + "-byte message on stream " +
                         std::to_string(sid) + ": larger than the advertised max-message-size of " +
                         std::to_string(maxMessage_));
      return;
    }
    if (cb_.onMessage) cb_.onMessage(sid, ppid, std::move(piece));
    return;
  }
  if (!slot) slot.emplace(Partial{ppid, {}, false});
  if (!slot->oversize) {
    if (slot->data.size() + size > maxMessage_) {
      slot->oversize = true;
      slot->data.clear();
      slot->data.shrink_to_fit();
    } else {
      slot->data.append(piece);
    }
  }
  if (!eor) return;
  Partial done = std::move(*slot);
  slot.reset();
  if (done.oversize) {
    if (cb_.onDiagnostic)
      cb_.onDiagnostic("dropped a message on stream " + std::to_string(sid) +
                       ": larger than the advertised max-message-size of " +
                       std::to_string(maxMessage_));
    return;
  }
  if (cb_.onMessage) cb_.onMessage(sid, done.ppid, std::move(done.data));
}

void SctpInbound::notification(const uint8_t* bytes, std::size_t size) {
  // Copied so that the structures are read aligned, whatever buffer the bytes came in.
  std::vector<uint8_t> copy(bytes, bytes + size);
  copy.resize(std::max(size, sizeof(sctp_notification)));
  sctp_notification n;
  std::memcpy(&n, copy.data(), sizeof n);
  if (size < sizeof(n.sn_header)) return;
  switch (n.sn_header.sn_type) {
    case SCTP_ASSOC_CHANGE: {
      if (size < sizeof(sctp_assoc_change)) return;
      const auto& ac = n.sn_assoc_change;
      if (ac.sac_state == SCTP_COMM_UP) {
        if (!connected_) {
          connected_ = true;
          if (cb_.onConnected) cb_.onConnected(ac.sac_inbound_streams, ac.sac_outbound_streams);
        }
        return;
      }
      if (ac.sac_state != SCTP_COMM_LOST && ac.sac_state != SCTP_SHUTDOWN_COMP &&
          ac.sac_state != SCTP_CANT_STR_ASSOC)
        return;
      std::size_t infoAt = offsetof(sctp_assoc_change, sac_info);
      std::size_t infoEnd = std::min<std::size_t>(size, ac.sac_length);
      Abort abort = infoEnd > infoAt ? parseAbort(copy.data() + infoAt, infoEnd - infoAt) : Abort{};
      Ending e;
      if (ac.sac_state == SCTP_SHUTDOWN_COMP) {
        e.reason = "the SCTP association was shut down";
      } else if (ac.sac_state == SCTP_CANT_STR_ASSOC) {
        e.reason = "the SCTP association could not start";
        if (abort.present)
          e.reason +=
              ": the remote refused it" + (abort.text.empty() ? "" : " (" + abort.text + ")");
        e.failure = true;
      } else if (abort.present) {
        e.failure = !abort.userInitiated;
        e.reason = e.failure ? "the remote aborted the SCTP association: " + abort.text
                             : "the remote closed the SCTP association";
      } else {
        e.reason = "the SCTP association was lost: the remote stopped answering";
        e.failure = true;
      }
      connected_ = false;
      if (cb_.onClosed) cb_.onClosed(e);
      return;
    }
    case SCTP_SENDER_DRY_EVENT:
      if (cb_.onSenderDry) cb_.onSenderDry();
      return;
    case SCTP_PARTIAL_DELIVERY_EVENT: {
      if (size < sizeof(sctp_pdapi_event)) return;
      const auto& pd = n.sn_pdapi_event;
      if (pd.pdapi_indication != SCTP_PARTIAL_DELIVERY_ABORTED) return;
      // The message being delivered in pieces was abandoned: its start must not be glued to the
      // next message on the stream.
      if (pd.pdapi_stream <= 0xffff) dropPartial(static_cast<uint16_t>(pd.pdapi_stream));
      if (cb_.onDiagnostic)
        cb_.onDiagnostic("a partly received message on stream " + std::to_string(pd.pdapi_stream) +
                         " was abandoned by the sender");
      return;
    }
    case SCTP_STREAM_RESET_EVENT: {
      if (size < sizeof(sctp_stream_reset_event)) return;
      const auto& sr = n.sn_strreset_event;
      std::size_t end = std::min<std::size_t>(size, sr.strreset_length);
      std::size_t listAt = offsetof(sctp_stream_reset_event, strreset_stream_list);
      std::vector<uint16_t> sids;
      for (std::size_t at = listAt; at + 2 <= end; at += 2) {
        uint16_t sid;
        std::memcpy(&sid, copy.data() + at, 2);
        sids.push_back(sid);
      }
      bool refused = sr.strreset_flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED);
      if (sr.strreset_flags & SCTP_STREAM_RESET_OUTGOING_SSN) {
        if (cb_.onOutgoingReset) cb_.onOutgoingReset(sids, !refused);
      } else if ((sr.strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN) && !refused) {
        for (uint16_t sid : sids) dropPartial(sid);
        if (cb_.onIncomingReset) cb_.onIncomingReset(sids);
      }
      return;
    }
    case SCTP_STREAM_CHANGE_EVENT: {
      if (size < sizeof(sctp_stream_change_event)) return;
      const auto& sc = n.sn_strchange_event;
      if (sc.strchange_flags & (SCTP_STREAM_CHANGE_DENIED | SCTP_STREAM_CHANGE_FAILED)) return;
      if (cb_.onStreamsChanged) cb_.onStreamsChanged(sc.strchange_instrms, sc.strchange_outstrms);
      return;
    }
    default:
      return;
  }
}

}  // namespace claynet::rtc
