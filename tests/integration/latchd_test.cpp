// The real latchd binary over its real ng control socket on 127.0.0.1.
#include <fmt/format.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

#include "daemon_config.hpp"
#include "daemon_process.hpp"
#include "ng_client.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;
using namespace std::chrono_literals;

namespace {
std::vector<std::string> small_daemon() {
    return {"--workers", "2", "--port-min", "24000", "--port-max", "24199", "--log-level", "debug"};
}
}  // namespace

TEST_CASE("latchd answers ping in bencode byte for byte and in JSON", "[latchd]") {
    DaemonProcess latchd(small_daemon());
    NgClient client(latchd.ng());
    CHECK(client.exchange_raw("0_23976_0 d7:command4:pinge", 2s) == "0_23976_0 d6:result4:ponge");
    CHECK(client.exchange_raw(R"(j1 {"command":"ping"})", 2s) == R"(j1 {"result":"pong"})");
    auto reply = client.request({{"command", "ping"}}, NgEncoding::bencode, 2s);
    REQUIRE(reply);
    CHECK((*reply)["result"] == "pong");
    CHECK(latchd.stop() == 0);
    CHECK_THAT(latchd.log(), Catch::Contains("stopped"));
}

TEST_CASE("latchd answers bad requests with reasons and drops cookieless junk", "[latchd]") {
    DaemonProcess latchd(small_daemon());
    NgClient client(latchd.ng());
    CHECK(client.exchange_raw("c1 d7:command4:pingxe", 2s)->find("error-reason") !=
          std::string::npos);
    CHECK_THAT(*client.exchange_raw("c2 d7:command", 2s), Catch::Contains("truncated bencode"));
    CHECK_THAT(*client.exchange_raw("c3 [1,2]", 2s), Catch::Contains("Invalid NG data format"));
    CHECK_THAT(*client.exchange_raw(R"(c4 {"command":"frobnicate"})", 2s),
               Catch::Contains("Unrecognized command"));
    CHECK_THAT(*client.exchange_raw(R"(c5 {"command":5})", 2s),
               Catch::Contains("'command' must be a string"));
    CHECK_THAT(*client.exchange_raw(R"(c6 {"flags":[]})", 2s),
               Catch::Contains("missing key 'command'"));
    CHECK_FALSE(client.exchange_raw("garbage-without-a-space", 300ms));
    std::string huge = "c8 d7:command4:ping3:pad40000:" + std::string(40000, 'x') + "e";
    CHECK_THAT(*client.exchange_raw(huge, 2s),
               Catch::Contains(
                   fmt::format("message too large ({} bytes; the limit is 32768)", huge.size())));
    // Still serving, and the junk was counted.
    CHECK(client.exchange_raw("c7 d7:command4:pinge", 2s) == "c7 d6:result4:ponge");
    auto stats = client.request({{"command", "statistics"}}, NgEncoding::json, 2s);
    REQUIRE(stats);
    CHECK((*stats)["statistics"]["control"]["ng"]["dropped without cookie"] == 1);
    CHECK((*stats)["statistics"]["control"]["ng"]["bad requests"] == 4);
    CHECK(latchd.stop() == 0);
}

TEST_CASE("latchctl pings a running latchd and says so when none answers", "[latchd][latchctl]") {
    DaemonProcess latchd(small_daemon());
    auto ok = run_program(LATCHCTL_PATH, {"--server", latchd.ng().to_string(), "ping"});
    CHECK(ok.exit_code == 0);
    CHECK_THAT(ok.output, Catch::Contains("pong from " + latchd.ng().to_string()));
    auto as_json =
        run_program(LATCHCTL_PATH, {"--server", latchd.ng().to_string(), "--json", "ping"});
    CHECK(as_json.exit_code == 0);
    CHECK(nlohmann::json::parse(as_json.output) == nlohmann::json{{"result", "pong"}});
    Endpoint gone = latchd.ng();
    CHECK(latchd.stop() == 0);

    auto none =
        run_program(LATCHCTL_PATH, {"--server", gone.to_string(), "--timeout", "300", "ping"});
    CHECK(none.exit_code == 1);
    CHECK_THAT(none.output, Catch::Contains("no answer from latchd"));
}

TEST_CASE("latchd refuses to start on a bad config or a taken port, in one line", "[latchd]") {
    auto bad = run_program(LATCHD_PATH, {"--port-min", "abc"});
    CHECK(bad.exit_code == 1);
    CHECK_THAT(bad.output, Catch::StartsWith("latchd: --port-min"));

    UdpPeer squatter("127.0.0.1");
    auto taken = run_program(LATCHD_PATH, {"--listen-ng", squatter.local().to_string(),
                                           "--port-min", "24200", "--port-max", "24299"});
    CHECK(taken.exit_code == 1);
    CHECK_THAT(taken.output, Catch::Contains("cannot listen on " + squatter.local().to_string()));

    auto tiny = run_program(LATCHD_PATH, {"--listen-ng", "127.0.0.1:0", "--workers", "4",
                                          "--port-min", "24300", "--port-max", "24303"});
    CHECK(tiny.exit_code == 1);
    CHECK_THAT(tiny.output, Catch::Contains("fewer than 4 workers"));
}

TEST_CASE("latchd reads a config file, and the command line overrides it", "[latchd][config]") {
    std::string path = "/tmp/latchd-test-" + std::to_string(::getpid()) + ".conf";
    {
        std::ofstream conf(path);
        conf << "# test config\nport-min = 26900\nport-max = 26999   # inline comment\n"
             << "interface = pub=127.0.0.1!198.51.100.4\nworkers = 1\nlisten-ng = 127.0.0.1:1\n"
             << "packet-io = epoll\n";
    }
    DaemonProcess latchd(
        {"--config", path, "--log-level", "debug"});  // listen-ng from the test wins
    std::remove(path.c_str());
    CHECK_THAT(latchd.log(), Catch::Contains("1 workers (epoll), media ports 26900-26999"));
    NgClient client(latchd.ng());
    auto reply = client.request({{"command", "offer"},
                                 {"call-id", "conf"},
                                 {"from-tag", "a"},
                                 {"sdp",
                                  "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 "
                                  "127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"}},
                                NgEncoding::json, 2s);
    REQUIRE(reply);
    CHECK_THAT((*reply)["sdp"].get<std::string>(), Catch::Contains("c=IN IP4 198.51.100.4"));
    CHECK(latchd.stop() == 0);

    auto missing = run_program(LATCHD_PATH, {"--config", "/nonexistent/latchd.conf"});
    CHECK(missing.exit_code == 1);
    CHECK_THAT(missing.output, Catch::Contains("cannot read '/nonexistent/latchd.conf'"));
}

TEST_CASE("the shipped config file parses and only repeats the defaults", "[latchd][config]") {
    auto from_file = parse_command_line({"--config", LATCH_SOURCE_DIR "/packaging/latchd.conf"});
    auto defaults = parse_command_line({});
    CHECK(from_file.config.listen_ng == defaults.config.listen_ng);
    CHECK(from_file.config.relay.port_min == defaults.config.relay.port_min);
    CHECK(from_file.config.interfaces.size() == 1);
}

TEST_CASE("latchd listens on IPv6 for control", "[latchd][ipv6]") {
    try {
        UdpPeer probe("::1");
    } catch (const std::exception&) {
        WARN("no IPv6 loopback here");
        return;
    }
    DaemonProcess latchd(
        {"--workers", "1", "--port-min", "27000", "--port-max", "27099", "--listen-ng", "[::1]:0"});
    CHECK(latchd.ng().family() == AF_INET6);
    NgClient client(latchd.ng());
    CHECK(client.exchange_raw("6_1 d7:command4:pinge", 2s) == "6_1 d6:result4:ponge");
    CHECK(latchd.stop() == 0);
}

TEST_CASE(
    "statistics in bencode, as Kamailio's module sends it, is answered and the daemon lives on",
    "[latchd][regression]") {
    DaemonProcess latchd(small_daemon());
    NgClient client(latchd.ng());
    // The reply once carried a float, which bencode cannot: the daemon aborted.
    auto raw = client.exchange_raw("s1 d7:command10:statisticse", 2s);
    REQUIRE(raw);
    auto parsed = parse_ng(*raw);
    auto* reply = std::get_if<NgRequest>(&parsed);
    REQUIRE(reply);
    CHECK(reply->cookie == "s1");
    CHECK(reply->encoding == NgEncoding::bencode);
    CHECK(reply->dict["result"] == "ok");
    CHECK(reply->dict["statistics"]["control"]["packets per second"].is_number_integer());
    CHECK(reply->dict["statistics"]["control"]["ng"]["encode failures"] == 0);
    // A retransmission gets the very same bytes, and the daemon still serves.
    CHECK(client.exchange_raw("s1 d7:command10:statisticse", 2s) == raw);
    CHECK(client.exchange_raw("s2 d7:command4:pinge", 2s) == "s2 d6:result4:ponge");
    CHECK(latchd.stop() == 0);
}
