// Quality figures through the real latchd: phones with a known loss, duplicate and pace, the
// figures read back with ng query and delete in both encodings, where Kamailio's rtpengine
// module reads them (the SSRC dictionary) and in latch's own keys.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <regex>
#include <thread>

#include "daemon_process.hpp"
#include "ng_client.hpp"
#include "phone_sdp.hpp"
#include "rtp_builder.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

bool is_rtp(const Bytes& d) {
    return d.size() >= 12 && (d[1] < 192 || d[1] > 223);
}

// The RTP stream of the leg tagged `tag` (what that party sent).
const json& stream_of(const json& reply, const std::string& tag) {
    return reply.at("tags").at(tag).at("medias").at(0).at("streams").at(0);
}

}  // namespace

TEST_CASE("query and delete report each stream's loss, jitter and MOS as measured",
          "[quality][daemon]") {
    DaemonProcess latchd(
        {"--port-min", "29600", "--port-max", "29689", "--metrics", "127.0.0.1:0"});
    auto metrics_port = latchd.wait_for_log("metrics on http://127.0.0.1:([0-9]+)/metrics");
    REQUIRE(metrics_port);
    NgClient client(latchd.ng());
    for (NgEncoding encoding : {NgEncoding::bencode, NgEncoding::json}) {
        std::string id = encoding == NgEncoding::json ? "q-json" : "q-bencode";
        INFO(id);
        UdpPeer a, b;
        auto [a_sends_to, b_sends_to] = set_up_call(client, id, a.local().port(), b.local().port(),
                                                    encoding, "caller", "callee");

        // 50 packets each way, 20 ms apart as G.711 is. A never sends 10, 20, 30 and 40, and
        // sends 25 twice; B loses nothing. A's sender report at 20 comes back in B's receiver
        // report 80 ms later, held 50 ms by B: the relay's round trip to B is about 30 ms.
        Endpoint a_rtcp_to =
            *Endpoint::parse("127.0.0.1", static_cast<uint16_t>(a_sends_to.port() + 1));
        Endpoint b_rtcp_to =
            *Endpoint::parse("127.0.0.1", static_cast<uint16_t>(b_sends_to.port() + 1));
        auto next = std::chrono::steady_clock::now();
        for (uint16_t seq = 1; seq <= 50; ++seq) {
            if (seq % 10 != 0 || seq == 50) a.send_to(a_sends_to, make_rtp(0xA, seq, seq));
            if (seq == 25) a.send_to(a_sends_to, make_rtp(0xA, seq, seq));
            b.send_to(b_sends_to, make_rtp(0xB, seq, seq));
            if (seq == 20) a.send_to(a_rtcp_to, make_rtcp_report(200, 0xA, 0xB));
            if (seq == 24)
                b.send_to(b_rtcp_to,
                          make_rtcp_report(201, 0xB, 0xA, 0, kReportNtpMiddle, 50 * 65536 / 1000));
            next += 20ms;
            std::this_thread::sleep_until(next);
        }
        int at_b = 0, at_a = 0;
        while (auto d = b.receive(200ms)) at_b += is_rtp(d->data);
        while (auto d = a.receive(50ms)) at_a += is_rtp(d->data);
        CHECK(at_b == 47);  // the duplicate is relayed as it came
        CHECK(at_a == 50);

        auto query = client.request({{"command", "query"}, {"call-id", id}}, encoding, 3s);
        REQUIRE(query);
        REQUIRE((*query)["result"] == "ok");
        const json& from_a = stream_of(*query, "a");
        CHECK(from_a["SSRC"] == 0xA);
        const json& qa = from_a.at("quality");
        CHECK(qa["packets expected"] == 50);
        CHECK(qa["packets received"] == 46);
        CHECK(qa["packets lost"] == 4);
        CHECK(qa["loss ppm"] == 80000);
        CHECK(qa["duplicates"] == 1);
        CHECK(qa["reordered"] == 0);
        CHECK(qa["longest gap"] == 1);
        CHECK(qa["clock rate"] == 8000);
        CHECK(qa["payload type"] == 0);
        CHECK(qa["jitter us"].get<uint64_t>() < 10000);         // paced on loopback
        CHECK(qa["longest silence ms"].get<uint64_t>() >= 35);  // around each lost one
        const json& qb = stream_of(*query, "b").at("quality");
        CHECK(qb["packets lost"] == 0);
        CHECK(qb["packets received"] == 50);
        REQUIRE(qb.contains("sender round-trip time us"));
        CHECK(qb["sender round-trip time us"].get<int64_t>() >= 25000);
        CHECK(qb["sender round-trip time us"].get<int64_t>() < 70000);
        // One round trip measured: the average over the call is that one.
        CHECK(qb["sender round-trip time samples"] == 1);
        CHECK(qb["sender round-trip time average us"] == qb["sender round-trip time us"]);
        CHECK(qa["reported by receiver"]["reports"] == 1);

        // Each party under the label its SDP came with: Kamailio's mos_A_*/mos_B_* pick the
        // streams by it.
        CHECK((*query)["tags"]["a"]["label"] == "caller");
        CHECK((*query)["tags"]["b"]["label"] == "callee");

        // rtpengine's SSRC dictionary: what Kamailio's mos_*_pv read.
        const json& ssrc = (*query).at("SSRC");
        REQUIRE(ssrc.contains("10"));
        REQUIRE(ssrc.contains("11"));
        const json& mos_a = ssrc["10"];
        CHECK(mos_a["cumulative loss"] == 4);
        CHECK(mos_a["average MOS"]["packet loss"] == 8);
        CHECK(mos_a["average MOS"]["samples"] == 1);
        unsigned lossy = mos_a["average MOS"]["MOS"].get<unsigned>();
        unsigned clean = ssrc["11"]["average MOS"]["MOS"].get<unsigned>();
        CHECK(clean >= 43);
        CHECK(lossy <= 38);
        CHECK(lossy >= 30);
        CHECK(mos_a["lowest MOS"]["MOS"] == lossy);
        CHECK(mos_a["lowest MOS"]["reported at"].get<int64_t>() >=
              (*query)["created"].get<int64_t>());
        CHECK(mos_a["highest MOS"]["MOS"] == lossy);
        // Only the round trip to B is known: the stream's is taken as twice that.
        CHECK(mos_a["average MOS"]["round-trip time"].get<int64_t>() >= 50000);
        // Per leg: the relay's round trip to each stream's sender, B's known, A's not.
        CHECK(mos_a["average MOS"]["round-trip time leg"] == 0);
        CHECK(ssrc["11"]["average MOS"]["round-trip time leg"].get<int64_t>() >= 25000);
        CHECK(ssrc["11"]["average MOS"]["round-trip time leg"].get<int64_t>() < 70000);

        // latchctl's table of the same.
        auto table = run_program(LATCHCTL_PATH, {"--server", latchd.ng().to_string(), "query", id});
        CHECK(table.exit_code == 0);
        CHECK_THAT(table.output, Catch::Contains("MOS AVG"));
        CHECK_THAT(table.output, Catch::Contains("8.00"));  // A's loss, in percent

        auto deleted = client.request({{"command", "delete"}, {"call-id", id}, {"from-tag", "a"}},
                                      encoding, 3s);
        REQUIRE(deleted);
        REQUIRE((*deleted)["result"] == "ok");
        CHECK(stream_of(*deleted, "a")["quality"]["packets lost"] == 4);
        CHECK((*deleted)["SSRC"]["10"]["cumulative loss"] == 4);
    }
    // Four streams ended, two lossy (8 %) and two clean: the histograms show the spread.
    Endpoint metrics =
        *Endpoint::parse("127.0.0.1", static_cast<uint16_t>(std::stoi(*metrics_port)));
    std::string body;
    for (int i = 0; i < 40; ++i) {  // published once a second
        body = http_get(metrics, "/metrics");
        if (body.find("latch_stream_loss_percent_count 4") != std::string::npos) break;
        std::this_thread::sleep_for(100ms);
    }
    CHECK_THAT(body, Catch::Contains("# TYPE latch_stream_mos histogram"));
    CHECK_THAT(body, Catch::Contains("latch_stream_mos_count 4"));
    CHECK_THAT(body, Catch::Contains("latch_stream_loss_percent_bucket{le=\"0\"} 2"));
    CHECK_THAT(body, Catch::Contains("latch_stream_loss_percent_bucket{le=\"5\"} 2"));
    CHECK_THAT(body, Catch::Contains("latch_stream_loss_percent_bucket{le=\"10\"} 4"));
    CHECK_THAT(body, Catch::Contains("latch_stream_jitter_ms_count 4"));
    CHECK(latchd.stop() == 0);
}

TEST_CASE("with --quality-figures no, media is relayed and no figures are kept",
          "[quality][daemon]") {
    DaemonProcess latchd({"--port-min", "29700", "--port-max", "29719", "--quality-figures", "no"});
    NgClient client(latchd.ng());
    UdpPeer a, b;
    auto [a_sends_to, b_sends_to] =
        set_up_call(client, "off", a.local().port(), b.local().port(), NgEncoding::bencode);
    for (uint16_t seq = 1; seq <= 20; ++seq) {
        a.send_to(a_sends_to, make_rtp(0xA, seq, seq));
        b.send_to(b_sends_to, make_rtp(0xB, seq, seq));
        std::this_thread::sleep_for(5ms);
    }
    int at_b = 0, at_a = 0;
    while (auto d = b.receive(200ms)) at_b += is_rtp(d->data);
    while (auto d = a.receive(50ms)) at_a += is_rtp(d->data);
    CHECK(at_b >= 19);
    CHECK(at_a >= 19);
    auto query =
        client.request({{"command", "query"}, {"call-id", "off"}}, NgEncoding::bencode, 3s);
    REQUIRE(query);
    REQUIRE((*query)["result"] == "ok");
    const json& from_a = stream_of(*query, "a");
    CHECK(from_a["stats"]["packets"] == 20);
    CHECK_FALSE(from_a.contains("quality"));
    CHECK((*query)["SSRC"].empty());
    CHECK(latchd.stop() == 0);
}
