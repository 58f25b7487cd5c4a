// latch-bench: measures an ng relay (latchd, rtpengine) or ref-relay from the outside.
//
//   latch-bench media   sets up calls over ng (bencode), sends paced RTP through them and measures
//                       loss, one-way latency, jitter and the relay's CPU per forwarded packet;
//   latch-bench control offer+answer+delete cycles per second and per-command latency.
//
// The generator and the sink are two threads pinned to the load CPU. Every caller sends from one
// socket and every callee receives on one socket: the relay still handles one socket pair per leg,
// and the load side spends as little of its core as it can.
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_util.hpp"
#include "endpoint.hpp"
#include "ng_pipeline.hpp"
#include "udp_socket.hpp"

using namespace latch;
using namespace latch::bench;
using json = nlohmann::json;

namespace {

constexpr uint32_t kSsrcBase = 0x4c000000;
constexpr int kBatch = 64;
constexpr std::size_t kHeader = 12;
constexpr std::size_t kMinPacket = kHeader + 8;  // header and the send time

const char* kUsage =
    "usage: latch-bench media   [--server ADDR:PORT | --ref-relay BASEPORT] [--streams N] "
    "[--both]\n"
    "                           [--seconds S] [--warmup S] [--pps N] [--size BYTES]\n"
    "                           [--relay-cpu C] [--load-cpu C] [--relay-pid PID]\n"
    "                           [--caller-port P] [--callee-port P] [--tick-us US] [--label NAME] "
    "[--json FILE]\n"
    "                           [--caller-addr A] [--callee-addr A] [--callee-netns NAME] "
    "[--direction I,I]\n"
    "                           [--direct] [--record]\n"
    "       latch-bench control [--server ADDR:PORT] [--cycles N] [--inflight K] [--calls-up N] "
    "[--ping]\n"
    "                           [--label NAME] [--json FILE]\n";

struct Options {
    std::string mode;
    std::string server = "127.0.0.1:2223";
    int ref_relay_base = 0;  // ref-relay: pair i listens on BASE+2i (caller side) and BASE+2i+1
    int streams = 1000;
    bool both = false;
    double seconds = 10;
    double warmup = 2;
    int pps = 50;
    int size = 172;
    int relay_cpu = 0;
    int load_cpu = 1;
    pid_t relay_pid = 0;
    int caller_port = 0;
    int callee_port = 0;
    std::string caller_addr = "127.0.0.1";
    std::string callee_addr = "127.0.0.1";
    std::string callee_netns;  // the callee's socket opened in this network namespace
    std::string direction;     // "a,b": the ng offer's and answer's interfaces
    bool direct = false;       // no relay: each phone sends to the other (the routing floor)
    bool record = false;       // media: every call recorded (the offer's record-call flag)
    int tick_us = 100;         // the generator sends what is due, then sleeps at least this long
    int cycles = 5000;
    int inflight = 1;
    int calls_up = 0;  // control: calls set up before the cycles and held through them
    bool ping =
        false;  // control: three pings per cycle, the floor any command's round trip sits on
    std::string label;
    std::string json_path;
};

Options parse_options(int argc, char** argv) {
    if (argc < 2) throw std::invalid_argument("no mode");
    Options o;
    o.mode = argv[1];
    if (o.mode != "media" && o.mode != "control")
        throw std::invalid_argument("unknown mode " + o.mode);
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        if (k == "--both") {
            o.both = true;
            continue;
        }
        if (k == "--record") {
            o.record = true;
            continue;
        }
        if (k == "--ping") {
            o.ping = true;
            continue;
        }
        if (k == "--direct") {
            o.direct = true;
            continue;
        }
        if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
        std::string v = argv[++i];
        auto number = [&] { return std::stod(v); };
        if (k == "--server")
            o.server = v;
        else if (k == "--ref-relay")
            o.ref_relay_base = static_cast<int>(number());
        else if (k == "--streams")
            o.streams = static_cast<int>(number());
        else if (k == "--seconds")
            o.seconds = number();
        else if (k == "--warmup")
            o.warmup = number();
        else if (k == "--pps")
            o.pps = static_cast<int>(number());
        else if (k == "--size")
            o.size = static_cast<int>(number());
        else if (k == "--relay-cpu")
            o.relay_cpu = static_cast<int>(number());
        else if (k == "--load-cpu")
            o.load_cpu = static_cast<int>(number());
        else if (k == "--relay-pid")
            o.relay_pid = static_cast<pid_t>(number());
        else if (k == "--caller-port")
            o.caller_port = static_cast<int>(number());
        else if (k == "--callee-port")
            o.callee_port = static_cast<int>(number());
        else if (k == "--caller-addr")
            o.caller_addr = v;
        else if (k == "--callee-addr")
            o.callee_addr = v;
        else if (k == "--callee-netns")
            o.callee_netns = v;
        else if (k == "--direction")
            o.direction = v;
        else if (k == "--tick-us")
            o.tick_us = static_cast<int>(number());
        else if (k == "--cycles")
            o.cycles = static_cast<int>(number());
        else if (k == "--inflight")
            o.inflight = static_cast<int>(number());
        else if (k == "--calls-up")
            o.calls_up = static_cast<int>(number());
        else if (k == "--label")
            o.label = v;
        else if (k == "--json")
            o.json_path = v;
        else
            throw std::invalid_argument("unknown option " + k);
    }
    if (o.streams < 1 || o.streams > 100000 || (o.both && o.streams % 2 != 0)) {
        throw std::invalid_argument("--streams must be 1..100000 (even with --both)");
    }
    if (o.seconds <= 0 || o.warmup < 0 || o.pps < 1 || o.pps > 1000)
        throw std::invalid_argument("bad timing values");
    if (o.size < static_cast<int>(kMinPacket) || o.size > 1400)
        throw std::invalid_argument("--size must be 20..1400");
    if (o.tick_us < 0 || o.tick_us > 20000)
        throw std::invalid_argument("--tick-us must be 0..20000");
    if (o.cycles < 1 || o.inflight < 1 || o.calls_up < 0 || o.calls_up > 100000) {
        throw std::invalid_argument("bad --cycles, --inflight or --calls-up");
    }
    if (o.direct && (!o.caller_port || !o.callee_port)) {
        throw std::invalid_argument("--direct needs --caller-port and --callee-port");
    }
    if (o.ref_relay_base && (!o.caller_port || !o.callee_port)) {
        throw std::invalid_argument(
            "--ref-relay needs --caller-port and --callee-port (its fixed peers)");
    }
    return o;
}

int64_t now_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

json latency_summary(std::vector<double>& v) {
    return {{"p50", percentile(v, 0.50)},
            {"p99", percentile(v, 0.99)},
            {"p999", percentile(v, 0.999)},
            {"max", percentile(v, 1.0)}};
}

void write_report(const Options& o, const json& report) {
    std::puts(report.dump().c_str());
    if (!o.json_path.empty()) {
        std::ofstream out(o.json_path);
        out << report.dump(2) << "\n";
        if (!out) throw std::runtime_error("cannot write " + o.json_path);
    }
}

// ---- control mode ----

int run_control(const Options& o) {
    auto server = Endpoint::parse(o.server);
    if (!server) throw std::invalid_argument("bad --server");
    NgPipeline ng(*server);
    const std::string run = fmt::format("ctl-{}", ::getpid());
    // Step 0, 1, 2 of call `job` of a group: its offer, answer and delete.
    auto call_step = [&](const std::string& group, int job, int step) {
        static const char* kCommands[] = {"offer", "answer", "delete"};
        json r = {{"command", kCommands[step]},
                  {"call-id", fmt::format("{}-{}-{}", run, group, job)},
                  {"from-tag", "caller"},
                  {"replace", {"origin", "session-connection"}},
                  {"received-from", {"IP4", "127.0.0.1"}}};
        if (step == 0) r["sdp"] = phone_sdp("127.0.0.1", 40000 + 2 * (job % 1000));
        if (step == 1) {
            r["to-tag"] = "callee";
            r["sdp"] = phone_sdp("127.0.0.1", 50000 + 2 * (job % 1000));
        }
        return r;
    };
    auto accepted = [](int, int, const json& reply) { return reply.value("result", "") == "ok"; };
    // Calls held up through the measured cycles: a relay's commands may cost more with many
    // calls up (in its tables, and in its sockets' bookkeeping).
    if (o.calls_up > 0) {
        auto up = ng.run(
            o.calls_up, 8,
            [&](int job, int step) -> std::optional<json> {
                if (step > 1) return std::nullopt;
                return call_step("up", job, step);
            },
            accepted, "calls up");
        if (up.failed > 0)
            throw std::runtime_error(
                fmt::format("{} of {} calls failed to set up", up.failed, o.calls_up));
    }
    auto build = [&](int job, int step) -> std::optional<json> {
        if (step > 2) return std::nullopt;
        if (o.ping) return json{{"command", "ping"}};
        return call_step("cycle", job, step);
    };
    auto result = ng.run(
        o.cycles, o.inflight, build, [](int, int, const json&) { return true; }, "cycles");
    if (o.calls_up > 0) {
        ng.run(
            o.calls_up, 8,
            [&](int job, int step) -> std::optional<json> {
                if (step > 0) return std::nullopt;
                return call_step("up", job, 2);
            },
            accepted, "calls down");
    }
    json report = {{"mode", o.ping ? "control-ping" : "control"},
                   {"label", o.label},
                   {"server", o.server},
                   {"inflight", o.inflight},
                   {"calls_up", o.calls_up},
                   {"cycles", result.completed},
                   {"failed", result.failed},
                   {"seconds", result.seconds},
                   {"cycles_per_second", result.completed / result.seconds}};
    for (auto& [name, v] : result.latency_ms) report["latency_ms"][name] = latency_summary(v);
    write_report(o, report);
    return result.failed == 0 ? 0 : 1;
}

// ---- media mode ----

// A socket in network namespace `netns` (/var/run/netns/NAME; empty: this process's own): the
// thread enters it for the socket() call only, and the socket stays there.
int socket_in(const std::string& netns) {
    if (netns.empty()) return ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int here = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int there = ::open(("/var/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (here < 0 || there < 0 || ::setns(there, CLONE_NEWNET) != 0) {
        throw std::runtime_error(
            fmt::format("cannot enter network namespace {}: {}", netns, std::strerror(errno)));
    }
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (::setns(here, CLONE_NEWNET) != 0)
        throw std::runtime_error("cannot leave the callee's network namespace");
    ::close(here);
    ::close(there);
    return fd;
}

int open_phone_socket(const std::string& address, int port, Endpoint& bound,
                      const std::string& netns = {}) {
    int fd = socket_in(netns);
    auto ep = Endpoint::parse(address, static_cast<uint16_t>(port));
    if (!ep) throw std::invalid_argument("bad phone address " + address);
    int one = 1;
    if (fd < 0 || ::bind(fd, ep->sockaddr_ptr(), ep->sockaddr_len()) != 0) {
        throw std::runtime_error(
            fmt::format("cannot bind {}: {}", ep->to_string(), std::strerror(errno)));
    }
    int big = 64 << 20;  // the sink must never be the bottleneck; FORCE needs CAP_NET_ADMIN
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    }
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) != 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    }
    ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    bound = bound_endpoint(fd);
    return fd;
}

struct SendStream {
    int fd = -1;
    Endpoint to;
    uint32_t ssrc = 0;
    uint16_t seq = 0;
    uint32_t timestamp = 0;
    uint64_t sent_in_window = 0;
};

struct ReceiveStream {
    bool started = false;
    uint16_t base_seq = 0;
    uint16_t max_seq = 0;
    uint32_t cycles = 0;
    uint64_t received = 0;
    uint64_t out_of_order = 0;
    double jitter = 0;  // RFC 3550, in timestamp units
    double last_transit = 0;
    int64_t expected() const {
        return started ? static_cast<int64_t>(cycles) + max_seq - base_seq + 1 : 0;
    }
};

struct Shared {
    std::atomic<bool> generator_done{false};
    std::atomic<bool> stop_sink{false};
    std::atomic<uint64_t> sent{0};
    std::atomic<uint64_t> send_errors{0};
    std::atomic<uint64_t> received{0};
    std::atomic<int64_t> max_latency_ns_interval{0};  // reset by the progress line
    std::atomic<uint32_t> sink_socket_drops{0};
};

uint32_t rd32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint16_t rd16(const uint8_t* p) {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

// The generator: stream i of N sends at t0 + k*period + i*period/N, open loop.
struct GeneratorResult {
    std::vector<double> late_ms;  // how late each batch left against its schedule
};

GeneratorResult run_generator(const Options& o, std::vector<SendStream>& streams, int64_t t0_mono,
                              int64_t win_start_rt, int64_t win_end_rt, Shared& shared) {
    GeneratorResult result;
    const int64_t period = 1'000'000'000LL / o.pps;
    const auto n = static_cast<int64_t>(streams.size());
    const int64_t end = t0_mono + static_cast<int64_t>((o.warmup + o.seconds) * 1e9);
    const auto ts_step = static_cast<uint32_t>(8000 / o.pps);
    const int64_t tick = static_cast<int64_t>(o.tick_us) * 1000;
    auto size = static_cast<std::size_t>(o.size);
    std::vector<uint8_t> packets(kBatch * size, 0);
    struct PerFd {
        int fd = -1;
        mmsghdr msgs[kBatch];
        iovec iov[kBatch];
        int count = 0;
    };
    PerFd out[2];
    int64_t k = 0, i = 0;  // the schedule's cursor
    auto due = [&] { return t0_mono + k * period + i * period / n; };
    auto flush = [&](PerFd& f) {
        int done = 0;
        while (done < f.count) {
            int r = ::sendmmsg(f.fd, f.msgs + done, static_cast<unsigned>(f.count - done), 0);
            if (r <= 0) {  // a full buffer or an ICMP error: count and move on
                shared.send_errors.fetch_add(1, std::memory_order_relaxed);
                ++done;
                continue;
            }
            done += r;
        }
        f.count = 0;
    };
    while (due() < end) {
        int64_t now = now_ns(CLOCK_MONOTONIC);
        int64_t next = due();
        if (next > now) {
            next = std::max(next, now + tick);  // wake at most once a tick
            timespec ts{static_cast<time_t>(next / 1'000'000'000),
                        static_cast<long>(next % 1'000'000'000)};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
            continue;
        }
        result.late_ms.push_back(static_cast<double>(now - next) / 1e6);
        int64_t stamp = now_ns(CLOCK_REALTIME);
        bool in_window = stamp >= win_start_rt && stamp < win_end_rt;
        int used = 0;
        while (used < kBatch && due() <= now && due() < end) {
            SendStream& s = streams[static_cast<std::size_t>(i)];
            uint8_t* p = packets.data() + static_cast<std::size_t>(used) * size;
            p[0] = 0x80;
            p[1] = 0;  // PCMU
            p[2] = static_cast<uint8_t>(s.seq >> 8);
            p[3] = static_cast<uint8_t>(s.seq);
            uint32_t be_ts = htonl(s.timestamp), be_ssrc = htonl(s.ssrc);
            std::memcpy(p + 4, &be_ts, 4);
            std::memcpy(p + 8, &be_ssrc, 4);
            std::memcpy(p + kHeader, &stamp, 8);
            ++s.seq;
            s.timestamp += ts_step;
            if (in_window) ++s.sent_in_window;
            PerFd& f = out[s.fd == out[0].fd || out[0].fd < 0 ? 0 : 1];
            f.fd = s.fd;
            f.iov[f.count] = {p, size};
            f.msgs[f.count] = {};
            f.msgs[f.count].msg_hdr.msg_name = const_cast<sockaddr*>(s.to.sockaddr_ptr());
            f.msgs[f.count].msg_hdr.msg_namelen = s.to.sockaddr_len();
            f.msgs[f.count].msg_hdr.msg_iov = &f.iov[f.count];
            f.msgs[f.count].msg_hdr.msg_iovlen = 1;
            ++f.count;
            ++used;
            if (++i == n) {
                i = 0;
                ++k;
            }
        }
        for (auto& f : out) {
            if (f.count) flush(f);
        }
        shared.sent.fetch_add(static_cast<uint64_t>(used), std::memory_order_relaxed);
    }
    shared.generator_done = true;
    return result;
}

struct SinkResult {
    std::vector<ReceiveStream> streams;
    std::vector<double> latency_ms;
    uint64_t strangers = 0;  // datagrams that are not the bench's packets
};

void run_sink(const Options& o, const std::vector<int>& fds, int64_t win_start_rt,
              int64_t win_end_rt, Shared& shared, SinkResult& result) {
    result.streams.assign(static_cast<std::size_t>(o.streams), {});
    result.latency_ms.reserve(static_cast<std::size_t>(o.streams * o.pps * o.seconds * 1.05));
    const double ts_rate = 8000.0;
    constexpr std::size_t kBuf = 2048;
    constexpr std::size_t kControl = CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(uint32_t));
    std::vector<uint8_t> bufs(kBatch * kBuf);
    std::vector<uint8_t> controls(kBatch * kControl);
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    // The sink drains its sockets every millisecond rather than being woken by each datagram:
    // the kernel's receive timestamps keep the latency exact, and neither core pays a wake-up
    // per packet that a real phone would pay on its own machine.
    while (!shared.stop_sink.load(std::memory_order_relaxed)) {
        timespec pause{0, 1'000'000};
        clock_nanosleep(CLOCK_MONOTONIC, 0, &pause, nullptr);
        for (int fd : fds) {
            for (int round = 0; round < 1000; ++round) {  // bounded; 64 datagrams a round
                for (int m = 0; m < kBatch; ++m) {
                    iov[m] = {bufs.data() + m * kBuf, kBuf};
                    msgs[m] = {};
                    msgs[m].msg_hdr.msg_iov = &iov[m];
                    msgs[m].msg_hdr.msg_iovlen = 1;
                    msgs[m].msg_hdr.msg_control = controls.data() + m * kControl;
                    msgs[m].msg_hdr.msg_controllen = kControl;
                }
                int got = ::recvmmsg(fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
                if (got <= 0) break;
                int64_t fallback_rx = now_ns(CLOCK_REALTIME);
                for (int m = 0; m < got; ++m) {
                    int64_t rx = fallback_rx;
                    for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[m].msg_hdr); c;
                         c = CMSG_NXTHDR(&msgs[m].msg_hdr, c)) {
                        if (c->cmsg_level != SOL_SOCKET) continue;
                        if (c->cmsg_type == SCM_TIMESTAMPNS) {
                            timespec ts;
                            std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
                            rx = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
                        } else if (c->cmsg_type == SO_RXQ_OVFL) {
                            uint32_t drops;
                            std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
                            shared.sink_socket_drops.store(drops, std::memory_order_relaxed);
                        }
                    }
                    const uint8_t* p = bufs.data() + m * kBuf;
                    uint32_t index = rd32(p + 8) - kSsrcBase;
                    if (msgs[m].msg_len < kMinPacket || (p[0] >> 6) != 2 ||
                        index >= result.streams.size()) {
                        ++result.strangers;
                        continue;
                    }
                    shared.received.fetch_add(1, std::memory_order_relaxed);
                    int64_t sent;
                    std::memcpy(&sent, p + kHeader, 8);
                    int64_t latency = rx - sent;
                    if (latency > shared.max_latency_ns_interval.load(std::memory_order_relaxed)) {
                        shared.max_latency_ns_interval.store(latency, std::memory_order_relaxed);
                    }
                    if (sent < win_start_rt || sent >= win_end_rt) continue;
                    result.latency_ms.push_back(static_cast<double>(latency) / 1e6);
                    ReceiveStream& s = result.streams[index];
                    uint16_t seq = rd16(p + 2);
                    // RFC 3550 interarrival jitter, with the arrival in timestamp units
                    double transit = static_cast<double>(rx) * ts_rate / 1e9 - rd32(p + 4);
                    if (!s.started) {
                        s = ReceiveStream{};
                        s.started = true;
                        s.base_seq = s.max_seq = seq;
                    } else {
                        s.jitter += (std::fabs(transit - s.last_transit) - s.jitter) / 16.0;
                        auto delta = static_cast<uint16_t>(seq - s.max_seq);
                        if (delta != 0 && delta < 3000) {
                            if (seq < s.max_seq) s.cycles += 65536;
                            s.max_seq = seq;
                        } else {
                            ++s.out_of_order;  // a duplicate or an old packet
                        }
                    }
                    s.last_transit = transit;
                    ++s.received;
                }
            }
        }
    }
}

struct Call {
    int offer_port = 0;   // the relay's port that the callee sends to
    int answer_port = 0;  // the relay's port that the caller sends to
};

int run_media(const Options& o) {
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // the generator's sleeps must end on time
    pin_thread(pthread_self(), o.load_cpu);
    Endpoint caller_ep, callee_ep;
    int caller_fd = open_phone_socket(o.caller_addr, o.caller_port, caller_ep);
    int callee_fd = open_phone_socket(o.callee_addr, o.callee_port, callee_ep, o.callee_netns);
    const int calls = o.both ? o.streams / 2 : o.streams;
    std::vector<Call> call_ports(static_cast<std::size_t>(calls));
    const std::string run = fmt::format("media-{}", ::getpid());
    std::optional<Endpoint> server;
    json setup_report;
    uint64_t rss_idle = o.relay_pid ? process_rss_kib(o.relay_pid) : 0;

    // Where the calls' relay ports are (from the SDP): the callee's side (the offer's reply) and
    // the caller's (the answer's); with --direction, on two interfaces.
    std::string offer_addr = "127.0.0.1", answer_addr = "127.0.0.1";
    if (o.direct) {
        // No relay: the caller's streams go to the callee and the reverse, routed.
    } else if (o.ref_relay_base) {
        for (int c = 0; c < calls; ++c) {
            call_ports[static_cast<std::size_t>(c)] =
                Call{o.ref_relay_base + 2 * c + 1, o.ref_relay_base + 2 * c};
        }
    } else {
        server = Endpoint::parse(o.server);
        if (!server) throw std::invalid_argument("bad --server");
        NgPipeline ng(*server);
        auto build = [&](int job, int step) -> std::optional<json> {
            if (step > 1) return std::nullopt;
            json r = {{"command", step == 0 ? "offer" : "answer"},
                      {"call-id", fmt::format("{}-{}", run, job)},
                      {"from-tag", "caller"},
                      {"sdp", step == 0 ? phone_sdp(o.caller_addr, caller_ep.port())
                                        : phone_sdp(o.callee_addr, callee_ep.port())}};
            if (step == 1) r["to-tag"] = "callee";
            if (step == 0 && o.record) r["flags"] = {"record-call"};
            if (auto comma = o.direction.find(','); comma != std::string::npos) {
                r["direction"] = {o.direction.substr(0, comma), o.direction.substr(comma + 1)};
            }
            return r;
        };
        auto on_reply = [&](int job, int step, const json& reply) {
            std::string sdp = reply.value("sdp", "");
            int port = sdp_audio_port(sdp);
            if (auto addr = sdp_connection_address(sdp); !addr.empty())
                (step == 0 ? offer_addr : answer_addr) = addr;
            auto& c = call_ports[static_cast<std::size_t>(job)];
            (step == 0 ? c.offer_port : c.answer_port) = port;
            return port > 0;
        };
        auto result = ng.run(calls, 8, build, on_reply, "setting up calls");
        if (result.failed)
            throw std::runtime_error(
                fmt::format("{} of {} calls could not be set up", result.failed, calls));
        setup_report = {{"calls_per_second", calls / result.seconds}};
    }
    uint64_t rss_calls = o.relay_pid ? process_rss_kib(o.relay_pid) : 0;

    std::vector<SendStream> streams(static_cast<std::size_t>(o.streams));
    for (int s = 0; s < o.streams; ++s) {
        const Call& c = call_ports[static_cast<std::size_t>(o.both ? s / 2 : s)];
        bool backwards = o.both && s % 2 == 1;  // callee to caller
        SendStream& st = streams[static_cast<std::size_t>(s)];
        st.fd = backwards ? callee_fd : caller_fd;
        if (o.direct) {
            st.to = backwards ? caller_ep : callee_ep;
        } else {
            st.to = backwards ? *Endpoint::parse(offer_addr, static_cast<uint16_t>(c.offer_port))
                              : *Endpoint::parse(answer_addr, static_cast<uint16_t>(c.answer_port));
        }
        st.ssrc = kSsrcBase + static_cast<uint32_t>(s);
        st.seq = static_cast<uint16_t>(s * 7919);
        st.timestamp = static_cast<uint32_t>(s) * 104729u;
    }

    Shared shared;
    const int64_t t0_mono = now_ns(CLOCK_MONOTONIC) + 50'000'000;
    const int64_t t0_rt = now_ns(CLOCK_REALTIME) + 50'000'000;
    const int64_t win_start = t0_rt + static_cast<int64_t>(o.warmup * 1e9);
    const int64_t win_end = win_start + static_cast<int64_t>(o.seconds * 1e9);
    SinkResult sink;
    std::vector<int> sink_fds = {callee_fd};
    if (o.both) sink_fds.push_back(caller_fd);
    std::thread sink_thread([&] {
        pin_thread(pthread_self(), o.load_cpu);
        run_sink(o, sink_fds, win_start, win_end, shared, sink);
    });
    GeneratorResult generated;
    std::thread generator_thread([&] {
        pin_thread(pthread_self(), o.load_cpu);
        // Above the sink on their shared core, so that a packet's send time is its stamp
        // (real-time priority needs root; without it the figures carry the sink's turns).
        sched_param priority{};
        priority.sched_priority = 10;
        pthread_setschedparam(pthread_self(), SCHED_FIFO, &priority);
        generated = run_generator(o, streams, t0_mono, win_start, win_end, shared);
    });

    // Progress once a second; CPU samples at the window's edges.
    CpuJiffies relay_start{}, relay_end{}, load_start{}, load_end{};
    double proc_start = 0, proc_end = 0;
    bool window_started = false, window_ended = false;
    auto last = now_ns(CLOCK_REALTIME);
    uint64_t last_sent = 0, last_received = 0;
    CpuJiffies last_relay = cpu_jiffies(o.relay_cpu);
    while (!shared.generator_done.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        int64_t now = now_ns(CLOCK_REALTIME);
        if (!window_started && now >= win_start) {
            window_started = true;
            relay_start = cpu_jiffies(o.relay_cpu);
            load_start = cpu_jiffies(o.load_cpu);
            if (o.relay_pid) proc_start = process_cpu_seconds(o.relay_pid);
        }
        if (!window_ended && now >= win_end) {
            window_ended = true;
            relay_end = cpu_jiffies(o.relay_cpu);
            load_end = cpu_jiffies(o.load_cpu);
            if (o.relay_pid) proc_end = process_cpu_seconds(o.relay_pid);
        }
        if (now - last >= 1'000'000'000) {
            double dt = static_cast<double>(now - last) / 1e9;
            uint64_t sent = shared.sent.load(), received = shared.received.load();
            CpuJiffies relay_now = cpu_jiffies(o.relay_cpu);
            std::fprintf(stderr,
                         "\r%-9s %5.1f s  sent %7.0f/s  received %7.0f/s  relay core %3.0f%%  max "
                         "latency %7.2f ms   ",
                         now < win_start ? "warm-up" : "measuring",
                         static_cast<double>(now - t0_rt) / 1e9,
                         static_cast<double>(sent - last_sent) / dt,
                         static_cast<double>(received - last_received) / dt,
                         100 * busy_share(last_relay, relay_now),
                         static_cast<double>(shared.max_latency_ns_interval.exchange(0)) / 1e6);
            last = now;
            last_sent = sent;
            last_received = received;
            last_relay = relay_now;
        }
    }
    generator_thread.join();
    if (!window_ended) {
        relay_end = cpu_jiffies(o.relay_cpu);
        load_end = cpu_jiffies(o.load_cpu);
        if (o.relay_pid) proc_end = process_cpu_seconds(o.relay_pid);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // packets still in flight
    shared.stop_sink = true;
    sink_thread.join();
    std::fprintf(stderr, "\n");

    // Tear the calls down.
    json teardown_report;
    if (server) {
        NgPipeline ng(*server);
        auto build = [&](int job, int step) -> std::optional<json> {
            if (step > 0) return std::nullopt;
            return json{{"command", "delete"},
                        {"call-id", fmt::format("{}-{}", run, job)},
                        {"from-tag", "caller"}};
        };
        auto result = ng.run(
            calls, 8, build, [](int, int, const json&) { return true; }, "deleting calls");
        teardown_report = {{"failed", result.failed}};
    }
    uint64_t rss_after = o.relay_pid ? process_rss_kib(o.relay_pid) : 0;
    ::close(caller_fd);
    ::close(callee_fd);

    // The figures.
    uint64_t sent_window = 0, received_window = 0, streams_with_loss = 0, out_of_order = 0;
    int64_t rfc_lost = 0;
    double worst_stream_loss = 0, jitter_sum = 0, jitter_max = 0;
    for (std::size_t s = 0; s < streams.size(); ++s) {
        const auto& r = sink.streams[s];
        uint64_t sent = streams[s].sent_in_window;
        sent_window += sent;
        received_window += r.received;
        out_of_order += r.out_of_order;
        rfc_lost += r.expected() - static_cast<int64_t>(r.received);
        if (r.received < sent) {
            ++streams_with_loss;
            worst_stream_loss = std::max(worst_stream_loss, static_cast<double>(sent - r.received) /
                                                                static_cast<double>(sent));
        }
        double j = r.jitter / 8.0;  // timestamp units at 8 kHz to ms
        jitter_sum += j;
        jitter_max = std::max(jitter_max, j);
    }
    uint64_t lost = sent_window > received_window ? sent_window - received_window : 0;
    double busy = busy_share(relay_start, relay_end);
    double core_seconds = busy * o.seconds;
    double per_packet_us =
        received_window ? core_seconds * 1e6 / static_cast<double>(received_window) : 0;
    std::vector<double>& lat = sink.latency_ms;
    json latency = latency_summary(lat);
    json report = {
        {"mode", "media"},
        {"label", o.label},
        {"relay", o.direct           ? "none (routed)"
                  : o.ref_relay_base ? "ref-relay"
                                     : o.server},
        {"streams", o.streams},
        {"calls", calls},
        {"both_directions", o.both},
        {"pps_per_stream", o.pps},
        {"packet_bytes", o.size},
        {"seconds", o.seconds},
        {"offered_pps", static_cast<double>(sent_window) / o.seconds},
        {"received_pps", static_cast<double>(received_window) / o.seconds},
        {"sent", sent_window},
        {"received", received_window},
        {"lost", lost},
        {"loss_fraction",
         sent_window ? static_cast<double>(lost) / static_cast<double>(sent_window) : 0},
        {"lost_rfc3550", rfc_lost},
        {"streams_with_loss", streams_with_loss},
        {"worst_stream_loss_fraction", worst_stream_loss},
        {"out_of_order", out_of_order},
        {"latency_ms", latency},
        {"jitter_ms",
         {{"mean", jitter_sum / static_cast<double>(streams.size())}, {"max", jitter_max}}},
        {"relay_core_busy", busy},
        {"relay_core_us_per_packet", per_packet_us},
        {"load_core_busy", busy_share(load_start, load_end)},
        {"generator_late_ms",
         {{"p99", percentile(generated.late_ms, 0.99)},
          {"max", percentile(generated.late_ms, 1.0)}}},
        {"sink_socket_drops", shared.sink_socket_drops.load()},
        {"send_errors", shared.send_errors.load()},
        {"strangers", sink.strangers},
        {"clean", lost == 0 && latency["p99"].get<double>() < 2.0},
    };
    if (server) report["setup"] = setup_report;
    if (server) report["teardown"] = teardown_report;
    if (o.relay_pid) {
        report["relay_process_us_per_packet"] =
            received_window ? (proc_end - proc_start) * 1e6 / static_cast<double>(received_window)
                            : 0;
        report["rss_kib"] = {
            {"idle", rss_idle}, {"with_calls", rss_calls}, {"after_teardown", rss_after}};
        report["rss_bytes_per_call"] =
            rss_calls > rss_idle ? static_cast<double>(rss_calls - rss_idle) * 1024 / calls : 0;
    }
    write_report(o, report);
    if (report["load_core_busy"].get<double>() > 0.95) {
        std::fprintf(
            stderr,
            "latch-bench: the load core was saturated; these figures measure the bench too\n");
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) try {
    Options o = parse_options(argc, argv);
    return o.mode == "control" ? run_control(o) : run_media(o);
} catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "latch-bench: %s\n%s", e.what(), kUsage);
    return 2;
} catch (const std::exception& e) {
    std::fprintf(stderr, "\nlatch-bench: %s\n", e.what());
    return 1;
}
