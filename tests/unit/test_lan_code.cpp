#include <gtest/gtest.h>

#include <claynet/lan_code.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace claynet {
namespace {

TEST(LanCode, ProtocolExample) {
  EXPECT_EQ(encodeLanCode(0xC0A8012A, 9000), "L1HGE14A-6Y0");  // 192.168.1.42:9000
  std::string address;
  std::uint16_t port = 0;
  ASSERT_TRUE(decodeLanCode("L1HGE14A-6Y0", address, port).ok());
  EXPECT_EQ(address, "192.168.1.42");
  EXPECT_EQ(port, 9000);
  address.clear();
  port = 0;
  ASSERT_TRUE(decodeLanCode("l1hge14a-6y0", address, port).ok());
  EXPECT_EQ(address, "192.168.1.42");
  EXPECT_EQ(port, 9000);
  ASSERT_TRUE(decodeLanCode("  L1hGe14A-6y0\t", address, port).ok());
  EXPECT_EQ(address, "192.168.1.42");
}

TEST(LanCode, RoundTrips) {
  const std::vector<std::pair<std::uint32_t, std::uint16_t>> cases = {
      {0x7F000001, 1},     {0x0A000001, 65535}, {0xFFFFFFFF, 36},   {0x00000001, 35},
      {0xAC100A05, 49152}, {0x0A630001, 80},    {0xC0A80001, 9000},
  };
  for (auto [ip, port] : cases) {
    const std::string code = encodeLanCode(ip, port);
    SCOPED_TRACE(code);
    EXPECT_TRUE(isLanCode(code));
    for (const std::string& c : {code, std::string(code).replace(0, 1, "l")}) {
      std::string address;
      std::uint16_t decodedPort = 0;
      ASSERT_TRUE(decodeLanCode(c, address, decodedPort).ok());
      EXPECT_EQ(address, formatIPv4(ip));
      EXPECT_EQ(decodedPort, port);
    }
  }
  EXPECT_EQ(encodeLanCode(0xFFFFFFFF, 65535), "L1Z141Z3-1EKF");
}

TEST(LanCode, ClaygroundsCodesCarryASecret) {
  const std::string secret = generateLanSecret();
  ASSERT_EQ(secret.size(), kLanSecretLength);
  for (char c : secret)
    EXPECT_NE(std::string("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").find(c), std::string::npos);
  EXPECT_NE(generateLanSecret(), secret);
  EXPECT_EQ(encodeLanCode(0xC0A8012A, 9000, "k7qp2mxa"), "L1HGE14A-6Y0-K7QP2MXA");
  std::string address, s;
  std::uint16_t port = 0;
  ASSERT_TRUE(decodeLanCode(" l1hge14a-6y0-k7qp2mxa ", address, port, s).ok());
  EXPECT_EQ(address, "192.168.1.42");
  EXPECT_EQ(port, 9000);
  EXPECT_EQ(s, "K7QP2MXA");
  // claynet's older two-part codes still decode, without a secret.
  ASSERT_TRUE(decodeLanCode("L1HGE14A-6Y0", address, port, s).ok());
  EXPECT_EQ(s, "");
  EXPECT_EQ(encodeLanCode(0xC0A8012A, 9000, ""), "L1HGE14A-6Y0");
}

TEST(LanCode, StrictErrors) {
  struct Case {
    const char* code;
    const char* needle;
  };
  const std::vector<Case> cases = {
      {"", "empty"},
      {"   ", "empty"},
      {"X1HGE14A-6Y0", "does not start with L"},
      {"L1HGE14A6Y0", "no '-'"},
      // Clayground's malformed cases of a third part (tst_local_signaling): a secret of 7 or 9
      // characters, one with '0', an extra part.
      {"L1HGE14A-6Y0-1", "has 1 characters, not 8"},
      {"L1HGE14A-6Y0-ABCDEFG", "has 7 characters, not 8"},
      {"L1HGE14A-6Y0-ABCDEFGHJ", "has 9 characters, not 8"},
      {"L1HGE14A-6Y0-ABCDEFG0", "'0', which is not one of"},
      {"L1HGE14A-6Y0-ABCDEFGH-X", "more than two '-'"},
      {"L-6Y0-ABCDEFGH", "address part is empty"},
      {"LZZZZZZZ-6Y0-ABCDEFGH", "larger than 4294967295"},
      {"L1HGE14A-1EKG-ABCDEFGH", "larger than 65535"},
      {"L-6Y0", "address part is empty"},
      {"L1HGE14A-", "port part is empty"},
      {"L1HG_14A-6Y0", "'_' in the address part is not a base-36 digit"},
      {"L1HGE14A-6 0", "byte 0x20 in the port part is not a base-36 digit"},
      {"L1Z141Z4-6Y0", "larger than 4294967295"},
      {"LZZZZZZZZZZZZZZZZZZZZZZZ-6Y0", "larger than 4294967295"},
      {"L1HGE14A-1EKG", "larger than 65535"},
      {"L1HGE14A-0", "the port is 0"},
      {"L0-6Y0", "the address is 0.0.0.0"},
      {"L1HG\xC3\x89"
       "14A-6Y0",
       "byte 0xc3 in the address part is not a base-36 digit"},
  };
  for (const auto& c : cases) {
    std::string address = "unchanged";
    std::uint16_t port = 7;
    Result r = decodeLanCode(c.code, address, port);
    ASSERT_FALSE(r.ok()) << c.code;
    EXPECT_NE(r.error().find(c.needle), std::string::npos) << c.code << ": " << r.error();
    EXPECT_EQ(address, "unchanged");
    EXPECT_EQ(port, 7);
  }
}

TEST(LanCode, IsLanCode) {
  EXPECT_TRUE(isLanCode("L1HGE14A-6Y0"));
  EXPECT_TRUE(isLanCode("l1-1"));
  EXPECT_TRUE(isLanCode("L-"));       // meant as one, even if it does not decode
  EXPECT_FALSE(isLanCode("LABCDE"));  // a network code may start with L
  EXPECT_FALSE(isLanCode("A1-2"));
  EXPECT_FALSE(isLanCode(""));
}

TEST(NetworkCode, GeneratedCodesUseTheAlphabet) {
  const std::string alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::set<std::string> seen;
  std::set<char> letters;
  for (int i = 0; i < 2000; ++i) {
    const std::string code = generateNetworkCode();
    ASSERT_EQ(code.size(), 6u);
    for (char c : code) {
      ASSERT_NE(alphabet.find(c), std::string::npos) << code;
      letters.insert(c);
    }
    EXPECT_TRUE(isValidNetworkCode(code));
    EXPECT_FALSE(isLanCode(code));
    seen.insert(code);
  }
  // 2000 draws from 32^6 codes: a repeat is possible but more than a few means a broken source.
  EXPECT_GE(seen.size(), 1995u);
  EXPECT_EQ(letters.size(), alphabet.size());
}

TEST(NetworkCode, ValidationAndNormalization) {
  EXPECT_TRUE(isValidNetworkCode("ABC234"));
  EXPECT_TRUE(isValidNetworkCode("abc234"));
  EXPECT_TRUE(isValidNetworkCode("zZ9aKm"));
  EXPECT_FALSE(isValidNetworkCode("ABC23"));
  EXPECT_FALSE(isValidNetworkCode("ABC2345"));
  EXPECT_FALSE(isValidNetworkCode("ABCO23"));  // O is not in the alphabet
  EXPECT_FALSE(isValidNetworkCode("ABCI23"));
  EXPECT_FALSE(isValidNetworkCode("ABC123"));  // neither is 1
  EXPECT_FALSE(isValidNetworkCode("ABC023"));
  EXPECT_FALSE(isValidNetworkCode("ABC-23"));
  EXPECT_FALSE(isValidNetworkCode(""));
  EXPECT_EQ(normalizeNetworkCode("abc234"), "ABC234");
  EXPECT_EQ(normalizeNetworkCode("Zz9"), "ZZ9");
}

TEST(IPv4, ParseAndFormat) {
  std::uint32_t a = 0;
  ASSERT_TRUE(parseIPv4("192.168.1.42", a));
  EXPECT_EQ(a, 0xC0A8012Au);
  ASSERT_TRUE(parseIPv4("0.0.0.0", a));
  EXPECT_EQ(a, 0u);
  ASSERT_TRUE(parseIPv4("255.255.255.255", a));
  EXPECT_EQ(a, 0xFFFFFFFFu);
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4",
                          "1..3.4", "a.b.c.d", "1.2.3.-4", "1234.1.1.1", "::1", "1.2.3.4/24"}) {
    a = 77;
    EXPECT_FALSE(parseIPv4(bad, a)) << bad;
    EXPECT_EQ(a, 77u);
    EXPECT_FALSE(isIPv4Literal(bad));
  }
  EXPECT_EQ(formatIPv4(0xC0A8012A), "192.168.1.42");
  EXPECT_EQ(formatIPv4(0), "0.0.0.0");
}

TEST(LanAddress, PickOrder) {
  EXPECT_EQ(pickLanAddress({}), "127.0.0.1");
  EXPECT_EQ(pickLanAddress({"127.0.0.1"}), "127.0.0.1");
  EXPECT_EQ(pickLanAddress({"127.0.0.1", "203.0.113.5", "192.168.1.42"}), "192.168.1.42");
  EXPECT_EQ(pickLanAddress({"127.0.0.1", "203.0.113.5", "10.1.2.3", "192.168.0.2"}), "10.1.2.3");
  EXPECT_EQ(pickLanAddress({"172.15.0.1", "172.16.0.1"}), "172.16.0.1");
  EXPECT_EQ(pickLanAddress({"172.32.0.1", "172.31.255.1"}), "172.31.255.1");
  EXPECT_EQ(pickLanAddress({"127.0.0.1", "169.254.3.4", "203.0.113.5"}), "203.0.113.5");
  EXPECT_EQ(pickLanAddress({"127.0.0.1", "169.254.3.4"}), "169.254.3.4");
  EXPECT_EQ(pickLanAddress({"127.0.1.1", "0.0.0.0", "224.0.0.1", "fe80::1", "junk"}), "127.0.0.1");
}

TEST(LanAddress, LocalAddressesAndOverride) {
  const auto local = localIPv4Addresses();
  for (const auto& a : local) EXPECT_TRUE(isIPv4Literal(a)) << a;
  const std::string picked = lanAddress();
  EXPECT_TRUE(isIPv4Literal(picked)) << picked;
  EXPECT_EQ(picked, pickLanAddress(local));
  EXPECT_EQ(lanAddress("10.99.0.1"), "10.99.0.1");
  EXPECT_EQ(lanAddress("not an address"), picked);
}

}  // namespace
}  // namespace claynet
