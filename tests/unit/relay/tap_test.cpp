// The recording path's parts: the worker-to-recorder ring, and the recorder writing pcap files
// that libpcap reads back as the datagrams that arrived.
#include <catch2/catch.hpp>

#include <pcap/pcap.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "recorder.hpp"
#include "tap_ring.hpp"

using namespace latch;

namespace {

Endpoint ep(const char* text) {
    auto e = Endpoint::parse(text);
    REQUIRE(e);
    return *e;
}

std::vector<uint8_t> payload(std::size_t n, uint8_t first) {
    std::vector<uint8_t> p(n);
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(first + i);
    return p;
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/latch-tap-test.XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

struct Read {
    std::vector<std::vector<uint8_t>> packets;
    std::vector<uint32_t> wire_lengths;
    int link = -1;
};

Read read_pcap(const std::string& file) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(file.c_str(), err);
    REQUIRE(p != nullptr);
    Read r;
    r.link = pcap_datalink(p);
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(p, &h, &data) == 1) {
        r.packets.emplace_back(data, data + h->caplen);
        r.wire_lengths.push_back(h->len);
    }
    pcap_close(p);
    return r;
}

uint16_t be16(const std::vector<uint8_t>& b, std::size_t at) {
    return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}

bool ipv4_checksum_ok(const std::vector<uint8_t>& b) {
    uint32_t sum = 0;
    for (std::size_t i = 0; i < 20; i += 2) sum += be16(b, i);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

}  // namespace

TEST_CASE("the tap ring hands copies over in order and refuses them when full", "[tap]") {
    TapRing ring(3);  // rounded up to 4
    REQUIRE(ring.capacity() == 4);
    Endpoint from = ep("192.0.2.7:4000"), to = ep("203.0.113.1:30000");
    auto data = payload(172, 0);
    for (uint64_t i = 1; i <= 4; ++i)
        CHECK(ring.push(i, i * 10, from, to, data.data(), data.size()));
    CHECK_FALSE(ring.push(5, 50, from, to, data.data(), data.size()));
    for (uint64_t i = 1; i <= 4; ++i) {
        const TapPacket* p = ring.front();
        REQUIRE(p != nullptr);
        CHECK(p->recording == i);
        CHECK(p->at_ns == i * 10);
        CHECK(p->from == from);
        CHECK(p->len == 172);
        ring.pop();
    }
    CHECK(ring.front() == nullptr);
    // Past the end of the slots, and a datagram longer than a slot keeps its first bytes.
    auto big = payload(3000, 1);
    for (int round = 0; round < 3; ++round) {
        CHECK(ring.push(9, 1, from, to, big.data(), big.size()));
        const TapPacket* p = ring.front();
        REQUIRE(p != nullptr);
        CHECK(p->len == TapPacket::kSnap);
        CHECK(p->wire_len == 3000);
        CHECK(p->data[TapPacket::kSnap - 1] == big[TapPacket::kSnap - 1]);
        ring.pop();
    }
}

TEST_CASE("the recorder writes each recording's datagrams as IP packets libpcap reads back",
          "[tap][recorder]") {
    TempDir dir;
    TapRing ring(64);
    Recorder recorder({&ring});
    std::string one = (dir.path / "one.pcap").string();
    std::string six = (dir.path / "six.pcap").string();
    recorder.open(1, one);
    recorder.open(2, six);
    Endpoint a = ep("192.0.2.7:4000"), relay_a = ep("203.0.113.1:30000");
    Endpoint b = ep("[2001:db8::9]:5004"), relay_b = ep("[2001:db8::1]:30002");
    for (uint8_t i = 0; i < 10; ++i) {
        auto d = payload(160, i);
        REQUIRE(ring.push(1, 1'000'000'000ull * i, a, relay_a, d.data(), d.size()));
        REQUIRE(ring.push(2, 1'000'000'000ull * i, b, relay_b, d.data(), d.size()));
    }
    auto big = payload(2000, 3);
    REQUIRE(ring.push(1, 11'000'000'000ull, a, relay_a, big.data(), big.size()));
    REQUIRE(ring.push(7, 1, a, relay_a, big.data(), big.size()));  // a recording never opened
    recorder.drain();
    CHECK(recorder.status(1).packets == 11);
    CHECK(recorder.status(1).open);
    RecordingStatus closed_one, closed_six;
    recorder.close(1, [&](const RecordingStatus& s) { closed_one = s; });
    recorder.close(2, [&](const RecordingStatus& s) { closed_six = s; });
    recorder.drain();
    CHECK(closed_one.packets == 11);
    CHECK_FALSE(closed_one.failed);
    CHECK_FALSE(closed_one.open);
    CHECK(closed_six.packets == 10);
    CHECK(closed_six.bytes == 1600);
    CHECK_FALSE(recorder.status(1).known);  // forgotten once closed
    CHECK(recorder.totals().unmatched == 1);
    CHECK(recorder.totals().packets == 21);

    struct stat st {};
    REQUIRE(::stat(one.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);

    Read r = read_pcap(one);
    CHECK(r.link == DLT_RAW);
    REQUIRE(r.packets.size() == 11);
    const auto& p = r.packets[3];
    REQUIRE(p.size() == 20 + 8 + 160);
    CHECK(p[0] == 0x45);
    CHECK(p[9] == 17);
    CHECK(be16(p, 2) == 188);
    CHECK(ipv4_checksum_ok(p));
    CHECK(std::vector<uint8_t>(p.begin() + 12, p.begin() + 16) ==
          std::vector<uint8_t>{192, 0, 2, 7});
    CHECK(std::vector<uint8_t>(p.begin() + 16, p.begin() + 20) ==
          std::vector<uint8_t>{203, 0, 113, 1});
    CHECK(be16(p, 20) == 4000);
    CHECK(be16(p, 22) == 30000);
    CHECK(be16(p, 24) == 168);
    CHECK(std::vector<uint8_t>(p.begin() + 28, p.end()) == payload(160, 3));
    // The long one: cut to the snap length, its own length kept.
    CHECK(r.packets[10].size() == 28 + TapPacket::kSnap);
    CHECK(r.wire_lengths[10] == 28 + 2000);

    Read v6 = read_pcap(six);
    REQUIRE(v6.packets.size() == 10);
    const auto& q = v6.packets[0];
    REQUIRE(q.size() == 40 + 8 + 160);
    CHECK(q[0] >> 4 == 6);
    CHECK(q[6] == 17);
    CHECK(be16(q, 40) == 5004);
    CHECK(be16(q, 42) == 30002);
    CHECK(be16(q, 46) != 0);  // IPv6's UDP checksum is mandatory
}

TEST_CASE("copies pushed right after an open are written, however the recorder's pass falls",
          "[tap][recorder]") {
    // The control thread opens a recording, then a worker copies for it at once: the recorder
    // may be in the middle of a pass that took its requests before that open.
    TempDir dir;
    TapRing ring(64);
    Recorder recorder({&ring});
    Endpoint a = ep("192.0.2.7:4000"), relay_a = ep("203.0.113.1:30000");
    auto d = payload(160, 1);
    int lost = 0;
    for (uint64_t id = 1; id <= 300; ++id) {
        recorder.open(id, (dir.path / ("r" + std::to_string(id) + ".pcap")).string());
        REQUIRE(ring.push(id, id, a, relay_a, d.data(), d.size()));
        if (id % 3 == 0) std::this_thread::yield();
        recorder.close(id, [&](const RecordingStatus& s) {
            if (s.packets != 1) ++lost;
        });
        if (id % 50 == 0) recorder.drain();
    }
    recorder.drain();
    CHECK(lost == 0);
    CHECK(recorder.totals().unmatched == 0);
    CHECK(recorder.totals().packets == 300);
}

TEST_CASE("a recording that cannot be created or written fails alone, and says why",
          "[tap][recorder]") {
    TempDir dir;
    TapRing ring(256);
    Recorder recorder({&ring});
    std::string taken = (dir.path / "taken.pcap").string();
    std::FILE* f = std::fopen(taken.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
    recorder.open(1, taken);  // never overwrites a file
    recorder.open(2, (dir.path / "nowhere" / "x.pcap").string());
    std::string big = (dir.path / "big.pcap").string();
    std::string fine = (dir.path / "fine.pcap").string();
    recorder.open(3, big);
    recorder.drain();
    CHECK(recorder.status(1).failed);
    CHECK_THAT(recorder.status(1).error, Catch::Contains("File exists"));
    CHECK(recorder.status(2).failed);
    CHECK_THAT(recorder.status(2).error, Catch::Contains("No such file"));
    CHECK(std::filesystem::file_size(taken) == 0);

    // A file that may not grow past 8 KiB stands for a full disk: the write fails, the
    // recording with it, and the next recording is written as before.
    rlimit old{};
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
    auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old;
    small.rlim_cur = 8192;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    Endpoint a = ep("192.0.2.7:4000"), relay_a = ep("203.0.113.1:30000");
    auto d = payload(1000, 0);
    for (int i = 0; i < 40; ++i) REQUIRE(ring.push(3, 1, a, relay_a, d.data(), d.size()));
    recorder.drain();
    REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
    ::signal(SIGXFSZ, old_handler);
    RecordingStatus s = recorder.status(3);
    CHECK(s.failed);
    CHECK_THAT(s.error, Catch::Contains("File too large"));
    CHECK(recorder.totals().failed == 3);

    recorder.open(4, fine);
    for (int i = 0; i < 40; ++i) REQUIRE(ring.push(4, 1, a, relay_a, d.data(), d.size()));
    RecordingStatus done;
    recorder.close(4, [&](const RecordingStatus& st) { done = st; });
    recorder.close(3);
    recorder.drain();
    CHECK(done.packets == 40);
    CHECK_FALSE(done.failed);
    CHECK(read_pcap(fine).packets.size() == 40);
}
