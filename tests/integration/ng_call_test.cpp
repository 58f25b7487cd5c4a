// Calls driven through latchd's real ng control socket, as Kamailio's rtpengine module drives
// them (the offer/answer/delete of the reference capture), with RTP through the rewritten ports.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <regex>

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

std::vector<std::string> daemon_args(const char* port_min, const char* port_max) {
    return {"--workers", "2", "--port-min", port_min, "--port-max", port_max};
}

std::string phone_sdp(const char* user, uint16_t port) {
    return fmt::format(
        "v=0\r\no=- 635081253 1 IN IP4 127.0.0.1\r\ns={}\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
        user, port);
}

json kamailio_request(const char* command, const std::string& call_id, const std::string& sdp = "") {
    json r = {{"supports", {"load limit"}}, {"ICE", "remove"}, {"replace", {"origin", "session-connection"}},
              {"call-id", call_id}, {"received-from", {"IP4", "127.0.0.1"}}, {"from-tag", "uac-3c560faf"},
              {"command", command}};
    if (!sdp.empty()) r["sdp"] = sdp;
    if (std::string(command) == "answer") r["to-tag"] = "uas-d7bbe6ab";
    return r;
}

// The relay endpoint a rewritten SDP tells its phone to send to.
Endpoint sdp_target(const std::string& sdp) {
    std::smatch c, m;
    REQUIRE(std::regex_search(sdp, c, std::regex("c=IN IP4 ([0-9.]+)\r\n")));
    REQUIRE(std::regex_search(sdp, m, std::regex("m=audio ([0-9]+) ")));
    return *Endpoint::parse(c[1].str(), static_cast<uint16_t>(std::stoi(m[1].str())));
}

json call(NgClient& client, const json& request, NgEncoding encoding) {
    auto reply = client.request(request, encoding, 3s);
    REQUIRE(reply);
    return *reply;
}

void expect_packet(const UdpPeer& peer, const Bytes& data, const Endpoint& from) {
    auto got = peer.receive(2s);
    REQUIRE(got);
    CHECK(got->data == data);
    CHECK(got->from == from);
}

void full_call(NgEncoding encoding, const char* port_min, const char* port_max) {
    DaemonProcess latchd(daemon_args(port_min, port_max));
    NgClient client(latchd.ng());
    UdpPeer uac, uas;
    const std::string call_id = "101575430d920fd0@test";

    json offer = call(client, kamailio_request("offer", call_id, phone_sdp("test-uac", uac.local().port())), encoding);
    REQUIRE(offer["result"] == "ok");
    std::string offer_sdp = offer["sdp"];
    Endpoint to_relay_from_uas = sdp_target(offer_sdp);
    CHECK(to_relay_from_uas.port() >= std::stoi(port_min));
    CHECK_THAT(offer_sdp, Catch::Contains(fmt::format("a=rtcp:{}\r\n", to_relay_from_uas.port() + 1)));
    CHECK_THAT(offer_sdp, Catch::StartsWith("v=0\r\no=- 635081253 1 IN IP4 127.0.0.1\r\ns=test-uac\r\n"));

    json answer = call(client, kamailio_request("answer", call_id, phone_sdp("test-uas", uas.local().port())), encoding);
    REQUIRE(answer["result"] == "ok");
    Endpoint to_relay_from_uac = sdp_target(answer["sdp"]);
    CHECK(to_relay_from_uac.port() != to_relay_from_uas.port());

    for (uint16_t seq = 0; seq < 5; ++seq) {
        auto a = make_rtp(0x1111, seq, seq);
        uac.send_to(to_relay_from_uac, a);
        expect_packet(uas, a, to_relay_from_uas);
        auto b = make_rtp(0x2222, seq, 100 + seq);
        uas.send_to(to_relay_from_uas, b);
        expect_packet(uac, b, to_relay_from_uac);
    }

    json listed = call(client, {{"command", "list"}}, encoding);
    CHECK(listed["calls"] == json::array({call_id}));

    json query = call(client, {{"command", "query"}, {"call-id", call_id}}, encoding);
    REQUIRE(query["result"] == "ok");
    CHECK(query["totals"]["RTP"]["packets"] == 10);
    CHECK(query["totals"]["RTP"]["bytes"] == 10 * 172);
    json uac_stream = query["tags"]["uac-3c560faf"]["medias"][0]["streams"][0];
    CHECK(uac_stream["local port"] == to_relay_from_uac.port());
    CHECK(uac_stream["endpoint"]["port"] == uac.local().port());
    CHECK(uac_stream["stats"]["packets"] == 5);
    CHECK(query["tags"]["uas-d7bbe6ab"]["medias"][0]["streams"][0]["stats"]["packets"] == 5);

    json deleted = call(client, kamailio_request("delete", call_id), encoding);
    CHECK(deleted["result"] == "ok");
    CHECK(deleted["totals"]["RTP"]["packets"] == 10);
    CHECK(call(client, {{"command", "list"}}, encoding)["calls"].empty());
    CHECK(call(client, {{"command", "query"}, {"call-id", call_id}}, encoding)["error-reason"] == "Unknown call-id");
    json again = call(client, kamailio_request("delete", call_id), encoding);
    CHECK(again["result"] == "ok");
    CHECK(again["warning"] == "Unknown call-id");

    // The ports are closed: media to them goes nowhere.
    uac.send_to(to_relay_from_uac, make_rtp(0x1111, 9, 9));
    CHECK_FALSE(uas.receive(200ms));
    CHECK(latchd.stop() == 0);
}

}  // namespace

TEST_CASE("the capture's offer, answer and delete in bencode, with RTP both ways", "[ng][call]") {
    full_call(NgEncoding::bencode, "25000", "25199");
}

TEST_CASE("the same call in JSON", "[ng][call]") { full_call(NgEncoding::json, "25200", "25399"); }

TEST_CASE("a retransmitted offer gets the same reply and does not run twice", "[ng][cache]") {
    DaemonProcess latchd(daemon_args("25400", "25599"));
    NgClient client(latchd.ng());
    UdpPeer uac;
    std::string wire = "7_1 " + bencode_encode(kamailio_request("offer", "retrans@test", phone_sdp("a", uac.local().port())));
    auto first = client.exchange_raw(wire, 3s);
    REQUIRE(first);
    auto second = client.exchange_raw(wire, 3s);
    REQUIRE(second);
    CHECK(*second == *first);

    // Two copies back to back: the second arrives while the first may still be running.
    std::string wire2 = "7_2 " + bencode_encode(kamailio_request("offer", "inflight@test", phone_sdp("a", uac.local().port())));
    client.send_raw(wire2);
    client.send_raw(wire2);
    auto reply = client.receive_raw(std::chrono::steady_clock::now() + 3s);
    REQUIRE(reply);
    auto extra = client.receive_raw(std::chrono::steady_clock::now() + 300ms);
    if (extra) CHECK(*extra == *reply);  // answered from the cache, never run again

    json stats = *client.request({{"command", "statistics"}}, NgEncoding::json, 3s);
    CHECK(stats["statistics"]["control"]["offer"]["ok"] == 2);
    CHECK(stats["statistics"]["sessions"]["created"] == 2);
    CHECK(stats["statistics"]["calls"] == 2);
    CHECK(latchd.stop() == 0);
}
