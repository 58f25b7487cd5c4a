// Forwarding through real relay sockets on 127.0.0.1: both directions, symmetric NAT,
// strangers after latching, non-RTP transports, junk, asymmetric, IPv6.
#include <sys/resource.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

#include "relay_harness.hpp"
#include "rtp_builder.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;

namespace {

RelayConfig config(uint16_t port_min) {
    RelayConfig c;
    c.workers = 2;
    c.port_min = port_min;
    c.port_max = static_cast<uint16_t>(port_min + 199);
    return c;
}

const Endpoint kLocal = *Endpoint::parse("127.0.0.1", 0);

// Receives the relay's datagram and checks its bytes. Another test process on this loopback
// may still send to a port that one of this peer's sockets took over from a socket of its own:
// such strays (not from `from`, the relay's port) are skipped and noted, a few at most. A
// datagram the relay sent from another port is one of them, and the check then fails.
void expect_datagram(const UdpPeer& peer, const Bytes& data, const Endpoint& from) {
    auto deadline = std::chrono::steady_clock::now() + 2s;
    for (int strays = 0; strays < 20; ++strays) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto got = peer.receive(std::max(left, std::chrono::milliseconds(1)));
        REQUIRE(got);
        if (!(got->from == from)) {
            WARN("a stray datagram from " << got->from.to_string() << " (" << got->data.size()
                                          << " bytes) skipped");
            continue;
        }
        CHECK(got->data == data);
        return;
    }
    FAIL("only strays arrived, nothing from " << from.to_string());
}

// One RTP packet from A (SSRC 0xa) through the relay to B and one back (SSRC 0xb), sequence
// and timestamp `seq`, each checked on arrival: A sends to `ra`, B to `rb`.
void exchange_rtp(const UdpPeer& a, const Endpoint& ra, const UdpPeer& b, const Endpoint& rb,
                  uint16_t seq) {
    auto pa = make_rtp(0xa, seq, seq), pb = make_rtp(0xb, seq, seq);
    a.send_to(ra, pa);
    expect_datagram(b, pa, rb);
    b.send_to(rb, pb);
    expect_datagram(a, pb, ra);
}

const FlowCounters& counters(const WorkerReply& r, int leg, int component = 0) {
    return r.snapshot.media.at(0).flows[leg][component].counters;
}
uint64_t drops(const WorkerReply& r, int leg, DropReason why, int component = 0) {
    return counters(r, leg, component).drops[static_cast<std::size_t>(why)];
}

}  // namespace

TEST_CASE("a session forwards RTP and RTCP both ways", "[forwarding]") {
    RelayHarness h(config(20000));
    UdpPeer a, a_rtcp, b, b_rtcp;
    SessionSpec spec = audio_spec(kLocal, a.local(), b.local());
    spec.media[0].legs[0].expected_rtcp = a_rtcp.local();
    spec.media[0].legs[1].expected_rtcp = b_rtcp.local();
    auto created = h.call(1, Op::create, 1, spec);
    REQUIRE(created.status == ReplyStatus::ok);
    Endpoint ra = relay_rtp(created, 0), rb = relay_rtp(created, 1);
    CHECK(ra.port() % 2 == 0);
    CHECK(relay_rtcp(created, 0).port() == ra.port() + 1);
    CHECK(h.relay().worker_for_port(ra.port()) == 1);

    for (uint16_t seq = 0; seq < 10; ++seq) {
        auto from_a = make_rtp(0xa, seq, seq);
        a.send_to(ra, from_a);
        expect_datagram(b, from_a, rb);
        auto from_b = make_rtp(0xb, seq, 100 + seq);
        b.send_to(rb, from_b);
        expect_datagram(a, from_b, ra);
    }
    auto rr_a = make_rtcp_rr(0xa);
    a_rtcp.send_to(relay_rtcp(created, 0), rr_a);
    expect_datagram(b_rtcp, rr_a, relay_rtcp(created, 1));
    auto rr_b = make_rtcp_rr(0xb);
    b_rtcp.send_to(relay_rtcp(created, 1), rr_b);
    expect_datagram(a_rtcp, rr_b, relay_rtcp(created, 0));

    auto q = h.call(1, Op::query, 1);
    REQUIRE(q.status == ReplyStatus::ok);
    CHECK(counters(q, 0).packets_in == 10);
    CHECK(counters(q, 0).bytes_in == 10 * 172);
    CHECK(counters(q, 1).packets_out == 10);  // toward B
    CHECK(counters(q, 1).packets_in == 10);
    CHECK(counters(q, 0).packets_out == 10);
    CHECK(counters(q, 0, 1).packets_in == 1);
    CHECK(counters(q, 1, 1).packets_out == 1);
    CHECK(counters(q, 0).total_drops() == 0);
    CHECK(q.snapshot.media[0].flows[0][0].state == LatchState::confirmed);
    CHECK(q.snapshot.last_packet_ms > 0);
    CHECK(h.shutdown());
}

TEST_CASE("a peer behind a symmetric NAT gets media both ways", "[forwarding][nat]") {
    RelayHarness h(config(20200));
    UdpPeer a_signalled;  // the port A wrote in its SDP: nothing of A's ever comes from here
    UdpPeer a_real, b;
    auto created = h.call(0, Op::create, 7, audio_spec(kLocal, a_signalled.local(), b.local()));
    REQUIRE(created.status == ReplyStatus::ok);
    Endpoint ra = relay_rtp(created, 0), rb = relay_rtp(created, 1);

    // Before A has sent anything, media toward A goes where A's SDP said.
    auto early = make_rtp(0xb, 1, 1);
    b.send_to(rb, early);
    expect_datagram(a_signalled, early, ra);

    auto from_a = make_rtp(0xa, 1, 2);
    a_real.send_to(ra, from_a);
    expect_datagram(b, from_a, rb);
    for (uint16_t seq = 2; seq < 6; ++seq) {
        auto from_b = make_rtp(0xb, seq, seq);
        b.send_to(rb, from_b);
        expect_datagram(a_real, from_b, ra);  // learned: A's real source
    }
    CHECK_FALSE(a_signalled.try_receive());
    auto q = h.call(0, Op::query, 7);
    CHECK(q.snapshot.media[0].flows[0][0].learned == a_real.local());
    CHECK(counters(q, 0).learned == 1);
    CHECK(h.shutdown());
}

TEST_CASE("a third address sending after latching is not forwarded", "[forwarding][nat]") {
    RelayHarness h(config(20400));
    UdpPeer a, b;
    UdpPeer stranger("127.0.0.9");
    auto created = h.call(0, Op::create, 3, audio_spec(kLocal, a.local(), b.local()));
    Endpoint ra = relay_rtp(created, 0), rb = relay_rtp(created, 1);
    auto pa = make_rtp(0xa, 1, 1), pb = make_rtp(0xb, 1, 2);
    a.send_to(ra, pa);
    expect_datagram(b, pa, rb);
    b.send_to(rb, pb);
    expect_datagram(a, pb, ra);

    constexpr int kSpray = 20;
    for (int i = 0; i < kSpray; ++i) {
        stranger.send_to(ra, make_rtp(0xa, static_cast<uint16_t>(2 + i), 666));
        stranger.send_to(rb, make_rtp(0xb, static_cast<uint16_t>(2 + i), 666));
    }
    // Wait until the relay has seen (and dropped) every stranger packet.
    WorkerReply q;
    for (int i = 0; i < 200; ++i) {
        q = h.call(0, Op::query, 3);
        if (drops(q, 0, DropReason::foreign_source) + drops(q, 1, DropReason::foreign_source) ==
            2 * kSpray) {
            break;
        }
        stranger.receive(5ms);  // paces the polling; nothing is expected here
    }
    CHECK(drops(q, 0, DropReason::foreign_source) == kSpray);
    CHECK(drops(q, 1, DropReason::foreign_source) == kSpray);
    CHECK_FALSE(a.try_receive());
    CHECK_FALSE(b.try_receive());
    CHECK_FALSE(stranger.try_receive());

    // The call goes on undisturbed.
    auto pa2 = make_rtp(0xa, 2, 3);
    a.send_to(ra, pa2);
    expect_datagram(b, pa2, rb);
    CHECK(h.shutdown());
}

TEST_CASE("non-RTP transports relay datagrams as they are", "[forwarding][t38]") {
    RelayHarness h(config(20600));
    UdpPeer a, b;
    SessionSpec spec = audio_spec(kLocal, a.local(), b.local());
    spec.media[0].transport = Transport::non_rtp;
    auto created = h.call(0, Op::create, 4, spec);
    REQUIRE(created.status == ReplyStatus::ok);
    CHECK_FALSE(relay_rtcp(created, 0).is_set());  // no RTCP socket for UDPTL
    Endpoint ra = relay_rtp(created, 0), rb = relay_rtp(created, 1);
    Bytes udptl = {0x00, 0x01, 0x02, 0xff, 't', '3', '8'};
    a.send_to(ra, udptl);
    expect_datagram(b, udptl, rb);
    Bytes reply = {0x00};
    b.send_to(rb, reply);
    expect_datagram(a, reply, ra);
    CHECK(h.shutdown());
}

TEST_CASE("junk on the RTP and RTCP ports is counted and dropped", "[forwarding][junk]") {
    RelayHarness h(config(20800));
    UdpPeer a, b;
    auto created = h.call(0, Op::create, 5, audio_spec(kLocal, a.local(), b.local()));
    Endpoint ra = relay_rtp(created, 0), rb = relay_rtp(created, 1);
    a.send_to(ra, Bytes{'j', 'u', 'n', 'k', '!', '!', '!', '!', '!', '!', '!', '!', '!'});
    a.send_to(ra, Bytes{0x80, 0x00});                        // truncated
    a.send_to(ra, make_rtcp_rr(0xa));                        // RTCP on the RTP port
    a.send_to(relay_rtcp(created, 0), make_rtp(0xa, 1, 1));  // RTP on the RTCP port
    a.send_to(ra, Bytes(2000, 0xff));                        // version 3
    a.send_to(ra, make_rtp(0, 1, 1));                        // SSRC 0 from an unknown source
    a.send_to(ra, make_rtp(0xa, 2, 2, 65000));               // valid RTP header, 64 KiB

    auto pa = make_rtp(0xa, 2, 2);
    a.send_to(ra, pa);
    expect_datagram(b, pa, rb);
    auto q = h.call(0, Op::query, 5);
    CHECK(drops(q, 0, DropReason::malformed) == 3);
    CHECK(drops(q, 0, DropReason::wrong_component) == 1);
    CHECK(drops(q, 0, DropReason::wrong_component, 1) == 1);
    CHECK(drops(q, 0, DropReason::not_learnable) == 1);
    CHECK(drops(q, 0, DropReason::too_large) == 1);
    CHECK(counters(q, 0).packets_in == 7);
    CHECK(counters(q, 0, 1).packets_in == 1);
    CHECK(counters(q, 1).packets_out == 1);
    CHECK_FALSE(b.try_receive());
    CHECK(h.shutdown());
}

TEST_CASE("an asymmetric leg keeps receiving at its signalled address", "[forwarding]") {
    RelayHarness h(config(21000));
    UdpPeer a_signalled, a_sender, b;
    auto created = h.call(1, Op::create, 6,
                          audio_spec(kLocal, a_signalled.local(), b.local(),
                                     LatchPolicy{LearningMode::heuristic, true, false, false}));
    Endpoint ra = relay_rtp(created, 0), rb = relay_rtp(created, 1);
    auto pa = make_rtp(0xa, 1, 1);
    a_sender.send_to(ra, pa);
    expect_datagram(b, pa, rb);
    auto pb = make_rtp(0xb, 1, 2);
    b.send_to(rb, pb);
    expect_datagram(a_signalled, pb, ra);
    CHECK_FALSE(a_sender.try_receive());
    CHECK(h.shutdown());
}

TEST_CASE("IPv6 legs forward on ::1", "[forwarding][ipv6]") {
    std::optional<UdpPeer> a, b;
    try {
        a.emplace("::1");
        b.emplace("::1");
    } catch (const std::exception& e) {
        WARN("no IPv6 loopback here: " << e.what());
        return;
    }
    RelayHarness h(config(21200));
    auto created =
        h.call(0, Op::create, 8, audio_spec(*Endpoint::parse("::1", 0), a->local(), b->local()));
    REQUIRE(created.status == ReplyStatus::ok);
    Endpoint ra = relay_rtp(created, 0), rb = relay_rtp(created, 1);
    CHECK(ra.family() == AF_INET6);
    auto pa = make_rtp(0xa, 1, 1), pb = make_rtp(0xb, 1, 2);
    a->send_to(ra, pa);
    expect_datagram(*b, pa, rb);
    b->send_to(rb, pb);
    expect_datagram(*a, pb, ra);
    CHECK(h.shutdown());
}

TEST_CASE("a call's TOS marks the packets the relay sends", "[forwarding][tos]") {
    RelayHarness h(config(21400));
    UdpPeer a, b;
    b.enable_tos_reporting();
    SessionSpec spec = audio_spec(kLocal, a.local(), b.local());
    spec.media[0].tos = 0xb8;  // DSCP EF
    auto created = h.call(0, Op::create, 9, spec);
    REQUIRE(created.status == ReplyStatus::ok);
    auto pa = make_rtp(0xa, 1, 1);
    a.send_to(relay_rtp(created, 0), pa);
    auto got = b.receive(2s);
    REQUIRE(got);
    CHECK(got->tos == 0xb8);

    spec.media[0].tos = 0;  // a re-INVITE may change it
    REQUIRE(h.call(0, Op::update, 9, spec).status == ReplyStatus::ok);
    a.send_to(relay_rtp(created, 0), pa);
    got = b.receive(2s);
    REQUIRE(got);
    CHECK(got->tos == 0);
    CHECK(h.shutdown());
}

TEST_CASE("with rtcp-mux, RTCP on the RTP port is relayed as RTCP", "[forwarding][mux]") {
    RelayHarness h(config(21600));
    UdpPeer a, b;
    SessionSpec spec = audio_spec(kLocal, a.local(), b.local());
    spec.media[0].rtcp_mux = true;
    auto created = h.call(0, Op::create, 10, spec);
    REQUIRE(created.status == ReplyStatus::ok);
    Endpoint ra = relay_rtp(created, 0), rb = relay_rtp(created, 1);
    auto rtp = make_rtp(0xa, 1, 1);
    a.send_to(ra, rtp);
    expect_datagram(b, rtp, rb);
    auto rr = make_rtcp_rr(0xa);
    a.send_to(ra, rr);  // on the RTP port: muxed
    expect_datagram(b, rr, rb);
    auto back = make_rtcp_rr(0xb);
    b.send_to(rb, back);
    expect_datagram(a, back, ra);
    auto q = h.call(0, Op::query, 10);
    CHECK(drops(q, 0, DropReason::wrong_component) == 0);
    CHECK(h.shutdown());
}

TEST_CASE("on io_uring a stream with media gets a connected socket, which follows a re-latch",
          "[forwarding][connected]") {
    RelayConfig c = config(21800);
    c.port_max = 21899;
    RelayHarness h(c);
    UdpPeer a, b;
    UdpPeer stranger("127.0.0.9");
    auto created = h.call(0, Op::create, 5, audio_spec(kLocal, a.local(), b.local()));
    REQUIRE(created.status == ReplyStatus::ok);
    Endpoint ra = relay_rtp(created, 0), rb = relay_rtp(created, 1);
    bool uring = std::string(h.relay().packet_io()) == "io_uring";
    auto connected = [&](int leg, int component = 0) {
        return h.call(0, Op::query, 5).snapshot.media.at(0).flows[leg][component].connected;
    };
    // Media both ways until both RTP flows are connected (bounded), each packet checked.
    uint16_t seq = 1;
    auto exchange = [&] { exchange_rtp(a, ra, b, rb, seq++); };
    for (int i = 0; i < 100 && !(connected(0) == a.local() && connected(1) == b.local()); ++i)
        exchange();
    if (!uring) {
        WARN("relay runs on " << h.relay().packet_io() << ": no connected sockets");
        CHECK_FALSE(connected(0).is_set());
        CHECK(h.shutdown());
        return;
    }
    CHECK(connected(0) == a.local());
    CHECK(connected(1) == b.local());
    CHECK_FALSE(connected(0, 1).is_set());  // RTCP carried nothing: no second socket

    // Through the connected sockets: the bytes, the relay's source port and the counters hold.
    auto before = h.call(0, Op::query, 5);
    for (int i = 0; i < 10; ++i) exchange();
    auto after = h.call(0, Op::query, 5);
    CHECK(counters(after, 0).packets_in - counters(before, 0).packets_in == 10);
    CHECK(counters(after, 1).packets_out - counters(before, 1).packets_out == 10);
    CHECK(counters(after, 0).total_drops() == 0);

    // Others still reach the first socket, and are counted and dropped as before.
    for (int i = 0; i < 5; ++i)
        stranger.send_to(ra, make_rtp(0xa, static_cast<uint16_t>(500 + i), 666));
    WorkerReply q;
    for (int i = 0; i < 200; ++i) {
        q = h.call(0, Op::query, 5);
        if (drops(q, 0, DropReason::foreign_source) == 5) break;
        stranger.receive(5ms);
    }
    CHECK(drops(q, 0, DropReason::foreign_source) == 5);
    CHECK_FALSE(b.try_receive());

    // A's NAT moves it to a new port (same address, same SSRC, next sequence): the relay
    // follows, and A's connected socket moves with it.
    UdpPeer moved("127.0.0.1");
    for (int i = 0; i < 100 && connected(0) != moved.local(); ++i) {
        auto pa = make_rtp(0xa, seq, seq);
        ++seq;
        moved.send_to(ra, pa);
        expect_datagram(b, pa, rb);
    }
    CHECK(connected(0) == moved.local());
    auto pb = make_rtp(0xb, seq, seq);
    b.send_to(rb, pb);
    expect_datagram(moved, pb, ra);
    CHECK_FALSE(a.try_receive());
    CHECK(h.shutdown());
}

TEST_CASE("connected sockets can be turned off", "[forwarding][connected]") {
    RelayConfig c = config(21900);
    c.port_max = 21999;
    c.connected_sockets = false;
    RelayHarness h(c);
    UdpPeer a, b;
    auto created = h.call(0, Op::create, 6, audio_spec(kLocal, a.local(), b.local()));
    REQUIRE(created.status == ReplyStatus::ok);
    Endpoint ra = relay_rtp(created, 0), rb = relay_rtp(created, 1);
    for (uint16_t seq = 1; seq <= 20; ++seq) {
        auto pa = make_rtp(0xa, seq, seq);
        a.send_to(ra, pa);
        expect_datagram(b, pa, rb);
    }
    auto q = h.call(0, Op::query, 6);
    CHECK(counters(q, 1).packets_out == 20);
    CHECK_FALSE(q.snapshot.media.at(0).flows[0][0].connected.is_set());
    CHECK_FALSE(q.snapshot.media.at(0).flows[1][0].connected.is_set());
    CHECK(h.shutdown());
}

TEST_CASE("at the descriptor limit, connected sockets make room for new calls",
          "[forwarding][connected]") {
    // A low descriptor limit for this process while the test runs.
    struct LimitGuard {
        rlimit saved{};
        explicit LimitGuard(rlim_t soft) {
            getrlimit(RLIMIT_NOFILE, &saved);
            rlimit low = saved;
            low.rlim_cur = soft;
            REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
        }
        ~LimitGuard() { setrlimit(RLIMIT_NOFILE, &saved); }
    } guard(400);  // connected sockets below descriptor 144 (400 - 256)
    RelayConfig c = config(23000);
    c.workers = 1;
    c.port_max = 23999;
    RelayHarness h(c);
    if (std::string(h.relay().packet_io()) != "io_uring") {
        WARN("relay runs on " << h.relay().packet_io() << ": no connected sockets");
        CHECK(h.shutdown());
        return;
    }
    // Ten calls with media both ways, until each has its two connected sockets.
    constexpr SessionId kMediaCalls = 10;
    std::vector<std::unique_ptr<UdpPeer>> peers;
    std::vector<std::pair<Endpoint, Endpoint>> relay_ports;
    auto connected_count = [&] {
        int n = 0;
        for (SessionId id = 1; id <= kMediaCalls; ++id) {
            auto q = h.call(0, Op::query, id);
            for (int leg = 0; leg < kLegs; ++leg)
                n += q.snapshot.media.at(0).flows[leg][0].connected.is_set();
        }
        return n;
    };
    for (SessionId id = 1; id <= kMediaCalls; ++id) {
        peers.push_back(std::make_unique<UdpPeer>());
        peers.push_back(std::make_unique<UdpPeer>());
        UdpPeer& a = *peers[peers.size() - 2];
        UdpPeer& b = *peers.back();
        auto created = h.call(0, Op::create, id, audio_spec(kLocal, a.local(), b.local()));
        REQUIRE(created.status == ReplyStatus::ok);
        relay_ports.emplace_back(relay_rtp(created, 0), relay_rtp(created, 1));
    }
    uint16_t seq = 1;
    for (int round = 0; round < 50 && connected_count() < 2 * static_cast<int>(kMediaCalls);
         ++round, ++seq) {
        for (std::size_t i = 0; i < kMediaCalls; ++i) {
            exchange_rtp(*peers[2 * i], relay_ports[i].first, *peers[2 * i + 1],
                         relay_ports[i].second, seq);
        }
    }
    REQUIRE(connected_count() == 2 * static_cast<int>(kMediaCalls));

    // New calls until the descriptors run out: the connected sockets go first.
    UdpPeer x, y;
    WorkerReply refused;
    SessionId id = 100;
    for (; id < 300; ++id) {
        auto r = h.call(0, Op::create, id, audio_spec(kLocal, x.local(), y.local()));
        if (r.status != ReplyStatus::ok) {
            refused = r;
            break;
        }
    }
    // Free some descriptors before any assertion: with none left, the sanitizers' checks
    // (which open a pipe to probe memory) report false errors.
    const bool ran_out = id < 300;
    int deleted = 0;
    for (SessionId gone = 100; gone < id; ++gone) {
        deleted += h.call(0, Op::remove, gone).status == ReplyStatus::ok;
    }
    REQUIRE(ran_out);
    CHECK(deleted == static_cast<int>(id - 100));
    CHECK(refused.failure.code == WorkerError::no_descriptors);
    CHECK(connected_count() == 0);
    // The calls whose sockets were shed go on, through their first sockets.
    auto pa = make_rtp(0xa, seq, seq);
    peers[0]->send_to(relay_ports[0].first, pa);
    expect_datagram(*peers[1], pa, relay_ports[0].second);
    CHECK(h.shutdown());
}

TEST_CASE("a worker's statistics are its sessions' counters summed, and outlive them",
          "[forwarding][stats]") {
    RelayHarness h(config(29400));
    UdpPeer a, b;
    auto one = h.call(0, Op::create, 1, audio_spec(kLocal, a.local(), b.local()));
    auto two = h.call(0, Op::create, 2, audio_spec(kLocal, a.local(), b.local()));
    REQUIRE(one.status == ReplyStatus::ok);
    REQUIRE(two.status == ReplyStatus::ok);
    for (uint16_t seq = 1; seq <= 3; ++seq) {
        exchange_rtp(a, relay_rtp(one, 0), b, relay_rtp(one, 1), seq);
    }
    exchange_rtp(a, relay_rtp(two, 0), b, relay_rtp(two, 1), 1);
    a.send_to(relay_rtp(two, 0), Bytes{0x80, 0x00});              // malformed: a drop
    exchange_rtp(a, relay_rtp(two, 0), b, relay_rtp(two, 1), 2);  // after the drop

    // What the sessions counted, summed here, against what the worker reports.
    FlowCounters sum;
    for (SessionId id : {1, 2}) {
        auto q = h.call(0, Op::query, id);
        REQUIRE(q.status == ReplyStatus::ok);
        for (const auto& media : q.snapshot.media)
            for (const auto& leg : media.flows)
                for (const auto& flow : leg) sum += flow.counters;
    }
    auto before = h.call(0, Op::stats, 0).stats;
    CHECK(before.streams == 2);
    CHECK(before.totals.packets_in == 11);
    CHECK(before.totals.packets_out == 10);
    CHECK(before.totals.packets_in == sum.packets_in);
    CHECK(before.totals.packets_out == sum.packets_out);
    CHECK(before.totals.bytes_in == sum.bytes_in);
    CHECK(before.totals.bytes_out == sum.bytes_out);
    CHECK(before.totals.drops == sum.drops);
    CHECK(before.totals.drops[static_cast<std::size_t>(DropReason::malformed)] == 1);
    CHECK(before.totals.learned == sum.learned);

    // An ended session's counts stay in the worker's totals; its stream leaves the count.
    REQUIRE(h.call(0, Op::remove, 1).status == ReplyStatus::ok);
    auto after = h.call(0, Op::stats, 0).stats;
    CHECK(after.streams == 1);
    CHECK(after.totals.packets_in == before.totals.packets_in);
    CHECK(after.totals.packets_out == before.totals.packets_out);
    CHECK(after.totals.drops == before.totals.drops);
    exchange_rtp(a, relay_rtp(two, 0), b, relay_rtp(two, 1), 3);
    CHECK(h.call(0, Op::stats, 0).stats.totals.packets_out == before.totals.packets_out + 2);
    CHECK(h.shutdown());
}

TEST_CASE("RTCP passing through gives each party's round trip and its reports on the stream",
          "[forwarding][quality]") {
    RelayHarness h(config(29800));
    UdpPeer a, a_rtcp, b, b_rtcp;
    SessionSpec spec = audio_spec(kLocal, a.local(), b.local());
    spec.media[0].legs[0].expected_rtcp = a_rtcp.local();
    spec.media[0].legs[1].expected_rtcp = b_rtcp.local();
    auto created = h.call(0, Op::create, 1, spec);
    REQUIRE(created.status == ReplyStatus::ok);
    for (uint16_t seq = 1; seq <= 3; ++seq)
        exchange_rtp(a, relay_rtp(created, 0), b, relay_rtp(created, 1), seq);

    // A's sender report reaches B; B answers 80 ms later, saying it held it for 50 ms: the
    // relay's round trip to B is what is left, about 30 ms.
    Bytes sr = make_rtcp_report(200, 0xa, 0xb);
    a_rtcp.send_to(relay_rtcp(created, 0), sr);
    expect_datagram(b_rtcp, sr, relay_rtcp(created, 1));
    std::this_thread::sleep_for(80ms);
    Bytes rr = make_rtcp_report(201, 0xb, 0xa, 64, kReportNtpMiddle, 50 * 65536 / 1000);
    b_rtcp.send_to(relay_rtcp(created, 1), rr);
    expect_datagram(a_rtcp, rr, relay_rtcp(created, 0));
    // A report about a stream this call does not carry is left alone.
    Bytes other = make_rtcp_report(201, 0xb, 0x5555, 255);
    b_rtcp.send_to(relay_rtcp(created, 1), other);
    expect_datagram(a_rtcp, other, relay_rtcp(created, 0));

    auto q = h.call(0, Op::query, 1);
    REQUIRE(q.status == ReplyStatus::ok);
    const QualityFigures& from_a = q.snapshot.media[0].flows[0][0].quality;
    const QualityFigures& from_b = q.snapshot.media[0].flows[1][0].quality;
    CHECK(from_b.party_rtt_us >= 25000);
    CHECK(from_b.party_rtt_us < 70000);
    CHECK(from_a.party_rtt_us == -1);  // B sent no sender report for A to echo
    CHECK(from_a.reports == 1);
    CHECK(from_a.reported_fraction_lost == 64);
    CHECK(from_a.reported_cumulative_lost == 3);
    CHECK(from_a.reported_jitter_us == 20000);
    CHECK(from_b.reports == 1);  // the block of A's sender report, about B's stream
    CHECK(from_b.reported_fraction_lost == 0);
    CHECK(h.shutdown());
}
