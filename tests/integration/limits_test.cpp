// The control sockets' allow-list and the load limits, against the real latchd.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "bencode.hpp"
#include "daemon_process.hpp"
#include "ng_client.hpp"
#include "rtp_builder.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string sdp(uint16_t port) {
    return fmt::format(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} "
        "RTP/AVP 0\r\n",
        port);
}

json offer(const std::string& call_id, uint16_t port, bool supports_load_limit) {
    json r = {{"command", "offer"}, {"call-id", call_id}, {"from-tag", "a"}, {"sdp", sdp(port)}};
    if (supports_load_limit) r["supports"] = {"load limit"};
    return r;
}

// Sends from `from` and waits for the reply datagram.
std::optional<std::string> exchange_from(const UdpPeer& from, const Endpoint& to,
                                         const std::string& text, std::chrono::milliseconds wait) {
    from.send_to(to, Bytes(text.begin(), text.end()));
    auto d = from.receive(wait);
    if (!d) return std::nullopt;
    return std::string(d->data.begin(), d->data.end());
}

}  // namespace

TEST_CASE("control datagrams from outside the allow-list are not answered", "[limits][allow]") {
    DaemonProcess latchd({"--workers", "1", "--port-min", "29000", "--port-max", "29099",
                          "--control-allow", "127.0.0.2"});
    UdpPeer stranger("127.0.0.1"), allowed("127.0.0.2");
    CHECK_FALSE(exchange_from(stranger, latchd.ng(), "1 d7:command4:pinge", 300ms));
    CHECK_FALSE(exchange_from(stranger, latchd.rtpp(), "2 V", 300ms));
    CHECK(exchange_from(allowed, latchd.ng(), "3 d7:command4:pinge", 2s) == "3 d6:result4:ponge");
    CHECK(exchange_from(allowed, latchd.rtpp(), "4 V", 2s) == "4 20040107\n");
    auto stats = exchange_from(allowed, latchd.ng(), R"(5 {"command":"statistics"})", 2s);
    REQUIRE(stats);
    json s = json::parse(stats->substr(2));
    CHECK(s["statistics"]["control"]["ng"]["refused"] == 1);
    CHECK(latchd.stop() == 0);
}

TEST_CASE("the session limit refuses new calls, not re-offers of live ones", "[limits][load]") {
    DaemonProcess latchd(
        {"--workers", "1", "--port-min", "29100", "--port-max", "29199", "--max-sessions", "2"});
    NgClient ng(latchd.ng());
    NgClient rtpp(latchd.rtpp());
    CHECK((*ng.request(offer("c1", 4000, true), NgEncoding::bencode, 2s))["result"] == "ok");
    CHECK((*ng.request(offer("c2", 4002, true), NgEncoding::bencode, 2s))["result"] == "ok");

    json limited = *ng.request(offer("c3", 4004, true), NgEncoding::bencode, 2s);
    CHECK(limited["result"] == "load limit");
    CHECK_THAT(limited["message"].get<std::string>(),
               Catch::Contains("2 calls active, the limit is 2"));
    json refused = *ng.request(offer("c3", 4004, false), NgEncoding::bencode, 2s);
    CHECK(refused["result"] == "error");
    CHECK_THAT(refused["error-reason"].get<std::string>(), Catch::StartsWith("load limit"));
    CHECK(rtpp.exchange_raw("9_1 U c4 127.0.0.1 4006 ft;1", 2s) == "9_1 E98\n");

    CHECK((*ng.request(offer("c1", 4010, true), NgEncoding::bencode, 2s))["result"] ==
          "ok");  // a re-offer
    CHECK((*ng.request({{"command", "delete"}, {"call-id", "c2"}}, NgEncoding::json,
                       2s))["result"] == "ok");
    CHECK((*ng.request(offer("c3", 4004, true), NgEncoding::bencode, 2s))["result"] == "ok");
    CHECK(latchd.stop() == 0);
}

TEST_CASE("the packet-rate limit refuses new calls while the relay is busy", "[limits][load]") {
    DaemonProcess latchd({"--workers", "1", "--port-min", "29200", "--port-max", "29299",
                          "--max-packet-rate", "100"});
    NgClient ng(latchd.ng());
    UdpPeer uac, uas;
    ng.request(offer("busy", uac.local().port(), true), NgEncoding::bencode, 2s);
    json answer = {{"command", "answer"},
                   {"call-id", "busy"},
                   {"from-tag", "a"},
                   {"to-tag", "b"},
                   {"sdp", sdp(uas.local().port())}};
    std::string answered = (*ng.request(answer, NgEncoding::bencode, 2s))["sdp"];
    auto port = static_cast<uint16_t>(std::stoi(answered.substr(answered.find("m=audio ") + 8)));
    Endpoint relay = *Endpoint::parse("127.0.0.1", port);

    // About 400 packets/s for 2.5 s: above the limit for two whole measurements.
    // The generator is paced by the clock: packet i leaves at start + i * 2.5 ms.
    json during;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) {
        auto due = start + std::chrono::microseconds(2500 * i);
        while (std::chrono::steady_clock::now() < due) {
            uas.receive(std::chrono::duration_cast<std::chrono::milliseconds>(
                due - std::chrono::steady_clock::now()));
        }
        uac.send_to(relay, make_rtp(0x1111, static_cast<uint16_t>(i), static_cast<uint32_t>(i)));
        if (i == 900) during = *ng.request(offer("new", 5000, true), NgEncoding::bencode, 2s);
    }
    CHECK(during["result"] == "load limit");
    CHECK_THAT(during.value("message", ""), Catch::Contains("packets/s relayed, the limit is 100"));
    // Quiet again: after the next measurements new calls are taken.
    json after;
    for (int i = 0; i < 40; ++i) {
        after = *ng.request(offer("new", 5000, true), NgEncoding::bencode, 2s);
        if (after["result"] == "ok") break;
        uas.receive(100ms);
    }
    CHECK(after["result"] == "ok");
    CHECK(latchd.stop() == 0);
}
