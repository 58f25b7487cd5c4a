// The kernel path's BPF program alone, through BPF_PROG_TEST_RUN on crafted packets, in a
// network namespace of the test's own (veth, a route and a neighbour for the FIB lookup). As
// root; skipped with the reason elsewhere.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <array>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

// The skeleton holds the program's object as one string literal, longer than the 64 KiB
// that -Wpedantic has compilers warn about.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverlength-strings"
#include "latch_fwd.skel.h"
#pragma GCC diagnostic pop
#include "latch_maps.h"
#include "stream_quality.hpp"

namespace {

using Bytes = std::vector<uint8_t>;

// The test's own network namespace: veth0 10.1.0.1/24 and fd00:1::1/64 toward phone B
// (10.1.0.99, fd00:1::99) whose MAC is known, so that the FIB lookup resolves.
struct Namespace {
    std::string skip;  // why the tests cannot run here; empty when they can
    int ifindex = 0;
    std::array<uint8_t, 6> mac{};
    Namespace() {
        if (::geteuid() != 0) {
            skip = "not root: the program is loaded and its namespace built as root";
            return;
        }
        if (::unshare(CLONE_NEWNET) != 0) {
            skip = "cannot make a network namespace";
            return;
        }
        const char* setup =
            "ip link set lo up && ip link add veth0 type veth peer name veth1 && "
            "ip link set veth0 address 02:00:00:00:00:01 && ip link set veth0 up && ip link set "
            "veth1 up && "
            "ip addr add 10.1.0.1/24 dev veth0 && ip -6 addr add fd00:1::1/64 dev veth0 nodad && "
            "ip neigh add 10.1.0.99 lladdr 02:00:00:00:00:99 dev veth0 && "
            "ip -6 neigh add fd00:1::99 lladdr 02:00:00:00:00:99 dev veth0 && "
            "sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1";
        if (std::system(setup) != 0) {
            skip = "cannot build the namespace's veth (iproute2)";
            return;
        }
        ifindex = static_cast<int>(if_nametoindex("veth0"));
        mac = {0x02, 0, 0, 0, 0, 0x01};
    }
};

Namespace& ns() {
    static Namespace n;
    return n;
}

uint16_t fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}
uint32_t add_words(const uint8_t* p, std::size_t n, uint32_t sum = 0) {
    for (std::size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
    if (n % 2) sum += p[n - 1] << 8;
    return sum;
}

struct Addr {
    int family;
    std::array<uint8_t, 16> bytes{};
    static Addr v4(const char* text) {
        Addr a{AF_INET, {}};
        inet_pton(AF_INET, text, a.bytes.data());
        return a;
    }
    static Addr v6(const char* text) {
        Addr a{AF_INET6, {}};
        inet_pton(AF_INET6, text, a.bytes.data());
        return a;
    }
    std::size_t size() const { return family == AF_INET ? 4 : 16; }
};

Bytes rtp_payload(uint8_t first = 0x80, uint8_t pt = 0, std::size_t size = 172) {
    Bytes p(size, 0x55);
    p[0] = first;
    p[1] = pt;
    p[2] = 0x12;
    p[3] = 0x34;
    return p;
}

// An Ethernet frame with a UDP datagram; `udp_len_delta` makes the UDP length lie.
Bytes frame(const Addr& src, uint16_t sport, const Addr& dst, uint16_t dport, const Bytes& payload,
            int udp_len_delta = 0, bool options = false, bool fragment = false) {
    Bytes f(14, 0);
    f[0] = 0x02, f[5] = 0x01;  // to veth0
    f[6] = 0x02, f[11] = 0x50;
    bool v4 = src.family == AF_INET;
    f[12] = v4 ? 0x08 : 0x86;
    f[13] = v4 ? 0x00 : 0xdd;
    std::size_t udp_len = 8 + payload.size();
    Bytes ip;
    if (v4) {
        std::size_t ihl = options ? 6 : 5;
        ip.assign(ihl * 4, 0);
        ip[0] = static_cast<uint8_t>(0x40 | ihl);
        uint16_t total = static_cast<uint16_t>(ihl * 4 + udp_len);
        ip[2] = total >> 8, ip[3] = total & 0xff;
        if (fragment) ip[6] = 0x20;  // more fragments
        ip[8] = 64, ip[9] = IPPROTO_UDP;
        std::memcpy(&ip[12], src.bytes.data(), 4);
        std::memcpy(&ip[16], dst.bytes.data(), 4);
        uint16_t c = static_cast<uint16_t>(~fold(add_words(ip.data(), ip.size())));
        ip[10] = c >> 8, ip[11] = c & 0xff;
    } else {
        ip.assign(40, 0);
        ip[0] = 0x60;
        ip[4] = static_cast<uint8_t>(udp_len >> 8), ip[5] = udp_len & 0xff;
        ip[6] = IPPROTO_UDP, ip[7] = 64;
        std::memcpy(&ip[8], src.bytes.data(), 16);
        std::memcpy(&ip[24], dst.bytes.data(), 16);
    }
    Bytes udp(8, 0);
    auto len_field = static_cast<uint16_t>(udp_len + udp_len_delta);
    udp[0] = sport >> 8, udp[1] = sport & 0xff, udp[2] = dport >> 8, udp[3] = dport & 0xff;
    udp[4] = len_field >> 8, udp[5] = len_field & 0xff;
    Bytes dgram = udp;
    dgram.insert(dgram.end(), payload.begin(), payload.end());
    uint32_t sum = add_words(src.bytes.data(), src.size());
    sum = add_words(dst.bytes.data(), src.size(), sum);
    sum += IPPROTO_UDP + static_cast<uint32_t>(udp_len);
    uint16_t c = static_cast<uint16_t>(~fold(add_words(dgram.data(), dgram.size(), sum)));
    if (c == 0) c = 0xffff;
    dgram[6] = c >> 8, dgram[7] = c & 0xff;
    f.insert(f.end(), ip.begin(), ip.end());
    f.insert(f.end(), dgram.begin(), dgram.end());
    return f;
}

struct Run {
    int retval = -1;
    Bytes out;
};

struct Program {
    latch_fwd* skel = nullptr;
    Program() {
        libbpf_set_print([](enum libbpf_print_level, const char*, va_list) { return 0; });
        skel = latch_fwd__open_and_load();
        if (skel != nullptr) alive_for(60);
    }
    // latchd's heartbeat: the program acts until `seconds` from now (0: it has stopped).
    void alive_for(int seconds) const {
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t until = seconds == 0
                             ? 0
                             : static_cast<uint64_t>(now.tv_sec + seconds) * 1000000000ULL +
                                   static_cast<uint64_t>(now.tv_nsec);
        uint32_t zero = 0;
        REQUIRE(bpf_map__update_elem(skel->maps.latch_alive, &zero, sizeof zero, &until,
                                     sizeof until, BPF_ANY) == 0);
    }
    ~Program() { latch_fwd__destroy(skel); }
    Run run(const Bytes& in) const {
        Run r;
        r.out.assign(in.size() + 64, 0);
        __sk_buff ctx{};
        ctx.ifindex = static_cast<__u32>(ns().ifindex);
        ctx.ingress_ifindex = ctx.ifindex;
        bpf_test_run_opts opts{};
        opts.sz = sizeof opts;
        opts.data_in = in.data();
        opts.data_out = r.out.data();
        opts.data_size_in = static_cast<__u32>(in.size());
        opts.data_size_out = static_cast<__u32>(r.out.size());
        opts.ctx_in = &ctx;
        opts.ctx_size_in = sizeof ctx;
        opts.repeat = 1;
        int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.latch_ingress), &opts);
        REQUIRE(err == 0);
        r.retval = static_cast<int>(opts.retval);
        r.out.resize(opts.data_size_out);
        return r;
    }
    static latch_flow_key flow_key(const Addr& local, uint16_t lport, const Addr& remote,
                                   uint16_t rport) {
        latch_flow_key k{};
        k.family = static_cast<__u8>(local.family);
        k.local_port = htons(lport);
        k.remote_port = htons(rport);
        std::memcpy(k.local_addr, local.bytes.data(), 16);
        std::memcpy(k.remote_addr, remote.bytes.data(), 16);
        return k;
    }
    static latch_lock_key lock_key(const Addr& local, uint16_t lport) {
        latch_lock_key k{};
        k.family = static_cast<__u8>(local.family);
        k.local_port = htons(lport);
        std::memcpy(k.local_addr, local.bytes.data(), 16);
        return k;
    }
    void flow(const Addr& local, uint16_t lport, const Addr& remote, uint16_t rport,
              const Addr& src, uint16_t sport, const Addr& dst, uint16_t dport, uint8_t tos,
              uint8_t flags = 0, uint32_t ifindex = 0,
              const latch_rtp_quality* seed = nullptr) const {
        latch_flow_key k = flow_key(local, lport, remote, rport);
        latch_flow_action a{};
        if (seed != nullptr) a.quality = *seed;
        a.flags = flags;
        a.tos = tos;
        a.ifindex = ifindex;
        a.src_port = htons(sport);
        a.dst_port = htons(dport);
        std::memcpy(a.src_addr, src.bytes.data(), 16);
        std::memcpy(a.dst_addr, dst.bytes.data(), 16);
        REQUIRE(bpf_map__update_elem(skel->maps.latch_flows, &k, sizeof k, &a, sizeof a, BPF_ANY) ==
                0);
        lock(local, lport, remote);
    }
    void lock(const Addr& local, uint16_t lport, const Addr& learned) const {
        latch_lock_key k = lock_key(local, lport);
        latch_lock_value v{};
        std::memcpy(v.remote_addr, learned.bytes.data(), 16);
        REQUIRE(bpf_map__update_elem(skel->maps.latch_locks, &k, sizeof k, &v, sizeof v, BPF_ANY) ==
                0);
    }
    latch_flow_action action(const Addr& local, uint16_t lport, const Addr& remote,
                             uint16_t rport) const {
        latch_flow_key k = flow_key(local, lport, remote, rport);
        latch_flow_action a{};
        REQUIRE(bpf_map__lookup_elem(skel->maps.latch_flows, &k, sizeof k, &a, sizeof a, 0) == 0);
        return a;
    }
    uint64_t drops(const Addr& local, uint16_t lport) const {
        latch_lock_key k = lock_key(local, lport);
        latch_lock_value v{};
        REQUIRE(bpf_map__lookup_elem(skel->maps.latch_locks, &k, sizeof k, &v, sizeof v, 0) == 0);
        return v.drops;
    }
};

// Whether the skip applies (and says so), for every test case alike.
bool skipped(const Program* p = nullptr) {
    if (!ns().skip.empty()) {
        WARN("kernel path tests skipped: " << ns().skip);
        return true;
    }
    if (p != nullptr && p->skel == nullptr) {
        WARN(
            "kernel path tests skipped: the BPF program does not load here (no BPF, or not "
            "allowed)");
        return true;
    }
    return false;
}

const Addr kRelay4 = Addr::v4("10.1.0.1"), kPhoneA4 = Addr::v4("10.1.0.50"),
           kPhoneB4 = Addr::v4("10.1.0.99");
const Addr kStranger4 = Addr::v4("10.1.0.66");
const Addr kRelay6 = Addr::v6("fd00:1::1"), kPhoneA6 = Addr::v6("fd00:1::50"),
           kPhoneB6 = Addr::v6("fd00:1::99");

// A frame as it leaves toward phone B by the FIB's answer: phone B's MAC from the neighbour
// table, veth0's as the source.
Bytes toward_phone_b(Bytes f) {
    std::memcpy(&f[0], "\x02\x00\x00\x00\x00\x99", 6);
    std::memcpy(&f[6], ns().mac.data(), 6);
    return f;
}

}  // namespace

TEST_CASE("a locked IPv4 flow leaves rewritten, to the exact bytes, with valid checksums",
          "[kernel][bpf]") {
    if (skipped()) return;
    Program p;
    if (skipped(&p)) return;
    p.flow(kRelay4, 30000, kPhoneA4, 4000, kRelay4, 30002, kPhoneB4, 5000, 184);
    Bytes payload = rtp_payload();
    Run r = p.run(frame(kPhoneA4, 4000, kRelay4, 30000, payload));
    CHECK(r.retval == TC_ACT_REDIRECT);
    // What the relay's own socket would have sent: from its other leg, to phone B, TOS 184.
    Bytes want = frame(kRelay4, 30002, kPhoneB4, 5000, payload);
    want[15] = 184;  // TOS
    // The IP checksum with that TOS.
    want[24] = want[25] = 0;
    uint16_t c = static_cast<uint16_t>(~fold(add_words(&want[14], 20)));
    want[24] = c >> 8, want[25] = c & 0xff;
    CHECK(r.out == toward_phone_b(want));
    latch_flow_action a = p.action(kRelay4, 30000, kPhoneA4, 4000);
    CHECK(a.packets == 1);
    CHECK(a.bytes == payload.size());
    CHECK(a.last_ns != 0);
    // The stream's position, for userspace to recognise it after a NAT rebinding.
    CHECK(a.last_seq == 0x1234);
    CHECK(a.last_ssrc == 0x55555555);
}

TEST_CASE("a locked IPv6 flow leaves rewritten with a valid UDP checksum", "[kernel][bpf]") {
    if (skipped()) return;
    Program p;
    if (skipped(&p)) return;
    p.flow(kRelay6, 30000, kPhoneA6, 4000, kRelay6, 30002, kPhoneB6, 5000, 0);
    Bytes payload = rtp_payload();
    Run r = p.run(frame(kPhoneA6, 4000, kRelay6, 30000, payload));
    CHECK(r.retval == TC_ACT_REDIRECT);
    CHECK(r.out == toward_phone_b(frame(kRelay6, 30002, kPhoneB6, 5000, payload)));
}

TEST_CASE("what the program must not forward passes to the stack untouched, or is dropped",
          "[kernel][bpf]") {
    if (skipped()) return;
    Program p;
    if (skipped(&p)) return;
    p.flow(kRelay4, 30000, kPhoneA4, 4000, kRelay4, 30002, kPhoneB4, 5000, 0);
    struct Case {
        const char* what;
        Bytes in;
        int retval;
    };
    std::vector<Case> cases = {
        {"a NAT's rebinding candidate (the learned address, another port)",
         frame(kPhoneA4, 4999, kRelay4, 30000, rtp_payload()), TC_ACT_OK},
        {"a datagram that is not RTP (version 0)",
         frame(kPhoneA4, 4000, kRelay4, 30000, rtp_payload(0x00)), TC_ACT_OK},
        {"RTCP on the RTP port without rtcp-mux",
         frame(kPhoneA4, 4000, kRelay4, 30000, rtp_payload(0x80, 200, 40)), TC_ACT_OK},
        {"an RTP header longer than the datagram (15 CSRCs in 20 bytes)",
         frame(kPhoneA4, 4000, kRelay4, 30000, rtp_payload(0x8f, 0, 20)), TC_ACT_OK},
        {"a UDP length beyond the datagram (truncated)",
         frame(kPhoneA4, 4000, kRelay4, 30000, rtp_payload(), 100), TC_ACT_OK},
        {"IP options", frame(kPhoneA4, 4000, kRelay4, 30000, rtp_payload(), 0, true), TC_ACT_OK},
        {"a fragment", frame(kPhoneA4, 4000, kRelay4, 30000, rtp_payload(), 0, false, true),
         TC_ACT_OK},
        {"a port no call has", frame(kPhoneA4, 4000, kRelay4, 31000, rtp_payload()), TC_ACT_OK},
        {"a stranger to a locked stream", frame(kStranger4, 4000, kRelay4, 30000, rtp_payload()),
         TC_ACT_SHOT},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        Run r = p.run(c.in);
        CHECK(r.retval == c.retval);
        CHECK(r.out == c.in);  // untouched, forwarded or not
    }
    CHECK(p.drops(kRelay4, 30000) == 1);
    CHECK(p.action(kRelay4, 30000, kPhoneA4, 4000).packets == 0);
}

TEST_CASE("once latchd's heartbeat stops, the program forwards and drops nothing",
          "[kernel][bpf]") {
    if (skipped()) return;
    Program p;
    if (skipped(&p)) return;
    p.flow(kRelay4, 30000, kPhoneA4, 4000, kRelay4, 30002, kPhoneB4, 5000, 0);
    Bytes media = frame(kPhoneA4, 4000, kRelay4, 30000, rtp_payload());
    Bytes stranger = frame(kStranger4, 4000, kRelay4, 30000, rtp_payload());
    CHECK(p.run(media).retval == TC_ACT_REDIRECT);
    CHECK(p.run(stranger).retval == TC_ACT_SHOT);
    p.alive_for(0);
    Run forwarded = p.run(media), dropped = p.run(stranger);
    CHECK(forwarded.retval == TC_ACT_OK);
    CHECK(forwarded.out == media);
    CHECK(dropped.retval == TC_ACT_OK);
    CHECK(p.action(kRelay4, 30000, kPhoneA4, 4000).packets == 1);
    CHECK(p.drops(kRelay4, 30000) == 1);
}

TEST_CASE("on a host that does not forward, a flow leaves by its address's device or not at all",
          "[kernel][bpf]") {
    if (skipped()) return;
    Program p;
    if (skipped(&p)) return;
    REQUIRE(std::system("sysctl -qw net.ipv4.conf.all.forwarding=0") == 0);
    auto ifindex = static_cast<uint32_t>(ns().ifindex);
    p.flow(kRelay4, 30000, kPhoneA4, 4000, kRelay4, 30002, kPhoneB4, 5000, 0, 0, ifindex);
    p.flow(kRelay4, 30010, kPhoneA4, 4000, kRelay4, 30012, kPhoneB4, 5000, 0, 0, 0);
    Bytes payload = rtp_payload();
    Run r = p.run(frame(kPhoneA4, 4000, kRelay4, 30000, payload));
    // Rewritten; the kernel's neighbour table fills in the MACs as it sends.
    CHECK(r.retval == TC_ACT_REDIRECT);
    CHECK(r.out == frame(kRelay4, 30002, kPhoneB4, 5000, payload));
    CHECK(p.action(kRelay4, 30000, kPhoneA4, 4000).packets == 1);
    // No device to leave by: userspace sends it.
    Bytes in = frame(kPhoneA4, 4000, kRelay4, 30010, payload);
    Run up = p.run(in);
    CHECK(up.retval == TC_ACT_OK);
    CHECK(up.out == in);
    CHECK(p.action(kRelay4, 30010, kPhoneA4, 4000).packets == 0);
    REQUIRE(std::system("sysctl -qw net.ipv4.conf.all.forwarding=1") == 0);
    // Told that the device does not forward, the program does not ask the FIB at all.
    p.flow(kRelay4, 30020, kPhoneA4, 4000, kRelay4, 30022, kPhoneB4, 5000, 0, LATCH_FLOW_OWN_ROUTE,
           ifindex);
    Run own = p.run(frame(kPhoneA4, 4000, kRelay4, 30020, payload));
    CHECK(own.retval == TC_ACT_REDIRECT);
    CHECK(own.out == frame(kRelay4, 30022, kPhoneB4, 5000, payload));
}

TEST_CASE("the program measures the RTP it forwards as userspace does, from userspace's seed",
          "[kernel][bpf][quality]") {
    if (skipped()) return;
    Program p;
    if (skipped(&p)) return;
    // What userspace hands over: G.711 timed, a jitter so far, nothing counted.
    latch::StreamQuality user;
    uint64_t t = 1'000'000;
    for (uint16_t seq = 96; seq < 100; ++seq, t += 20'000'000)
        user.on_rtp(0x5eed, seq, seq * 160u, 0, t);
    latch_rtp_quality seed = user.seed();
    // RTP and RTCP on one port (rtcp-mux): the RTCP goes to userspace, which reads its reports.
    p.flow(kRelay4, 30000, kPhoneA4, 4000, kRelay4, 30002, kPhoneB4, 5000, 0,
           LATCH_FLOW_MUX | LATCH_FLOW_MEASURE, 0, &seed);
    auto rtp = [](uint16_t seq) {
        Bytes b = rtp_payload();
        b[2] = static_cast<uint8_t>(seq >> 8), b[3] = static_cast<uint8_t>(seq);
        uint32_t ts = seq * 160u;
        b[4] = static_cast<uint8_t>(ts >> 24), b[5] = static_cast<uint8_t>(ts >> 16);
        b[6] = static_cast<uint8_t>(ts >> 8), b[7] = static_cast<uint8_t>(ts);
        b[8] = 0, b[9] = 0, b[10] = 0x5e, b[11] = 0xed;
        return b;
    };
    // 100 and 101 lost at the hand-over; then 102, 104, 104 again, 103 late, 105.
    for (uint16_t seq : {102, 104, 104, 103, 105})
        CHECK(p.run(frame(kPhoneA4, 4000, kRelay4, 30000, rtp(seq))).retval == TC_ACT_REDIRECT);
    Bytes rtcp = rtp_payload(0x80, 201, 8);
    rtcp[2] = 0, rtcp[3] = 1;
    Run passed = p.run(frame(kPhoneA4, 4000, kRelay4, 30000, rtcp));
    CHECK(passed.retval == TC_ACT_OK);
    CHECK(passed.out == frame(kPhoneA4, 4000, kRelay4, 30000, rtcp));
    latch_flow_action a = p.action(kRelay4, 30000, kPhoneA4, 4000);
    CHECK(a.packets == 5);
    const latch_rtp_quality& k = a.quality;
    CHECK(k.started);
    CHECK(k.ssrc == 0x5eed);
    CHECK(k.run_received == 4);
    CHECK(k.duplicates == 1);
    CHECK(k.reordered == 1);
    CHECK(k.max_seq == 105);
    CHECK(k.timed_type == 0);
    CHECK(k.last_arrival_ns > 0);

    // Userspace adds it to its own: 96-105 expected, 100 and 101 lost.
    latch::QualityFigures f = user.figures(&k);
    CHECK(f.expected == 10);
    CHECK(f.received == 8);
    CHECK(f.lost == 2);
    CHECK(f.duplicates == 1);
    CHECK(f.reordered == 1);
    CHECK(f.longest_gap == 2);

    // With the figures off (--quality-figures no) the program forwards and counts, nothing more.
    p.flow(kRelay4, 30010, kPhoneA4, 4010, kRelay4, 30012, kPhoneB4, 5010, 0, 0);
    CHECK(p.run(frame(kPhoneA4, 4010, kRelay4, 30010, rtp(7))).retval == TC_ACT_REDIRECT);
    latch_flow_action off = p.action(kRelay4, 30010, kPhoneA4, 4010);
    CHECK(off.packets == 1);
    CHECK(off.quality.started == 0);
    CHECK(off.quality.run_received == 0);
}
