// RTP Bleed against the real latchd: an attacker at 127.0.0.9 sprays every port of the media
// range from the moment the answer's reply is out, before the phones start, as the calls are set
// up over the ng protocol in both encodings. The phones send from the addresses they signalled.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <regex>

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

constexpr uint32_t kAttackerTag = 0xBADBAD;

// A phone on a port of its own: the kernel picks it from its ephemeral range, which holds the
// sprayed media range too, and a phone there would hear the attacker directly.
UdpPeer phone_outside(uint32_t low, uint32_t high) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        UdpPeer phone;
        if (phone.local().port() < low || phone.local().port() > high) return phone;
    }
    FAIL("no port outside the media range");
    return UdpPeer();
}

}  // namespace

TEST_CASE(
    "an attacker spraying every media port from the answer on gets none of the call and injects "
    "nothing",
    "[attack][latchd]") {
    const uint16_t port_min = 33000, port_max = 33099;
    DaemonProcess latchd({"--workers", "2", "--port-min", std::to_string(port_min), "--port-max",
                          std::to_string(port_max)});
    NgClient client(latchd.ng());
    UdpPeer attacker("127.0.0.9");
    attacker.set_receive_buffer(1 << 20);
    int sent = 0, leaked = 0, injected = 0, delivered = 0;
    auto spray = [&](uint16_t round) {
        for (uint32_t port = port_min; port <= port_max; ++port) {
            // One steady stream per port, as a scanner that keeps its SSRC would send.
            attacker.send_to(*Endpoint::parse("127.0.0.1", static_cast<uint16_t>(port)),
                             make_rtp(0xBAD0000u + port, round, kAttackerTag));
            ++sent;
        }
    };
    auto count = [&](const UdpPeer& phone) {
        while (auto d = phone.receive(5ms))
            (rtp_tag(d->data) == kAttackerTag ? injected : delivered)++;
    };
    for (NgEncoding encoding : {NgEncoding::bencode, NgEncoding::json}) {
        UdpPeer a = phone_outside(port_min, port_max), b = phone_outside(port_min, port_max);
        std::string id = encoding == NgEncoding::json ? "bleed-json" : "bleed-bencode";
        auto [a_sends_to, b_sends_to] =
            set_up_call(client, id, a.local().port(), b.local().port(), encoding);
        // From the answer on, paced like media: three rounds before the phones start.
        for (uint16_t round = 1; round <= 3; ++round) {
            spray(round);
            attacker.receive(20ms);
        }
        for (uint16_t seq = 1; seq <= 25; ++seq) {
            spray(static_cast<uint16_t>(3 + seq));
            a.send_to(a_sends_to, make_rtp(0xA, seq, seq));
            b.send_to(b_sends_to, make_rtp(0xB, seq, 100 + seq));
            count(a);
            count(b);
        }
        while (auto d = attacker.receive(50ms)) {
            if (rtp_tag(d->data) != kAttackerTag) ++leaked;
        }
    }
    UNSCOPED_INFO("attacker sent " << sent << ", call media leaked " << leaked
                                   << ", packets injected " << injected);
    CHECK(leaked == 0);
    CHECK(injected == 0);
    CHECK(delivered == 2 * 2 * 25);  // every packet of both phones, in both calls
    auto stats = client.request({{"command", "statistics"}}, NgEncoding::json, 3s);
    REQUIRE(stats);
    CHECK((*stats)["statistics"]["drops"]["foreign-source"].get<uint64_t>() > 0);
    CHECK(latchd.stop() == 0);
}
