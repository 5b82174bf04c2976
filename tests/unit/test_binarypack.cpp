#include <gtest/gtest.h>

#include <algorithm>
#include <claynet/binarypack.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace claynet::binarypack {
namespace {

using nlohmann::json;
using Bytes = std::vector<std::uint8_t>;

Bytes B(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

std::string hex(const Bytes& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::uint8_t x : b) {
    if (!s.empty()) s += ' ';
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

json decodeOk(const Bytes& b) {
  json v;
  Result r = decode(b, v);
  EXPECT_TRUE(r.ok()) << hex(b) << ": " << r.error();
  return v;
}

std::string decodeError(const Bytes& b, const DecodeLimits& limits = {}) {
  json v = "sentinel";
  Result r = decode(b, v, limits);
  EXPECT_FALSE(r.ok()) << hex(b) << " decoded as " << v.dump();
  EXPECT_TRUE(v.is_null()) << "out must be null after an error";
  return r.error();
}

json bin(const Bytes& b) { return json::binary(b); }

// --- the checked encodings of protocols.md §2 ---------------------------------------------

TEST(BinaryPack, CheckedVectorsEncodeByteForByte) {
  EXPECT_EQ(hex(encode("hi")), "b2 68 69");
  EXPECT_EQ(hex(encode(json{{"a", 1}, {"b", {true, nullptr}}})), "82 b1 61 01 b1 62 92 c3 c0");
  EXPECT_EQ(hex(encode(200)), "cc c8");
  EXPECT_EQ(hex(encode(-100)), "d0 9c");
  EXPECT_EQ(hex(encode(1.5)), "cb 3f f8 00 00 00 00 00 00");
  EXPECT_EQ(hex(encode(bin(B({1, 2, 3})))), "a3 01 02 03");
}

TEST(BinaryPack, CheckedVectorsDecode) {
  EXPECT_EQ(decodeOk(B({0xb2, 0x68, 0x69})), json("hi"));
  EXPECT_EQ(decodeOk(B({0x82, 0xb1, 0x61, 0x01, 0xb1, 0x62, 0x92, 0xc3, 0xc0})),
            (json{{"a", 1}, {"b", {true, nullptr}}}));
  EXPECT_EQ(decodeOk(B({0xcc, 0xc8})), json(200));
  EXPECT_EQ(decodeOk(B({0xd0, 0x9c})), json(-100));
  json f = decodeOk(B({0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}));
  ASSERT_TRUE(f.is_number_float());
  EXPECT_EQ(f.get<double>(), 1.5);
  json raw = decodeOk(B({0xa3, 1, 2, 3}));
  ASSERT_TRUE(raw.is_binary());
  EXPECT_EQ(static_cast<const Bytes&>(raw.get_binary()), B({1, 2, 3}));
}

// --- integers: every boundary of the type order ---------------------------------------------

struct IntCase {
  json value;
  const char* packed;
};

TEST(BinaryPack, IntegerBoundaries) {
  const std::int64_t i64min = std::numeric_limits<std::int64_t>::min();
  const std::int64_t i64max = std::numeric_limits<std::int64_t>::max();
  const std::uint64_t u64max = std::numeric_limits<std::uint64_t>::max();
  const std::vector<IntCase> cases = {
      {0, "00"},
      {1, "01"},
      {127, "7f"},
      {128, "cc 80"},
      {255, "cc ff"},
      {256, "cd 01 00"},
      {65535, "cd ff ff"},
      {65536, "ce 00 01 00 00"},
      {4294967295u, "ce ff ff ff ff"},
      {4294967296u, "d3 00 00 00 01 00 00 00 00"},
      {i64max, "d3 7f ff ff ff ff ff ff ff"},
      {static_cast<std::uint64_t>(i64max) + 1, "cf 80 00 00 00 00 00 00 00"},
      {u64max, "cf ff ff ff ff ff ff ff ff"},
      {-1, "ff"},
      {-32, "e0"},
      {-33, "d0 df"},
      {-128, "d0 80"},
      {-129, "d1 ff 7f"},
      {-32768, "d1 80 00"},
      {-32769, "d2 ff ff 7f ff"},
      {std::int64_t{-2147483647} - 1, "d2 80 00 00 00"},
      {std::int64_t{-2147483647} - 2, "d3 ff ff ff ff 7f ff ff ff"},
      {i64min, "d3 80 00 00 00 00 00 00 00"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.value.dump());
    const Bytes packed = encode(c.value);
    EXPECT_EQ(hex(packed), c.packed);
    json back = decodeOk(packed);
    EXPECT_EQ(back, c.value);
    EXPECT_TRUE(back.is_number_integer());
    // The same number given as a signed json value packs the same way.
    if (c.value.is_number_unsigned() && c.value.get<std::uint64_t>() <= std::uint64_t(i64max)) {
      EXPECT_EQ(hex(encode(json(c.value.get<std::int64_t>()))), c.packed);
    }
  }
}

TEST(BinaryPack, DecodesNonCanonicalIntegerForms) {
  EXPECT_EQ(decodeOk(B({0xcc, 0x05})), json(5));
  EXPECT_EQ(decodeOk(B({0xcd, 0x00, 0x05})), json(5));
  EXPECT_EQ(decodeOk(B({0xce, 0, 0, 0, 5})), json(5));
  EXPECT_EQ(decodeOk(B({0xcf, 0, 0, 0, 0, 0, 0, 0, 5})), json(5));
  EXPECT_EQ(decodeOk(B({0xd0, 0x05})), json(5));
  EXPECT_EQ(decodeOk(B({0xd1, 0xff, 0xfb})), json(-5));
  EXPECT_EQ(decodeOk(B({0xd2, 0xff, 0xff, 0xff, 0xfb})), json(-5));
  EXPECT_EQ(decodeOk(B({0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb})), json(-5));
  EXPECT_EQ(decodeOk(B({0xd2, 0x7f, 0xff, 0xff, 0xff})), json(2147483647));
}

// --- floats -------------------------------------------------------------------------------

TEST(BinaryPack, FloatsAreFloat64AndIntegralDoublesAreIntegers) {
  EXPECT_EQ(hex(encode(-2.25)), "cb c0 02 00 00 00 00 00 00");
  EXPECT_EQ(hex(encode(0.1)), "cb 3f b9 99 99 99 99 99 9a");
  // JavaScript cannot tell 2.0 from 2: the PeerJS packer sends it as an integer.
  EXPECT_EQ(hex(encode(2.0)), "02");
  EXPECT_EQ(hex(encode(-0.0)), "00");
  EXPECT_EQ(hex(encode(300.0)), "cd 01 2c");
  EXPECT_EQ(hex(encode(-4294967296.0)), "d3 ff ff ff ff 00 00 00 00");
  EXPECT_EQ(hex(encode(1e19)), "cf 8a c7 23 04 89 e8 00 00");
  // Beyond 64 bits, and non-finite values, stay float64.
  EXPECT_EQ(hex(encode(1e20)), "cb 44 15 af 1d 78 b5 8c 40");
  EXPECT_EQ(hex(encode(std::numeric_limits<double>::infinity())), "cb 7f f0 00 00 00 00 00 00");
  for (double d : {1.5, -2.25, 0.1, 1e300, -1e-300, 3.141592653589793, 5e-324, 1e20}) {
    json back = decodeOk(encode(d));
    ASSERT_TRUE(back.is_number_float()) << d;
    EXPECT_EQ(back.get<double>(), d);
  }
  json nan = decodeOk(encode(std::nan("")));
  ASSERT_TRUE(nan.is_number_float());
  EXPECT_TRUE(std::isnan(nan.get<double>()));
}

TEST(BinaryPack, DecodesFloat32) {
  json v = decodeOk(B({0xca, 0x3f, 0xc0, 0x00, 0x00}));
  ASSERT_TRUE(v.is_number_float());
  EXPECT_EQ(v.get<double>(), 1.5);
  EXPECT_EQ(decodeOk(B({0xca, 0xc1, 0x20, 0x00, 0x00})).get<double>(), -10.0);
  EXPECT_EQ(decodeOk(B({0xca, 0x3d, 0xcc, 0xcc, 0xcd})).get<double>(), static_cast<double>(0.1f));
  EXPECT_EQ(decodeOk(B({0xca, 0, 0, 0, 0})).get<double>(), 0.0);
}

// --- null, booleans, undefined --------------------------------------------------------------

TEST(BinaryPack, NullBooleansUndefined) {
  EXPECT_EQ(hex(encode(nullptr)), "c0");
  EXPECT_EQ(hex(encode(true)), "c3");
  EXPECT_EQ(hex(encode(false)), "c2");
  EXPECT_EQ(hex(encode(json(json::value_t::discarded))), "c0");
  EXPECT_TRUE(decodeOk(B({0xc0})).is_null());
  EXPECT_TRUE(decodeOk(B({0xc1})).is_null());  // undefined
  EXPECT_EQ(decodeOk(B({0xc2})), json(false));
  EXPECT_EQ(decodeOk(B({0xc3})), json(true));
}

// --- strings and raw ------------------------------------------------------------------------

TEST(BinaryPack, StringLengthForms) {
  EXPECT_EQ(hex(encode("")), "b0");
  const std::string s15(15, 'x'), s16(16, 'x'), s65535(65535, 'y'), s65536(65536, 'z');
  EXPECT_EQ(encode(s15)[0], 0xbf);
  EXPECT_EQ(encode(s15).size(), 16u);
  Bytes p = encode(s16);
  EXPECT_EQ(hex(Bytes(p.begin(), p.begin() + 3)), "d8 00 10");
  p = encode(s65535);
  EXPECT_EQ(hex(Bytes(p.begin(), p.begin() + 3)), "d8 ff ff");
  EXPECT_EQ(p.size(), 65538u);
  p = encode(s65536);
  EXPECT_EQ(hex(Bytes(p.begin(), p.begin() + 5)), "d9 00 01 00 00");
  EXPECT_EQ(p.size(), 65541u);
  for (const std::string* s : {&s15, &s16, &s65535, &s65536}) {
    EXPECT_EQ(decodeOk(encode(*s)), json(*s));
  }
}

TEST(BinaryPack, StringsCountUtf8Bytes) {
  EXPECT_EQ(hex(encode("\xC3\xA9")), "b2 c3 a9");                // é
  EXPECT_EQ(hex(encode("\xF0\x9F\x98\x80")), "b4 f0 9f 98 80");  // 😀
  EXPECT_EQ(decodeOk(B({0xb4, 0xf0, 0x9f, 0x98, 0x80})), json("\xF0\x9F\x98\x80"));
}

TEST(BinaryPack, InvalidUtf8BecomesReplacementCharacter) {
  // Decoding: lone continuation byte, truncated sequence, overlong form, surrogate.
  EXPECT_EQ(decodeOk(B({0xb3, 'a', 0x80, 'b'})), json("a\xEF\xBF\xBD"
                                                      "b"));
  EXPECT_EQ(decodeOk(B({0xb2, 'a', 0xe2})), json("a\xEF\xBF\xBD"));
  EXPECT_EQ(decodeOk(B({0xb2, 0xc0, 0xaf})), json("\xEF\xBF\xBD\xEF\xBF\xBD"));
  EXPECT_EQ(decodeOk(B({0xb3, 0xed, 0xa0, 0x80})), json("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
  // The result can always be written as JSON.
  EXPECT_NO_THROW((void)decodeOk(B({0xb2, 0xff, 0xfe})).dump());
  // Encoding repairs too, so what goes out is what a browser's TextEncoder would produce.
  EXPECT_EQ(hex(encode(std::string("a\xff"))), "b4 61 ef bf bd");
}

TEST(BinaryPack, RawLengthForms) {
  EXPECT_EQ(hex(encode(bin({}))), "a0");
  Bytes p = encode(bin(Bytes(15, 7)));
  EXPECT_EQ(p[0], 0xaf);
  EXPECT_EQ(p.size(), 16u);
  p = encode(bin(Bytes(16, 7)));
  EXPECT_EQ(hex(Bytes(p.begin(), p.begin() + 3)), "da 00 10");
  p = encode(bin(Bytes(65535, 7)));
  EXPECT_EQ(hex(Bytes(p.begin(), p.begin() + 3)), "da ff ff");
  p = encode(bin(Bytes(65536, 7)));
  EXPECT_EQ(hex(Bytes(p.begin(), p.begin() + 5)), "db 00 01 00 00");
  json back = decodeOk(p);
  ASSERT_TRUE(back.is_binary());
  EXPECT_EQ(back.get_binary().size(), 65536u);
  // A string and raw bytes with the same content stay distinct.
  EXPECT_TRUE(decodeOk(B({0xa1, 0x61})).is_binary());
  EXPECT_TRUE(decodeOk(B({0xb1, 0x61})).is_string());
}

// --- containers -----------------------------------------------------------------------------

TEST(BinaryPack, ArrayCountForms) {
  EXPECT_EQ(hex(encode(json::array())), "90");
  json a15 = json::array(), a16 = json::array(), a65536 = json::array();
  for (int i = 0; i < 15; ++i) a15.push_back(i);
  for (int i = 0; i < 16; ++i) a16.push_back(i);
  for (int i = 0; i < 65536; ++i) a65536.push_back(1);
  EXPECT_EQ(encode(a15)[0], 0x9f);
  Bytes p = encode(a16);
  EXPECT_EQ(hex(Bytes(p.begin(), p.begin() + 4)), "dc 00 10 00");
  p = encode(a65536);
  EXPECT_EQ(hex(Bytes(p.begin(), p.begin() + 6)), "dd 00 01 00 00 01");
  EXPECT_EQ(decodeOk(encode(a15)), a15);
  EXPECT_EQ(decodeOk(encode(a16)), a16);
  EXPECT_EQ(decodeOk(p), a65536);
}

TEST(BinaryPack, MapCountFormsAndKeyOrder) {
  EXPECT_EQ(hex(encode(json::object())), "80");
  json m16 = json::object();
  for (int i = 0; i < 16; ++i) m16["k" + std::to_string(i)] = i;
  Bytes p = encode(m16);
  EXPECT_EQ(hex(Bytes(p.begin(), p.begin() + 3)), "de 00 10");
  EXPECT_EQ(decodeOk(p), m16);
  json big = json::object();
  for (int i = 0; i < 65536; ++i) big[std::to_string(i)] = nullptr;
  p = encode(big);
  EXPECT_EQ(hex(Bytes(p.begin(), p.begin() + 5)), "df 00 01 00 00");
  EXPECT_EQ(decodeOk(p), big);
  // Key order on the wire does not matter to the decoder.
  EXPECT_EQ(decodeOk(B({0x82, 0xb1, 'b', 0x02, 0xb1, 'a', 0x01})), (json{{"a", 1}, {"b", 2}}));
  // A repeated key: the last one wins, as in a JavaScript object.
  EXPECT_EQ(decodeOk(B({0x82, 0xb1, 'a', 0x01, 0xb1, 'a', 0x02})), (json{{"a", 2}}));
}

TEST(BinaryPack, NonStringMapKeysBecomeTheirText) {
  EXPECT_EQ(decodeOk(B({0x81, 0x01, 0xb1, 'x'})), (json{{"1", "x"}}));
  EXPECT_EQ(decodeOk(B({0x81, 0xff, 0xc0})), (json{{"-1", nullptr}}));
  EXPECT_EQ(decodeOk(B({0x81, 0xcd, 0x01, 0x2c, 0x01})), (json{{"300", 1}}));
  EXPECT_EQ(decodeOk(B({0x81, 0xc3, 0x01})), (json{{"true", 1}}));
  EXPECT_EQ(decodeOk(B({0x81, 0xc2, 0x01})), (json{{"false", 1}}));
  EXPECT_EQ(decodeOk(B({0x81, 0xc0, 0x01})), (json{{"null", 1}}));
  EXPECT_EQ(decodeOk(B({0x81, 0xc1, 0x01})), (json{{"undefined", 1}}));
  EXPECT_EQ(decodeOk(B({0x81, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x01})), (json{{"1.5", 1}}));
  EXPECT_EQ(decodeOk(B({0x81, 0xcb, 0x40, 0x00, 0, 0, 0, 0, 0, 0, 0x01})), (json{{"2", 1}}));
}

TEST(BinaryPack, ContainerMapKeysAreRefused) {
  EXPECT_NE(decodeError(B({0x81, 0xa1, 0x61, 0x01})).find("raw bytes"), std::string::npos);
  EXPECT_NE(decodeError(B({0x81, 0x90, 0x01})).find("an array"), std::string::npos);
  EXPECT_NE(decodeError(B({0x81, 0x80, 0x01})).find("a map"), std::string::npos);
  EXPECT_NE(decodeError(B({0x81, 0xda, 0x00, 0x00, 0x01})).find("raw bytes"), std::string::npos);
}

TEST(BinaryPack, NestedValueRoundTrips) {
  json v = {{"name", "clay"},
            {"pos", {1.25, -3, 1000000}},
            {"blob", bin({0, 255, 16})},
            {"nested", {{"deep", {{"deeper", json::array({nullptr, false, "x"})}}}}},
            {"empty", json::object()},
            {"list", json::array()}};
  EXPECT_EQ(decodeOk(encode(v)), v);
}

TEST(BinaryPack, DeeplyNestedValueEncodesWithoutRecursion) {
  json v = json::array();
  for (int i = 0; i < 100000; ++i) v = json::array({std::move(v)});
  const Bytes p = encode(v);
  EXPECT_EQ(p.size(), 100001u);
  EXPECT_NE(decodeError(p).find("nesting deeper than 512"), std::string::npos);
  // Dismantle iteratively; json's destructor handles depth, but keep the test quick.
  while (!v.empty()) v = std::move(v[0]);
}

// --- malformed input ------------------------------------------------------------------------

TEST(BinaryPack, RejectsEmptyAndTrailingBytes) {
  EXPECT_NE(decodeError({}).find("empty"), std::string::npos);
  std::string e = decodeError(B({0x01, 0x02}));
  EXPECT_NE(e.find("1 byte(s) left after the value"), std::string::npos) << e;
  EXPECT_NE(decodeError(B({0xb1, 'a', 0x00, 0x00})).find("2 byte(s) left"), std::string::npos);
}

TEST(BinaryPack, RejectsTruncation) {
  const std::vector<Bytes> cases = {
      B({0xca, 0, 0}),
      B({0xcb, 0, 0, 0, 0, 0, 0, 0}),
      B({0xcc}),
      B({0xcd, 0}),
      B({0xce, 0, 0, 0}),
      B({0xcf, 0, 0, 0, 0, 0, 0, 0}),
      B({0xd0}),
      B({0xd1, 0}),
      B({0xd2, 0, 0, 0}),
      B({0xd3, 0, 0, 0, 0, 0, 0, 0}),
      B({0xd8, 0}),
      B({0xd9, 0, 0, 0}),
      B({0xda, 0}),
      B({0xdb, 0, 0, 0}),
      B({0xdc, 0}),
      B({0xdd, 0, 0, 0}),
      B({0xde, 0}),
      B({0xdf, 0, 0, 0}),
      B({0xb3, 'a', 'b'}),
      B({0xa2, 1}),
      B({0x92, 0x01}),
      B({0x81, 0xb1, 'a'}),
      B({0x81}),
      B({0xd8, 0x00, 0x03, 'a'}),
      B({0x91, 0x92, 0x93, 0x01}),
  };
  for (const Bytes& b : cases) {
    std::string e = decodeError(b);
    EXPECT_NE(e.find("truncated"), std::string::npos) << hex(b) << ": " << e;
  }
}

TEST(BinaryPack, HostileLengthsFailBeforeAllocating) {
  // 4 GiB string / raw / array / map announced in a few bytes.
  for (int t : {0xd9, 0xdb, 0xdd, 0xdf}) {
    std::string e = decodeError(B({t, 0xff, 0xff, 0xff, 0xff, 0x00}));
    EXPECT_NE(e.find("truncated"), std::string::npos) << e;
    EXPECT_NE(e.find("4294967295"), std::string::npos) << e;
  }
  // Nested announcements are each checked against what is left.
  EXPECT_NE(decodeError(B({0xdd, 0, 0, 0, 2, 0xdd, 0xff, 0xff, 0xff, 0xff})).find("truncated"),
            std::string::npos);
}

TEST(BinaryPack, RejectsUndefinedTypeBytes) {
  for (int t : {0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7}) {
    std::string e = decodeError(B({t, 0, 0, 0, 0}));
    EXPECT_NE(e.find("is not a BinaryPack type"), std::string::npos) << e;
  }
  std::string e = decodeError(B({0x92, 0x01, 0xc7}));
  EXPECT_NE(e.find("0xc7 at offset 2"), std::string::npos) << e;
}

TEST(BinaryPack, DepthLimit) {
  Bytes ok(511, 0x91);
  ok.push_back(0x90);  // 512 arrays deep
  json v = decodeOk(ok);
  EXPECT_TRUE(v.is_array());
  Bytes tooDeep(512, 0x91);
  tooDeep.push_back(0x90);  // 513
  EXPECT_NE(decodeError(tooDeep).find("nesting deeper than 512"), std::string::npos);
  Bytes maps;
  for (int i = 0; i < 600; ++i) {
    maps.push_back(0x81);
    maps.push_back(0xb0);
  }
  maps.push_back(0xc0);
  EXPECT_NE(decodeError(maps).find("nesting deeper"), std::string::npos);
  DecodeLimits shallow;
  shallow.maxDepth = 2;
  json out;
  EXPECT_TRUE(decode(B({0x91, 0x91, 0x01}), out, shallow).ok());
  EXPECT_FALSE(decode(B({0x91, 0x91, 0x91, 0x01}), out, shallow).ok());
}

TEST(BinaryPack, ValueCountLimit) {
  DecodeLimits limits;
  limits.maxValues = 4;
  json out;
  EXPECT_TRUE(decode(B({0x93, 1, 2, 3}), out, limits).ok());
  Result r = decode(B({0x94, 1, 2, 3, 4}), out, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("more than 4 values"), std::string::npos) << r.error();
  // Map keys count too.
  EXPECT_FALSE(decode(B({0x82, 0xb0, 1, 0xb1, 'a', 2}), out, limits).ok());
}

TEST(BinaryPack, RandomInputNeverCrashes) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    Bytes b(rng() % 40);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    json v;
    if (decode(b, v).ok()) {
      // What decodes re-encodes to something that decodes to the same bytes again.
      const Bytes again = encode(v);
      json w;
      ASSERT_TRUE(decode(again, w).ok()) << hex(b);
      EXPECT_EQ(encode(w), again) << hex(b);
    }
  }
}

// --- close message --------------------------------------------------------------------------

TEST(BinaryPack, CloseMessage) {
  EXPECT_EQ(closeMessage().dump(), R"({"__peerData":{"type":"close"}})");
  EXPECT_TRUE(isCloseMessage(closeMessage()));
  EXPECT_TRUE(isCloseMessage(json::parse(R"({"__peerData":{"type":"close","x":1},"y":2})")));
  EXPECT_FALSE(isCloseMessage(json::parse(R"({"__peerData":{"type":"open"}})")));
  EXPECT_FALSE(isCloseMessage(json::parse(R"({"__peerData":1})")));
  EXPECT_FALSE(isCloseMessage(json::parse(R"({"type":"close"})")));
  EXPECT_FALSE(isCloseMessage(json("close")));
}

// --- chunking -------------------------------------------------------------------------------

Bytes pattern(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 7 + i / 251);
  return b;
}

TEST(Chunker, SmallValuesGoUnchanged) {
  Chunker chunker;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{16299}, Chunker::kChunkSize}) {
    const Bytes packed = pattern(n);
    auto messages = chunker.split(packed);
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0], packed);
  }
  EXPECT_EQ(chunker.nextId(), 1u);
}

TEST(Chunker, ChunkLayoutMatchesThePeerJsPacker) {
  Chunker chunker;
  const Bytes packed = pattern(16301);
  auto messages = chunker.split(packed);
  ASSERT_EQ(messages.size(), 2u);
  // {__peerData: 1, n: 0, data: <16300 bytes>, total: 2}, keys in the order PeerJS packs them.
  Bytes head = B({0x84, 0xba, '_', '_',  'p',  'e', 'e', 'r', 'D', 'a',  't',  'a',
                  0x01, 0xb1, 'n', 0x00, 0xb4, 'd', 'a', 't', 'a', 0xda, 0x3f, 0xac});
  Bytes expected0 = head;
  expected0.insert(expected0.end(), packed.begin(), packed.begin() + 16300);
  const Bytes tail = B({0xb5, 't', 'o', 't', 'a', 'l', 0x02});
  expected0.insert(expected0.end(), tail.begin(), tail.end());
  EXPECT_EQ(messages[0], expected0);
  Bytes expected1 = B({0x84, 0xba, '_',           '_',  'p', 'e',  'e',  'r', 'D', 'a',
                       't',  'a',  0x01,          0xb1, 'n', 0x01, 0xb4, 'd', 'a', 't',
                       'a',  0xa1, packed.back(), 0xb5, 't', 'o',  't',  'a', 'l', 0x02});
  EXPECT_EQ(messages[1], expected1);
  EXPECT_EQ(chunker.nextId(), 2u);
}

TEST(Chunker, CountsAndIdsPerConnection) {
  Chunker chunker;
  const Bytes packed = encode(bin(pattern(100 * 1024)));  // 100 KiB + 5 header bytes
  auto messages = chunker.split(packed);
  EXPECT_EQ(messages.size(), (packed.size() + 16299) / 16300);
  EXPECT_EQ(messages.size(), 7u);
  std::size_t total = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    json chunk = decodeOk(messages[i]);
    EXPECT_EQ(chunk["__peerData"], 1);
    EXPECT_EQ(chunk["n"], i);
    EXPECT_EQ(chunk["total"], 7);
    ASSERT_TRUE(chunk["data"].is_binary());
    EXPECT_LE(chunk["data"].get_binary().size(), Chunker::kChunkSize);
    total += chunk["data"].get_binary().size();
  }
  EXPECT_EQ(total, packed.size());
  auto second = chunker.split(packed);
  EXPECT_EQ(decodeOk(second[0])["__peerData"], 2);
  Chunker otherConnection;
  EXPECT_EQ(decodeOk(otherConnection.split(packed)[0])["__peerData"], 1);
}

// --- reassembly -----------------------------------------------------------------------------

std::vector<json> decodedChunks(Chunker& chunker, const json& value) {
  std::vector<json> out;
  for (const Bytes& m : chunker.split(encode(value))) out.push_back(decodeOk(m));
  return out;
}

json chunk(json id, json n, json data, json total) {
  return json{{"__peerData", std::move(id)},
              {"n", std::move(n)},
              {"data", std::move(data)},
              {"total", std::move(total)}};
}

TEST(Reassembler, PassesPlainValuesThrough) {
  Reassembler r;
  std::optional<json> out;
  for (const json& v :
       {json(1), json("x"), json{{"a", 1}}, json::parse(R"({"__peerData":0})"),
        json::parse(R"({"__peerData":false,"k":1})"), json::parse(R"({"__peerData":null})"),
        json::parse(R"({"__peerData":""})"), json::array({json{{"__peerData", 1}}})}) {
    ASSERT_TRUE(r.feed(v, out).ok());
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(*out, v);
  }
  EXPECT_FALSE(r.closeRequested());
}

TEST(Reassembler, InOrderReverseAndShuffled) {
  json value = {{"file", bin(pattern(100 * 1024))}, {"name", "big.bin"}};
  Chunker chunker;
  Reassembler r;
  std::optional<json> out;
  auto chunks = decodedChunks(chunker, value);
  ASSERT_GT(chunks.size(), 2u);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    ASSERT_TRUE(r.feed(chunks[i], out).ok());
    EXPECT_EQ(out.has_value(), i + 1 == chunks.size());
  }
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, value);
  EXPECT_EQ(r.pendingValues(), 0u);
  EXPECT_EQ(r.pendingBytes(), 0u);

  chunks = decodedChunks(chunker, value);
  std::reverse(chunks.begin(), chunks.end());
  for (auto& c : chunks) ASSERT_TRUE(r.feed(c, out).ok());
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, value);

  chunks = decodedChunks(chunker, value);
  std::shuffle(chunks.begin(), chunks.end(), std::mt19937(7));
  for (auto& c : chunks) ASSERT_TRUE(r.feed(c, out).ok());
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, value);
}

TEST(Reassembler, InterleavedValues) {
  json a = bin(pattern(40000)), b = std::string(50000, 'q');
  Chunker chunker;
  auto ca = decodedChunks(chunker, a), cb = decodedChunks(chunker, b);
  Reassembler r;
  std::optional<json> out;
  std::vector<json> got;
  for (std::size_t i = 0; i < std::max(ca.size(), cb.size()); ++i) {
    for (auto* list : {&cb, &ca}) {
      if (i >= list->size()) continue;
      ASSERT_TRUE(r.feed((*list)[i], out).ok());
      if (out) got.push_back(*out);
    }
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], a);  // a has fewer chunks, so it completes first
  EXPECT_EQ(got[1], b);
}

TEST(Reassembler, FeedPackedTakesWireMessages) {
  Chunker chunker;
  Reassembler r;
  std::optional<json> out;
  json value = std::string(40000, 'w');
  for (const Bytes& m : chunker.split(encode(value))) ASSERT_TRUE(r.feedPacked(m, out).ok());
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, value);
  ASSERT_TRUE(r.feedPacked(encode("small"), out).ok());
  EXPECT_EQ(*out, json("small"));
  Result bad = r.feedPacked(B({0xc4}), out);
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(out.has_value());
}

TEST(Reassembler, FlushCloseIsReported) {
  Reassembler r;
  std::optional<json> out = json(1);
  ASSERT_TRUE(r.feedPacked(encode(closeMessage()), out).ok());
  EXPECT_FALSE(out.has_value());
  EXPECT_TRUE(r.closeRequested());
  // The packed close message as the PeerJS client sends it.
  EXPECT_EQ(hex(encode(closeMessage())),
            "81 ba 5f 5f 70 65 65 72 44 61 74 61 81 b4 74 79 70 65 b5 63 6c 6f 73 65");
}

TEST(Reassembler, MalformedChunksAreClearErrors) {
  struct Case {
    json chunk;
    const char* needle;
  };
  const std::vector<Case> cases = {
      {chunk("id", 0, bin({1}), 2), "chunk id must be an integer"},
      {chunk(1.5, 0, bin({1}), 2), "chunk id must be an integer"},
      {json{{"__peerData", json{{"type", "other"}}}}, "chunk id must be an integer"},
      {json{{"__peerData", 1}, {"n", 0}, {"total", 2}}, "\"data\" as raw bytes"},
      {chunk(1, 0, "text", 2), "\"data\" as raw bytes"},
      {chunk(1, -1, bin({1}), 2), "non-negative integers"},
      {chunk(1, 0, bin({1}), "2"), "non-negative integers"},
      {chunk(1, 2, bin({1}), 2), "n=2 but total is 2"},
      {chunk(1, 0, bin({1}), 0), "total 0 is outside 1..8192"},
      {chunk(1, 0, bin({1}), 8193), "total 8193 is outside 1..8192"},
  };
  for (const auto& c : cases) {
    Reassembler r;
    std::optional<json> out;
    Result res = r.feed(c.chunk, out);
    ASSERT_FALSE(res.ok()) << c.chunk.dump();
    EXPECT_NE(res.error().find(c.needle), std::string::npos) << res.error();
    EXPECT_FALSE(out.has_value());
    EXPECT_EQ(r.pendingValues(), 0u);
  }
}

TEST(Reassembler, DuplicateAndInconsistentChunksDropTheValue) {
  Reassembler r;
  std::optional<json> out;
  ASSERT_TRUE(r.feed(chunk(5, 0, bin({1}), 3), out).ok());
  ASSERT_TRUE(r.feed(chunk(6, 0, bin({1}), 3), out).ok());
  Result dup = r.feed(chunk(5, 0, bin({1}), 3), out);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().find("value 5: chunk n=0 arrived twice"), std::string::npos) << dup.error();
  EXPECT_EQ(r.pendingValues(), 1u);  // 6 is untouched
  Result later = r.feed(chunk(5, 1, bin({1}), 3), out);
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.error().find("dropped after an earlier error"), std::string::npos);
  Result mismatch = r.feed(chunk(6, 1, bin({1}), 4), out);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().find("total 4 differs from the 3"), std::string::npos);
  EXPECT_EQ(r.pendingValues(), 0u);
  EXPECT_EQ(r.pendingBytes(), 0u);
  // Other ids still work.
  ASSERT_TRUE(r.feed(chunk(7, 0, bin({0x01}), 1), out).ok());
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, json(1));
}

TEST(Reassembler, PendingValueLimit) {
  Reassembler::Limits limits;
  limits.maxPendingValues = 2;
  Reassembler r(limits);
  std::optional<json> out;
  ASSERT_TRUE(r.feed(chunk(1, 0, bin({0x91}), 2), out).ok());
  ASSERT_TRUE(r.feed(chunk(2, 0, bin({0x91}), 2), out).ok());
  Result third = r.feed(chunk(3, 0, bin({0x91}), 2), out);
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.error().find("already 2 values being reassembled"), std::string::npos);
  EXPECT_EQ(r.pendingValues(), 2u);
  // The earlier ones complete normally: 91 05 is [5].
  ASSERT_TRUE(r.feed(chunk(1, 1, bin({0x05}), 2), out).ok());
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, json::array({5}));
  EXPECT_EQ(r.pendingValues(), 1u);
  // And room is made for a new one.
  ASSERT_TRUE(r.feed(chunk(4, 0, bin({0x91}), 2), out).ok());
}

TEST(Reassembler, PendingByteLimit) {
  Reassembler::Limits limits;
  limits.maxPendingBytes = 1000;
  Reassembler r(limits);
  std::optional<json> out;
  ASSERT_TRUE(r.feed(chunk(1, 0, bin(Bytes(500, 1)), 3), out).ok());
  EXPECT_EQ(r.pendingBytes(), 564u);
  Result over = r.feed(chunk(1, 1, bin(Bytes(500, 1)), 3), out);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().find("exceed the limit of 1000 bytes"), std::string::npos) << over.error();
  EXPECT_EQ(r.pendingValues(), 0u);
  EXPECT_EQ(r.pendingBytes(), 0u);
}

TEST(Reassembler, ReassembledGarbageAndNestedChunks) {
  Reassembler r;
  std::optional<json> out;
  ASSERT_TRUE(r.feed(chunk(1, 0, bin({0x92, 0x01}), 2), out).ok());
  Result bad = r.feed(chunk(1, 1, bin({0x02, 0x03}), 2), out);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("value 1 (4 bytes reassembled) does not decode"), std::string::npos)
      << bad.error();
  EXPECT_EQ(r.pendingValues(), 0u);

  const Bytes inner = encode(chunk(9, 0, bin({1}), 1));
  Result nested = r.feed(chunk(2, 0, bin(inner), 1), out);
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.error().find("chunks inside chunks"), std::string::npos);

  // A chunked close message closes, as in the PeerJS client.
  ASSERT_TRUE(r.feed(chunk(3, 0, bin(encode(closeMessage())), 1), out).ok());
  EXPECT_TRUE(r.closeRequested());
  EXPECT_FALSE(out.has_value());
}

TEST(Reassembler, HostileTotalsDoNotAllocate) {
  Reassembler r;
  std::optional<json> out;
  // Many ids each announcing the maximum count: only what arrives is held.
  for (int id = 1; id <= 16; ++id) ASSERT_TRUE(r.feed(chunk(id, 8191, bin({1}), 8192), out).ok());
  EXPECT_EQ(r.pendingBytes(), 16u * 65u);
  EXPECT_FALSE(r.feed(chunk(17, 0, bin({1}), 8192), out).ok());
}

}  // namespace
}  // namespace claynet::binarypack
