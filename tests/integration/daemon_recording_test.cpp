// Recording through the real latchd: calls recorded from the offer's record-call flag and by
// start/pause/stop recording over ng, in both encodings; the pcap files read back by tshark
// (every stream, its packet count, the caller's payload as sent), the metadata beside them,
// and the requests that cannot be served answered precisely.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "daemon_process.hpp"
#include "ng_client.hpp"
#include "phone_sdp.hpp"
#include "rtp_builder.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kTshark = "/usr/bin/tshark";

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/latch-recording-test.XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() { fs::remove_all(path); }
};

// The caller's "tone": a payload that differs with every packet, so that tshark's decode of
// the recording can be held against exactly what was sent.
Bytes tone(uint32_t ssrc, uint16_t seq) {
    Bytes p = make_rtp(ssrc, seq, seq);
    for (std::size_t i = 16; i < p.size(); ++i) p[i] = static_cast<uint8_t>(seq * 7 + i);
    return p;
}

std::string hex(const Bytes& b, std::size_t from) {
    std::string out;
    for (std::size_t i = from; i < b.size(); ++i) out += fmt::format("{:02x}", b[i]);
    return out;
}

// Both phones send `count` packets from `first`, 5 ms apart; each hears the other's.
void talk(const UdpPeer& a, const Endpoint& a_to, const UdpPeer& b, const Endpoint& b_to,
          uint16_t first, uint16_t count) {
    for (uint16_t seq = first; seq < first + count; ++seq) {
        a.send_to(a_to, tone(0xA, seq));
        b.send_to(b_to, make_rtp(0xB, seq, seq));
        std::this_thread::sleep_for(5ms);
    }
    int heard_a = 0, heard_b = 0;
    while (b.receive(100ms)) ++heard_b;
    while (a.receive(20ms)) ++heard_a;
    CHECK(heard_b == count);
    CHECK(heard_a == count);
}

// The recording files of a call in `dir`: its pcap and its metadata.
std::pair<fs::path, fs::path> files_of(const fs::path& dir, const std::string& call_id) {
    fs::path pcap, meta;
    for (const auto& e : fs::directory_iterator(dir)) {
        std::string name = e.path().filename().string();
        if (name.rfind(call_id + "-", 0) != 0) continue;
        if (e.path().extension() == ".pcap") pcap = e.path();
        if (e.path().extension() == ".json") meta = e.path();
    }
    return {pcap, meta};
}

json read_json(const fs::path& p) {
    std::ifstream in(p);
    return json::parse(in);
}

// tshark's RTP streams of a recording: SSRC -> packets.
std::map<std::string, int> rtp_streams(const fs::path& pcap) {
    auto r = run_program(
        kTshark, {"-r", pcap.string(), "-q", "-o", "rtp.heuristic_rtp:TRUE", "-z", "rtp,streams"},
        30s);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    std::map<std::string, int> streams;
    std::regex line(R"((0x[0-9A-Fa-f]{8})\s+\S+\s+(\d+)\s+(-?\d+))");
    for (std::sregex_iterator it(r.output.begin(), r.output.end(), line), end; it != end; ++it)
        streams[(*it)[1].str()] = std::stoi((*it)[2].str());
    return streams;
}

// tshark's decode of one stream of a recording: "seq payload-hex" per packet.
std::vector<std::string> decoded(const fs::path& pcap, uint32_t ssrc) {
    auto r = run_program(kTshark,
                         {"-r", pcap.string(), "-o", "rtp.heuristic_rtp:TRUE", "-Y",
                          fmt::format("rtp.ssrc == {:#x}", ssrc), "-T", "fields", "-e", "rtp.seq",
                          "-e", "rtp.payload"},
                         30s);
    CHECK(r.exit_code == 0);
    std::vector<std::string> lines;
    std::istringstream in(r.output);
    for (std::string l; std::getline(in, l);) {
        l.erase(std::remove(l.begin(), l.end(), ':'), l.end());
        std::replace(l.begin(), l.end(), '\t', ' ');
        if (!l.empty() && std::isdigit(static_cast<unsigned char>(l[0])))  // not tshark's notes
            lines.push_back(l);
    }
    return lines;
}

json ng(NgClient& client, json request, NgEncoding encoding) {
    auto reply = client.request(request, encoding, 3s);
    REQUIRE(reply);
    return *reply;
}

}  // namespace

TEST_CASE("calls recorded through ng are pcap files tshark reads as what was relayed",
          "[recording][daemon]") {
    if (access(kTshark, X_OK) != 0) {
        WARN("tshark is not installed (apt-get install tshark): the recordings go unread");
        return;
    }
    TempDir dir;
    DaemonProcess latchd({"--port-min", "29720", "--port-max", "29759", "--recording-dir",
                          dir.path.string(), "--metrics", "127.0.0.1:0"});
    auto metrics_port = latchd.wait_for_log("metrics on http://127.0.0.1:([0-9]+)/metrics");
    REQUIRE(metrics_port);
    NgClient client(latchd.ng());

    SECTION("from the offer's record-call flag, with metadata (bencode)") {
        UdpPeer a, b;
        auto [a_to, b_to] =
            set_up_call(client, "rec-flag", a.local().port(), b.local().port(), NgEncoding::bencode,
                        "", "", {{"flags", {"record-call"}}, {"metadata", "customer=42"}});
        talk(a, a_to, b, b_to, 1, 50);
        json q = ng(client, {{"command", "query"}, {"call-id", "rec-flag"}}, NgEncoding::bencode);
        REQUIRE(q.contains("recording"));
        CHECK(q["recording"]["state"] == "recording");
        CHECK(q["recording"]["metadata"] == "customer=42");
        CHECK(q["recording"]["file"].get<std::string>().rfind(dir.path.string(), 0) == 0);
        // latchctl says which calls are recorded, and where.
        auto list = run_program(LATCHCTL_PATH, {"--server", latchd.ng().to_string(), "list"});
        CHECK(list.exit_code == 0);
        CHECK_THAT(list.output, Catch::Contains("rec-flag  (recording to " + dir.path.string()));
        auto table =
            run_program(LATCHCTL_PATH, {"--server", latchd.ng().to_string(), "query", "rec-flag"});
        CHECK_THAT(table.output, Catch::Contains("recording: recording to " + dir.path.string()));
        CHECK_THAT(table.output, Catch::Contains("100 packets recorded"));
        CHECK(ng(client, {{"command", "delete"}, {"call-id", "rec-flag"}},
                 NgEncoding::bencode)["result"] == "ok");
        fs::path pcap, meta;
        for (int i = 0; i < 50 && meta.empty(); ++i) {  // written once the recorder closed it
            std::tie(pcap, meta) = files_of(dir.path, "rec-flag");
            if (meta.empty()) std::this_thread::sleep_for(20ms);
        }
        REQUIRE(!pcap.empty());
        REQUIRE(!meta.empty());
        struct stat st {};
        REQUIRE(stat(pcap.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0640);

        auto streams = rtp_streams(pcap);
        CHECK(streams.size() == 2);
        CHECK(streams["0x0000000A"] + streams["0x0000000a"] == 50);
        CHECK(streams["0x0000000B"] + streams["0x0000000b"] == 50);
        auto lines = decoded(pcap, 0xA);
        REQUIRE(lines.size() == 50);
        for (uint16_t seq = 1; seq <= 50; ++seq)
            CHECK(lines[seq - 1] == fmt::format("{} {}", seq, hex(tone(0xA, seq), 12)));

        json m = read_json(meta);
        CHECK(m["call-id"] == "rec-flag");
        CHECK(m["metadata"] == "customer=42");
        CHECK(m["packets recorded"] == 100);
        CHECK(m["packets dropped"] == 0);
        CHECK(m["failed"] == false);
        CHECK(m["ended by"] == "call deleted");
        REQUIRE(m["parties"].size() == 2);
        CHECK(m["parties"][0]["tag"] == "a");
        CHECK(m["parties"][0]["media"][0]["codecs"] == "0 PCMU/8000");
        CHECK(m["parties"][0]["media"][0]["rtp from"] == a.local().to_string());
        CHECK(m["parties"][1]["media"][0]["rtp from"] == b.local().to_string());

        json stats = ng(client, {{"command", "statistics"}}, NgEncoding::bencode);
        CHECK(stats["statistics"]["recording"]["packets copied"] == 100);
        CHECK(stats["statistics"]["recording"]["files opened"] == 1);
        Endpoint metrics =
            *Endpoint::parse("127.0.0.1", static_cast<uint16_t>(std::stoi(*metrics_port)));
        std::string body;
        for (int i = 0; i < 40; ++i) {  // published once a second
            body = http_get(metrics, "/metrics");
            if (body.find("latch_recording_packets_total 100") != std::string::npos) break;
            std::this_thread::sleep_for(100ms);
        }
        CHECK_THAT(body, Catch::Contains("latch_recording_packets_total 100"));
        CHECK_THAT(body, Catch::Contains("latch_recording_files_total 1"));
        CHECK_THAT(body, Catch::Contains("latch_recording_ring_drops_total 0"));
    }

    SECTION("started, paused, resumed and stopped by command mid-call (JSON)") {
        UdpPeer a, b;
        auto [a_to, b_to] =
            set_up_call(client, "rec-cmd", a.local().port(), b.local().port(), NgEncoding::json);
        auto cmd = [&](const char* what) {
            return ng(client, {{"command", what}, {"call-id", "rec-cmd"}, {"from-tag", "a"}},
                      NgEncoding::json);
        };
        talk(a, a_to, b, b_to, 1, 10);  // before: not recorded
        CHECK(cmd("stop recording")["warning"] == "the call is not being recorded");
        CHECK(cmd("start recording")["result"] == "ok");
        CHECK(cmd("start recording")["warning"] == "the call is already being recorded");
        talk(a, a_to, b, b_to, 11, 20);  // 11-30 recorded
        CHECK(cmd("pause recording")["result"] == "ok");
        talk(a, a_to, b, b_to, 31, 10);                   // 31-40 not
        CHECK(cmd("start recording")["result"] == "ok");  // resumes the same file
        talk(a, a_to, b, b_to, 41, 10);                   // 41-50 recorded
        CHECK(cmd("stop recording")["result"] == "ok");
        talk(a, a_to, b, b_to, 51, 10);  // after: not
        json q = ng(client, {{"command", "query"}, {"call-id", "rec-cmd"}}, NgEncoding::json);
        CHECK_FALSE(q.contains("recording"));
        auto [pcap, meta] = files_of(dir.path, "rec-cmd");
        for (int i = 0; i < 50 && meta.empty(); ++i) {
            std::this_thread::sleep_for(20ms);
            std::tie(pcap, meta) = files_of(dir.path, "rec-cmd");
        }
        REQUIRE(!meta.empty());
        auto lines = decoded(pcap, 0xA);
        std::vector<std::string> seqs;
        for (const auto& l : lines) seqs.push_back(l.substr(0, l.find(' ')));
        std::vector<std::string> want;
        for (int s = 11; s <= 30; ++s) want.push_back(std::to_string(s));
        for (int s = 41; s <= 50; ++s) want.push_back(std::to_string(s));
        CHECK(seqs == want);
        json m = read_json(meta);
        CHECK(m["packets recorded"] == 60);
        CHECK(m["ended by"] == "stopped");
        CHECK(ng(client, {{"command", "delete"}, {"call-id", "rec-cmd"}},
                 NgEncoding::json)["result"] == "ok");
    }

    SECTION("requests that cannot be served get a precise answer") {
        for (NgEncoding e : {NgEncoding::bencode, NgEncoding::json}) {
            json r = ng(client, {{"command", "start recording"}, {"call-id", "nobody"}}, e);
            CHECK(r["result"] == "error");
            CHECK(r["error-reason"] == "Unknown call-id");
            r = ng(client, {{"command", "stop recording"}}, e);
            CHECK(r["error-reason"] == "missing key 'call-id'");
        }
    }
    CHECK(latchd.stop() == 0);
}

TEST_CASE("without --recording-dir recording is refused with the reason, a bad one stops latchd",
          "[recording][daemon]") {
    {
        DaemonProcess latchd({"--port-min", "29760", "--port-max", "29769"});
        NgClient client(latchd.ng());
        UdpPeer a, b;
        set_up_call(client, "norec", a.local().port(), b.local().port(), NgEncoding::bencode);
        json r =
            ng(client, {{"command", "start recording"}, {"call-id", "norec"}}, NgEncoding::bencode);
        CHECK(r["result"] == "error");
        CHECK_THAT(r["error-reason"].get<std::string>(), Catch::Contains("--recording-dir"));
        CHECK(latchd.stop() == 0);
    }
    auto missing = run_program(LATCHD_PATH, {"--recording-dir", "/nonexistent/latch-recordings"});
    CHECK(missing.exit_code != 0);
    CHECK_THAT(missing.output, Catch::Contains("--recording-dir: cannot write to"));
    auto file = run_program(LATCHD_PATH, {"--recording-dir", "/etc/hostname"});
    CHECK(file.exit_code != 0);
    CHECK_THAT(file.output, Catch::Contains("is not a directory"));
}

TEST_CASE("rtpproxy's R records the session into the recording directory",
          "[recording][daemon][rtpp]") {
    TempDir dir;
    DaemonProcess latchd(
        {"--port-min", "29770", "--port-max", "29789", "--recording-dir", dir.path.string()});
    REQUIRE(latchd.rtpp().is_set());
    NgClient client(latchd.rtpp());
    auto rtpp = [&](const std::string& cookie, const std::string& command) {
        auto reply = client.exchange_raw(cookie + " " + command, 2s);
        REQUIRE(reply);
        REQUIRE(reply->rfind(cookie + " ", 0) == 0);
        return reply->substr(cookie.size() + 1, reply->size() - cookie.size() - 2);
    };
    UdpPeer a, b;
    auto port_of = [](const std::string& reply) {
        return *Endpoint::parse("127.0.0.1", static_cast<uint16_t>(std::stoi(reply)));
    };
    Endpoint b_to =
        port_of(rtpp("r1", fmt::format("U rec-rtpp 127.0.0.1 {} ft;1", a.local().port())));
    Endpoint a_to =
        port_of(rtpp("r2", fmt::format("L rec-rtpp 127.0.0.1 {} ft;1 tt;1", b.local().port())));
    CHECK(rtpp("r3", "R nobody ft tt") == "E50");
    CHECK(rtpp("r4", "R rec-rtpp ft tt") == "0");
    talk(a, a_to, b, b_to, 1, 30);
    CHECK(rtpp("r5", "D rec-rtpp ft tt") == "0");
    fs::path pcap, meta;
    for (int i = 0; i < 50 && meta.empty(); ++i) {
        std::tie(pcap, meta) = files_of(dir.path, "rec-rtpp");
        if (meta.empty()) std::this_thread::sleep_for(20ms);
    }
    REQUIRE(!meta.empty());
    json m = read_json(meta);
    CHECK(m["packets recorded"] == 60);
    CHECK(m["parties"][0]["tag"] == "ft");

    // C to udp:ADDR:PORT: a live copy of every datagram to a collector, from the relay's address.
    UdpPeer c, d, collector;
    Endpoint d_to =
        port_of(rtpp("c1", fmt::format("U copy-rtpp 127.0.0.1 {} ft;1", c.local().port())));
    Endpoint c_to =
        port_of(rtpp("c2", fmt::format("L copy-rtpp 127.0.0.1 {} ft;1 tt;1", d.local().port())));
    CHECK(rtpp("c3", "C copy-rtpp udp:nowhere:5 ft tt") == "E6");
    CHECK(rtpp("c4", fmt::format("C copy-rtpp udp:{} ft tt", collector.local().to_string())) ==
          "0");
    talk(c, c_to, d, d_to, 1, 20);
    int copies = 0;
    while (auto got = collector.receive(200ms)) {
        ++copies;
        CHECK(got->from.address_string() == "127.0.0.1");
        CHECK(got->data.size() == 172);
    }
    CHECK(copies == 40);
    CHECK(rtpp("c5", "D copy-rtpp ft tt") == "0");
    CHECK(latchd.stop() == 0);
}

TEST_CASE("a full disk fails the recordings, once each, and every call goes on",
          "[recording][daemon]") {
    if (geteuid() != 0) {
        WARN("mounting a small tmpfs needs root: the full-disk case is not run");
        return;
    }
    TempDir dir;
    // 64 KiB: a few hundred packets of recording, then the disk is full.
    REQUIRE(std::system(
                ("mount -t tmpfs -o size=64k,mode=0755 latch-test " + dir.path.string()).c_str()) ==
            0);
    struct Unmount {
        std::string path;
        ~Unmount() {
            if (std::system(("umount " + path).c_str()) != 0)
                std::fprintf(stderr, "could not unmount %s\n", path.c_str());
        }
    } unmount{dir.path.string()};
    DaemonProcess latchd(
        {"--port-min", "29790", "--port-max", "29799", "--recording-dir", dir.path.string()});
    NgClient client(latchd.ng());
    UdpPeer a, b, c, d;
    auto [a_to, b_to] = set_up_call(client, "full-1", a.local().port(), b.local().port(),
                                    NgEncoding::bencode, "", "", {{"flags", {"record-call"}}});
    auto [c_to, d_to] = set_up_call(client, "full-2", c.local().port(), d.local().port(),
                                    NgEncoding::json, "", "", {{"flags", {"record-call"}}});
    // 300 packets each way on both calls: far more than 64 KiB of recording.
    int heard = 0;
    for (uint16_t seq = 1; seq <= 300; ++seq) {
        a.send_to(a_to, make_rtp(0xA, seq, seq));
        b.send_to(b_to, make_rtp(0xB, seq, seq));
        c.send_to(c_to, make_rtp(0xC, seq, seq));
        d.send_to(d_to, make_rtp(0xD, seq, seq));
        if (seq % 10 == 0) std::this_thread::sleep_for(2ms);
        while (b.receive(0ms)) ++heard;
        while (a.receive(0ms)) ++heard;
        while (c.receive(0ms)) ++heard;
        while (d.receive(0ms)) ++heard;
    }
    for (const UdpPeer* p : {&a, &b, &c, &d})
        while (p->receive(100ms)) ++heard;
    CHECK(heard == 1200);  // every call relayed everything
    for (const char* id : {"full-1", "full-2"}) {
        json q = ng(client, {{"command", "query"}, {"call-id", id}}, NgEncoding::json);
        REQUIRE(q.contains("recording"));
        CHECK(q["recording"]["state"] == "failed");
        CHECK_THAT(q["recording"]["error"].get<std::string>(),
                   Catch::Contains("No space left on device"));
        CHECK(q["totals"]["RTP"]["packets"] == 600);
    }
    json stats = ng(client, {{"command", "statistics"}}, NgEncoding::json);
    CHECK(stats["statistics"]["recording"]["files failed"] == 2);
    // One log line for each failed recording, not one per packet.
    const std::string& log = latchd.log();
    std::size_t lines = 0;
    for (std::size_t at = log.find("failed: No space left"); at != std::string::npos;
         at = log.find("failed: No space left", at + 1))
        ++lines;
    CHECK(lines == 2);
    CHECK(ng(client, {{"command", "delete"}, {"call-id", "full-1"}}, NgEncoding::json)["result"] ==
          "ok");
    CHECK(latchd.stop() == 0);
}
