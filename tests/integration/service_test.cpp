// latchd as systemd's service sees it, without systemd: the test listens on a NOTIFY_SOCKET of
// its own and reads READY, STATUS, the watchdog's keep-alives (which stop while the control loop
// hangs, a test hook) and STOPPING from the real daemon; reloads by SIGHUP with a config file
// the test rewrites; and log lines with journal priorities when stderr is "the journal".
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
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

namespace {

struct ConfigFile {
    std::string path = fmt::format("/tmp/latch-reload-test-{}.conf", ::getpid());
    ~ConfigFile() { ::unlink(path.c_str()); }
    void write(const std::string& text) const {
        // A new file, renamed into place: the reload reads a whole file, never half of one.
        std::string tmp = path + ".new";
        std::ofstream(tmp) << text;
        REQUIRE(::rename(tmp.c_str(), path.c_str()) == 0);
    }
};

bool offer_accepted(NgClient& client, const std::string& call_id) {
    auto reply = client.request(
        {{"command", "offer"}, {"call-id", call_id}, {"from-tag", "a"}, {"sdp", audio_sdp(40000)}},
        NgEncoding::bencode, 2s);
    REQUIRE(reply);
    return reply->value("result", "") == "ok";
}

}  // namespace

TEST_CASE("SIGHUP reloads the config file: live settings at once, the rest named for a restart",
          "[daemon][systemd][reload]") {
    ConfigFile conf;
    const std::string base =
        "# latchd.conf for the reload test\n"
        "port-min = 24530\n"
        "port-max = 24549\n"
        "workers = 1\n";
    conf.write(base + "max-sessions = 1\nlog-level = info\n");
    NotifySocket systemd;
    ::setenv("NOTIFY_SOCKET", systemd.path().c_str(), 1);
    DaemonProcess latchd({"--config", conf.path});
    ::unsetenv("NOTIFY_SOCKET");
    REQUIRE(contains(systemd.until("READY=1", 5s), "READY=1"));
    NgClient client(latchd.ng());

    // max-sessions = 1: a second call is refused.
    CHECK(offer_accepted(client, "reload-1"));
    CHECK_FALSE(offer_accepted(client, "reload-2"));
    // At info, a datagram without a cookie is dropped without a word.
    client.send_raw("x");
    CHECK(client.request({{"command", "ping"}}, NgEncoding::json, 2s));

    // The limit lifted, debug logging, and a port range that only a restart can change.
    conf.write(base + "max-sessions = 0\nlog-level = debug\nport-max = 24547\n");
    REQUIRE(::kill(latchd.pid(), SIGHUP) == 0);
    auto reload = systemd.until("READY=1", 3s);
    CHECK(contains(reload, "RELOADING=1"));
    CHECK(contains(reload, "STATUS=reloaded: 2 settings changed, 1 needs a restart"));
    CHECK(latchd.wait_for_log("reload: max-sessions: 1 -> 0 \\(in force now\\)"));
    CHECK(latchd.wait_for_log("reload: log-level: info -> debug \\(in force now\\)"));
    CHECK(latchd.wait_for_log("reload: port-max: 24549 -> 24547 needs a restart"));
    CHECK(offer_accepted(client, "reload-2"));
    CHECK(offer_accepted(client, "reload-3"));
    client.send_raw("y");
    CHECK(latchd.wait_for_log("dropped 1 bytes without a cookie"));
    // Only the second one: the first was dropped at info, silently.
    std::size_t first_drop = latchd.log().find("dropped 1 bytes without a cookie");
    CHECK(latchd.log().find("dropped 1 bytes without a cookie", first_drop + 1) ==
          std::string::npos);

    // The control allow-list: this test's address is no longer allowed, then again.
    conf.write(base + "control-allow = 192.0.2.0/24\n");
    REQUIRE(::kill(latchd.pid(), SIGHUP) == 0);
    CHECK(contains(systemd.until("READY=1", 3s), "READY=1"));
    CHECK(latchd.wait_for_log("reload: control-allow: 127.0.0.0/8, ::1/128 -> 192.0.2.0/24"));
    CHECK_FALSE(client.request({{"command", "ping"}}, NgEncoding::json, 500ms));
    conf.write(base);
    REQUIRE(::kill(latchd.pid(), SIGHUP) == 0);
    CHECK(contains(systemd.until("READY=1", 3s), "READY=1"));
    CHECK(client.request({{"command", "ping"}}, NgEncoding::json, 2s));

    // A file with an error: refused with its line, and what runs stays (no call limit).
    conf.write(base + "learning = immediate\nmax-sessions = lots\n");
    REQUIRE(::kill(latchd.pid(), SIGHUP) == 0);
    auto refused = systemd.until("READY=1", 3s);
    CHECK(contains(refused, "STATUS=reload refused: " + conf.path + " line 6: --max-sessions"));
    CHECK(latchd.wait_for_log("reload refused, the running configuration stays: " + conf.path +
                              " line 6: --max-sessions: 'lots' is not a number"));
    CHECK_THAT(latchd.log(), !Catch::Contains("learning: heuristic -> immediate"));
    CHECK(offer_accepted(client, "reload-4"));
    CHECK(client.request({{"command", "ping"}}, NgEncoding::json, 2s));
    CHECK(latchd.stop() == 0);
}

TEST_CASE("log lines carry journal priorities when stderr is the journal", "[daemon][systemd]") {
    // systemd names the stream it connected in JOURNAL_STREAM (device:inode): the wrapper gives
    // latchd the very pipe the test reads.
    ::setenv("LATCH_TEST_HOOKS", "1", 1);  // a warning at start-up
    DaemonProcess latchd(
        {"-c", "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec \"$0\" \"$@\"", LATCHD_PATH,
         "--port-min", "24550", "--port-max", "24559", "--workers", "1"},
        "/bin/sh");
    ::unsetenv("LATCH_TEST_HOOKS");
    CHECK(latchd.stop() == 0);
    const std::string& log = latchd.log();
    CHECK(std::regex_search(log, std::regex("(^|\n)<6>latchd [0-9.]+: ng control on ")));
    CHECK(std::regex_search(log, std::regex("(^|\n)<4>test hooks enabled")));
    CHECK_THAT(log, Catch::Contains("\n<6>stopped\n"));
    CHECK_THAT(log, !Catch::Contains("latchd[info]"));
    // Without it (the other tests), a time stamp and the level in words.
    DaemonProcess plain({"--port-min", "24550", "--port-max", "24559", "--workers", "1"});
    CHECK(plain.stop() == 0);
    CHECK_THAT(plain.log(), Catch::Contains("Z latchd[info] stopped"));
}
