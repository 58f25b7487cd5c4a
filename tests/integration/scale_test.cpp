// Many sessions at once: 1,000 calls spread over two workers forward every packet.
#include <catch2/catch.hpp>

#include <chrono>
#include <unordered_map>

#include "relay_harness.hpp"
#include "rtp_builder.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;

TEST_CASE("1,000 sessions over 2 workers forward with zero loss", "[scale]") {
    constexpr int kSessions = 1000;
    constexpr int kRounds = 5;
    RelayConfig c;
    c.workers = 2;
    // 4,000 of these ports are bound at once: above the kernel's ephemeral range (32768-60999)
    // and every other test's ports, which tests running beside this one would otherwise lose.
    c.port_min = 61000;
    c.port_max = 65535;
    RelayHarness h(c);
    UdpPeer a, b;
    a.set_receive_buffer(4 << 20);
    b.set_receive_buffer(4 << 20);
    const Endpoint local = *Endpoint::parse("127.0.0.1", 0);

    std::vector<Endpoint> ra(kSessions), rb(kSessions);
    std::unordered_map<uint16_t, int> session_of_port;
    int per_worker[2] = {0, 0};
    for (int s = 0; s < kSessions; ++s) {
        unsigned worker = static_cast<unsigned>(s % 2);
        auto r = h.call(worker, Op::create, static_cast<SessionId>(s + 1),
                        audio_spec(local, a.local(), b.local()));
        REQUIRE(r.status == ReplyStatus::ok);
        ra[s] = relay_rtp(r, 0);
        rb[s] = relay_rtp(r, 1);
        CHECK(h.relay().worker_for_port(ra[s].port()) == worker);
        session_of_port[ra[s].port()] = s;
        session_of_port[rb[s].port()] = s;
        ++per_worker[worker];
    }
    CHECK(per_worker[0] == kSessions / 2);

    std::vector<int> at_a(kSessions, 0), at_b(kSessions, 0);
    int received = 0, misrouted = 0;
    auto account = [&](const Datagram& d, std::vector<int>& tally, const std::vector<Endpoint>& from) {
        auto it = session_of_port.find(d.from.port());
        int s = static_cast<int>(rtp_tag(d.data));
        if (it == session_of_port.end() || it->second != s || !(d.from == from[s])) {
            ++misrouted;
            return;
        }
        ++tally[s];
        ++received;
    };
    auto take = [&](const UdpPeer& peer, std::vector<int>& tally, const std::vector<Endpoint>& from) {
        while (auto d = peer.try_receive()) account(*d, tally, from);
    };

    for (int round = 0; round < kRounds; ++round) {
        for (int s = 0; s < kSessions; ++s) {
            auto seq = static_cast<uint16_t>(round);
            a.send_to(ra[s], make_rtp(0x10000 + s, seq, static_cast<uint32_t>(s)));
            b.send_to(rb[s], make_rtp(0x20000 + s, seq, static_cast<uint32_t>(s)));
            if (s % 32 == 31) {
                take(b, at_b, rb);
                take(a, at_a, ra);
            }
        }
    }
    const int expected = 2 * kRounds * kSessions;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (received < expected && std::chrono::steady_clock::now() < deadline) {
        if (auto d = b.receive(10ms)) account(*d, at_b, rb);
        take(a, at_a, ra);
        take(b, at_b, rb);
    }
    CHECK(received == expected);
    CHECK(misrouted == 0);
    int short_sessions = 0;
    for (int s = 0; s < kSessions; ++s) {
        if (at_a[s] != kRounds || at_b[s] != kRounds) ++short_sessions;
    }
    CHECK(short_sessions == 0);

    uint64_t forwarded = 0;
    for (unsigned w = 0; w < 2; ++w) forwarded += h.call(w, Op::stats, 0).stats.totals.packets_out;
    CHECK(forwarded == static_cast<uint64_t>(expected));
    CHECK(h.shutdown());
}
