// StreamQuality: RFC 3550 sequence accounting (wrap, loss, duplicates, reordering, restarts)
// and interarrival jitter against streams whose figures are known by construction.
#include "stream_quality.hpp"

#include <catch2/catch.hpp>

using namespace latch;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr uint64_t kMs = 1'000'000;

// A G.711 stream: 20 ms packets, 160 timestamp ticks each.
struct Sender {
    StreamQuality q;
    uint32_t ssrc = 0x1234;
    uint8_t type = 0;
    uint32_t ticks = 160;
    void send(uint16_t seq, uint64_t arrival_ns) {
        q.on_rtp(ssrc, seq, 1000 + static_cast<uint32_t>(seq) * ticks, type, arrival_ns);
    }
    // Packets first..first+count-1 (mod 2^16), on time.
    void run(uint16_t first, int count, uint64_t start_ns = kMs) {
        for (int i = 0; i < count; ++i)
            send(static_cast<uint16_t>(first + i), start_ns + static_cast<uint64_t>(i) * 20 * kMs);
    }
};

}  // namespace

TEST_CASE("a clean stream across the sequence wrap loses nothing", "[quality]") {
    Sender s;
    s.run(65000, 1000);
    QualityFigures f = s.q.figures();
    CHECK(f.ssrc == 0x1234);
    CHECK(f.expected == 1000);
    CHECK(f.received == 1000);
    CHECK(f.lost == 0);
    CHECK(f.duplicates == 0);
    CHECK(f.reordered == 0);
    CHECK(f.longest_gap == 0);
    CHECK(f.restarts == 0);
    CHECK(f.loss_ppm() == 0);
    CHECK(f.clock_rate == 8000);
    CHECK(f.jitter_us == 0);
    CHECK(f.longest_silence_ms == 20);
}

TEST_CASE("lost packets count once, and the longest gap is the longest burst", "[quality]") {
    Sender s;
    int sent = 0;
    for (int i = 0; i < 1000; ++i) {
        bool every_tenth = i % 10 == 5;
        bool burst = i >= 500 && i < 507;
        if (every_tenth || burst) continue;
        s.send(static_cast<uint16_t>(65500 + i), kMs + static_cast<uint64_t>(i) * 20 * kMs);
        ++sent;
    }
    QualityFigures f = s.q.figures();
    CHECK(f.expected == 1000);
    CHECK(f.received == static_cast<uint64_t>(sent));
    CHECK(f.lost == static_cast<uint64_t>(1000 - sent));
    CHECK(f.longest_gap == 7);  // 500-506; 505 is also a tenth
    CHECK(f.loss_ppm() == static_cast<uint32_t>((1000 - sent) * 1000));
    CHECK(f.longest_silence_ms == 160);  // 499 to 507
}

TEST_CASE("duplicates are counted apart and do not hide a loss", "[quality]") {
    Sender s;
    s.run(10, 20);
    s.send(29, 500 * kMs);  // the newest again
    s.send(25, 510 * kMs);  // an older one again
    s.send(31, 520 * kMs);  // 30 lost
    s.send(31, 530 * kMs);
    QualityFigures f = s.q.figures();
    CHECK(f.duplicates == 3);
    CHECK(f.expected == 22);
    CHECK(f.received == 21);
    CHECK(f.lost == 1);
}

TEST_CASE("reordered packets are late, not lost", "[quality]") {
    Sender s;
    // Pairs swapped: 1 0 3 2 5 4 ...; the first packet itself arrives after the second.
    for (int i = 0; i < 100; i += 2) {
        s.send(static_cast<uint16_t>(i + 1), static_cast<uint64_t>(i + 1) * 20 * kMs);
        s.send(static_cast<uint16_t>(i), static_cast<uint64_t>(i + 1) * 20 * kMs + kMs);
    }
    QualityFigures f = s.q.figures();
    CHECK(f.expected == 100);
    CHECK(f.received == 100);
    CHECK(f.lost == 0);
    CHECK(f.reordered == 50);
    CHECK(f.duplicates == 0);
    CHECK(f.longest_gap == 1);  // each pair's first leaves one behind, for a moment
}

TEST_CASE("a jump the stream keeps to is a restart, a lone stray is not counted", "[quality]") {
    Sender s;
    s.run(100, 50);
    s.send(40000, 2000 * kMs);  // a stray: nothing follows it
    s.run(150, 10, 2100 * kMs);
    QualityFigures f = s.q.figures();
    CHECK(f.restarts == 0);
    CHECK(f.expected == 60);
    CHECK(f.received == 60);

    s.run(30000, 20, 3000 * kMs);  // the sender restarted its numbering
    f = s.q.figures();
    CHECK(f.restarts == 1);
    CHECK(f.expected == 80);
    CHECK(f.received == 80);
    CHECK(f.lost == 0);
}

TEST_CASE("a new SSRC starts a new run whose counts add to the old", "[quality]") {
    Sender s;
    s.run(1000, 30);
    s.ssrc = 0x9999;
    s.run(5, 10, 1000 * kMs);
    s.send(16, 1300 * kMs);  // 15 lost
    QualityFigures f = s.q.figures();
    CHECK(f.ssrc == 0x9999);
    CHECK(f.restarts == 1);
    CHECK(f.expected == 30 + 12);
    CHECK(f.received == 30 + 11);
    CHECK(f.lost == 1);
}

TEST_CASE("jitter follows RFC 3550: zero on time, the offset when every other one is late",
          "[quality]") {
    Sender s;
    // Every odd packet 5 ms late: |D| is 5 ms for every pair, so J tends to 5 ms.
    for (int i = 0; i < 400; ++i) {
        uint64_t late = i % 2 ? 5 * kMs : 0;
        s.send(static_cast<uint16_t>(i), kMs + static_cast<uint64_t>(i) * 20 * kMs + late);
    }
    QualityFigures f = s.q.figures();
    CHECK(f.jitter_us == Approx(5000).epsilon(0.01));
    CHECK(f.max_jitter_us >= f.jitter_us);

    // Back on time: J decays by 15/16 per packet.
    for (int i = 400; i < 480; ++i)
        s.send(static_cast<uint16_t>(i), kMs + static_cast<uint64_t>(i) * 20 * kMs + 5 * kMs);
    f = s.q.figures();
    CHECK(f.jitter_us < 50);
    CHECK(f.max_jitter_us == Approx(5000).epsilon(0.01));
}

TEST_CASE("jitter needs the payload type's clock: static, from the SDP, or none", "[quality]") {
    CHECK(static_clock_rate(0) == 8000);
    CHECK(static_clock_rate(8) == 8000);
    CHECK(static_clock_rate(9) == 8000);
    CHECK(static_clock_rate(34) == 90000);
    CHECK(static_clock_rate(96) == 0);

    Sender unknown;
    unknown.type = 111;
    for (int i = 0; i < 50; ++i)
        unknown.send(static_cast<uint16_t>(i), kMs + static_cast<uint64_t>(i) * 23 * kMs);
    CHECK(unknown.q.figures().clock_rate == 0);
    CHECK(unknown.q.figures().jitter_us == 0);
    CHECK(unknown.q.figures().received == 50);

    // Opus: 48 kHz, 960 ticks per 20 ms; each packet 2 ms later than the last.
    Sender opus;
    opus.type = 111;
    opus.ticks = 960;
    ClockRates rates;
    CHECK(rates.set(111, 48000));
    CHECK(rates.rate_of(111) == 48000);
    CHECK(rates.rate_of(0) == 8000);
    opus.q.set_clock_rates(rates);
    for (int i = 0; i < 400; ++i)
        opus.send(static_cast<uint16_t>(i), kMs + static_cast<uint64_t>(i) * 22 * kMs);
    CHECK(opus.q.figures().clock_rate == 48000);
    CHECK(opus.q.figures().jitter_us == Approx(2000).epsilon(0.01));
}

TEST_CASE("jitter is timed on the stream's first media type, events between leave it alone",
          "[quality]") {
    Sender s;
    ClockRates rates;
    rates.set(101, 8000);  // telephone-event/8000
    s.q.set_clock_rates(rates);
    for (int i = 0; i < 300; ++i) {
        auto seq = static_cast<uint16_t>(i);
        uint64_t at = kMs + static_cast<uint64_t>(i) * 20 * kMs;
        if (i % 10 == 9) {
            s.q.on_rtp(s.ssrc, seq, 4242, 101, at);  // an event: its timestamp stands still
        } else {
            s.send(seq, at);
        }
    }
    QualityFigures f = s.q.figures();
    CHECK(f.jitter_us == 0);
    CHECK(f.payload_type == 0);
    CHECK(f.received == 300);

    // New signalling: the next packet's type is the one timed.
    s.q.set_clock_rates(rates);
    s.type = 101;
    s.run(300, 10, 7000 * kMs);
    CHECK(s.q.figures().payload_type == 101);
    CHECK(s.q.figures().jitter_us == 0);
}

TEST_CASE("a clock-rate table holds a handful of types and refuses more", "[quality]") {
    ClockRates rates;
    for (uint8_t pt = 96; pt < 96 + ClockRates::kMax; ++pt) CHECK(rates.set(pt, 16000));
    CHECK_FALSE(rates.set(120, 16000));
    CHECK(rates.set(96, 48000));  // a known one may change
    CHECK(rates.rate_of(96) == 48000);
    CHECK(rates.rate_of(120) == 0);
    CHECK(rates.size() == ClockRates::kMax);
}

TEST_CASE("MOS samples rate each interval's loss, the call keeps lowest, highest, average",
          "[quality][emodel]") {
    Sender s;
    uint64_t t = kMs;
    uint16_t seq = 0;
    auto second = [&](int loss_every) {  // 50 packets; every loss_every-th lost
        for (int i = 0; i < 50; ++i, ++seq, t += 20 * kMs) {
            if (loss_every && i % loss_every == 0) continue;
            s.send(seq, t);
        }
    };
    s.q.sample(0, 5000, -1);  // nothing yet: no sample
    CHECK(s.q.figures().mos.samples == 0);
    for (int i = 0; i < 5; ++i) second(0);
    s.q.sample(5000, 5000, -1);
    for (int i = 0; i < 5; ++i) second(10);  // 10 % lost
    s.q.sample(8000, 5000, -1);              // too soon: no sample
    CHECK(s.q.figures().mos.samples == 1);
    s.q.sample(10000, 5000, 40000);
    s.q.sample(15000, 5000, -1);  // nothing arrived since: no sample

    MosSummary m = s.q.figures().mos;
    REQUIRE(m.samples == 2);
    CHECK(m.highest.mos_x10 == 44);
    CHECK(m.highest.loss_ppm == 0);
    CHECK(m.highest.at_ms == 5000);
    CHECK(m.lowest.loss_ppm == Approx(100000).margin(1000));
    CHECK(m.lowest.mos_x10 < 40);
    CHECK(m.lowest.rtt_us == 40000);
    CHECK(m.lowest.at_ms == 10000);
    CHECK(m.average_mos_x10() == (m.highest.mos_x10 + m.lowest.mos_x10 + 1) / 2);
    CHECK(m.rtt_samples == 1);
}

namespace {

// Packets (ssrc, seq) at 20 ms spacing from `start`, into a C state as the kernel path keeps it.
void feed(latch_rtp_quality& q, uint32_t ssrc, std::initializer_list<int> seqs, uint64_t start) {
    uint64_t t = start;
    for (int seq : seqs) {
        auto s = static_cast<uint16_t>(seq);
        latch_quality_on_rtp(&q, ssrc, s, static_cast<uint32_t>(s) * 160u, 0, t);
        t += 20 * kMs;
    }
}

void feed(StreamQuality& q, uint32_t ssrc, std::initializer_list<int> seqs, uint64_t start) {
    uint64_t t = start;
    for (int seq : seqs) {
        auto s = static_cast<uint16_t>(seq);
        q.on_rtp(ssrc, s, static_cast<uint32_t>(s) * 160u, 0, t);
        t += 20 * kMs;
    }
}

void same_counts(const QualityFigures& a, const QualityFigures& b) {
    CHECK(a.ssrc == b.ssrc);
    CHECK(a.expected == b.expected);
    CHECK(a.received == b.received);
    CHECK(a.lost == b.lost);
    CHECK(a.duplicates == b.duplicates);
    CHECK(a.reordered == b.reordered);
    CHECK(a.longest_gap == b.longest_gap);
    CHECK(a.restarts == b.restarts);
    CHECK(a.longest_silence_ms == b.longest_silence_ms);
    CHECK(a.clock_rate == b.clock_rate);
}

}  // namespace

TEST_CASE("a stream measured partly by the kernel path adds up as if measured in one place",
          "[quality][kernel]") {
    SECTION("the same SSRC, packets lost at the hand-over and after it") {
        StreamQuality alone, user;
        feed(alone, 7, {65530, 65531, 65533, 65534, 65535}, kMs);
        feed(alone, 7, {2, 3, 3, 5, 4, 6}, 200 * kMs);
        feed(user, 7, {65530, 65531, 65533, 65534, 65535}, kMs);
        latch_rtp_quality kernel = user.seed();
        CHECK_FALSE(kernel.started);
        CHECK(kernel.timed_type == 0);
        feed(kernel, 7, {2, 3, 3, 5, 4, 6}, 200 * kMs);
        same_counts(user.figures(&kernel), alone.figures());
        CHECK(user.figures(&kernel).lost == 3);  // 65532, 0 and 1
        CHECK(user.figures(&kernel).longest_silence_ms == 119);
        // Taken in for good, and measured on here.
        user.absorb(kernel);
        feed(user, 7, {7, 8}, 400 * kMs);
        feed(alone, 7, {7, 8}, 400 * kMs);
        same_counts(user.figures(), alone.figures());
    }
    SECTION("a new SSRC at the hand-over is a restart") {
        StreamQuality alone, user;
        feed(alone, 7, {10, 11, 12}, kMs);
        feed(alone, 8, {500, 502}, 100 * kMs);
        feed(user, 7, {10, 11, 12}, kMs);
        latch_rtp_quality kernel = user.seed();
        feed(kernel, 8, {500, 502}, 100 * kMs);
        same_counts(user.figures(&kernel), alone.figures());
        CHECK(user.figures(&kernel).restarts == 1);
    }
    SECTION("nothing reached the kernel: the stream's own figures") {
        StreamQuality user;
        feed(user, 7, {1, 2, 4}, kMs);
        latch_rtp_quality kernel = user.seed();
        same_counts(user.figures(&kernel), user.figures());
    }
}

namespace {

void put32(Bytes& b, std::size_t at, uint32_t v) {
    b[at] = static_cast<uint8_t>(v >> 24), b[at + 1] = static_cast<uint8_t>(v >> 16);
    b[at + 2] = static_cast<uint8_t>(v >> 8), b[at + 3] = static_cast<uint8_t>(v);
}

}  // namespace

TEST_CASE("RTCP's sender reports and report blocks are read from a compound packet",
          "[quality][rtcp]") {
    // SR with one block, RR with two, SDES; then a packet whose length overruns the datagram.
    Bytes p(28 + 24 + 8 + 48 + 12 + 8, 0);
    p[0] = 0x81, p[1] = 200, p[3] = 12;  // 13 words
    put32(p, 4, 0xA);
    put32(p, 8, 0x83AA7E80), put32(p, 12, 0x12345678);  // NTP
    put32(p, 28, 0xB);                                  // block: about B's stream
    p[32] = 64;                                         // a quarter lost
    p[33] = 0xff, p[34] = 0xff, p[35] = 0xfe;           // -2 cumulative (duplicates)
    put32(p, 40, 80), put32(p, 44, 0x11112222), put32(p, 48, 0x8000);
    std::size_t rr = 52;
    p[rr] = 0x82, p[rr + 1] = 201, p[rr + 3] = 13;  // 14 words
    put32(p, rr + 4, 0xA);
    put32(p, rr + 8, 0xC), put32(p, rr + 32, 0xD);
    p[rr + 14] = 0x01, p[rr + 15] = 0x00;  // block C: 256 lost
    std::size_t sdes = rr + 56;
    p[sdes] = 0x81, p[sdes + 1] = 202, p[sdes + 3] = 2;
    std::size_t bad = sdes + 12;
    p[bad] = 0x80, p[bad + 1] = 201, p[bad + 3] = 9;  // claims 40 bytes of 8
    std::vector<uint32_t> srs;
    std::vector<RtcpReportBlock> blocks;
    walk_rtcp(
        p.data(), p.size(), [&](uint32_t ntp) { srs.push_back(ntp); },
        [&](const RtcpReportBlock& b) { blocks.push_back(b); });
    REQUIRE(srs.size() == 1);
    CHECK(srs[0] == 0x7E801234);
    REQUIRE(blocks.size() == 3);
    CHECK(blocks[0].source_ssrc == 0xB);
    CHECK(blocks[0].fraction_lost == 64);
    CHECK(blocks[0].cumulative_lost == -2);
    CHECK(blocks[0].jitter == 80);
    CHECK(blocks[0].lsr == 0x11112222);
    CHECK(blocks[0].dlsr == 0x8000);
    CHECK(blocks[1].source_ssrc == 0xC);
    CHECK(blocks[1].cumulative_lost == 256);
    CHECK(blocks[2].source_ssrc == 0xD);

    // Truncated anywhere: never a read past the end, never a block that does not fit.
    for (std::size_t n = 0; n < p.size(); ++n) {
        Bytes cut(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(n));
        std::size_t seen = 0;
        walk_rtcp(
            cut.data(), cut.size(), [](uint32_t) {}, [&](const RtcpReportBlock&) { ++seen; });
        CHECK(seen <= 3);
    }
}

TEST_CASE("the round trip to a stream's sender is kept as the last one and the call's average",
          "[quality]") {
    StreamQuality q;
    CHECK(q.figures().party_rtt_us == -1);
    CHECK(q.figures().party_rtt_average_us == -1);
    CHECK(q.figures().party_rtt_samples == 0);
    q.on_party_rtt(20'000'000);
    q.on_party_rtt(40'000'000);
    q.on_party_rtt(36'000'000);
    QualityFigures f = q.figures();
    CHECK(f.party_rtt_us == 36'000);
    CHECK(f.party_rtt_average_us == 32'000);
    CHECK(f.party_rtt_samples == 3);
}
