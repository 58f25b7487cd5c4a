// NgPipeline: runs many ng request sequences (jobs) against one relay with K requests in flight,
// in bencode as Kamailio's rtpengine module sends them, and times every request. Each job is a
// chain of steps; a step's request is built when the previous step's reply has arrived.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "endpoint.hpp"
#include "ng_codec.hpp"

namespace latch::bench {

class NgPipeline {
  public:
    // build(job, step): the request for this step, or nullopt when the job is complete.
    using Build = std::function<std::optional<nlohmann::json>(int job, int step)>;
    // on_reply(job, step, reply): false marks the job failed (it stops there).
    using OnReply = std::function<bool(int job, int step, const nlohmann::json& reply)>;

    struct Result {
        int completed = 0;
        int failed = 0;
        double seconds = 0;
        std::map<std::string, std::vector<double>> latency_ms;  // by command name
    };

    explicit NgPipeline(const Endpoint& server, int timeout_ms = 2000);
    NgPipeline(const NgPipeline&) = delete;
    NgPipeline& operator=(const NgPipeline&) = delete;
    ~NgPipeline();

    // Throws std::runtime_error if the socket fails. `progress` names the phase on stderr.
    Result run(int jobs, int inflight, const Build& build, const OnReply& on_reply,
               const char* progress = nullptr);

  private:
    int fd_ = -1;
    int timeout_ms_;
    uint64_t cookies_ = 0;
    std::string run_id_;
};

// A minimal audio SDP body for a phone at ADDRESS:PORT.
std::string phone_sdp(const std::string& address, int port);
// The IPv4 address of an SDP body's c= line, empty if none.
std::string sdp_connection_address(const std::string& sdp);
// The m=audio port of an SDP body, 0 if none.
int sdp_audio_port(const std::string& sdp);

}  // namespace latch::bench
