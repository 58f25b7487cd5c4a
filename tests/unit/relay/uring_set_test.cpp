// UringSet: a worker's flow sockets through io_uring. A datagram arrives with its socket's
// pointer, its source and its bytes, and leaves again from the same buffer; a removed socket
// frees its port at once and its late completions are ignored; running out of buffers loses
// nothing; a watched descriptor is reported once ready. Where the kernel refuses io_uring the tests say
// so and pass: the epoll set serves there, and its own tests cover it.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "relay_types.hpp"
#include "udp_peer.hpp"
#include "uring_set.hpp"

using latch::Endpoint;
using latch::PolledUdp;
using latch::RingPacket;
using latch::UringSet;
using latch::test::UdpPeer;

namespace {

struct Received {
    void* data;
    std::vector<uint8_t> bytes;
    Endpoint from;
    bool truncated;
};

struct Sent {
    void* from;
    void* by;
    int result;
    std::size_t len;
};

// Reaps until `want` datagrams have arrived or a second has passed; `forward_by`, when set,
// sends each one back to where it came from through that socket.
struct Reaper {
    explicit Reaper(UringSet& s) : set(s) {}

    UringSet& set;
    const PolledUdp* forward_by = nullptr;
    std::vector<Received> received;
    std::vector<Sent> sent;
    int errors = 0;

    void until(std::size_t want) {
        for (int attempt = 0; attempt < 200 && received.size() < want; ++attempt) {
            if (once() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        once();  // the last sends' completions
    }
    unsigned once() {
        set.wait(0);
        unsigned taken = set.reap(
            [this](RingPacket& p) {
                Endpoint from = Endpoint::from_sockaddr(p.from);
                received.push_back({p.data, {p.payload, p.payload + p.len}, from, p.truncated});
                if (forward_by) set.forward(p, forward_by->fd(), from);  // `from` goes out of scope
            },
            [this](void*) { ++errors; },
            [this](void* from, void* by, int result, std::size_t len) { sent.push_back({from, by, result, len}); });
        set.flush();
        return taken;
    }
};

// Opens the set, or says why it cannot on this kernel (the caller then returns).
bool open_or_explain(UringSet& set) {
    int rc = set.open();
    if (rc != 0) WARN("io_uring not available here (" << uv_strerror(rc) << "): UringSet not tested");
    return rc == 0;
}

}  // namespace

TEST_CASE("uring set hands over each datagram with its socket's pointer and sends it back", "[uring_set]") {
    {
        UringSet set(latch::kMaxMediaPacket);
        if (open_or_explain(set)) {
            int first_tag = 0, second_tag = 0;
            PolledUdp first, second;
            auto any_port = *Endpoint::parse("127.0.0.1", 0);
            REQUIRE(first.open(set, any_port, &first_tag) == 0);
            REQUIRE(second.open(set, any_port, &second_tag) == 0);
            Endpoint second_at = latch::bound_endpoint(second.fd());

            UdpPeer phone;
            phone.send_to(second_at, {1, 2, 3});
            phone.send_to(second_at, {4, 5, 6, 7});
            Reaper reaper(set);
            reaper.forward_by = &first;  // replies leave from the other socket
            reaper.until(2);
            REQUIRE(reaper.received.size() == 2);
            CHECK(reaper.received[0].data == &second_tag);
            CHECK(reaper.received[0].bytes == std::vector<uint8_t>{1, 2, 3});
            CHECK(reaper.received[1].bytes == std::vector<uint8_t>{4, 5, 6, 7});
            CHECK(reaper.received[0].from == phone.local());
            CHECK_FALSE(reaper.received[0].truncated);
            CHECK(reaper.errors == 0);

            // Both went back to the phone, from the first socket, and were reported sent.
            auto back = phone.receive(std::chrono::seconds(1));
            REQUIRE(back);
            CHECK(back->data == std::vector<uint8_t>{1, 2, 3});
            CHECK(back->from == latch::bound_endpoint(first.fd()));
            back = phone.receive(std::chrono::seconds(1));
            REQUIRE(back);
            CHECK(back->data == std::vector<uint8_t>{4, 5, 6, 7});
            REQUIRE(reaper.sent.size() == 2);
            CHECK(reaper.sent[0].from == &second_tag);
            CHECK(reaper.sent[0].by == &first_tag);
            CHECK(reaper.sent[0].result == 3);
            CHECK(reaper.sent[1].len == 4);
        }
        set.close();
    }
}

TEST_CASE("uring set marks a datagram longer than its buffers as truncated", "[uring_set]") {
    {
        UringSet set(100);
        if (open_or_explain(set)) {
            int tag = 0;
            PolledUdp socket;
            REQUIRE(socket.open(set, *Endpoint::parse("127.0.0.1", 0), &tag) == 0);
            UdpPeer phone;
            phone.send_to(latch::bound_endpoint(socket.fd()), std::vector<uint8_t>(100, 7));
            phone.send_to(latch::bound_endpoint(socket.fd()), std::vector<uint8_t>(101, 7));
            Reaper reaper(set);
            reaper.until(2);
            REQUIRE(reaper.received.size() == 2);
            CHECK_FALSE(reaper.received[0].truncated);
            CHECK(reaper.received[0].bytes.size() == 100);
            CHECK(reaper.received[1].truncated);
        }
        set.close();
    }
}

TEST_CASE("a removed socket frees its port at once and its pending datagrams are ignored", "[uring_set]") {
    {
        UringSet set(latch::kMaxMediaPacket);
        if (open_or_explain(set)) {
            int tag = 0, rival_tag = 0;
            PolledUdp socket;
            REQUIRE(socket.open(set, *Endpoint::parse("127.0.0.1", 0), &tag) == 0);
            Endpoint at = latch::bound_endpoint(socket.fd());
            PolledUdp rival;
            CHECK(rival.open(set, at, &rival_tag) == UV_EADDRINUSE);

            // A datagram reaches the ring but is not reaped before the socket goes.
            UdpPeer phone;
            phone.send_to(at, {1});
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            socket.reset();
            REQUIRE(rival.open(set, at, &rival_tag) == 0);  // same port, likely the same descriptor
            phone.send_to(at, {2});
            Reaper reaper(set);
            reaper.until(1);
            REQUIRE(reaper.received.size() == 1);
            CHECK(reaper.received[0].data == &rival_tag);
            CHECK(reaper.received[0].bytes == std::vector<uint8_t>{2});
        }
        set.close();
    }
}

TEST_CASE("uring set loses nothing when more datagrams arrive than it has buffers", "[uring_set]") {
    {
        UringSet set(latch::kMaxMediaPacket);
        if (open_or_explain(set)) {
            int tag = 0;
            PolledUdp socket;
            REQUIRE(socket.open(set, *Endpoint::parse("127.0.0.1", 0), &tag) == 0);
            int big = 4 << 20;
            ::setsockopt(socket.fd(), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
            Endpoint at = latch::bound_endpoint(socket.fd());
            UdpPeer phone;
            constexpr std::size_t kSent = 1024 + 100;  // more than the ring's buffers, all waiting
            for (std::size_t i = 0; i < kSent; ++i) {
                phone.send_to(at, {static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8)});
            }
            Reaper reaper(set);
            reaper.until(kSent);
            REQUIRE(reaper.received.size() == kSent);
            for (std::size_t i = 0; i < kSent; ++i) {
                const auto& b = reaper.received[i].bytes;
                REQUIRE(b.size() == 2);
                CHECK((b[0] | (b[1] << 8)) == static_cast<int>(i));  // in order
            }
        }
        set.close();
    }
}

TEST_CASE("uring set reports a watched descriptor once it is readable", "[uring_set]") {
    UringSet set(latch::kMaxMediaPacket);
    if (!open_or_explain(set)) return;
    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) == 0);
    Reaper reaper(set);
    auto seen_within_a_second = [&]() {
        for (int attempt = 0; attempt < 200; ++attempt) {
            reaper.once();
            if (set.watched_ready()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return false;
    };
    set.watch(pipe_fds[0]);
    reaper.once();
    CHECK_FALSE(set.watched_ready());  // nothing to read yet
    REQUIRE(::write(pipe_fds[1], "x", 1) == 1);
    CHECK(seen_within_a_second());
    reaper.once();
    CHECK_FALSE(set.watched_ready());  // once per watch
    set.watch(pipe_fds[0]);            // still unread: ready again at once
    CHECK(seen_within_a_second());
    set.close();
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
}
