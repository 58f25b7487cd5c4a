// RTP Bleed and injection: an attacker at another loopback address (127.0.0.9) sprays
// valid-looking RTP at a call's relay ports. Each scenario records attacker packets sent,
// call media leaked to the attacker and attacker packets injected into the call; the table
// is printed and written to attack_results.md in the test's working directory.
#include <catch2/catch.hpp>

#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>

#include "relay_harness.hpp"
#include "rtp_builder.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;

namespace {

constexpr uint32_t kAttackerTag = 0xBADBAD;
const Endpoint kLocal = *Endpoint::parse("127.0.0.1", 0);

struct Outcome {
    std::string scenario;
    int sent = 0;
    int leaked = 0;    // call media the attacker received
    int injected = 0;  // attacker packets a phone received
};

std::vector<Outcome>& table() {
    static std::vector<Outcome> rows;
    return rows;
}

void record(const Outcome& o) {
    table().push_back(o);
    std::ofstream out("attack_results.md");
    out << "| scenario | attacker packets sent | media leaked | packets injected |\n| --- | --- | "
           "--- | --- |\n";
    for (const auto& r : table()) {
        out << "| " << r.scenario << " | " << r.sent << " | " << r.leaked << " | " << r.injected
            << " |\n";
    }
    std::cout << "attack: " << o.scenario << ": sent " << o.sent << ", leaked " << o.leaked
              << ", injected " << o.injected << "\n";
}

// Drains a peer: counts packets with the attacker's tag and packets with any other tag.
void drain(const UdpPeer& peer, int& attacker_packets, int& call_packets) {
    while (auto d = peer.receive(std::chrono::milliseconds(20))) {
        (rtp_tag(d->data) == kAttackerTag ? attacker_packets : call_packets)++;
    }
}

struct Call {
    RelayHarness h;
    UdpPeer a, b;
    UdpPeer attacker{"127.0.0.9"};
    Endpoint ra, rb;
    // `a_signals`: where phone A says it receives (its own address unless it announces
    // another, as a phone behind a NAT does).
    explicit Call(uint16_t port_min, const LatchPolicy& policy = {},
                  std::optional<Endpoint> a_signals = {})
        : h([&] {
              RelayConfig c;
              c.workers = 1;
              c.port_min = port_min;
              c.port_max = static_cast<uint16_t>(port_min + 99);
              return c;
          }()) {
        auto r = h.call(0, Op::create, 1,
                        audio_spec(kLocal, a_signals.value_or(a.local()), b.local(), policy));
        REQUIRE(r.status == ReplyStatus::ok);
        ra = relay_rtp(r, 0);
        rb = relay_rtp(r, 1);
    }
    void spray(Outcome& o, int n, uint32_t ssrc = 0, uint16_t first_seq = 1) {
        for (int i = 0; i < n; ++i) {
            uint32_t s = ssrc ? ssrc : static_cast<uint32_t>(0x5000 + i);
            auto seq = static_cast<uint16_t>(first_seq + i);
            attacker.send_to(ra, make_rtp(s, seq, kAttackerTag));
            attacker.send_to(rb, make_rtp(s, seq, kAttackerTag));
            o.sent += 2;
        }
    }
    // Both phones send `n` packets each, alternating, each waiting for the relay to have
    // handled its packet as phones do (one packet per 20 ms, not bursts): a packet counts as
    // handled when the other phone received it, or after 50 ms.
    void talk(int n, uint16_t first_seq) {
        for (int i = 0; i < n; ++i) {
            auto seq = static_cast<uint16_t>(first_seq + i);
            a.send_to(ra, make_rtp(0xA, seq, 1000 + i));
            await(b, 1000 + i);
            b.send_to(rb, make_rtp(0xB, seq, 2000 + i));
            await(a, 2000 + i);
        }
    }
    // Waits for the packet tagged `tag` at `peer`, keeping the count of what else arrives.
    void await(const UdpPeer& peer, uint32_t tag) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
        while (std::chrono::steady_clock::now() < deadline) {
            auto d = peer.receive(std::chrono::milliseconds(10));
            if (!d) continue;
            uint32_t t = rtp_tag(d->data);
            if (t == kAttackerTag) ++attacker_seen_by_phones;
            if (t == tag) return;
        }
    }
    int attacker_seen_by_phones = 0;
    void tally(Outcome& o) {
        int attacker_at_a = 0, media_at_a = 0, attacker_at_b = 0, media_at_b = 0, junk = 0,
            leaked = 0;
        drain(a, attacker_at_a, media_at_a);
        drain(b, attacker_at_b, media_at_b);
        drain(attacker, junk, leaked);
        o.injected += attacker_at_a + attacker_at_b + attacker_seen_by_phones;
        attacker_seen_by_phones = 0;
        o.leaked += leaked;
    }
};

}  // namespace

TEST_CASE("an attacker spraying before the phones start gets next to nothing", "[attack]") {
    Call call(28000);
    Outcome o{"spray before the phones start (learning window)"};
    call.spray(o, 20);
    call.talk(50, 1);
    call.spray(o, 20, 0, 100);
    call.talk(50, 51);
    call.tally(o);
    record(o);
    CHECK(o.leaked == 0);
    CHECK(o.injected == 0);
    // Once the phones' exact sources are learned, the attacker is out for good.
    Outcome later{"the same call, established"};
    call.spray(later, 100, 0, 200);
    call.talk(20, 101);
    call.tally(later);
    record(later);
    CHECK(later.leaked == 0);
    CHECK(later.injected == 0);
    CHECK(call.h.shutdown());
}

TEST_CASE("an attacker spraying an established call gets nothing and injects nothing", "[attack]") {
    Call call(28100);
    call.talk(5, 1);
    Outcome warmup{"warm-up"};
    call.tally(warmup);
    Outcome o{"spray after the call is established"};
    for (int round = 0; round < 10; ++round) {
        call.spray(o, 20, 0, static_cast<uint16_t>(round * 20));
        call.talk(5, static_cast<uint16_t>(10 + round * 5));
    }
    call.tally(o);
    record(o);
    CHECK(o.leaked == 0);
    CHECK(o.injected == 0);
    CHECK(call.h.shutdown());
}

TEST_CASE("copying the SSRC and guessing the sequence does not take a stream over", "[attack]") {
    Call call(28200);
    call.talk(10, 1);  // the phones' streams: SSRC 0xA and 0xB, sequence 1..10
    Outcome warmup{"warm-up"};
    call.tally(warmup);
    Outcome o{"SSRC copied, next sequence numbers guessed"};
    for (uint16_t seq = 11; seq < 111; ++seq) {
        call.attacker.send_to(call.ra, make_rtp(0xA, seq, kAttackerTag));
        call.attacker.send_to(call.rb, make_rtp(0xB, seq, kAttackerTag));
        o.sent += 2;
    }
    call.talk(10, 11);
    call.tally(o);
    record(o);
    CHECK(o.leaked == 0);
    CHECK(o.injected == 0);
    CHECK(call.h.shutdown());
}

TEST_CASE("a NAT rebinding is followed, unless the call is strict", "[attack][rebinding]") {
    for (bool strict : {false, true}) {
        Call call(strict ? 28400 : 28300,
                  LatchPolicy{LearningMode::heuristic, false, strict, false});
        call.talk(10, 1);
        Outcome warmup{"warm-up"};
        call.tally(warmup);
        // The caller's NAT moves it to a new port: same address, same SSRC, next sequence.
        UdpPeer moved("127.0.0.1");
        for (uint16_t seq = 11; seq < 16; ++seq)
            moved.send_to(call.ra, make_rtp(0xA, seq, 3000 + seq));
        int got_b = 0, junk = 0;
        drain(call.b, junk, got_b);
        call.b.send_to(call.rb, make_rtp(0xB, 11, 4000));
        bool reached_new_port = moved.receive(std::chrono::milliseconds(500)).has_value();
        if (strict) {
            CHECK(got_b == 0);  // strict source: the new port is a stranger
            CHECK_FALSE(reached_new_port);
        } else {
            CHECK(got_b == 5);
            CHECK(reached_new_port);
        }
        CHECK(call.h.shutdown());
    }
}

TEST_CASE(
    "spraying one steady stream as fast as it can, before and while the phones start, gets nothing",
    "[attack]") {
    Call call(28500);
    Outcome o{
        "one SSRC, consecutive sequence numbers, a burst before the phones and more while they "
        "start"};
    call.spray(o, 50, 0xC0FFEE, 1);
    for (int i = 0; i < 20; ++i) {
        call.spray(o, 3, 0xC0FFEE, static_cast<uint16_t>(51 + 3 * i));
        call.talk(1, static_cast<uint16_t>(1 + i));
    }
    call.tally(o);
    record(o);
    CHECK(o.leaked == 0);
    CHECK(o.injected == 0);
    CHECK(call.h.shutdown());
}

TEST_CASE(
    "a phone that announces an address it does not send from is learned within five packets, "
    "a stranger spraying meanwhile gets nothing",
    "[attack][nat]") {
    // Phone A announces 10.99.0.1 (a private address behind its NAT) and sends from 127.0.0.1.
    Call call(28600, LatchPolicy{}, *Endpoint::parse("10.99.0.1", 4000));
    Outcome o{"a phone off its signalled address, a stranger spraying many SSRCs"};
    int reached_b = 0;
    for (uint16_t seq = 1; seq <= 20; ++seq) {
        call.spray(o, 2, 0, static_cast<uint16_t>(seq * 10));
        call.a.send_to(call.ra, make_rtp(0xA, seq, 1000 + seq));
        int attacker = 0, media = 0;
        drain(call.b, attacker, media);
        o.injected += attacker;
        reached_b += media;
    }
    int lost = 20 - reached_b;
    // B answers: its media reaches A at its real source, not at the announced address.
    call.b.send_to(call.rb, make_rtp(0xB, 1, 2000));
    CHECK(call.a.receive(std::chrono::milliseconds(500)).has_value());
    call.tally(o);
    record(o);
    INFO("packets of A lost while it proved itself: " << lost);
    CHECK(lost <= 5);
    CHECK(o.leaked == 0);
    CHECK(o.injected == 0);
    CHECK(call.h.shutdown());
}
