// Endpoint parsing, formatting and comparison.
#include <catch2/catch.hpp>

#include "endpoint.hpp"

using latch::Endpoint;

TEST_CASE("Endpoint parses and formats IPv4 and IPv6", "[endpoint]") {
    auto v4 = Endpoint::parse("192.0.2.7:5004");
    REQUIRE(v4);
    CHECK(v4->family() == AF_INET);
    CHECK(v4->port() == 5004);
    CHECK(v4->to_string() == "192.0.2.7:5004");

    auto v6 = Endpoint::parse("[2001:db8::1]:6000");
    REQUIRE(v6);
    CHECK(v6->family() == AF_INET6);
    CHECK(v6->to_string() == "[2001:db8::1]:6000");

    CHECK(Endpoint::parse("2001:db8::1", 7)->port() == 7);
}

TEST_CASE("Endpoint rejects malformed text", "[endpoint]") {
    for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:x", "host:80",
                            "[::1]", "::1:80", "1.2.3.4:80x", "[1.2.3.4]:80:1"}) {
        INFO(bad);
        CHECK_FALSE(Endpoint::parse(bad));
    }
    CHECK_FALSE(Endpoint::parse("not-an-address", 1));
}

TEST_CASE("Endpoint compares address and port", "[endpoint]") {
    auto a = *Endpoint::parse("10.0.0.1:1000");
    CHECK(a == *Endpoint::parse("10.0.0.1:1000"));
    CHECK_FALSE(a == *Endpoint::parse("10.0.0.1:1001"));
    CHECK(a.same_address(*Endpoint::parse("10.0.0.1:1001")));
    CHECK_FALSE(a.same_address(*Endpoint::parse("10.0.0.2:1000")));
    CHECK_FALSE(a.same_address(*Endpoint::parse("[::1]:1000")));
    CHECK(a.with_port(9) == *Endpoint::parse("10.0.0.1:9"));
    CHECK(Endpoint::parse("0.0.0.0:4")->is_unspecified_address());
    CHECK(Endpoint::parse("[::]:4")->is_unspecified_address());
    CHECK_FALSE(a.is_unspecified_address());
    CHECK_FALSE(Endpoint{}.is_set());
}
