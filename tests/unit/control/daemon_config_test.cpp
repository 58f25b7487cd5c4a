// latchd's command line.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

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
    CHECK(parse_command_line({"--packet-io=io_uring"}).config.relay.packet_io ==
          PacketIo::io_uring);
    CHECK(parse_command_line({}).config.relay.connected_sockets);
    CHECK_FALSE(parse_command_line({"--connected-sockets", "no"}).config.relay.connected_sockets);
    CHECK(parse_command_line({"--connected-sockets=yes"}).config.relay.connected_sockets);
}

TEST_CASE("bad options are refused with a sentence naming them", "[config]") {
    using Args = std::vector<std::string>;
    CHECK_THROWS_WITH(parse_command_line(Args{"--workers", "0"}), Catch::Contains("--workers"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--workers"}), Catch::Contains("needs a value"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--port-min", "70000"}),
                      Catch::Contains("--port-min"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--port-min", "35000", "--port-max", "34000"}),
                      Catch::Contains("above"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--listen-ng", "localhost"}),
                      Catch::Contains("ADDRESS:PORT"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--log-level", "loud"}),
                      Catch::Contains("--log-level"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--packet-io", "aio"}),
                      Catch::Contains("--packet-io"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--connected-sockets", "on"}),
                      Catch::Contains("--connected-sockets"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--frobnicate"}), Catch::Contains("unknown option"));
}

TEST_CASE("allow-list, learning mode and load limits", "[config]") {
    auto defaults = parse_command_line({});
    CHECK(defaults.config.control_allow.allows(*Endpoint::parse("127.0.0.5:1")));
    CHECK(defaults.config.control_allow.allows(*Endpoint::parse("[::1]:1")));
    CHECK_FALSE(defaults.config.control_allow.allows(*Endpoint::parse("10.0.0.1:1")));
    CHECK(defaults.config.learning == LearningMode::heuristic);

    auto cl = parse_command_line({"--control-allow", "10.0.0.0/8", "--control-allow",
                                  "2001:db8::/32", "--learning", "immediate", "--max-sessions",
                                  "500", "--max-packet-rate", "90000"});
    CHECK(cl.config.control_allow.allows(*Endpoint::parse("10.20.30.40:5")));
    CHECK(cl.config.control_allow.allows(*Endpoint::parse("[2001:db8:1::9]:5")));
    CHECK(cl.config.control_allow.allows(*Endpoint::parse("[::ffff:10.1.2.3]:5")));
    CHECK_FALSE(
        cl.config.control_allow.allows(*Endpoint::parse("127.0.0.1:5")));  // replaced the default
    CHECK_FALSE(cl.config.control_allow.allows(*Endpoint::parse("11.0.0.1:5")));
    CHECK(cl.config.learning == LearningMode::immediate);
    CHECK(cl.config.max_sessions == 500);
    CHECK(cl.config.max_packet_rate == 90000);

    using Args = std::vector<std::string>;
    CHECK_THROWS_WITH(parse_command_line(Args{"--control-allow", "10.0.0.0/33"}),
                      Catch::Contains("prefix"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--control-allow", "nowhere"}),
                      Catch::Contains("--control-allow"));
    CHECK_THROWS_WITH(parse_command_line(Args{"--learning", "sometimes"}),
                      Catch::Contains("--learning"));
}

TEST_CASE("networks match by prefix", "[config]") {
    CHECK(parse_network("192.0.2.0/25").contains(*Endpoint::parse("192.0.2.127:1")));
    CHECK_FALSE(parse_network("192.0.2.0/25").contains(*Endpoint::parse("192.0.2.128:1")));
    CHECK(parse_network("0.0.0.0/0").contains(*Endpoint::parse("203.0.113.9:1")));
    CHECK(parse_network("192.0.2.7").contains(*Endpoint::parse("192.0.2.7:9")));
    CHECK_FALSE(parse_network("192.0.2.7").contains(*Endpoint::parse("192.0.2.8:9")));
    CHECK_FALSE(parse_network("192.0.2.0/24").contains(*Endpoint::parse("[2001:db8::1]:9")));
}

namespace {

struct TempConfig {
    std::string path;
    explicit TempConfig(const std::string& text)
        : path("/tmp/latch-config-test-" + std::to_string(::getpid()) + ".conf") {
        std::ofstream(path) << text;
    }
    ~TempConfig() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("a config file's mistakes name the file and the line", "[config]") {
    using Args = std::vector<std::string>;
    {
        TempConfig f("# comment\nport-min = 20000\n\nworkers = many\n");
        CHECK_THROWS_WITH(parse_command_line(Args{"--config", f.path}),
                          f.path + " line 4: --workers: 'many' is not a number from 1 to 256");
    }
    {
        TempConfig f("port-min = 20000\nlisten-ng 127.0.0.1:2223\n");
        CHECK_THROWS_WITH(parse_command_line(Args{"--config", f.path}),
                          f.path + " line 2: expected 'option = value'");
    }
    {
        TempConfig f("frobnicate = yes\n");
        CHECK_THROWS_WITH(parse_command_line(Args{"--config=" + f.path}),
                          Catch::StartsWith(f.path + " line 1: unknown option '--frobnicate'"));
    }
    {
        TempConfig f("config = /etc/other.conf\n");
        CHECK_THROWS_WITH(parse_command_line(Args{"--config", f.path}),
                          Catch::Contains("line 1: 'config' has no place in a config file"));
    }
    {
        TempConfig f("interface = internal=10.0.0.5\n= 3\n");
        CHECK_THROWS_WITH(parse_command_line(Args{"--config", f.path}),
                          Catch::Contains("line 2: expected 'option = value'"));
    }
    // The command line's own mistakes name no file; its values override the file's.
    {
        TempConfig f("workers = 2\nport-min = 20000\n");
        CHECK_THROWS_WITH(parse_command_line(Args{"--config", f.path, "--workers", "0"}),
                          Catch::StartsWith("--workers:"));
        auto cl = parse_command_line(Args{"--config", f.path, "--workers", "3"});
        CHECK(cl.config.relay.workers == 3);
        CHECK(cl.config.relay.port_min == 20000);
    }
    CHECK_THROWS_WITH(parse_command_line(Args{"--config", "/nonexistent/latchd.conf"}),
                      Catch::Contains("cannot read '/nonexistent/latchd.conf'"));
}

TEST_CASE("a reload tells what it takes over at once from what needs a restart", "[config]") {
    using Args = std::vector<std::string>;
    auto running = parse_command_line(Args{"--max-sessions", "10", "--port-min", "20000"}).config;
    CHECK(config_changes(running, running).empty());

    auto next =
        parse_command_line(Args{"--max-sessions", "20", "--port-min", "20002", "--log-level",
                                "debug", "--control-allow", "10.0.0.0/8", "--learning", "immediate",
                                "--learning-window", "500", "--max-packet-rate", "9000",
                                "--workers", "4", "--redis", "redis://:secret@127.0.0.1:6380/1"})
            .config;
    ConfigChanges c = config_changes(running, next);
    CHECK(c.live == std::vector<std::string>{"log-level: info -> debug",
                                             "control-allow: 127.0.0.0/8, ::1/128 -> 10.0.0.0/8",
                                             "max-sessions: 10 -> 20", "max-packet-rate: 0 -> 9000",
                                             "learning: heuristic -> immediate",
                                             "learning-window: 3000 -> 500"});
    REQUIRE(c.restart.size() == 3);
    // What is in force after the reload: every live setting taken, nothing else.
    ConfigChanges after = config_changes(with_live_settings(running, next), next);
    CHECK(after.live.empty());
    CHECK(after.restart == c.restart);
    CHECK(c.restart[0] == "workers: one per core -> 4");
    CHECK(c.restart[1] == "port-min: 20000 -> 20002");
    CHECK_THAT(c.restart[2], Catch::StartsWith("redis: off -> "));
    CHECK_THAT(c.restart[2], !Catch::Contains("secret"));

    // A Redis password alone changes: said, never shown.
    auto one = parse_command_line(Args{"--redis", "redis://:one@127.0.0.1"}).config;
    auto two = parse_command_line(Args{"--redis", "redis://:two@127.0.0.1"}).config;
    ConfigChanges p = config_changes(one, two);
    CHECK(p.live.empty());
    CHECK(p.restart == std::vector<std::string>{"redis changed"});

    // Every option of --help is either live or named for a restart.
    auto all = parse_command_line(Args{}).config;
    auto other = parse_command_line(Args{"--listen-ng",
                                         "127.0.0.1:2300",
                                         "--interface",
                                         "x=127.0.0.2",
                                         "--listen-rtpp",
                                         "127.0.0.1:22300",
                                         "--listen-rtpp-unix",
                                         "/tmp/x.sock",
                                         "--metrics",
                                         "127.0.0.1:9999",
                                         "--packet-io",
                                         "epoll",
                                         "--kernel-path",
                                         "off",
                                         "--connected-sockets",
                                         "no",
                                         "--quality-figures",
                                         "no",
                                         "--port-max",
                                         "39000",
                                         "--idle-timeout",
                                         "30",
                                         "--instance-id",
                                         "other",
                                         "--redis",
                                         "redis://127.0.0.1",
                                         "--floating-address",
                                         "192.0.2.9",
                                         "--recording-dir",
                                         "/tmp"})
                     .config;
    CHECK(config_changes(all, other).restart.size() == 15);
}
