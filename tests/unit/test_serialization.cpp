#include <gtest/gtest.h>

#include <claynet/serialization.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace claynet {
namespace {

using nlohmann::json;
using Bytes = std::vector<std::uint8_t>;

Bytes bytesOf(std::string_view s) { return Bytes(s.begin(), s.end()); }
std::string textOf(const Bytes& b) { return std::string(b.begin(), b.end()); }

TEST(Serialization, Names) {
  EXPECT_EQ(toString(Serialization::Binary), "binary");
  EXPECT_EQ(toString(Serialization::Json), "json");
  EXPECT_EQ(toString(Serialization::Raw), "raw");
  for (auto s : {Serialization::Binary, Serialization::Json, Serialization::Raw}) {
    Serialization parsed = s == Serialization::Raw ? Serialization::Binary : Serialization::Raw;
    ASSERT_TRUE(parseSerialization(toString(s), parsed));
    EXPECT_EQ(parsed, s);
  }
  Serialization unchanged = Serialization::Json;
  for (std::string_view bad : {"", "Binary", "JSON", "MsgPack", "binary ", "none"}) {
    EXPECT_FALSE(parseSerialization(bad, unchanged)) << bad;
    EXPECT_EQ(unchanged, Serialization::Json);
  }
}

TEST(Serialization, EncodeJsonIsCompactUtf8) {
  Bytes out;
  ASSERT_TRUE(encodeJson(json{{"a", 1}, {"b", {true, nullptr}}}, out).ok());
  EXPECT_EQ(textOf(out), R"({"a":1,"b":[true,null]})");
  ASSERT_TRUE(encodeJson(json("h\xC3\xA9\"\n"), out).ok());
  EXPECT_EQ(textOf(out), "\"h\xC3\xA9\\\"\\n\"");  // UTF-8 as is, like JSON.stringify
  ASSERT_TRUE(encodeJson(json(std::string("a\xff")), out).ok());
  EXPECT_EQ(textOf(out), "\"a\xEF\xBF\xBD\"");
}

TEST(Serialization, EncodeJsonRefusesBytes) {
  Bytes out = {1, 2};
  Result r = encodeJson(json{{"x", json::array({1, json::binary({1, 2})})}}, out);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("raw bytes"), std::string::npos) << r.error();
  EXPECT_TRUE(out.empty());
}

TEST(Serialization, EncodeJsonLimitIs16300) {
  Bytes out;
  // A string of n characters is n + 2 bytes of JSON.
  ASSERT_TRUE(encodeJson(json(std::string(16297, 'x')), out).ok());
  EXPECT_EQ(out.size(), 16299u);
  Result r = encodeJson(json(std::string(16298, 'x')), out);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("16300 bytes"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("fewer than 16300"), std::string::npos) << r.error();
  EXPECT_TRUE(out.empty());
  r = encodeJson(json(std::string(20000, 'x')), out);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("20002 bytes"), std::string::npos) << r.error();
}

TEST(Serialization, EncodeJsonSaysWhyItFailed) {
  Bytes out;
  JsonEncodeFailure why = JsonEncodeFailure::TooLarge;
  ASSERT_TRUE(encodeJson(json{{"a", 1}}, out, &why).ok());
  EXPECT_EQ(why, JsonEncodeFailure::None);
  EXPECT_FALSE(encodeJson(json::binary({1, 2}), out, &why).ok());
  EXPECT_EQ(why, JsonEncodeFailure::Binary);
  EXPECT_FALSE(encodeJson(json(std::string(20000, 'x')), out, &why).ok());
  EXPECT_EQ(why, JsonEncodeFailure::TooLarge);
}

TEST(Serialization, DecodeJson) {
  json v;
  ASSERT_TRUE(decodeJson(bytesOf(R"({"t":"m","d":[1,2.5,"x",null]})"), v).ok());
  EXPECT_EQ(v, json::parse(R"({"t":"m","d":[1,2.5,"x",null]})"));
  ASSERT_TRUE(decodeJson(bytesOf(" 42 "), v).ok());
  EXPECT_EQ(v, 42);
  ASSERT_TRUE(decodeJson(bytesOf("\xEF\xBB\xBF[1]"), v).ok());  // TextDecoder drops a BOM too
  EXPECT_EQ(v, json::array({1}));
  // Ill-formed UTF-8 is repaired as a browser's TextDecoder would.
  ASSERT_TRUE(decodeJson(bytesOf("\"a\xff\""), v).ok());
  EXPECT_EQ(v, json("a\xEF\xBF\xBD"));
}

TEST(Serialization, DecodeJsonErrorsSayWhere) {
  for (std::string_view bad : {"", "{", "[1,]", "tru", "{\"a\":1}x", "nul", "{'a':1}", "[1 2]"}) {
    json v = "sentinel";
    Result r;
    EXPECT_NO_THROW(r = decodeJson(bytesOf(bad), v));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find("invalid JSON"), std::string::npos) << r.error();
    EXPECT_TRUE(v.is_null());
  }
  json v;
  Result r = decodeJson(bytesOf("[1,]"), v);
  EXPECT_NE(r.error().find("byte 4"), std::string::npos) << r.error();
}

TEST(Serialization, DecodeJsonDepthLimit) {
  json v;
  std::string ok = std::string(512, '[') + std::string(512, ']');
  ASSERT_TRUE(decodeJson(bytesOf(ok), v).ok());
  std::string deep = std::string(513, '[') + std::string(513, ']');
  Result r = decodeJson(bytesOf(deep), v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("deeper than 512"), std::string::npos) << r.error();
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  r = decodeJson(bytesOf(objects), v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("deeper than 512"), std::string::npos) << r.error();
}

TEST(Serialization, DecodeJsonRandomInputNeverThrows) {
  std::mt19937 rng(99);
  const std::string alphabet = "{}[]\",:0123456789.eE+-truefalsnl \\u\x80\xff";
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 30, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    json v;
    Result r;
    ASSERT_NO_THROW(r = decodeJson(bytesOf(s), v)) << s;
    if (r.ok()) {
      Bytes again;
      if (encodeJson(v, again).ok()) {
        json w;
        ASSERT_TRUE(decodeJson(again, w).ok());
        EXPECT_EQ(w.dump(), v.dump());
      }
    }
  }
}

}  // namespace
}  // namespace claynet
