// Calls driven through latchd's real ng control socket, as Kamailio's rtpengine module drives
// them (the offer/answer/delete of the reference capture), with RTP through the rewritten ports.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <unistd.h>

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

json kamailio_request(const char* command, const std::string& call_id,
                      const std::string& sdp = "") {
    json r = {{"supports", {"load limit"}},
              {"ICE", "remove"},
              {"replace", {"origin", "session-connection"}},
              {"call-id", call_id},
              {"received-from", {"IP4", "127.0.0.1"}},
              {"from-tag", "uac-3c560faf"},
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

// Offer from `uac` and answer from `uas` as Kamailio sends them; the relay endpoint the answer
// tells the caller to send to.
Endpoint establish(NgClient& client, const std::string& call_id, const UdpPeer& uac,
                   const UdpPeer& uas) {
    call(client, kamailio_request("offer", call_id, phone_sdp("uac", uac.local().port())),
         NgEncoding::bencode);
    return sdp_target(
        call(client, kamailio_request("answer", call_id, phone_sdp("uas", uas.local().port())),
             NgEncoding::bencode)["sdp"]);
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

    json offer =
        call(client, kamailio_request("offer", call_id, phone_sdp("test-uac", uac.local().port())),
             encoding);
    REQUIRE(offer["result"] == "ok");
    std::string offer_sdp = offer["sdp"];
    Endpoint to_relay_from_uas = sdp_target(offer_sdp);
    CHECK(to_relay_from_uas.port() >= std::stoi(port_min));
    CHECK_THAT(offer_sdp,
               Catch::Contains(fmt::format("a=rtcp:{}\r\n", to_relay_from_uas.port() + 1)));
    CHECK_THAT(offer_sdp,
               Catch::StartsWith("v=0\r\no=- 635081253 1 IN IP4 127.0.0.1\r\ns=test-uac\r\n"));

    json answer =
        call(client, kamailio_request("answer", call_id, phone_sdp("test-uas", uas.local().port())),
             encoding);
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
    CHECK(call(client, {{"command", "query"}, {"call-id", call_id}}, encoding)["error-reason"] ==
          "Unknown call-id");
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

TEST_CASE("the same call in JSON", "[ng][call]") {
    full_call(NgEncoding::json, "25200", "25399");
}

TEST_CASE("a retransmitted offer gets the same reply and does not run twice", "[ng][cache]") {
    DaemonProcess latchd(daemon_args("25400", "25599"));
    NgClient client(latchd.ng());
    UdpPeer uac;
    std::string wire = "7_1 " + bencode_encode(kamailio_request(
                                    "offer", "retrans@test", phone_sdp("a", uac.local().port())));
    auto first = client.exchange_raw(wire, 3s);
    REQUIRE(first);
    auto second = client.exchange_raw(wire, 3s);
    REQUIRE(second);
    CHECK(*second == *first);

    // Two copies back to back: the second arrives while the first may still be running.
    std::string wire2 = "7_2 " + bencode_encode(kamailio_request(
                                     "offer", "inflight@test", phone_sdp("a", uac.local().port())));
    client.send_raw(wire2);
    client.send_raw(wire2);
    auto reply = client.receive_raw(std::chrono::steady_clock::now() + 3s);
    REQUIRE(reply);
    auto extra = client.receive_raw(std::chrono::steady_clock::now() + 300ms);
    if (extra) CHECK(*extra == *reply);  // answered from the cache, never run again

    json stats = *client.request({{"command", "statistics"}}, NgEncoding::json, 3s);
    CHECK(stats["statistics"]["control"]["ng"]["commands"]["offer"]["ok"] == 2);
    CHECK(stats["statistics"]["control"]["ng"]["retransmissions"].get<int>() >= 1);
    CHECK(stats["statistics"]["sessions"]["created"] == 2);
    CHECK(stats["statistics"]["calls"] == 2);
    CHECK(latchd.stop() == 0);
}

TEST_CASE("bad ng requests get precise error reasons", "[ng][errors]") {
    DaemonProcess latchd(daemon_args("25600", "25799"));
    NgClient client(latchd.ng());
    auto reason = [&](const json& request) {
        auto reply = client.request(request, NgEncoding::bencode, 3s);
        REQUIRE(reply);
        CHECK((*reply)["result"] == "error");
        return (*reply).value("error-reason", std::string());
    };
    std::string sdp = phone_sdp("x", 4000);
    CHECK(reason({{"command", "offer"}, {"from-tag", "a"}, {"sdp", sdp}}) ==
          "missing key 'call-id'");
    CHECK(reason({{"command", "offer"}, {"call-id", "c"}, {"sdp", sdp}}) ==
          "missing key 'from-tag'");
    CHECK(reason({{"command", "offer"}, {"call-id", "c"}, {"from-tag", "a"}}) ==
          "missing key 'sdp'");
    CHECK(reason({{"command", "offer"}, {"call-id", 5}, {"from-tag", "a"}, {"sdp", sdp}}) ==
          "'call-id' must be a string");
    CHECK(reason({{"command", "offer"},
                  {"call-id", "c"},
                  {"from-tag", "a"},
                  {"sdp", sdp},
                  {"flags", "x"},
                  {"replace", 3}}) == "'replace' must be a list of strings");
    CHECK_THAT(reason({{"command", "offer"},
                       {"call-id", "c"},
                       {"from-tag", "a"},
                       {"sdp", "v=0\r\nm=audio x RTP/AVP 0\r\n"}}),
               Catch::StartsWith("Failed to parse SDP: line 2"));
    CHECK(reason({{"command", "offer"},
                  {"call-id", "c"},
                  {"from-tag", "a"},
                  {"sdp", sdp},
                  {"direction", {"nowhere", "x"}}}) == "Unknown interface 'nowhere'");
    CHECK(reason({{"command", "answer"},
                  {"call-id", "nope"},
                  {"from-tag", "a"},
                  {"to-tag", "b"},
                  {"sdp", sdp}}) == "Unknown call-id");
    CHECK(reason({{"command", "answer"}, {"call-id", "nope"}, {"from-tag", "a"}, {"sdp", sdp}}) ==
          "missing key 'to-tag'");
    CHECK(reason({{"command", "query"}, {"call-id", "nope"}}) == "Unknown call-id");
    CHECK(reason({{"command", "delete"}, {"call-id", "nope"}, {"flags", {"fatal"}}}) ==
          "Unknown call-id");
    CHECK(reason({{"command", "record"}}) == "Unrecognized command");
    CHECK(reason({{"command", "offer"},
                  {"call-id", "c"},
                  {"from-tag", "a"},
                  {"sdp", sdp},
                  {"TOS", 300}}) == "'TOS' must be from 0 to 255");
    CHECK(reason({{"command", "offer"},
                  {"call-id", "c"},
                  {"from-tag", "a"},
                  {"sdp", sdp},
                  {"label", std::string(300, 'x')}}) == "'label' must be at most 256 characters");
    CHECK(reason({{"command", "offer"},
                  {"call-id", "c"},
                  {"from-tag", "a"},
                  {"sdp", sdp},
                  {"label", 5}}) == "'label' must be a string");

    // An answer whose from-tag is not a party of the call.
    REQUIRE(call(client, {{"command", "offer"}, {"call-id", "c1"}, {"from-tag", "a"}, {"sdp", sdp}},
                 NgEncoding::json)["result"] == "ok");
    CHECK(reason({{"command", "answer"},
                  {"call-id", "c1"},
                  {"from-tag", "zz"},
                  {"to-tag", "b"},
                  {"sdp", sdp}}) == "Unknown from-tag 'zz'");
    // After all of that, the one good call is still there and nothing leaked.
    CHECK(call(client, {{"command", "list"}}, NgEncoding::json)["calls"] == json::array({"c1"}));
    CHECK(latchd.stop() == 0);
}

TEST_CASE("re-offers keep the ports, hold and resume keep media flowing", "[ng][reinvite]") {
    DaemonProcess latchd(daemon_args("25800", "25999"));
    NgClient client(latchd.ng());
    UdpPeer uac, uas;
    json offer = kamailio_request("offer", "hold@test", phone_sdp("uac", uac.local().port()));
    json answer = kamailio_request("answer", "hold@test", phone_sdp("uas", uas.local().port()));
    std::string first_offer = call(client, offer, NgEncoding::bencode)["sdp"];
    std::string first_answer = call(client, answer, NgEncoding::bencode)["sdp"];
    Endpoint to_uas_side = sdp_target(first_offer), to_uac_side = sdp_target(first_answer);

    // Hold: the caller re-offers with a=sendonly; the callee answers recvonly.
    json hold = offer;
    std::string held = phone_sdp("uac", uac.local().port());
    held.replace(held.find("a=sendrecv"), 10, "a=sendonly");
    hold["sdp"] = held;
    std::string hold_sdp = call(client, hold, NgEncoding::bencode)["sdp"];
    CHECK(sdp_target(hold_sdp) == to_uas_side);
    CHECK_THAT(hold_sdp, Catch::Contains("a=sendonly\r\n"));
    json hold_answer = answer;
    std::string recvonly = phone_sdp("uas", uas.local().port());
    recvonly.replace(recvonly.find("a=sendrecv"), 10, "a=recvonly");
    hold_answer["sdp"] = recvonly;
    CHECK(sdp_target(call(client, hold_answer, NgEncoding::bencode)["sdp"]) == to_uac_side);

    auto music = make_rtp(0x1111, 1, 1);  // music on hold, caller to callee
    uac.send_to(to_uac_side, music);
    expect_packet(uas, music, to_uas_side);

    // Resume: sendrecv again, same ports, audio both ways.
    CHECK(sdp_target(call(client, offer, NgEncoding::bencode)["sdp"]) == to_uas_side);
    CHECK(sdp_target(call(client, answer, NgEncoding::bencode)["sdp"]) == to_uac_side);
    auto a = make_rtp(0x1111, 2, 2), b = make_rtp(0x2222, 2, 3);
    uac.send_to(to_uac_side, a);
    expect_packet(uas, a, to_uas_side);
    uas.send_to(to_uas_side, b);
    expect_packet(uac, b, to_uac_side);
    CHECK(latchd.stop() == 0);
}

TEST_CASE("a caller behind a NAT is reached at its real source", "[ng][nat]") {
    DaemonProcess latchd(daemon_args("26000", "26199"));
    NgClient client(latchd.ng());
    UdpPeer uac_private_port, uac_nat("127.0.0.5"), uas;
    // The caller's SDP names a private address; the proxy saw it at 127.0.0.5 and says so.
    std::string private_sdp = phone_sdp("uac", uac_private_port.local().port());
    private_sdp.replace(private_sdp.find("c=IN IP4 127.0.0.1"), 18, "c=IN IP4 192.168.1.20");
    json offer = kamailio_request("offer", "nat@test", private_sdp);
    offer["received-from"] = {"IP4", "127.0.0.5"};
    offer["flags"] = {"SIP source address"};
    Endpoint to_uas_side = sdp_target(call(client, offer, NgEncoding::bencode)["sdp"]);
    Endpoint to_uac_side = sdp_target(
        call(client, kamailio_request("answer", "nat@test", phone_sdp("uas", uas.local().port())),
             NgEncoding::bencode)["sdp"]);

    auto from_uac = make_rtp(0x1111, 1, 1);
    uac_nat.send_to(to_uac_side, from_uac);  // from the NAT's port, not the SDP's
    expect_packet(uas, from_uac, to_uas_side);
    auto from_uas = make_rtp(0x2222, 1, 2);
    uas.send_to(to_uas_side, from_uas);
    expect_packet(uac_nat, from_uas, to_uac_side);

    json q = call(client, {{"command", "query"}, {"call-id", "nat@test"}}, NgEncoding::json);
    json stream = q["tags"]["uac-3c560faf"]["medias"][0]["streams"][0];
    CHECK(stream["advertised endpoint"]["address"] == "127.0.0.5");
    CHECK(stream["endpoint"]["port"] == uac_nat.local().port());
    CHECK(stream["latch"] == "learning");
    CHECK(latchd.stop() == 0);
}

TEST_CASE("interfaces bind one address and advertise another", "[ng][interfaces]") {
    DaemonProcess latchd({"--workers", "1", "--port-min", "26200", "--port-max", "26299",
                          "--interface", "internal=127.0.0.1", "--interface",
                          "external=127.0.0.1!203.0.113.7"});
    NgClient client(latchd.ng());
    json offer = kamailio_request("offer", "if@test", phone_sdp("uac", 4000));
    offer["direction"] = {"internal", "external"};
    std::string to_callee = call(client, offer, NgEncoding::bencode)["sdp"];
    CHECK_THAT(to_callee, Catch::Contains("c=IN IP4 203.0.113.7\r\n"));
    CHECK_THAT(to_callee, Catch::Contains("o=- 635081253 1 IN IP4 203.0.113.7\r\n"));
    std::string to_caller =
        call(client, kamailio_request("answer", "if@test", phone_sdp("uas", 4002)),
             NgEncoding::bencode)["sdp"];
    CHECK_THAT(to_caller, Catch::Contains("c=IN IP4 127.0.0.1\r\n"));
    CHECK(latchd.stop() == 0);
}

TEST_CASE("latchctl lists, queries, counts and deletes calls", "[ng][latchctl]") {
    DaemonProcess latchd(daemon_args("26300", "26499"));
    NgClient client(latchd.ng());
    UdpPeer uac, uas;
    Endpoint to_uac_side = establish(client, "ctl@test", uac, uas);
    uac.send_to(to_uac_side, make_rtp(0x1111, 1, 1));
    REQUIRE(uas.receive(2s));

    std::string server = latchd.ng().to_string();
    auto list = run_program(LATCHCTL_PATH, {"--server", server, "list"});
    CHECK(list.exit_code == 0);
    CHECK(list.output == "1 active call\nctl@test\n");

    auto query = run_program(LATCHCTL_PATH, {"--server", server, "query", "ctl@test"});
    CHECK(query.exit_code == 0);
    CHECK_THAT(query.output, Catch::Contains("PARTY"));
    CHECK_THAT(query.output, Catch::Contains("uac-3c560faf"));
    CHECK_THAT(query.output, Catch::Contains(uac.local().to_string()));
    CHECK_THAT(query.output, Catch::Contains("totals: RTP 1 packets, 172 bytes"));

    auto stats = run_program(LATCHCTL_PATH, {"--server", server, "--json", "statistics"});
    CHECK(stats.exit_code == 0);
    json parsed = json::parse(stats.output);
    CHECK(parsed["statistics"]["calls"] == 1);
    CHECK(parsed["statistics"]["packets"]["relayed"] == 1);
    auto stats_table = run_program(LATCHCTL_PATH, {"--server", server, "statistics"});
    CHECK_THAT(stats_table.output, Catch::Contains("packets relayed"));

    auto del = run_program(LATCHCTL_PATH, {"--server", server, "delete", "ctl@test"});
    CHECK(del.exit_code == 0);
    CHECK_THAT(del.output, Catch::StartsWith("deleted ctl@test"));
    auto gone = run_program(LATCHCTL_PATH, {"--server", server, "query", "ctl@test"});
    CHECK(gone.exit_code == 1);
    CHECK_THAT(gone.output, Catch::Contains("Unknown call-id"));
    CHECK(run_program(LATCHCTL_PATH, {"--server", server, "list"}).output == "0 active calls\n");
    CHECK(latchd.stop() == 0);
}

TEST_CASE("an idle call is removed from the directory", "[ng][timeout]") {
    DaemonProcess latchd(
        {"--workers", "1", "--port-min", "26500", "--port-max", "26599", "--idle-timeout", "1"});
    NgClient client(latchd.ng());
    call(client, kamailio_request("offer", "idle@test", phone_sdp("uac", 4000)),
         NgEncoding::bencode);
    CHECK(call(client, {{"command", "list"}}, NgEncoding::json)["calls"].size() == 1);
    json calls;
    for (int i = 0; i < 50; ++i) {  // up to 5 s for a 1 s timeout swept every second
        calls = call(client, {{"command", "list"}}, NgEncoding::json)["calls"];
        if (calls.empty()) break;
        UdpPeer pace;
        pace.receive(100ms);
    }
    CHECK(calls.empty());
    CHECK_THAT(latchd.log(), Catch::Contains("call idle@test ended after 1 s without media"));
    CHECK(latchd.stop() == 0);
}

TEST_CASE("a burst of bad control input does not disturb a live call", "[ng][junk]") {
    DaemonProcess latchd(daemon_args("26600", "26799"));
    NgClient client(latchd.ng());
    UdpPeer uac, uas;
    Endpoint to_uac_side = establish(client, "junk@test", uac, uas);
    UdpPeer attacker("127.0.0.9");
    int received = 0;
    for (int i = 0; i < 500; ++i) {
        std::string junk = i % 3 == 0   ? "garbage"
                           : i % 3 == 1 ? fmt::format("c{} d7:command", i)
                                        : fmt::format("c{} {{\"x\":", i);
        attacker.send_to(latchd.ng(), Bytes(junk.begin(), junk.end()));
        auto p = make_rtp(0x1111, static_cast<uint16_t>(i), static_cast<uint32_t>(i));
        uac.send_to(to_uac_side, p);
        if (auto got = uas.receive(1s); got && got->data == p) ++received;
    }
    CHECK(received == 500);
    // Still answering. A proxy retransmits a request that got no answer in time; so does this
    // check, once (under the thread sanitizer, with tshark busy beside it, one ping went
    // unanswered for 3 s in CI).
    auto pong = client.request({{"command", "ping"}}, NgEncoding::json, 3s);
    if (!pong) {
        WARN("the first ping went unanswered for 3 s; sent again");
        pong = client.request({{"command", "ping"}}, NgEncoding::json, 3s);
    }
    REQUIRE(pong);
    CHECK((*pong)["result"] == "pong");
    CHECK(latchd.stop() == 0);
}

TEST_CASE("Prometheus metrics count calls, packets, drops and commands", "[ng][metrics]") {
    DaemonProcess latchd({"--workers", "2", "--port-min", "27100", "--port-max", "27299",
                          "--metrics", "127.0.0.1:0"});
    auto port = latchd.wait_for_log("metrics on http://127.0.0.1:([0-9]+)/metrics");
    REQUIRE(port);
    Endpoint metrics = *Endpoint::parse("127.0.0.1", static_cast<uint16_t>(std::stoi(*port)));

    NgClient client(latchd.ng());
    UdpPeer uac, uas, stranger("127.0.0.9");
    Endpoint to_uac_side = establish(client, "metrics@test", uac, uas);
    for (uint16_t seq = 0; seq < 3; ++seq) {
        uac.send_to(to_uac_side, make_rtp(0x1111, seq, seq));
        REQUIRE(uas.receive(2s));
    }
    stranger.send_to(to_uac_side, make_rtp(0x1111, 9, 9));  // dropped: not the learned source

    std::string body;
    for (int i = 0; i < 40; ++i) {  // refreshed once a second: wait up to 4 s
        body = http_get(metrics, "/metrics");
        if (body.find("latch_packets_relayed_total 3") != std::string::npos &&
            body.find("reason=\"foreign-source\"} 1") != std::string::npos) {
            break;
        }
        stranger.receive(100ms);
    }
    CHECK_THAT(body, Catch::Contains("# TYPE latch_packets_relayed_total counter"));
    CHECK_THAT(body, Catch::Contains("latch_calls 1"));
    CHECK_THAT(body, Catch::Contains("latch_streams 1"));
    CHECK_THAT(body, Catch::Contains("latch_packets_relayed_total 3"));
    CHECK_THAT(body, Catch::Contains("latch_bytes_relayed_total 516"));
    CHECK_THAT(body, Catch::Contains("latch_packets_dropped_total{reason=\"foreign-source\"} 1"));
    CHECK_THAT(body, Catch::Contains("latch_sources_learned_total 1"));
    CHECK_THAT(
        body,
        Catch::Contains(
            "latch_control_commands_total{protocol=\"ng\",command=\"offer\",result=\"ok\"} 1"));
    CHECK_THAT(body, Catch::Contains("latch_port_pairs_free{worker=\"0\"}"));
    CHECK(latchd.stop() == 0);
}

TEST_CASE("at the descriptor limit an offer gets 'no ports available' and live calls go on",
          "[ng][exhaustion]") {
    if (::access("/usr/bin/prlimit", X_OK) != 0) {
        WARN("prlimit (util-linux) is missing");
        return;
    }
    // prlimit lowers the limit and execs latchd, which keeps its PID.
    std::vector<std::string> a = {"--nofile=60:60", LATCHD_PATH, "--workers",  "1",
                                  "--port-min",     "28500",     "--port-max", "28999"};
    DaemonProcess latchd(a, "/usr/bin/prlimit");
    NgClient client(latchd.ng());
    UdpPeer uac, uas;
    Endpoint to_uac_side = establish(client, "first@test", uac, uas);
    int created = 1;
    json refused;
    for (int i = 0; i < 40; ++i) {
        json r = call(
            client,
            kamailio_request("offer", "more" + std::to_string(i) + "@test", phone_sdp("uac", 4000)),
            NgEncoding::bencode);
        if (r["result"] != "ok") {
            refused = r;
            break;
        }
        ++created;
    }
    REQUIRE(refused.is_object());
    CHECK_THAT(refused["error-reason"].get<std::string>(), Catch::StartsWith("no ports available"));
    INFO("calls created before the limit: " << created);
    CHECK(created > 3);
    // The first call still carries media, and deleting calls makes room again.
    auto p = make_rtp(0x1111, 1, 1);
    uac.send_to(to_uac_side, p);
    auto got = uas.receive(2s);
    REQUIRE(got);
    CHECK(got->data == p);
    CHECK(call(client, kamailio_request("delete", "more0@test"), NgEncoding::bencode)["result"] ==
          "ok");
    CHECK(call(client, kamailio_request("offer", "again@test", phone_sdp("uac", 4000)),
               NgEncoding::bencode)["result"] == "ok");
    CHECK(latchd.stop() == 0);
}
