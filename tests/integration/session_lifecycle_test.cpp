// Session lifecycle on real sockets: idle timeout, delete, port exhaustion, re-signalling,
// statistics and a clean shutdown.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "relay_harness.hpp"
#include "rtp_builder.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;

namespace {
const Endpoint kLocal = *Endpoint::parse("127.0.0.1", 0);

RelayConfig small_config(uint16_t port_min, uint16_t pairs) {
    RelayConfig c;
    c.workers = 1;
    c.port_min = port_min;
    c.port_max = static_cast<uint16_t>(port_min + 2 * pairs - 1);
    return c;
}

bool port_is_free(const Endpoint& ep) {
    try {
        UdpPeer probe(ep.address_string(), ep.port());
        return true;
    } catch (const std::exception&) {
        return false;
    }
}
// A worker replies before it closes an ended session's sockets (the caller need not wait for
// the closes): the ports are free a moment after the reply, not with it.
bool port_freed_within_a_second(const Endpoint& ep) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (port_is_free(ep)) return true;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}
}  // namespace

TEST_CASE("an idle session times out and frees its ports", "[lifecycle]") {
    RelayConfig c = small_config(22000, 2);  // room for exactly one audio session
    c.idle_timeout_ms = 300;
    c.sweep_interval_ms = 50;
    RelayHarness h(c);
    UdpPeer a, b;
    auto first = h.call(0, Op::create, 1, audio_spec(kLocal, a.local(), b.local()));
    REQUIRE(first.status == ReplyStatus::ok);
    Endpoint ra = relay_rtp(first, 0), rb = relay_rtp(first, 1);
    CHECK_FALSE(port_is_free(ra));

    auto second = h.call(0, Op::create, 2, audio_spec(kLocal, a.local(), b.local()));
    CHECK(second.status == ReplyStatus::error);
    CHECK(second.failure.code == WorkerError::no_ports);

    auto ended = h.wait_unsolicited(5s);
    REQUIRE(ended);
    CHECK(ended->status == ReplyStatus::timed_out);
    CHECK(ended->session == 1);
    CHECK(port_freed_within_a_second(ra));
    CHECK(port_freed_within_a_second(ra.with_port(static_cast<uint16_t>(ra.port() + 1))));
    CHECK(port_freed_within_a_second(rb));

    auto third = h.call(0, Op::create, 3, audio_spec(kLocal, a.local(), b.local()));
    CHECK(third.status == ReplyStatus::ok);
    auto stats = h.call(0, Op::stats, 0);
    CHECK(stats.stats.sessions == 1);
    CHECK(stats.stats.sessions_timed_out == 1);
    CHECK(stats.stats.ports_available == 0);
    CHECK(h.shutdown());
}

TEST_CASE("media keeps a session alive past the idle timeout", "[lifecycle]") {
    RelayConfig c = small_config(22100, 4);
    c.idle_timeout_ms = 400;
    c.sweep_interval_ms = 50;
    RelayHarness h(c);
    UdpPeer a, b;
    auto created = h.call(0, Op::create, 1, audio_spec(kLocal, a.local(), b.local()));
    Endpoint ra = relay_rtp(created, 0);
    // 1.2 s of media, one packet every 100 ms: three idle timeouts' worth.
    for (uint16_t seq = 0; seq < 12; ++seq) {
        a.send_to(ra, make_rtp(0xa, seq, seq));
        REQUIRE(b.receive(2s));
        CHECK_FALSE(h.wait_unsolicited(100ms));
    }
    auto ended = h.wait_unsolicited(5s);
    REQUIRE(ended);
    CHECK(ended->session == 1);
    CHECK(ended->snapshot.media[0].flows[0][0].counters.packets_in == 12);
    CHECK(h.shutdown());
}

TEST_CASE("delete returns the final counters and frees the ports", "[lifecycle]") {
    RelayHarness h(small_config(22200, 2));
    UdpPeer a, b;
    auto created = h.call(0, Op::create, 9, audio_spec(kLocal, a.local(), b.local()));
    Endpoint ra = relay_rtp(created, 0);
    a.send_to(ra, make_rtp(0xa, 1, 1));
    REQUIRE(b.receive(2s));
    auto removed = h.call(0, Op::remove, 9);
    REQUIRE(removed.status == ReplyStatus::ok);
    CHECK(removed.snapshot.media[0].flows[0][0].counters.packets_in == 1);
    CHECK(port_freed_within_a_second(ra));
    CHECK(h.call(0, Op::query, 9).failure.code == WorkerError::unknown_session);
    CHECK(h.call(0, Op::remove, 9).status == ReplyStatus::error);
    auto again = h.call(0, Op::create, 10, audio_spec(kLocal, a.local(), b.local()));
    CHECK(again.status == ReplyStatus::ok);
    CHECK(h.shutdown());
}

TEST_CASE("running out of ports fails the new call and leaves the others alone", "[lifecycle]") {
    RelayHarness h(small_config(22300, 3));
    UdpPeer a, b;
    auto live = h.call(0, Op::create, 1, audio_spec(kLocal, a.local(), b.local()));
    REQUIRE(live.status == ReplyStatus::ok);
    // One pair left: the second call gets its first leg, not its second, and must give it back.
    for (int i = 0; i < 3; ++i) {
        auto refused = h.call(0, Op::create, 100 + i, audio_spec(kLocal, a.local(), b.local()));
        CHECK(refused.status == ReplyStatus::error);
        CHECK(refused.failure.code == WorkerError::no_ports);
    }
    auto stats = h.call(0, Op::stats, 0);
    CHECK(stats.stats.ports_available == 1);
    CHECK(stats.stats.sessions == 1);
    auto pa = make_rtp(0xa, 1, 1);
    a.send_to(relay_rtp(live, 0), pa);
    auto got = b.receive(2s);
    REQUIRE(got);
    CHECK(got->data == pa);
    CHECK(h.call(0, Op::create, 1, audio_spec(kLocal, a.local(), b.local())).failure.code ==
          WorkerError::session_exists);
    CHECK(h.shutdown());
}

TEST_CASE("a port held by another program is skipped", "[lifecycle]") {
    RelayHarness h(small_config(22400, 3));
    UdpPeer squatter("127.0.0.1", 22400);
    UdpPeer a, b;
    auto created = h.call(0, Op::create, 1, audio_spec(kLocal, a.local(), b.local()));
    REQUIRE(created.status == ReplyStatus::ok);
    CHECK(relay_rtp(created, 0).port() != 22400);
    CHECK(relay_rtp(created, 1).port() != 22400);
    CHECK(h.shutdown());
}

TEST_CASE("re-signalling keeps the ports, adds media and moves the destination", "[lifecycle]") {
    RelayHarness h(small_config(22500, 8));
    UdpPeer a, b, b_moved, video_a, video_b;
    auto created = h.call(0, Op::create, 1, audio_spec(kLocal, a.local(), b.local()));
    Endpoint ra = relay_rtp(created, 0), rb = relay_rtp(created, 1);

    SessionSpec spec = audio_spec(kLocal, a.local(), b_moved.local());
    MediaSpec video;
    video.legs[0] = LegSpec{kLocal, video_a.local(), {}, LatchPolicy{}, {}};
    video.legs[1] = LegSpec{kLocal, video_b.local(), {}, LatchPolicy{}, {}};
    spec.media.push_back(video);
    auto updated = h.call(0, Op::update, 1, spec);
    REQUIRE(updated.status == ReplyStatus::ok);
    REQUIRE(updated.snapshot.media.size() == 2);
    CHECK(relay_rtp(updated, 0) == ra);
    CHECK(relay_rtp(updated, 1) == rb);

    auto pa = make_rtp(0xa, 1, 1);
    a.send_to(ra, pa);
    auto got = b_moved.receive(2s);  // the new address from the re-INVITE
    REQUIRE(got);
    CHECK(got->data == pa);
    CHECK_FALSE(b.try_receive());

    auto pv = make_rtp(0xc, 1, 3);
    video_a.send_to(relay_rtp(updated, 0, 1), pv);
    got = video_b.receive(2s);
    REQUIRE(got);
    CHECK(got->data == pv);
    CHECK(h.call(0, Op::update, 42, spec).failure.code == WorkerError::unknown_session);
    CHECK(h.shutdown());
}

TEST_CASE("shutdown with live sessions closes every handle", "[lifecycle]") {
    RelayConfig c = small_config(22700, 50);
    c.workers = 2;
    RelayHarness h(c);
    UdpPeer a, b;
    for (SessionId id = 1; id <= 20; ++id) {
        auto r = h.call(static_cast<unsigned>(id % 2), Op::create, id,
                        audio_spec(kLocal, a.local(), b.local()));
        REQUIRE(r.status == ReplyStatus::ok);
    }
    a.send_to(*Endpoint::parse("127.0.0.1", 22700), make_rtp(1, 1, 1));
    CHECK(h.shutdown());
    CHECK(port_is_free(*Endpoint::parse("127.0.0.1", 22700)));
}

TEST_CASE("a local address that is not ours fails the session with a reason", "[lifecycle]") {
    RelayHarness h(small_config(22900, 4));
    UdpPeer a, b;
    auto r = h.call(0, Op::create, 1,
                    audio_spec(*Endpoint::parse("203.0.113.254", 0), a.local(), b.local()));
    CHECK(r.status == ReplyStatus::error);
    CHECK(r.failure.code == WorkerError::cannot_bind);
    CHECK(r.failure.text().find("cannot bind 203.0.113.254") == 0);
    CHECK(h.call(0, Op::stats, 0).stats.ports_available == 4);
    CHECK(h.shutdown());
}
