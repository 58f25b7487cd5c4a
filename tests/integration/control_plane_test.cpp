// latchd's composition (ControlPlane) in the test's process, reached over its real sockets: a
// command that fails, an observer that fails, and what the observers hear of a call.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <mutex>

#include "in_process_daemon.hpp"
#include "ng_client.hpp"
#include "phone_sdp.hpp"
#include "rtp_builder.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::vector<std::string> small(const char* port_min, const char* port_max) {
    return {"--workers",  "1",      "--port-min",  port_min,
            "--port-max", port_max, "--log-level", "error"};
}

// The relay port a rewritten SDP names.
uint16_t sdp_port(const std::string& body) {
    auto at = body.find("m=audio ");
    REQUIRE(at != std::string::npos);
    return static_cast<uint16_t>(std::stoi(body.substr(at + 8)));
}

json exchange(NgClient& client, const std::string& wire, NgEncoding encoding) {
    auto raw = client.exchange_raw(wire, 3s);
    REQUIRE(raw);
    NgParsed parsed = parse_ng(*raw);
    auto* reply = std::get_if<NgRequest>(&parsed);
    REQUIRE(reply);
    CHECK(reply->encoding == encoding);
    CHECK(reply->cookie == wire.substr(0, wire.find(' ')));
    return reply->dict;
}

// Records what the observers hear. Written on the control thread, read by the test thread.
struct EventLog final : CallObserver {
    std::mutex mutex;
    std::vector<std::string> events;
    SessionSnapshot final;
    void add(std::string e) {
        std::lock_guard lock(mutex);
        events.push_back(std::move(e));
    }
    void call_created(const Call& c, const SessionSnapshot&) override {
        add("created " + c.call_id);
    }
    void call_signalled(const Call& c, int leg, const SessionSnapshot&) override {
        add(fmt::format("signalled {} leg {}", c.call_id, leg));
    }
    void call_learned(const Call& c, const SessionSnapshot&) override {
        add("learned " + c.call_id);
    }
    void call_ended(const Call& c, const SessionSnapshot& f, CallEnd why) override {
        std::lock_guard lock(mutex);
        events.push_back(std::string("ended ") + c.call_id + " " + call_end_name(why));
        final = f;
    }
    std::vector<std::string> seen() {
        std::lock_guard lock(mutex);
        return events;
    }
};

}  // namespace

TEST_CASE("a command that throws is answered with an error, in both encodings, and latchd goes on",
          "[control-plane][faults]") {
    InProcessDaemon latchd(small("31000", "31099"), [](ControlPlane& plane) {
        // One fails before it answers; the other hands its reply to a continuation that fails.
        plane.ng_commands().add_command("fail-now", [](NgParams&, const NgCommands::Respond&) {
            throw std::runtime_error("injected failure");
        });
        CallControl& calls = plane.calls();
        plane.ng_commands().add_command(
            "fail-later", [&calls](NgParams&, const NgCommands::Respond& respond) {
                calls.collect_worker_stats([respond](std::vector<WorkerStats>&) {
                    throw std::runtime_error("late failure");
                });
            });
    });
    NgClient client(latchd.ng());
    for (NgEncoding encoding : {NgEncoding::bencode, NgEncoding::json}) {
        const char* e = encoding == NgEncoding::json ? "j" : "b";
        std::string now = encode_ng(fmt::format("now-{}", e), encoding, {{"command", "fail-now"}});
        json reply = exchange(client, now, encoding);
        CHECK(reply["result"] == "error");
        CHECK(reply["error-reason"] == "internal error: injected failure");
        // The reply cache holds the answer: the retransmission gets it, not silence.
        CHECK(exchange(client, now, encoding) == reply);

        std::string later =
            encode_ng(fmt::format("later-{}", e), encoding, {{"command", "fail-later"}});
        json late = exchange(client, later, encoding);
        CHECK(late["result"] == "error");
        CHECK_THAT(late["error-reason"].get<std::string>(), Catch::Contains("without a reply"));
    }
    // Still serving: a ping and a call.
    CHECK(exchange(client, "p d7:command4:pinge", NgEncoding::bencode)["result"] == "pong");
    UdpPeer a;
    json offer = *client.request({{"command", "offer"},
                                  {"call-id", "after"},
                                  {"from-tag", "x"},
                                  {"sdp", audio_sdp(a.local().port())}},
                                 NgEncoding::bencode, 3s);
    CHECK(offer["result"] == "ok");
    json stats = *client.request({{"command", "statistics"}}, NgEncoding::bencode, 3s);
    CHECK(stats["statistics"]["control"]["ng"]["internal errors"] == 4);
    CHECK(stats["statistics"]["control"]["ng"]["retransmissions"] == 2);
    CHECK(latchd.stop());
}

TEST_CASE("an observer that throws costs neither the call nor the other observers",
          "[control-plane][faults]") {
    struct Failing final : CallObserver {
        void call_signalled(const Call&, int, const SessionSnapshot&) override {
            throw std::runtime_error("observer failure");
        }
    } failing;
    EventLog events;
    InProcessDaemon latchd(small("31100", "31199"), [&](ControlPlane& plane) {
        plane.add_observer(failing);
        plane.add_observer(events);
    });
    NgClient client(latchd.ng());
    UdpPeer a;
    json offer = *client.request({{"command", "offer"},
                                  {"call-id", "obs"},
                                  {"from-tag", "x"},
                                  {"sdp", audio_sdp(a.local().port())}},
                                 NgEncoding::bencode, 3s);
    CHECK(offer["result"] == "ok");
    CHECK(events.seen() == std::vector<std::string>{"created obs", "signalled obs leg 0"});
    json stats = *client.request({{"command", "statistics"}}, NgEncoding::json, 3s);
    CHECK(stats["statistics"]["control"]["observer failures"] == 1);
    CHECK(stats["statistics"]["calls"] == 1);
    CHECK(latchd.stop());
}

TEST_CASE("observers hear a call created, signalled, learned and ended with its counters",
          "[control-plane][observers]") {
    EventLog events;
    InProcessDaemon latchd(small("31200", "31299"),
                           [&](ControlPlane& plane) { plane.add_observer(events); });
    NgClient client(latchd.ng());
    UdpPeer a, b;
    json offer = *client.request({{"command", "offer"},
                                  {"call-id", "c1"},
                                  {"from-tag", "x"},
                                  {"sdp", audio_sdp(a.local().port())}},
                                 NgEncoding::bencode, 3s);
    json answer = *client.request({{"command", "answer"},
                                   {"call-id", "c1"},
                                   {"from-tag", "x"},
                                   {"to-tag", "y"},
                                   {"sdp", audio_sdp(b.local().port())}},
                                  NgEncoding::bencode, 3s);
    Endpoint to_b_side = *Endpoint::parse("127.0.0.1", sdp_port(offer["sdp"]));
    Endpoint to_a_side = *Endpoint::parse("127.0.0.1", sdp_port(answer["sdp"]));
    for (uint16_t seq = 1; seq <= 3; ++seq) {
        a.send_to(to_a_side, make_rtp(0xA, seq));
        REQUIRE(b.receive(2s));
        b.send_to(to_b_side, make_rtp(0xB, seq));
        REQUIRE(a.receive(2s));
    }
    // The learning reports arrive after the packets that taught: wait for both.
    auto deadline = std::chrono::steady_clock::now() + 3s;
    auto learned = [&] {
        auto seen = events.seen();
        return std::count(seen.begin(), seen.end(), "learned c1");
    };
    while (learned() < 2 && std::chrono::steady_clock::now() < deadline) a.receive(20ms);
    CHECK(learned() ==
          2);  // one report per leg's first packet: the same source after is news to nobody
    json deleted =
        *client.request({{"command", "delete"}, {"call-id", "c1"}}, NgEncoding::bencode, 3s);
    CHECK(deleted["result"] == "ok");
    std::vector<std::string> expected = {"created c1", "signalled c1 leg 0", "signalled c1 leg 1",
                                         "learned c1", "learned c1",         "ended c1 deleted"};
    CHECK(events.seen() == expected);
    FlowCounters total;
    for (const auto& m : events.final.media)
        for (const auto& leg : m.flows)
            for (const auto& flow : leg) total += flow.counters;
    CHECK(total.packets_in == 6);
    CHECK(total.packets_out == 6);
    CHECK(latchd.stop());
}
