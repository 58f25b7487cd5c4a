// ref-relay: the smallest relay, the physical-limit reference for latch-bench on this machine.
// A fixed port map and a forwarding loop; no sessions, no control, no checks.
//
// Pair i owns two sockets on 127.0.0.1: A = BASE+2i and B = BASE+2i+1. A datagram that arrives
// on A leaves from B to the B peer; one that arrives on B leaves from A to the A peer.
//
//   --mode plain   epoll, recvmmsg from a ready socket, sendmmsg from its partner
//   --mode uring   io_uring: multishot recvmsg on every socket into one provided buffer ring,
//                  all sends of a completion batch in one submission
//
// --idle-sockets N and --source yes (plain form) make it pay what a full relay pays besides
// its own work: N more bound sockets per pair, and each datagram's source address.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef LATCH_HAVE_LIBURING
#include <liburing.h>
#endif

#include "bench_util.hpp"
#include "endpoint.hpp"

using namespace latch;

namespace {

std::atomic<bool> g_stop{false};

struct Options {
    int base = 20000;
    int pairs = 1000;
    Endpoint a_peer, b_peer;
    std::string mode = "plain";
    int cpu = -1;
    // To tell the kernel's share of a full relay's cost from its own: bound sockets that carry
    // nothing (a full relay's RTCP sockets), and reading each datagram's source address.
    int idle_sockets = 0;  // per pair
    bool source = false;
};

struct Relay {
    std::vector<int> fds;  // 2 per pair: A, B
    std::vector<int> idle_fds;
    bool source = false;
    Endpoint a_peer, b_peer;
    uint64_t forwarded = 0, send_failures = 0;
    int partner(int index) const { return index ^ 1; }
    // Where a datagram that arrived on socket `index` goes.
    const Endpoint& destination(int index) const { return (index & 1) ? a_peer : b_peer; }
};

// A non-blocking UDP socket bound to 127.0.0.1:port. The kernel releases an io_uring's sockets
// some time after its process has gone: a ref-relay started right after another may wait a
// little for its ports.
int open_bound(int port) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    auto ep = *Endpoint::parse("127.0.0.1", static_cast<uint16_t>(port));
    int rc = -1;
    for (int attempt = 0; fd >= 0 && attempt < 50; ++attempt) {
        rc = ::bind(fd, ep.sockaddr_ptr(), ep.sockaddr_len());
        if (rc == 0 || errno != EADDRINUSE) break;
        ::usleep(100'000);
    }
    if (fd < 0 || rc != 0) {
        std::string why = std::strerror(errno);
        if (fd >= 0) ::close(fd);
        throw std::runtime_error("cannot bind " + ep.to_string() + ": " + why);
    }
    return fd;
}

void open_sockets(Relay& r, const Options& o) {
    for (int i = 0; i < 2 * o.pairs; ++i) r.fds.push_back(open_bound(o.base + i));
    for (int i = 0; i < o.idle_sockets * o.pairs; ++i) r.idle_fds.push_back(open_bound(o.base + 2 * o.pairs + i));
}

void run_plain(Relay& r) {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    for (std::size_t i = 0; i < r.fds.size(); ++i) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<uint32_t>(i);
        ::epoll_ctl(ep, EPOLL_CTL_ADD, r.fds[i], &ev);
    }
    constexpr int kBatch = 32;
    constexpr std::size_t kBuf = 2048;
    std::vector<char> bufs(kBatch * kBuf);
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    sockaddr_storage from[kBatch];
    epoll_event events[256];
    while (!g_stop.load(std::memory_order_relaxed)) {
        int n = ::epoll_wait(ep, events, 256, 200);
        for (int e = 0; e < n; ++e) {
            int index = static_cast<int>(events[e].data.u32);
            for (int m = 0; m < kBatch; ++m) {
                iov[m] = {bufs.data() + m * kBuf, kBuf};
                msgs[m] = {};
                msgs[m].msg_hdr.msg_iov = &iov[m];
                msgs[m].msg_hdr.msg_iovlen = 1;
                if (r.source) {
                    msgs[m].msg_hdr.msg_name = &from[m];
                    msgs[m].msg_hdr.msg_namelen = sizeof from[m];
                }
            }
            int got = ::recvmmsg(r.fds[static_cast<std::size_t>(index)], msgs, kBatch, MSG_DONTWAIT, nullptr);
            if (got <= 0) continue;
            const Endpoint& to = r.destination(index);
            for (int m = 0; m < got; ++m) {
                iov[m].iov_len = msgs[m].msg_len;
                msgs[m].msg_hdr.msg_name = const_cast<sockaddr*>(to.sockaddr_ptr());
                msgs[m].msg_hdr.msg_namelen = to.sockaddr_len();
            }
            int sent = ::sendmmsg(r.fds[static_cast<std::size_t>(r.partner(index))], msgs, static_cast<unsigned>(got), 0);
            r.forwarded += static_cast<uint64_t>(std::max(sent, 0));
            r.send_failures += static_cast<uint64_t>(got - std::max(sent, 0));
        }
    }
    ::close(ep);
}

#ifdef LATCH_HAVE_LIBURING
void run_uring(Relay& r) {
    constexpr unsigned kBuffers = 4096;  // a power of two
    constexpr unsigned kBufSize = 2048;
    constexpr uint64_t kSendFlag = 1ULL << 63;
    io_uring ring;
    io_uring_params params{};
    params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    params.cq_entries = 65536;
    if (int rc = io_uring_queue_init_params(8192, &ring, &params); rc < 0) {
        throw std::runtime_error(std::string("io_uring_queue_init: ") + std::strerror(-rc));
    }
    void* ring_mem = nullptr;
    if (posix_memalign(&ring_mem, 4096, kBuffers * sizeof(io_uring_buf)) != 0) throw std::bad_alloc();
    auto* br = static_cast<io_uring_buf_ring*>(ring_mem);
    io_uring_buf_ring_init(br);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(br);
    reg.ring_entries = kBuffers;
    reg.bgid = 0;
    if (int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc < 0) {
        throw std::runtime_error(std::string("io_uring_register_buf_ring: ") + std::strerror(-rc));
    }
    std::vector<char> buffers(static_cast<std::size_t>(kBuffers) * kBufSize);
    const int mask = io_uring_buf_ring_mask(kBuffers);
    for (unsigned b = 0; b < kBuffers; ++b) {
        io_uring_buf_ring_add(br, buffers.data() + b * kBufSize, kBufSize, static_cast<unsigned short>(b), mask, static_cast<int>(b));
    }
    io_uring_buf_ring_advance(br, kBuffers);

    msghdr recv_template{};  // no name, no control: the payload follows the header
    std::vector<msghdr> send_msgs(kBuffers);
    std::vector<iovec> send_iov(kBuffers);
    auto arm = [&](std::size_t index) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        if (!sqe) {
            io_uring_submit(&ring);
            sqe = io_uring_get_sqe(&ring);
        }
        io_uring_prep_recvmsg_multishot(sqe, r.fds[index], &recv_template, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 0;
        io_uring_sqe_set_data64(sqe, index);
    };
    for (std::size_t i = 0; i < r.fds.size(); ++i) arm(i);
    unsigned returned = 0;  // buffers given back since the last advance
    auto give_back = [&](unsigned bid) {
        io_uring_buf_ring_add(br, buffers.data() + static_cast<std::size_t>(bid) * kBufSize, kBufSize,
                              static_cast<unsigned short>(bid), mask, static_cast<int>(returned++));
    };
    while (!g_stop.load(std::memory_order_relaxed)) {
        __kernel_timespec timeout{0, 200'000'000};
        io_uring_cqe* first = nullptr;
        io_uring_submit_and_wait_timeout(&ring, &first, 1, &timeout, nullptr);
        unsigned head, seen = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            uint64_t data = io_uring_cqe_get_data64(cqe);
            if (data & kSendFlag) {
                auto bid = static_cast<unsigned>(data & 0xffff);
                if (cqe->res < 0) ++r.send_failures;
                else ++r.forwarded;
                give_back(bid);
                continue;
            }
            auto index = static_cast<std::size_t>(data);
            if (!(cqe->flags & IORING_CQE_F_MORE)) arm(index);  // the multishot ended (for example ENOBUFS)
            if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_BUFFER)) continue;
            auto bid = static_cast<unsigned>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
            char* buf = buffers.data() + static_cast<std::size_t>(bid) * kBufSize;
            auto* out = io_uring_recvmsg_validate(buf, cqe->res, &recv_template);
            if (!out || (out->flags & MSG_TRUNC)) {
                give_back(bid);
                continue;
            }
            const Endpoint& to = r.destination(static_cast<int>(index));
            send_iov[bid] = {io_uring_recvmsg_payload(out, &recv_template),
                             static_cast<std::size_t>(io_uring_recvmsg_payload_length(out, cqe->res, &recv_template))};
            msghdr& m = send_msgs[bid];
            m = {};
            m.msg_name = const_cast<sockaddr*>(to.sockaddr_ptr());
            m.msg_namelen = to.sockaddr_len();
            m.msg_iov = &send_iov[bid];
            m.msg_iovlen = 1;
            io_uring_sqe* sqe = io_uring_get_sqe(&ring);
            if (!sqe) {
                io_uring_submit(&ring);
                sqe = io_uring_get_sqe(&ring);
            }
            io_uring_prep_sendmsg(sqe, r.fds[static_cast<std::size_t>(r.partner(static_cast<int>(index)))], &m, 0);
            io_uring_sqe_set_data64(sqe, kSendFlag | bid);
        }
        io_uring_cq_advance(&ring, seen);
        if (returned) {
            io_uring_buf_ring_advance(br, static_cast<int>(returned));
            returned = 0;
        }
    }
    io_uring_queue_exit(&ring);
    std::free(ring_mem);
}
#endif

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--base") o.base = std::stoi(v);
        else if (k == "--pairs") o.pairs = std::stoi(v);
        else if (k == "--a-peer") o.a_peer = Endpoint::parse(v).value_or(Endpoint{});
        else if (k == "--b-peer") o.b_peer = Endpoint::parse(v).value_or(Endpoint{});
        else if (k == "--mode") o.mode = v;
        else if (k == "--cpu") o.cpu = std::stoi(v);
        else if (k == "--idle-sockets") o.idle_sockets = std::stoi(v);
        else if (k == "--source") o.source = v == "yes";
        else throw std::invalid_argument("unknown option " + k);
    }
    if (o.pairs < 1 || o.base < 1024 || o.base + (2 + o.idle_sockets) * o.pairs > 65536 || !o.a_peer.is_set() || !o.b_peer.is_set()) {
        throw std::invalid_argument("need --base PORT --pairs N --a-peer ADDR:PORT --b-peer ADDR:PORT");
    }
    if (o.mode != "plain" && o.mode != "uring") throw std::invalid_argument("--mode is plain or uring");
    return o;
}

}  // namespace

int main(int argc, char** argv) try {
    Options o = parse(argc, argv);
#ifndef LATCH_HAVE_LIBURING
    if (o.mode == "uring") throw std::runtime_error("built without liburing");
#endif
    struct sigaction sa{};
    sa.sa_handler = [](int) { g_stop = true; };
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    latch::bench::pin_thread(pthread_self(), o.cpu);
    Relay r;
    r.a_peer = o.a_peer;
    r.b_peer = o.b_peer;
    r.source = o.source;
    open_sockets(r, o);
    std::fprintf(stderr, "ref-relay: %s, %d pairs on 127.0.0.1:%d-%d\n", o.mode.c_str(), o.pairs, o.base, o.base + 2 * o.pairs - 1);
#ifdef LATCH_HAVE_LIBURING
    if (o.mode == "uring") run_uring(r);
    else run_plain(r);
#else
    run_plain(r);
#endif
    std::fprintf(stderr, "ref-relay: forwarded %llu, send failures %llu\n",
                 static_cast<unsigned long long>(r.forwarded), static_cast<unsigned long long>(r.send_failures));
    for (int fd : r.fds) ::close(fd);
    for (int fd : r.idle_fds) ::close(fd);
    return 0;
} catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "ref-relay: %s\n", e.what());
    return 2;
} catch (const std::exception& e) {
    std::fprintf(stderr, "ref-relay: %s\n", e.what());
    return 1;
}
