// The control plane as latchd composes it (ControlPlane), on 127.0.0.1, for the fuzz targets
// that drive it over its real sockets: a datagram in, and the one reply it earns awaited. The
// fuzzer's thread is the control thread. Any property that fails aborts, as libFuzzer wants.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "control_plane.hpp"
#include "daemon_config.hpp"

namespace latch::fuzz {

class Plane {
  public:
    Plane() {
        uv_loop_init(&loop_);
        config_ = parse_command_line({"--listen-ng", "127.0.0.1:0", "--listen-rtpp", "127.0.0.1:0",
                                      "--workers", "1", "--port-min", "39000", "--port-max",
                                      "39199", "--log-level", "error"})
                      .config;
        set_log_level(config_.log_level);
        plane_ = std::make_unique<ControlPlane>(config_, &loop_);
        plane_->start();
        ng_ = client(plane_->ng_local());
        rtpp_ = client(*plane_->rtpp_local());
    }
    // Never destroyed: libFuzzer ends the process.

    // Sends `datagram` to the ng (or rtpproxy) socket and runs the loop until a reply comes
    // back, or `deadline` passes (nothing: no reply).
    std::optional<std::string> exchange(
        bool ng, std::string_view datagram,
        std::chrono::milliseconds deadline = std::chrono::seconds(5)) {
        int fd = ng ? ng_ : rtpp_;
        if (::send(fd, datagram.data(), datagram.size(), 0) < 0) return std::nullopt;
        return await(fd, deadline);
    }
    // A reply that arrives within `wait`, or nothing (a second reply would be a defect).
    std::optional<std::string> stray(bool ng, std::chrono::milliseconds wait) {
        return await(ng ? ng_ : rtpp_, wait);
    }

  private:
    static int client(const Endpoint& server) {
        int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int big = 1 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        if (fd < 0 || ::connect(fd, server.sockaddr_ptr(), server.sockaddr_len()) != 0)
            std::abort();
        return fd;
    }
    std::optional<std::string> await(int fd, std::chrono::milliseconds wait) {
        auto until = std::chrono::steady_clock::now() + wait;
        std::string buf(65536, '\0');
        for (;;) {
            // What is ready now (the datagram just sent, a worker's reply) is served first.
            uv_run(&loop_, UV_RUN_NOWAIT);
            ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
            if (n >= 0) return buf.substr(0, static_cast<std::size_t>(n));
            if (std::chrono::steady_clock::now() >= until) return std::nullopt;
            uv_run(&loop_, UV_RUN_ONCE);  // the refresh timer wakes it at least once a second
        }
    }

    uv_loop_t loop_{};
    DaemonConfig config_;
    std::unique_ptr<ControlPlane> plane_;
    int ng_ = -1, rtpp_ = -1;
};

inline Plane& plane() {
    static Plane p;
    return p;
}

// A property of the control plane failed: say which, with the input, and abort.
[[noreturn]] inline void violated(const char* what, std::string_view input) {
    std::fprintf(stderr, "property violated: %s\ninput: %.*s\n", what,
                 static_cast<int>(input.size()), input.data());
    std::abort();
}

}  // namespace latch::fuzz
