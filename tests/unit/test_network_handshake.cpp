// Clayground's handshake (wire version 5) and claynet's way of telling seed-era nodes apart,
// sans-IO: every refusal reason with its exact text, the joiner's judgement, and the host's
// pending joiners in injected time.
#include <gtest/gtest.h>

#include "network/handshake.hpp"

using namespace claynet::network;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::optional<Refusal> judge(const json& first, const std::string& app, const std::string& pw) {
  std::string token;
  return judgeHello(first, app, pw, token);
}

}  // namespace

TEST(NetworkHandshake, TheMessagesAreClaygroundsWithItsFieldNames) {
  EXPECT_EQ(makeHello("arena", "pw", "tok1").dump(),
            R"({"app":"arena","pw":"pw","t":"h","tok":"tok1","v":5})");
  EXPECT_EQ(makeWelcome("ABC234", 1234.5).dump(), R"({"host":"ABC234","st":1234.5,"t":"H","v":5})");
  EXPECT_FALSE(makeWelcome("ABC234", -1).contains("st"));
  EXPECT_EQ(makeRefusal({RefusalReason::WrongPassword, "Wrong password"}).dump(),
            R"({"code":"wrong-password","r":"Wrong password","t":"R"})");
  EXPECT_TRUE(isHandshakeMessage(json{{"t", "h"}}));
  EXPECT_TRUE(isHandshakeMessage(json{{"t", "R"}}));
  EXPECT_FALSE(isHandshakeMessage(json{{"t", "m"}}));
  EXPECT_FALSE(isHandshakeMessage(json::array({"h"})));
}

TEST(NetworkHandshake, TheHostJudgesInClaygroundsOrderWithItsTexts) {
  std::string token;
  EXPECT_FALSE(judgeHello(makeHello("arena", "pw1", "t-42"), "arena", "pw1", token));
  EXPECT_EQ(token, "t-42");

  auto r = judge(json{{"t", "m"}, {"d", json::object()}}, "arena", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RefusalReason::IncompatibleVersion);
  EXPECT_EQ(r->message,
            "Incompatible version: the joiner sent no handshake, the host speaks wire version 5");
  r = judge(json::object(), "", "");  // what the host judges when no hello came in time
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RefusalReason::IncompatibleVersion);

  json old = makeHello("arena", "pw1", "");
  old["v"] = 4;
  r = judge(old, "arena", "pw1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message, "Incompatible version: the joiner speaks wire version 4, the host 5");
  old.erase("v");
  r = judge(old, "arena", "pw1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message, "Incompatible version: the joiner speaks wire version -1, the host 5");

  // Version before app, app before password.
  r = judge(makeHello("other", "wrong", ""), "arena", "pw1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RefusalReason::IncompatibleApp);
  EXPECT_EQ(r->message, "Incompatible app: the joiner is \"other\", the host \"arena\"");
  r = judge(makeHello("arena", "wrong", ""), "arena", "pw1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RefusalReason::WrongPassword);
  EXPECT_EQ(r->message, "Wrong password");
  r = judge(makeHello("arena", "pw1x", ""), "arena", "pw1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RefusalReason::WrongPassword);
  // Empty app equals empty app; a host without a password takes any.
  EXPECT_FALSE(judge(makeHello("", "anything", ""), "", ""));
  // A hello whose fields have other types reads them as empty.
  EXPECT_FALSE(judge(json{{"t", "h"}, {"v", 5}, {"app", 7}}, "", ""));
  r = judge(json{{"t", "h"}, {"v", 5.5}}, "", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RefusalReason::IncompatibleVersion);
  // A version no integer can hold is no version (and no undefined cast).
  r = judge(json{{"t", "h"}, {"v", 1e300}}, "", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message, "Incompatible version: the joiner speaks wire version -1, the host 5");
}

TEST(NetworkHandshake, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(constantTimeEquals("", ""));
  EXPECT_TRUE(constantTimeEquals("s3cret", "s3cret"));
  EXPECT_FALSE(constantTimeEquals("s3cret", "s3cre"));
  EXPECT_FALSE(constantTimeEquals("s3cre", "s3cret"));
  EXPECT_FALSE(constantTimeEquals("s3cret", "S3cret"));
  EXPECT_FALSE(constantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(NetworkHandshake, TheJoinerReadsWelcomesRefusalsAndSeedEraHosts) {
  Reply w = judgeReply(makeWelcome("HOST42", 812.25), "HOST42");
  EXPECT_EQ(w.kind, Reply::Kind::Welcome);
  EXPECT_EQ(w.hostId, "HOST42");
  EXPECT_DOUBLE_EQ(w.sessionMs, 812.25);
  EXPECT_EQ(judgeReply(makeWelcome("HOST42", -1), "HOST42").sessionMs, -1);

  json v4 = makeWelcome("HOST42", 1);
  v4["v"] = 4;
  Reply r = judgeReply(v4, "HOST42");
  EXPECT_EQ(r.kind, Reply::Kind::Refused);
  EXPECT_EQ(r.refusal.reason, RefusalReason::IncompatibleVersion);
  EXPECT_EQ(r.refusal.message,
            "Incompatible version: the joiner speaks wire version 5, the host 4");

  r = judgeReply(makeWelcome("SOMEONE", 1), "HOST42");
  EXPECT_EQ(r.refusal.reason, RefusalReason::HandshakeFailed);
  EXPECT_EQ(r.refusal.message, "Handshake failed: the host at HOST42 named itself \"SOMEONE\"");
  r = judgeReply(makeWelcome("", 1), "HOST42");
  EXPECT_EQ(r.refusal.reason, RefusalReason::HandshakeFailed);

  for (auto reason :
       {RefusalReason::IncompatibleVersion, RefusalReason::IncompatibleApp,
        RefusalReason::WrongPassword, RefusalReason::HandshakeFailed, RefusalReason::Refused}) {
    r = judgeReply(makeRefusal({reason, "why"}), "HOST42");
    EXPECT_EQ(r.kind, Reply::Kind::Refused);
    EXPECT_EQ(r.refusal.reason, reason);
    EXPECT_EQ(r.refusal.message, "why");
  }
  // A browser host's "Network full" has no code: `refused`. An unknown code is `Refused` for a
  // program's switch, and joinRefused reports it as the host sent it (clayground-wire.md §2.2).
  r = judgeReply(json{{"t", "R"}, {"r", "Network full"}}, "HOST42");
  EXPECT_EQ(r.refusal.reason, RefusalReason::Refused);
  EXPECT_EQ(reasonCode(r.refusal), "refused");
  EXPECT_EQ(r.refusal.message, "Network full");
  r = judgeReply(json{{"t", "R"}, {"code", "from-the-future"}}, "HOST42");
  EXPECT_EQ(r.refusal.reason, RefusalReason::Refused);
  EXPECT_EQ(reasonCode(r.refusal), "from-the-future");
  EXPECT_EQ(r.refusal.message, "Connection rejected");
  EXPECT_EQ(makeRefusal(r.refusal)["code"], "from-the-future");
  r = judgeReply(makeRefusal({RefusalReason::WrongPassword, "Wrong password"}), "HOST42");
  EXPECT_EQ(reasonCode(r.refusal), "wrong-password");

  // A seed-era host pings or sends its roster first.
  EXPECT_EQ(judgeReply(json{{"t", "p"}, {"ts", 1}}, "HOST42").kind, Reply::Kind::Legacy);
  EXPECT_EQ(judgeReply(json{{"t", "y"}, {"sys", "roster"}}, "HOST42").kind, Reply::Kind::Legacy);
}

TEST(NetworkHandshake, PendingJoinersAreDecidedOnceInInjectedTime) {
  using Kind = PendingJoiners::Decision::Kind;
  const auto t0 = PendingJoiners::Clock::time_point{} + 1h;
  PendingJoiners p;
  p.configure("", "", true);
  EXPECT_FALSE(p.opened("a", t0));
  EXPECT_FALSE(p.opened("b", t0 + 100ms));
  EXPECT_TRUE(p.pending("a"));
  EXPECT_EQ(p.nextDeadline(), t0 + kLegacyHelloWait);

  auto d = p.firstMessage("a", makeHello("", "", "tok-a"));
  EXPECT_EQ(d.kind, Kind::Admit);
  EXPECT_EQ(d.clientToken, "tok-a");
  EXPECT_FALSE(p.pending("a"));
  EXPECT_EQ(p.nextDeadline(), t0 + 100ms + kLegacyHelloWait);

  EXPECT_TRUE(p.due(t0 + 100ms + kLegacyHelloWait - 1ms).empty());
  auto late = p.due(t0 + 100ms + kLegacyHelloWait);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].id, "b");
  EXPECT_EQ(late[0].kind, Kind::AdmitLegacy);
  EXPECT_TRUE(p.due(t0 + 1h).empty());
  EXPECT_FALSE(p.nextDeadline());

  // A seed-era message first, or a clay_state connection before or after the channel opened.
  p.opened("c", t0);
  EXPECT_EQ(p.firstMessage("c", json{{"t", "p"}, {"ts", 1}}).kind, Kind::AdmitLegacy);
  EXPECT_FALSE(p.legacySign("d"));
  auto early = p.opened("d", t0);
  ASSERT_TRUE(early);
  EXPECT_EQ(early->kind, Kind::AdmitLegacy);
  p.opened("e", t0);
  auto sign = p.legacySign("e");
  ASSERT_TRUE(sign);
  EXPECT_EQ(sign->kind, Kind::AdmitLegacy);
}

TEST(NetworkHandshake, AHostWithAPasswordRefusesSeedEraNodesAfterTheHelloTimeout) {
  using Kind = PendingJoiners::Decision::Kind;
  const auto t0 = PendingJoiners::Clock::time_point{} + 1h;
  PendingJoiners p;
  p.configure("arena", "pw1", false);
  p.opened("quiet", t0);
  p.opened("old", t0);
  p.opened("wrong", t0);
  auto d = p.firstMessage("old", json{{"t", "p"}, {"ts", 1}});
  EXPECT_EQ(d.kind, Kind::Refuse);
  EXPECT_EQ(d.refusal.reason, RefusalReason::IncompatibleVersion);
  d = p.firstMessage("wrong", makeHello("arena", "pw2", ""));
  EXPECT_EQ(d.kind, Kind::Refuse);
  EXPECT_EQ(d.refusal.reason, RefusalReason::WrongPassword);
  EXPECT_TRUE(p.due(t0 + kHelloTimeout - 1ms).empty());
  EXPECT_EQ(p.nextDeadline(), t0 + kHelloTimeout);
  auto timedOut = p.due(t0 + kHelloTimeout);
  ASSERT_EQ(timedOut.size(), 1u);
  EXPECT_EQ(timedOut[0].kind, Kind::Refuse);
  EXPECT_EQ(timedOut[0].refusal.message,
            "Incompatible version: the joiner sent no handshake, the host speaks wire version 5");
  auto sign = (p.opened("browser", t0), p.legacySign("browser"));
  ASSERT_TRUE(sign);
  EXPECT_EQ(sign->kind, Kind::Refuse);
}
