#include "ng_pipeline.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>

namespace latch::bench {

using Clock = std::chrono::steady_clock;

NgPipeline::NgPipeline(const Endpoint& server, int timeout_ms)
    : timeout_ms_(timeout_ms), run_id_(std::to_string(::getpid())) {
    fd_ = ::socket(server.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::connect(fd_, server.sockaddr_ptr(), server.sockaddr_len()) != 0) {
        if (fd_ >= 0) ::close(fd_);
        throw std::runtime_error("cannot open the control socket to " + server.to_string());
    }
    int big = 4 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
}

NgPipeline::~NgPipeline() {
    ::close(fd_);
}

NgPipeline::Result NgPipeline::run(int jobs, int inflight, const Build& build,
                                   const OnReply& on_reply, const char* progress) {
    struct Pending {
        int job;
        int step;
        std::string command;
        Clock::time_point sent;
    };
    Result result;
    std::map<std::string, Pending> waiting;  // by cookie
    int started = 0;

    // Sends the job's next step; false when the job has no more steps.
    auto send_step = [&](int job, int step) {
        std::optional<nlohmann::json> request = build(job, step);
        if (!request) return false;
        std::string cookie = fmt::format("{}_{}", run_id_, ++cookies_);
        std::string wire = encode_ng(cookie, NgEncoding::bencode, *request);
        auto now = Clock::now();
        if (::send(fd_, wire.data(), wire.size(), 0) < 0) {
            ++result.failed;
            return true;  // counted as failed; the job ends here
        }
        waiting[cookie] = Pending{job, step, request->value("command", ""), now};
        return true;
    };
    auto start_next_job = [&] {
        while (started < jobs) {
            int job = started++;
            if (send_step(job, 0)) return;
            ++result.completed;  // a job without steps
        }
    };

    auto t0 = Clock::now();
    for (int i = 0; i < inflight; ++i) start_next_job();
    std::vector<char> buf(65536);
    auto last_progress = t0;
    while (!waiting.empty()) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms_) <= 0) {
            result.failed += static_cast<int>(waiting.size());
            std::fprintf(stderr, "\nlatch-bench: %zu requests unanswered after %d ms\n",
                         waiting.size(), timeout_ms_);
            break;
        }
        ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        auto now = Clock::now();
        if (n <= 0) continue;
        NgParsed parsed = parse_ng(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        auto* reply = std::get_if<NgRequest>(&parsed);
        if (!reply) continue;
        auto it = waiting.find(reply->cookie);
        if (it == waiting.end()) continue;  // a late duplicate
        Pending pending = it->second;
        waiting.erase(it);
        result.latency_ms[pending.command].push_back(
            std::chrono::duration<double, std::milli>(now - pending.sent).count());
        std::string outcome = reply->dict.value("result", "");
        bool ok = (outcome == "ok" || outcome == "pong") &&
                  on_reply(pending.job, pending.step, reply->dict);
        if (!ok) {
            if (++result.failed <= 3) {
                std::fprintf(stderr, "\nlatch-bench: %s failed: %s\n", pending.command.c_str(),
                             reply->dict.dump().c_str());
            }
            start_next_job();
        } else if (!send_step(pending.job, pending.step + 1)) {
            ++result.completed;
            start_next_job();
        }
        if (progress && now - last_progress > std::chrono::milliseconds(500)) {
            last_progress = now;
            double s = std::chrono::duration<double>(now - t0).count();
            std::fprintf(stderr, "\r%s: %d/%d, %.0f/s   ", progress, result.completed, jobs,
                         result.completed / s);
        }
    }
    result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (progress)
        std::fprintf(stderr, "\r%s: %d/%d in %.2f s%20s\n", progress, result.completed, jobs,
                     result.seconds, "");
    return result;
}

std::string phone_sdp(const std::string& address, int port) {
    return fmt::format(
        "v=0\r\no=- 1 1 IN IP4 {0}\r\ns=bench\r\nc=IN IP4 {0}\r\nt=0 0\r\n"
        "m=audio {1} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        "a=ptime:20\r\na=sendrecv\r\n",
        address, port);
}

std::string sdp_connection_address(const std::string& sdp) {
    auto pos = sdp.find("c=IN IP4 ");
    if (pos == std::string::npos) return {};
    pos += 9;
    auto end = sdp.find_first_of("\r\n /", pos);
    return sdp.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

int sdp_audio_port(const std::string& sdp) {
    auto pos = sdp.find("m=audio ");
    if (pos == std::string::npos) return 0;
    return std::atoi(sdp.c_str() + pos + 8);
}

}  // namespace latch::bench
