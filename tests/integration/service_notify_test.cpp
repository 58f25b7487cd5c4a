// latchd as systemd's Type=notify service sees it, without systemd: the test listens on a
// NOTIFY_SOCKET of its own and reads READY, STATUS, the watchdog's keep-alives (which stop
// while the control loop hangs, a test hook) and STOPPING from the real daemon.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "daemon_process.hpp"
#include "ng_client.hpp"
#include "phone_sdp.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// systemd's side of sd_notify: a unix datagram socket, each datagram one notification.
class NotifySocket {
  public:
    NotifySocket() {
        path_ = fmt::format("/tmp/latch-notify-test-{}.sock", ::getpid());
        ::unlink(path_.c_str());
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    }
    ~NotifySocket() {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    const std::string& path() const { return path_; }
    // The next notification within `timeout`, with when it came.
    std::optional<std::pair<std::string, Clock::time_point>> next(
        std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
        char buf[4096];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return std::nullopt;
        return std::make_pair(std::string(buf, static_cast<std::size_t>(n)), Clock::now());
    }
    // Notifications until one contains `what` (within `timeout`); all of them.
    std::vector<std::string> until(const std::string& what, std::chrono::milliseconds timeout) {
        std::vector<std::string> seen;
        auto end = Clock::now() + timeout;
        while (Clock::now() < end) {
            auto n =
                next(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()));
            if (!n) break;
            seen.push_back(n->first);
            if (n->first.find(what) != std::string::npos) break;
        }
        return seen;
    }

  private:
    std::string path_;
    int fd_ = -1;
};

bool contains(const std::vector<std::string>& seen, const std::string& what) {
    for (const auto& s : seen)
        if (s.find(what) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("latchd tells systemd it is ready, how it is, that it is alive, and that it stops",
          "[daemon][systemd]") {
    NotifySocket systemd;
    ::setenv("NOTIFY_SOCKET", systemd.path().c_str(), 1);
    ::setenv("WATCHDOG_USEC", "300000", 1);  // keep-alives every 150 ms
    ::setenv("LATCH_TEST_HOOKS", "1", 1);
    DaemonProcess latchd({"--port-min", "24500", "--port-max", "24519", "--workers", "2"});
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("LATCH_TEST_HOOKS");

    auto first = systemd.until("READY=1", 5s);
    REQUIRE(contains(first, "READY=1"));
    CHECK_THAT(first.back(), Catch::Matches("READY=1\nSTATUS=0 calls, 2 workers \\((io_uring|"
                                            "epoll)\\), (media in userspace|kernel path on .*)"));
    // Keep-alives, about every 150 ms.
    std::vector<Clock::time_point> beats;
    auto end = Clock::now() + 1s;
    while (Clock::now() < end) {
        auto n = systemd.next(500ms);
        if (n && n->first == "WATCHDOG=1") beats.push_back(n->second);
    }
    CHECK(beats.size() >= 4);
    CHECK(beats.size() <= 9);

    // A call: the status line says so within a couple of seconds.
    NgClient client(latchd.ng());
    UdpPeer a, b;
    set_up_call(client, "notified", a.local().port(), b.local().port(), NgEncoding::json);
    CHECK(contains(systemd.until("STATUS=1 call,", 3s), "STATUS=1 call, 2 workers"));

    // The control loop hangs for 1.2 s: no keep-alive meanwhile, and they come back after.
    std::thread hang([&] {
        NgClient c(latchd.ng());
        c.request({{"command", "test hang"}, {"limit", 1200}}, NgEncoding::json, 5s);
    });
    std::this_thread::sleep_for(100ms);
    auto quiet_from = Clock::now();
    std::optional<Clock::time_point> next_beat;
    while (!next_beat && Clock::now() - quiet_from < 3s) {
        auto n = systemd.next(3000ms);
        if (n && n->first == "WATCHDOG=1") next_beat = n->second;
    }
    hang.join();
    REQUIRE(next_beat);
    CHECK(*next_beat - quiet_from >= 900ms);
    CHECK(systemd.next(500ms).has_value());  // alive again

    CHECK(latchd.stop() == 0);
    CHECK(contains(systemd.until("STOPPING=1", 2s), "STOPPING=1"));
}

TEST_CASE("without NOTIFY_SOCKET latchd sends nothing and needs no systemd", "[daemon][systemd]") {
    ::unsetenv("NOTIFY_SOCKET");
    DaemonProcess latchd({"--port-min", "24520", "--port-max", "24529"});
    NgClient client(latchd.ng());
    CHECK(client.request({{"command", "ping"}}, NgEncoding::json, 2s));
    CHECK_THAT(latchd.log(), !Catch::Contains("systemd"));
    CHECK(latchd.stop() == 0);
}
