// The real latchd binary over its real ng control socket on 127.0.0.1.
#include <catch2/catch.hpp>
#include <fmt/format.h>

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
    CHECK(client.exchange_raw("c1 d7:command4:pingxe", 2s)->find("error-reason") != std::string::npos);
    CHECK_THAT(*client.exchange_raw("c2 d7:command", 2s), Catch::Contains("truncated bencode"));
    CHECK_THAT(*client.exchange_raw("c3 [1,2]", 2s), Catch::Contains("Invalid NG data format"));
    CHECK_THAT(*client.exchange_raw(R"(c4 {"command":"frobnicate"})", 2s),
               Catch::Contains("Unrecognized command"));
    CHECK_THAT(*client.exchange_raw(R"(c5 {"command":5})", 2s), Catch::Contains("'command' must be a string"));
    CHECK_THAT(*client.exchange_raw(R"(c6 {"flags":[]})", 2s), Catch::Contains("missing key 'command'"));
    CHECK_FALSE(client.exchange_raw("garbage-without-a-space", 300ms));
    std::string huge = "c8 d7:command4:ping3:pad40000:" + std::string(40000, 'x') + "e";
    CHECK_THAT(*client.exchange_raw(huge, 2s), Catch::Contains(fmt::format("message too large ({} bytes; the limit is 32768)", huge.size())));
    // Still serving, and the junk was counted.
    CHECK(client.exchange_raw("c7 d7:command4:pinge", 2s) == "c7 d6:result4:ponge");
    auto stats = client.request({{"command", "statistics"}}, NgEncoding::json, 2s);
    REQUIRE(stats);
    CHECK((*stats)["statistics"]["control"]["dropped without cookie"] == 1);
    CHECK((*stats)["statistics"]["control"]["bad requests"] == 4);
    CHECK(latchd.stop() == 0);
}

TEST_CASE("latchctl pings a running latchd and says so when none answers", "[latchd][latchctl]") {
    DaemonProcess latchd(small_daemon());
    auto ok = run_program(LATCHCTL_PATH, {"--server", latchd.ng().to_string(), "ping"});
    CHECK(ok.exit_code == 0);
    CHECK_THAT(ok.output, Catch::Contains("pong from " + latchd.ng().to_string()));
    auto as_json = run_program(LATCHCTL_PATH, {"--server", latchd.ng().to_string(), "--json", "ping"});
    CHECK(as_json.exit_code == 0);
    CHECK(nlohmann::json::parse(as_json.output) == nlohmann::json{{"result", "pong"}});
    Endpoint gone = latchd.ng();
    CHECK(latchd.stop() == 0);

    auto none = run_program(LATCHCTL_PATH, {"--server", gone.to_string(), "--timeout", "300", "ping"});
    CHECK(none.exit_code == 1);
    CHECK_THAT(none.output, Catch::Contains("no answer from latchd"));
}

TEST_CASE("latchd refuses to start on a bad config or a taken port, in one line", "[latchd]") {
    auto bad = run_program(LATCHD_PATH, {"--port-min", "abc"});
    CHECK(bad.exit_code == 1);
    CHECK_THAT(bad.output, Catch::StartsWith("latchd: --port-min"));

    UdpPeer squatter("127.0.0.1");
    auto taken = run_program(LATCHD_PATH, {"--listen-ng", squatter.local().to_string(), "--port-min",
                                           "24200", "--port-max", "24299"});
    CHECK(taken.exit_code == 1);
    CHECK_THAT(taken.output, Catch::Contains("cannot listen on " + squatter.local().to_string()));

    auto tiny = run_program(LATCHD_PATH, {"--listen-ng", "127.0.0.1:0", "--workers", "4", "--port-min",
                                          "24300", "--port-max", "24303"});
    CHECK(tiny.exit_code == 1);
    CHECK_THAT(tiny.output, Catch::Contains("fewer than 4 workers"));
}
