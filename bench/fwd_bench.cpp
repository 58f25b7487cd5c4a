// latch-fwd-bench: how many packets per second one relay worker forwards on this machine.
// Runs the relay library in-process with one worker pinned to one core, and a generator and a
// sink pinned to another; one direction, valid RTP, over loopback. Main thread = control thread.
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_util.hpp"
#include "relay.hpp"
#include "udp_socket.hpp"
#include "uv_handle.hpp"

using namespace latch;
using namespace latch::bench;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
    int sessions = 1000;
    double seconds = 5;
    double rate = 0;  // packets/s offered; 0: as fast as the generator can
    int size = 172;
    int relay_cpu = 0;
    int load_cpu = 1;
    uint16_t port_min = 30000;
};

double thread_cpu_seconds(pthread_t thread) {
    clockid_t id;
    timespec ts{};
    if (pthread_getcpuclockid(thread, &id) != 0 || clock_gettime(id, &ts) != 0) return 0;
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int udp_socket(Endpoint& bound) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    auto ep = *Endpoint::parse("127.0.0.1", 0);
    if (fd < 0 || ::bind(fd, ep.sockaddr_ptr(), ep.sockaddr_len()) != 0)
        throw std::runtime_error("socket");
    int big = 8 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    bound = bound_endpoint(fd);
    return fd;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i];
        double v = std::atof(argv[i + 1]);
        if (k == "--sessions")
            o.sessions = static_cast<int>(v);
        else if (k == "--seconds")
            o.seconds = v;
        else if (k == "--rate")
            o.rate = v;
        else if (k == "--size")
            o.size = static_cast<int>(v);
        else if (k == "--relay-cpu")
            o.relay_cpu = static_cast<int>(v);
        else if (k == "--load-cpu")
            o.load_cpu = static_cast<int>(v);
        else if (k == "--port-min")
            o.port_min = static_cast<uint16_t>(v);
        else
            throw std::invalid_argument("unknown option " + k);
    }
    if (o.sessions < 1 || o.seconds <= 0 || o.size < 12 || o.size > 1400)
        throw std::invalid_argument("bad values");
    return o;
}

}  // namespace

int main(int argc, char** argv) try {
    Options opt = parse(argc, argv);
    uv_loop_t loop;
    uv_loop_init(&loop);
    RelayConfig cfg;
    cfg.workers = 1;
    cfg.port_min = opt.port_min;
    cfg.port_max =
        static_cast<uint16_t>(std::min<int>(65535, opt.port_min + opt.sessions * 4 + 400));
    cfg.idle_timeout_ms = 3600 * 1000;
    std::map<uint64_t, WorkerReply> replies;
    auto relay = std::make_unique<Relay>(cfg, &loop);
    relay->start([&](WorkerReply& r) {
        if (r.request != 0) replies[r.request] = std::move(r);
    });
    pin_thread(relay->worker(0).native_thread(), opt.relay_cpu);

    auto call = [&](WorkerCommand cmd) {
        uint64_t id = cmd.request;
        relay->post(0, std::move(cmd));
        while (!replies.count(id)) uv_run(&loop, UV_RUN_ONCE);
        WorkerReply r = std::move(replies[id]);
        replies.erase(id);
        return r;
    };

    Endpoint gen_ep, sink_ep;
    int gen_fd = udp_socket(gen_ep), sink_fd = udp_socket(sink_ep);
    std::vector<Endpoint> targets;
    auto local = *Endpoint::parse("127.0.0.1", 0);
    for (int s = 0; s < opt.sessions; ++s) {
        MediaSpec m;
        m.legs[0] = LegSpec{local, gen_ep, {}, LatchPolicy{}, {}};
        m.legs[1] = LegSpec{local, sink_ep, {}, LatchPolicy{}, {}};
        auto r = call(WorkerCommand{static_cast<uint64_t>(s + 1), Op::create,
                                    static_cast<SessionId>(s + 1), SessionSpec{{m}}});
        if (r.status != ReplyStatus::ok)
            throw std::runtime_error("session set-up failed: " + r.failure.text());
        targets.push_back(r.snapshot.media[0].flows[0][0].local);
    }

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> sent{0}, received{0};
    std::thread sink([&] {
        pin_thread(pthread_self(), opt.load_cpu);
        timeval tv{0, 100000};
        ::setsockopt(sink_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        constexpr int kBatch = 64;
        std::vector<char> bufs(kBatch * 2048);
        mmsghdr msgs[kBatch];
        iovec iov[kBatch];
        while (!stop.load(std::memory_order_relaxed)) {
            for (int i = 0; i < kBatch; ++i) {
                iov[i] = {bufs.data() + i * 2048, 2048};
                msgs[i] = {};
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            int n = ::recvmmsg(sink_fd, msgs, kBatch, MSG_WAITFORONE, nullptr);
            if (n > 0) received.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        }
    });
    std::thread generator([&] {
        pin_thread(pthread_self(), opt.load_cpu);
        constexpr int kBatch = 32;
        std::vector<uint8_t> packet(static_cast<std::size_t>(opt.size), 0);
        packet[0] = 0x80;
        mmsghdr msgs[kBatch];
        iovec iov[kBatch];
        std::size_t next = 0;
        uint64_t count = 0;
        auto start = Clock::now();
        while (!stop.load(std::memory_order_relaxed)) {
            if (opt.rate > 0) {
                double due = std::chrono::duration<double>(Clock::now() - start).count() * opt.rate;
                if (static_cast<double>(count) >= due) {
                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                    continue;
                }
            }
            for (int i = 0; i < kBatch; ++i) {
                const Endpoint& to = targets[next];
                next = (next + 1) % targets.size();
                packet[2] = static_cast<uint8_t>(count >> 8);
                packet[3] = static_cast<uint8_t>(count);
                packet[11] = static_cast<uint8_t>(next | 1);  // non-zero SSRC per target
                iov[i] = {packet.data(), packet.size()};
                msgs[i] = {};
                msgs[i].msg_hdr.msg_name = const_cast<sockaddr*>(to.sockaddr_ptr());
                msgs[i].msg_hdr.msg_namelen = to.sockaddr_len();
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            int n = ::sendmmsg(gen_fd, msgs, kBatch, 0);
            if (n > 0) {
                count += static_cast<uint64_t>(n);
                sent.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
            }
        }
    });

    auto stats = [&] {
        return call(WorkerCommand{1000000 + sent.load(), Op::stats, 0, {}}).stats.totals;
    };
    std::this_thread::sleep_for(std::chrono::seconds(1));  // warm-up: latching, caches
    auto t0 = Clock::now();
    auto before = stats();
    uint64_t recv0 = received.load(), sent0 = sent.load();
    double cpu0 = thread_cpu_seconds(relay->worker(0).native_thread());
    auto jiffies0 = cpu_jiffies(opt.relay_cpu);
    for (int i = 0; i < static_cast<int>(opt.seconds); ++i) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        auto asked = Clock::now();
        auto now = stats();
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - asked).count();
        std::fprintf(stderr, "\r%5d s  forwarded %10llu  stats round trip %.1f ms  ", i + 1,
                     static_cast<unsigned long long>(now.packets_out - before.packets_out), ms);
    }
    auto after = stats();
    double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    double cpu1 = thread_cpu_seconds(relay->worker(0).native_thread());
    auto jiffies1 = cpu_jiffies(opt.relay_cpu);
    uint64_t recv1 = received.load(), sent1 = sent.load();
    stop = true;
    generator.join();
    sink.join();

    uint64_t forwarded = after.packets_out - before.packets_out;
    uint64_t in = after.packets_in - before.packets_in;
    double busy = busy_share(jiffies0, jiffies1);
    double core_us_per_packet =
        busy * elapsed * 1e6 / static_cast<double>(std::max<uint64_t>(1, forwarded));
    std::fprintf(stderr, "\n");
    std::printf(
        "{\"sessions\": %d, \"seconds\": %.2f, \"offered_pps\": %.0f, \"relay_received_pps\": "
        "%.0f, "
        "\"forwarded_pps\": %.0f, \"sink_received_pps\": %.0f, \"worker_thread_cpu\": %.3f, "
        "\"relay_core_busy\": %.3f, \"relay_core_us_per_forwarded_packet\": %.2f, "
        "\"drops\": %llu}\n",
        opt.sessions, elapsed, static_cast<double>(sent1 - sent0) / elapsed,
        static_cast<double>(in) / elapsed, static_cast<double>(forwarded) / elapsed,
        static_cast<double>(recv1 - recv0) / elapsed, (cpu1 - cpu0) / elapsed, busy,
        core_us_per_packet,
        static_cast<unsigned long long>(after.total_drops() - before.total_drops()));

    relay->stop();
    uv_run(&loop, UV_RUN_DEFAULT);
    relay.reset();
    uv_loop_close(&loop);
    ::close(gen_fd);
    ::close(sink_fd);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "latch-fwd-bench: %s\n", e.what());
    return 1;
}
