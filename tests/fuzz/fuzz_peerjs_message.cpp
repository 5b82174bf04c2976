// libFuzzer target: a frame from a PeerJS server (or forwarded by it from another peer) as the
// claynet client parses it, down to the OFFER / ANSWER / CANDIDATE payloads.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "signaling/peerjs_message.hpp"

namespace sig = claynet::signaling;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  sig::ServerMessage message;
  if (sig::parseServerMessage(text, message).ok()) {
    (void)sig::toString(message.type);
    (void)sig::errorText(message);
    (void)sig::payloadConnectionId(message.payload);
    switch (message.type) {
      case sig::ServerMessage::Type::Offer: {
        sig::OfferPayload offer;
        if (sig::parseOfferPayload(message.payload, offer).ok()) {
          // What claynet parsed, it can write, and reading that back gives the same offer.
          sig::OfferPayload again;
          if (!sig::parseOfferPayload(sig::buildOfferPayload(offer), again).ok()) std::abort();
          if (again.sdp != offer.sdp || again.connectionId != offer.connectionId ||
              again.label != offer.label || again.reliable != offer.reliable ||
              again.serialization != offer.serialization)
            std::abort();
          (void)sig::iceUfragOf(offer.sdp);
        }
        break;
      }
      case sig::ServerMessage::Type::Answer: {
        sig::AnswerPayload answer;
        if (sig::parseAnswerPayload(message.payload, answer).ok()) {
          sig::AnswerPayload again;
          if (!sig::parseAnswerPayload(sig::buildAnswerPayload(answer), again).ok()) std::abort();
          if (again.sdp != answer.sdp || again.connectionId != answer.connectionId) std::abort();
        }
        break;
      }
      case sig::ServerMessage::Type::Candidate: {
        sig::CandidatePayload candidate;
        if (sig::parseCandidatePayload(message.payload, candidate).ok()) {
          sig::CandidatePayload again;
          if (!sig::parseCandidatePayload(sig::buildCandidatePayload(candidate), again).ok())
            std::abort();
          if (again.connectionId != candidate.connectionId) std::abort();
        }
        break;
      }
      default:
        break;
    }
  }
  // The helpers that take text a peer or a user chose.
  (void)sig::isValidPeerId(text);
  (void)sig::normalizePath(text.substr(0, 256));
  (void)sig::queryEscape(text.substr(0, 256));
  (void)sig::iceUfragOf(text);
  return 0;
}
