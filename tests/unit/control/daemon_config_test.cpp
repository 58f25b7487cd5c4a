// latchd's command line.
#include <catch2/catch.hpp>

#include "daemon_config.hpp"

using namespace latch;

TEST_CASE("defaults are the documented ones", "[config]") {
    auto cl = parse_command_line({});
    CHECK(cl.config.listen_ng.to_string() == "127.0.0.1:2223");
    CHECK(cl.config.relay.port_min == 30000);
    CHECK(cl.config.relay.port_max == 40000);
    CHECK(cl.config.relay.idle_timeout_ms == 60000);
    CHECK(cl.config.relay.learning_window_ms == 3000);
    CHECK(cl.config.relay.workers == 0);
    CHECK(cl.config.relay.packet_io == PacketIo::automatic);
    CHECK(usage_text().find("default 127.0.0.1:2223") != std::string::npos);
}

TEST_CASE("options set the config, with or without '='", "[config]") {
    auto cl = parse_command_line({"--listen-ng", "[::1]:5000", "--workers=3", "--port-min", "20000",
                                  "--port-max=20999", "--idle-timeout", "30", "--learning-window",
                                  "500", "--log-level", "debug", "--packet-io", "epoll"});
    CHECK(cl.config.listen_ng.to_string() == "[::1]:5000");
    CHECK(cl.config.relay.workers == 3);
    CHECK(cl.config.relay.port_min == 20000);
    CHECK(cl.config.relay.port_max == 20999);
    CHECK(cl.config.relay.idle_timeout_ms == 30000);
    CHECK(cl.config.relay.learning_window_ms == 500);
    CHECK(cl.config.log_level == LogLevel::debug);
    CHECK(cl.config.relay.packet_io == PacketIo::epoll);
    CHECK(parse_command_line({"--packet-io=io_uring"}).config.relay.packet_io == PacketIo::io_uring);
    CHECK(parse_command_line({}).config.relay.connected_sockets);
    CHECK_FALSE(parse_command_line({"--connected-sockets", "no"}).config.relay.connected_sockets);
    CHECK(parse_command_line({"--connected-sockets=yes"}).config.relay.connected_sockets);
}

TEST_CASE("bad options are refused with a sentence naming them", "[config]") {
    using Args = std::vector<std::string>;
    CHECK_THROWS_WITH(parse_command_line(Args{"--workers", "0"}), Catch::Contains("--workers"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--workers"}), Catch::Contains("needs a value"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--port-min", "70000"}), Catch::Contains("--port-min"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--port-min", "35000", "--port-max", "34000"}),
                      Catch::Contains("above"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--listen-ng", "localhost"}), Catch::Contains("ADDRESS:PORT"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--log-level", "loud"}), Catch::Contains("--log-level"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--packet-io", "aio"}), Catch::Contains("--packet-io"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--connected-sockets", "on"}), Catch::Contains("--connected-sockets"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--frobnicate"}), Catch::Contains("unknown option"));
}

TEST_CASE("allow-list, learning mode and load limits", "[config]") {
    auto defaults = parse_command_line({});
    CHECK(defaults.config.control_allow.allows(*Endpoint::parse("127.0.0.5:1")));
    CHECK(defaults.config.control_allow.allows(*Endpoint::parse("[::1]:1")));
    CHECK_FALSE(defaults.config.control_allow.allows(*Endpoint::parse("10.0.0.1:1")));
    CHECK(defaults.config.learning == LearningMode::heuristic);

    auto cl = parse_command_line({"--control-allow", "10.0.0.0/8", "--control-allow", "2001:db8::/32",
                                  "--learning", "immediate", "--max-sessions", "500", "--max-packet-rate", "90000"});
    CHECK(cl.config.control_allow.allows(*Endpoint::parse("10.20.30.40:5")));
    CHECK(cl.config.control_allow.allows(*Endpoint::parse("[2001:db8:1::9]:5")));
    CHECK(cl.config.control_allow.allows(*Endpoint::parse("[::ffff:10.1.2.3]:5")));
    CHECK_FALSE(cl.config.control_allow.allows(*Endpoint::parse("127.0.0.1:5")));  // replaced the default
    CHECK_FALSE(cl.config.control_allow.allows(*Endpoint::parse("11.0.0.1:5")));
    CHECK(cl.config.learning == LearningMode::immediate);
    CHECK(cl.config.max_sessions == 500);
    CHECK(cl.config.max_packet_rate == 90000);

    using Args = std::vector<std::string>;
    CHECK_THROWS_WITH(parse_command_line(Args{"--control-allow", "10.0.0.0/33"}), Catch::Contains("prefix"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--control-allow", "nowhere"}), Catch::Contains("--control-allow"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--learning", "sometimes"}), Catch::Contains("--learning"));
}

TEST_CASE("networks match by prefix", "[config]") {
    CHECK(parse_network("192.0.2.0/25").contains(*Endpoint::parse("192.0.2.127:1")));
    CHECK_FALSE(parse_network("192.0.2.0/25").contains(*Endpoint::parse("192.0.2.128:1")));
    CHECK(parse_network("0.0.0.0/0").contains(*Endpoint::parse("203.0.113.9:1")));
    CHECK(parse_network("192.0.2.7").contains(*Endpoint::parse("192.0.2.7:9")));
    CHECK_FALSE(parse_network("192.0.2.7").contains(*Endpoint::parse("192.0.2.8:9")));
    CHECK_FALSE(parse_network("192.0.2.0/24").contains(*Endpoint::parse("[2001:db8::1]:9")));
}
