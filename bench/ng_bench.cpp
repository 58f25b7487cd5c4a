// latch-ng-bench: control-plane throughput of any ng relay (latchd, rtpengine): complete
// offer + answer + delete cycles per second in bencode, with K requests in flight, and the
// latency of each command. Single thread.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bencode.hpp"
#include "endpoint.hpp"
#include "ng_codec.hpp"

using namespace latch;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
    std::string server = "127.0.0.1:2223";
    int cycles = 2000;
    int inflight = 1;
    int timeout_ms = 2000;
};

std::string sdp(int port) {
    return fmt::format(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=bench\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        "a=ptime:20\r\na=sendrecv\r\n",
        port);
}

struct Cycle {
    int index = 0;
    int step = 0;  // 0 offer, 1 answer, 2 delete
    Clock::time_point sent;
};

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i];
        if (k == "--server") o.server = argv[i + 1];
        else if (k == "--cycles") o.cycles = std::atoi(argv[i + 1]);
        else if (k == "--inflight") o.inflight = std::atoi(argv[i + 1]);
        else if (k == "--timeout") o.timeout_ms = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: latch-ng-bench [--server ADDR:PORT] [--cycles N] [--inflight K] [--timeout MS]\n");
            return 2;
        }
    }
    auto server = Endpoint::parse(o.server);
    if (!server || o.cycles < 1 || o.inflight < 1) {
        std::fprintf(stderr, "latch-ng-bench: bad arguments\n");
        return 2;
    }
    int fd = ::socket(server->family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, server->sockaddr_ptr(), server->sockaddr_len()) != 0) {
        std::perror("latch-ng-bench: socket");
        return 1;
    }
    int big = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);

    const std::string run_id = std::to_string(::getpid());
    std::map<std::string, Cycle> waiting;  // cookie -> cycle
    std::map<std::string, std::vector<double>> latency_ms;
    int started = 0, finished = 0, failed = 0;
    uint64_t cookie_counter = 0;

    auto send_step = [&](Cycle c) {
        static const char* kCommands[] = {"offer", "answer", "delete"};
        nlohmann::json r = {{"command", kCommands[c.step]},
                            {"call-id", fmt::format("bench-{}-{}", run_id, c.index)},
                            {"from-tag", "caller"},
                            {"supports", {"load limit"}},
                            {"ICE", "remove"},
                            {"replace", {"origin", "session-connection"}},
                            {"received-from", {"IP4", "127.0.0.1"}}};
        if (c.step == 0) r["sdp"] = sdp(40000 + 2 * (c.index % 1000));
        if (c.step == 1) {
            r["to-tag"] = "callee";
            r["sdp"] = sdp(50000 + 2 * (c.index % 1000));
        }
        std::string cookie = fmt::format("{}_{}", run_id, ++cookie_counter);
        std::string wire = encode_ng(cookie, NgEncoding::bencode, r);
        c.sent = Clock::now();
        if (::send(fd, wire.data(), wire.size(), 0) < 0) {
            ++failed;
            return;
        }
        waiting[cookie] = c;
    };

    auto t0 = Clock::now();
    while (started < o.inflight && started < o.cycles) send_step(Cycle{started++, 0, {}});
    std::vector<char> buf(65536);
    auto last_progress = t0;
    while (!waiting.empty()) {
        pollfd p{fd, POLLIN, 0};
        int ready = ::poll(&p, 1, o.timeout_ms);
        auto now = Clock::now();
        if (ready <= 0) {  // every outstanding request timed out
            failed += static_cast<int>(waiting.size());
            std::fprintf(stderr, "\nlatch-ng-bench: %zu requests unanswered after %d ms\n", waiting.size(), o.timeout_ms);
            break;
        }
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) continue;
        NgParsed parsed = parse_ng(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        auto* reply = std::get_if<NgRequest>(&parsed);
        if (!reply) continue;
        auto it = waiting.find(reply->cookie);
        if (it == waiting.end()) continue;
        Cycle c = it->second;
        waiting.erase(it);
        static const char* kNames[] = {"offer", "answer", "delete"};
        latency_ms[kNames[c.step]].push_back(std::chrono::duration<double, std::milli>(now - c.sent).count());
        if (reply->dict.value("result", "") != "ok") {
            ++failed;
            if (failed <= 3) std::fprintf(stderr, "\n%s failed: %s\n", kNames[c.step], reply->dict.dump().c_str());
        } else if (c.step < 2) {
            ++c.step;
            send_step(c);
            continue;
        }
        ++finished;
        if (started < o.cycles) send_step(Cycle{started++, 0, {}});
        if (now - last_progress > std::chrono::milliseconds(500)) {
            last_progress = now;
            double s = std::chrono::duration<double>(now - t0).count();
            std::fprintf(stderr, "\r%d/%d cycles, %.0f cycles/s   ", finished, o.cycles, finished / s);
        }
    }
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    std::fprintf(stderr, "\n");
    nlohmann::json report = {{"server", o.server},
                             {"inflight", o.inflight},
                             {"cycles", finished},
                             {"failed", failed},
                             {"seconds", seconds},
                             {"cycles_per_second", finished / seconds}};
    for (auto& [name, v] : latency_ms) {
        report["latency_ms"][name] = {{"p50", percentile(v, 0.50)}, {"p99", percentile(v, 0.99)}, {"max", percentile(v, 1.0)}};
    }
    std::puts(report.dump().c_str());
    ::close(fd);
    return failed == 0 ? 0 : 1;
}
