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
    CHECK(usage_text().find("default 127.0.0.1:2223") != std::string::npos);
}

TEST_CASE("options set the config, with or without '='", "[config]") {
    auto cl = parse_command_line({"--listen-ng", "[::1]:5000", "--workers=3", "--port-min", "20000",
                                  "--port-max=20999", "--idle-timeout", "30", "--learning-window",
                                  "500", "--log-level", "debug"});
    CHECK(cl.config.listen_ng.to_string() == "[::1]:5000");
    CHECK(cl.config.relay.workers == 3);
    CHECK(cl.config.relay.port_min == 20000);
    CHECK(cl.config.relay.port_max == 20999);
    CHECK(cl.config.relay.idle_timeout_ms == 30000);
    CHECK(cl.config.relay.learning_window_ms == 500);
    CHECK(cl.config.log_level == LogLevel::debug);
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
    CHECK_THROWS_WITH(parse_command_line(Args{"--frobnicate"}), Catch::Contains("unknown option"));
}
