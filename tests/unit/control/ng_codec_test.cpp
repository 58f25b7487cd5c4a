// ng framing: cookies, encodings, errors.
#include <catch2/catch.hpp>

#include "ng_codec.hpp"

using namespace latch;

TEST_CASE("ng requests are split into cookie and dictionary in either encoding", "[ng]") {
    auto b = parse_ng("0_23976_0 d7:command4:pinge");
    REQUIRE(std::holds_alternative<NgRequest>(b));
    CHECK(std::get<NgRequest>(b).cookie == "0_23976_0");
    CHECK(std::get<NgRequest>(b).encoding == NgEncoding::bencode);
    CHECK(std::get<NgRequest>(b).dict["command"] == "ping");

    auto j = parse_ng(R"(abc {"command":"ping"})");
    REQUIRE(std::holds_alternative<NgRequest>(j));
    CHECK(std::get<NgRequest>(j).encoding == NgEncoding::json);
    CHECK(std::get<NgRequest>(j).dict["command"] == "ping");
}

TEST_CASE("ng replies echo the cookie in the request's encoding", "[ng]") {
    CHECK(encode_ng("5_1", NgEncoding::bencode, {{"result", "pong"}}) == "5_1 d6:result4:ponge");
    CHECK(encode_ng("5_1", NgEncoding::json, {{"result", "pong"}}) == R"(5_1 {"result":"pong"})");
    // A binary string that is not UTF-8 must not make the JSON reply fail.
    CHECK_NOTHROW(encode_ng("c", NgEncoding::json, {{"sdp", std::string("\xff\xfe", 2)}}));
}

TEST_CASE("datagrams without a cookie are not answered", "[ng]") {
    for (const std::string& bad : std::vector<std::string>{"", "d7:command4:pinge", " d7:command4:pinge", "nospace",
                            std::string(200, 'x') + " de", std::string("co\x01kie de")}) {
        INFO(bad);
        CHECK(std::holds_alternative<NgNoCookie>(parse_ng(bad)));
    }
}

TEST_CASE("undecodable dictionaries get a reason", "[ng]") {
    struct Case {
        std::string datagram;
        std::string reason;
    };
    std::vector<Case> cases = {
        {"c1 ", "Invalid NG data format"},
        {"c1 hello", "Invalid NG data format"},
        {"c1 d7:command", "truncated"},
        {"c1 {\"command\":", "invalid JSON"},
        {"c1 {\"command\":\"ping\"} x", "invalid JSON"},
        {"c1 d4:spame", "unexpected byte"},
    };
    for (const auto& c : cases) {
        INFO(c.datagram);
        auto parsed = parse_ng(c.datagram);
        REQUIRE(std::holds_alternative<NgBadRequest>(parsed));
        CHECK(std::get<NgBadRequest>(parsed).cookie == "c1");
        CHECK_THAT(std::get<NgBadRequest>(parsed).reason, Catch::Contains(c.reason));
    }
}
