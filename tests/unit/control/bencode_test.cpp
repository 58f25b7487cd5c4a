// Bencode codec: round trips, binary-safe strings, nesting, and malformed input.
#include <catch2/catch.hpp>

#include "bencode.hpp"

using latch::bencode_decode;
using latch::bencode_encode;
using latch::BencodeError;
using nlohmann::json;

TEST_CASE("bencode decodes the basic types", "[bencode]") {
    CHECK(bencode_decode("i42e") == 42);
    CHECK(bencode_decode("i-7e") == -7);
    CHECK(bencode_decode("i0e") == 0);
    CHECK(bencode_decode("4:spam") == "spam");
    CHECK(bencode_decode("0:") == "");
    CHECK(bencode_decode("le") == json::array());
    CHECK(bencode_decode("de") == json::object());
    CHECK(bencode_decode("l4:spami1ee") == json::array({"spam", 1}));
    CHECK(bencode_decode("d3:cow3:moo4:spam4:eggse") == json({{"cow", "moo"}, {"spam", "eggs"}}));
}

TEST_CASE("bencode accepts keys in any order and nests", "[bencode]") {
    auto v = bencode_decode("d7:command5:offer5:flagsl5:trust9:symmetrice1:ad1:bli1ei2eeee");
    CHECK(v["command"] == "offer");
    CHECK(v["flags"] == json::array({"trust", "symmetric"}));
    CHECK(v["a"]["b"] == json::array({1, 2}));
}

TEST_CASE("bencode strings are binary-safe both ways", "[bencode]") {
    std::string binary("a\0b\xff\r\n:e", 8);
    json v = {{"sdp", binary}};
    std::string wire = bencode_encode(v);
    CHECK(wire == std::string("d3:sdp8:") + binary + "e");
    CHECK(bencode_decode(wire)["sdp"].get<std::string>() == binary);
}

TEST_CASE("bencode encodes with sorted keys, byte for byte", "[bencode]") {
    json v = {{"result", "ok"}, {"sdp", "v=0\r\n"}, {"created", 1795461650}, {"list", {"x", 1}}};
    CHECK(bencode_encode(v) == "d7:createdi1795461650e4:listl1:xi1ee6:result2:ok3:sdp5:v=0\r\ne");
    CHECK(bencode_encode(json{{"b", true}, {"u", 18446744073709551615ull}}) ==
          "d1:bi1e1:ui18446744073709551615ee");
    CHECK_THROWS_AS(bencode_encode(json{{"f", 1.5}}), BencodeError);
    CHECK_THROWS_AS(bencode_encode(json{{"n", nullptr}}), BencodeError);
}

TEST_CASE("bencode round-trips a real Kamailio offer", "[bencode]") {
    std::string offer =
        "d8:supportsl10:load limite3:sdp29:v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n3:ICE6:remove"
        "7:replacel6:origin18:session-connectione7:call-id9:abc@test113:received-froml3:I"
        "P49:127.0.0.1e8:from-tag5:tag-17:command5:offere";
    json v = bencode_decode(offer);
    CHECK(v["command"] == "offer");
    CHECK(v["received-from"][1] == "127.0.0.1");
    CHECK(bencode_decode(bencode_encode(v)) == v);
}

TEST_CASE("malformed bencode is rejected with a precise reason", "[bencode]") {
    struct Case {
        std::string input;
        std::string reason;
    };
    std::vector<Case> cases = {
        {"", "truncated"},
        {"d", "truncated"},
        {"d7:command", "truncated"},
        {"d7:command4:ping", "truncated"},
        {"d7:command10:ping", "runs past the end"},
        {"l", "truncated"},
        {"i12", "truncated"},
        {"ie", "malformed integer"},
        {"i-0e", "malformed integer"},
        {"i03e", "malformed integer"},
        {"i1x2e", "malformed integer"},
        {"i99999999999999999999e", "malformed integer"},
        {"03:abc", "malformed string length"},
        {"x", "unexpected byte"},
        {"di1ei2ee", "key is not a string"},
        {"4:spamextra", "trailing data"},
        {"5", "truncated"},
    };
    for (const auto& c : cases) {
        INFO(c.input);
        try {
            bencode_decode(c.input);
            FAIL("accepted");
        } catch (const BencodeError& e) {
            CHECK_THAT(e.what(), Catch::Contains(c.reason));
        }
    }
}

TEST_CASE("bencode refuses nesting beyond the limit", "[bencode]") {
    std::string deep(100, 'l');
    deep += std::string(100, 'e');
    CHECK_THROWS_WITH(bencode_decode(deep), Catch::Contains("nested too deeply"));
    CHECK_NOTHROW(bencode_decode("llllleeeee"));
}
