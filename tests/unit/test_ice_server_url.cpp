#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "claynet/configuration.hpp"

namespace claynet {
namespace {

using Scheme = IceServerUrl::Scheme;
using Transport = IceServerUrl::Transport;

struct GoodCase {
  const char* url;
  Scheme scheme;
  const char* host;
  uint16_t port;
  Transport transport;
};

// Names the parameterised tests by URL rather than by raw struct bytes.
void PrintTo(const GoodCase& c, std::ostream* os) { *os << '"' << c.url << '"'; }

class IceUrlGood : public ::testing::TestWithParam<GoodCase> {};

TEST_P(IceUrlGood, Parses) {
  const GoodCase& c = GetParam();
  IceServerUrl url;
  auto r = IceServerUrl::parse(c.url, url);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(url.scheme, c.scheme);
  EXPECT_EQ(url.host, c.host);
  EXPECT_EQ(url.port, c.port);
  EXPECT_EQ(url.transport, c.transport);
}

INSTANTIATE_TEST_SUITE_P(
    Urls, IceUrlGood,
    ::testing::Values(
        GoodCase{"stun:stun.l.google.com:19302", Scheme::Stun, "stun.l.google.com", 19302,
                 Transport::Udp},
        GoodCase{"stun:stun.example.org", Scheme::Stun, "stun.example.org", 3478, Transport::Udp},
        GoodCase{"STUN:10.99.0.2", Scheme::Stun, "10.99.0.2", 3478, Transport::Udp},
        GoodCase{"stun:[::1]:3479", Scheme::Stun, "::1", 3479, Transport::Udp},
        GoodCase{"stun:[fd00:99::2]", Scheme::Stun, "fd00:99::2", 3478, Transport::Udp},
        GoodCase{"turn:turn.example.org", Scheme::Turn, "turn.example.org", 3478, Transport::Udp},
        GoodCase{"turn:10.99.0.2:3478?transport=udp", Scheme::Turn, "10.99.0.2", 3478,
                 Transport::Udp},
        GoodCase{"turn:10.99.0.2?transport=tcp", Scheme::Turn, "10.99.0.2", 3478, Transport::Tcp},
        GoodCase{"turn:[2001:db8::5]:80?transport=TCP", Scheme::Turn, "2001:db8::5", 80,
                 Transport::Tcp},
        GoodCase{"turns:turn.example.org", Scheme::Turns, "turn.example.org", 5349, Transport::Tcp},
        GoodCase{"turns:turn.example.org:443?transport=tcp", Scheme::Turns, "turn.example.org", 443,
                 Transport::Tcp},
        GoodCase{"  turn:my_host-1.lan:65535 \n", Scheme::Turn, "my_host-1.lan", 65535,
                 Transport::Udp}));

struct BadCase {
  const char* url;
  const char* mentions;  // a fragment the error message must contain
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << '"' << c.url << '"'; }

class IceUrlBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(IceUrlBad, FailsNamingTheProblem) {
  const BadCase& c = GetParam();
  IceServerUrl url;
  url.host = "untouched";
  auto r = IceServerUrl::parse(c.url, url);
  ASSERT_FALSE(r) << c.url;
  EXPECT_NE(r.error().find(c.mentions), std::string::npos) << r.error();
  EXPECT_EQ(url.host, "untouched");
}

INSTANTIATE_TEST_SUITE_P(
    Urls, IceUrlBad,
    ::testing::Values(
        BadCase{"", "no scheme"}, BadCase{"stun.example.org", "no scheme"},
        BadCase{"http://example.org", "\"http:\""}, BadCase{"stuns:stun.example.org", "stuns:"},
        BadCase{"stun:", "host is empty"}, BadCase{"turn::3478", "host is empty"},
        BadCase{"stun:[]:3478", "host is empty"}, BadCase{"stun://stun.example.org", "\"//\""},
        BadCase{"turn:user@turn.example.org", "IceServer.username"},
        BadCase{"stun:host/path", "path"}, BadCase{"stun:host:0", "port 0 is out of range"},
        BadCase{"stun:host:65536", "port 65536 is out of range"},
        BadCase{"stun:host:99999999999999999999", "is out of range"},
        BadCase{"stun:host:", "port \"\" is not a number"},
        BadCase{"stun:host:34a", "port \"34a\" is not a number"},
        BadCase{"stun:host:-1", "port \"-1\" is not a number"},
        BadCase{"stun:::1", "IPv6 address in brackets"}, BadCase{"stun:[::1", "closing"},
        BadCase{"stun:[::1]x", "\"x\""}, BadCase{"stun:[example.org]", "not an IPv6 address"},
        BadCase{"stun:ho st", "host \"ho st\""},
        BadCase{"stun:host?transport=udp", "stun: URL takes no query"},
        BadCase{"turn:host?transport=sctp", "transport \"sctp\""},
        BadCase{"turn:host?proto=udp", "unknown query parameter \"proto=udp\""},
        BadCase{"turn:host?", "unknown query parameter"},
        BadCase{"turn:host?transport=udp&transport=tcp", "more than once"},
        BadCase{"turns:host?transport=udp", "transport=tcp"}));

TEST(IceUrl, MessageNamesTheUrl) {
  IceServerUrl url;
  auto r = IceServerUrl::parse("turn:relay.example.org:70000", url);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(),
            "ICE server URL \"turn:relay.example.org:70000\": port 70000 is out of range "
            "(1-65535)");
}

}  // namespace
}  // namespace claynet
