// latch-flood: a stranger. Sends RTP-looking datagrams from one address to every port of a range
// on the relay's address, round robin, at a fixed rate for a while, in batches of sendmmsg paced
// every millisecond. For measuring what strangers cost a relay and its calls (bench/kernel).
//
//   latch-flood --from 10.10.0.66 --to 10.10.0.1 --ports 20000-20999 --pps 200000 --seconds 10
#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "endpoint.hpp"

namespace {

int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) try {
    std::string from, to;
    int port_min = 0, port_max = 0;
    long pps = 0;
    double seconds = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--from")
            from = v;
        else if (k == "--to")
            to = v;
        else if (k == "--ports")
            std::sscanf(v.c_str(), "%d-%d", &port_min, &port_max);
        else if (k == "--pps")
            pps = std::stol(v);
        else if (k == "--seconds")
            seconds = std::stod(v);
        else
            throw std::invalid_argument("unknown option " + k);
    }
    auto src = latch::Endpoint::parse(from, 0), dst = latch::Endpoint::parse(to, 0);
    if (!src || !dst || port_min < 1 || port_max < port_min || port_max > 65535 || pps < 1 ||
        pps > 10'000'000 || seconds <= 0)
        throw std::invalid_argument(
            "usage: latch-flood --from ADDR --to ADDR --ports MIN-MAX "
            "--pps N --seconds S");
    int fd = ::socket(src->family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::bind(fd, src->sockaddr_ptr(), src->sockaddr_len()) != 0)
        throw std::runtime_error(std::string("cannot bind ") + from + ": " + std::strerror(errno));
    // A valid RTP header with an SSRC no call has, and 160 bytes of payload.
    std::vector<uint8_t> packet(172, 0);
    packet[0] = 0x80;
    packet[8] = 0x0b, packet[9] = 0xad;
    constexpr int kBatch = 64;
    std::vector<latch::Endpoint> targets(kBatch);
    std::vector<iovec> iov(kBatch);
    std::vector<mmsghdr> msgs(kBatch);
    int port = port_min;
    long sent = 0, failed = 0;
    const int64_t start = now_ns(), end = start + static_cast<int64_t>(seconds * 1e9);
    for (int64_t tick = start; tick < end; tick += 1'000'000) {
        // What is due by this millisecond, in batches.
        long due = static_cast<long>((tick - start + 1'000'000) / 1e9 * static_cast<double>(pps));
        while (sent + failed < due) {
            int n = static_cast<int>(std::min<long>(kBatch, due - sent - failed));
            for (int i = 0; i < n; ++i) {
                targets[i] = dst->with_port(static_cast<uint16_t>(port));
                port = port == port_max ? port_min : port + 1;
                iov[i] = {packet.data(), packet.size()};
                msgs[i] = {};
                msgs[i].msg_hdr.msg_name = const_cast<sockaddr*>(targets[i].sockaddr_ptr());
                msgs[i].msg_hdr.msg_namelen = targets[i].sockaddr_len();
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            int done = ::sendmmsg(fd, msgs.data(), static_cast<unsigned>(n), 0);
            if (done < 0) done = 0;
            sent += done;
            failed += n - done;
        }
        int64_t wait = tick + 1'000'000 - now_ns();
        if (wait > 0) {
            timespec ts{0, static_cast<long>(wait)};
            nanosleep(&ts, nullptr);
        }
    }
    std::printf("{\"sent\": %ld, \"failed\": %ld, \"seconds\": %.3f}\n", sent, failed,
                static_cast<double>(now_ns() - start) / 1e9);
    ::close(fd);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "latch-flood: %s\n", e.what());
    return 2;
}
