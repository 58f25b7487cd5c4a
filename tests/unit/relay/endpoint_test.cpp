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

TEST_CASE("Endpoint tells private addresses from routable ones", "[endpoint]") {
    for (const char* p : {"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.5", "100.64.0.1",
                          "100.127.255.254", "169.254.10.1", "fd00::1", "fc12::5", "fe80::1"}) {
        INFO(p);
        CHECK(Endpoint::parse(p, 4000)->is_private_address());
    }
    for (const char* p : {"8.8.8.8", "172.32.0.1", "172.15.255.255", "192.169.0.1", "100.128.0.1",
                          "127.0.0.1", "203.0.113.5", "2001:db8::1", "::1", "fec0::1"}) {
        INFO(p);
        CHECK_FALSE(Endpoint::parse(p, 4000)->is_private_address());
    }
}
