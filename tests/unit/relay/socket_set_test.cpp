// SocketSet and PolledUdp: a worker's epoll set of flow sockets. A socket with unread datagrams
// is listed with the pointer it was added with, again and again until it is drained; a closed
// socket leaves the set and frees its port at once; the loop closes cleanly afterwards.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <thread>

#include "udp_peer.hpp"
#include "udp_socket.hpp"

using latch::Endpoint;
using latch::PolledUdp;
using latch::SocketSet;
using latch::test::UdpPeer;

namespace {

// The ready sockets' pointers, waiting up to a second for at least one (loopback delivery
// normally completes within the send, but the kernel does not promise it).
std::vector<void*> ready_within_a_second(const SocketSet& set) {
    std::array<epoll_event, 8> events{};
    for (int attempt = 0; attempt < 100; ++attempt) {
        int n = set.wait(events.data(), static_cast<int>(events.size()));
        if (n > 0) {
            std::vector<void*> out;
            for (int i = 0; i < n; ++i) out.push_back(events[static_cast<std::size_t>(i)].data.ptr);
            return out;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return {};
}

int ready_now(const SocketSet& set) {
    std::array<epoll_event, 8> events{};
    return set.wait(events.data(), static_cast<int>(events.size()));
}

bool read_one(const PolledUdp& socket) {
    char buf[64];
    return ::recv(socket.fd(), buf, sizeof buf, MSG_DONTWAIT) > 0;
}

}  // namespace

TEST_CASE("socket set lists a socket while it has datagrams, with its own pointer", "[socket_set]") {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    {
        SocketSet set;
        REQUIRE(set.open(&loop, nullptr, [](uv_poll_t*, int, int) noexcept {}) == 0);
        int first_tag = 0, second_tag = 0;
        PolledUdp first, second;
        auto any_port = *Endpoint::parse("127.0.0.1", 0);
        REQUIRE(first.open(set, any_port, &first_tag) == 0);
        REQUIRE(second.open(set, any_port, &second_tag) == 0);
        Endpoint second_at = latch::bound_endpoint(second.fd());
        CHECK(ready_now(set) == 0);

        UdpPeer phone;
        phone.send_to(second_at, {1, 2, 3});
        phone.send_to(second_at, {4, 5, 6});
        auto ready = ready_within_a_second(set);
        REQUIRE(ready.size() == 1);
        CHECK(ready[0] == &second_tag);

        // Level-triggered: one datagram left, so it is listed again; then drained, it is not.
        REQUIRE(read_one(second));
        CHECK(ready_now(set) == 1);
        REQUIRE(read_one(second));
        CHECK(ready_now(set) == 0);
        set.close();
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("a closed socket leaves its set and frees its port at once", "[socket_set]") {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    {
        SocketSet set;
        REQUIRE(set.open(&loop, nullptr, [](uv_poll_t*, int, int) noexcept {}) == 0);
        int tag = 0;
        PolledUdp socket;
        REQUIRE(socket.open(set, *Endpoint::parse("127.0.0.1", 0), &tag) == 0);
        Endpoint at = latch::bound_endpoint(socket.fd());

        // A second socket cannot take the port while the first holds it.
        PolledUdp rival;
        CHECK(rival.open(set, at, &tag) == UV_EADDRINUSE);
        CHECK_FALSE(rival);

        UdpPeer phone;
        phone.send_to(at, {1});
        REQUIRE(ready_within_a_second(set).size() == 1);
        socket.reset();  // with the datagram still unread
        CHECK_FALSE(socket);
        CHECK(ready_now(set) == 0);
        CHECK(rival.open(set, at, &tag) == 0);
        set.close();
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}
