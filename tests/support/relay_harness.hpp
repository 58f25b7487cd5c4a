// RelayHarness: a Relay driven from the test thread, which plays the control thread: it owns
// the control loop, posts commands and runs the loop (with a deadline) until replies arrive.
#pragma once

#include <uv.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "relay.hpp"

namespace latch::test {

using namespace std::chrono_literals;

class RelayHarness {
  public:
    explicit RelayHarness(const RelayConfig& config);
    ~RelayHarness();

    // Posts a command and waits (up to 5 s) for its reply; throws on time-out.
    WorkerReply call(unsigned worker, Op op, SessionId session, SessionSpec spec = {});
    // An unsolicited reply (an idle timeout), waiting up to `timeout` for one.
    std::optional<WorkerReply> wait_unsolicited(std::chrono::milliseconds timeout);
    // The learning reports received so far (the loop runs only while the harness waits).
    const std::deque<WorkerReply>& learned() const { return learned_; }
    // Runs the control loop for up to `timeout` or until `done`.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
    // Stops the relay and closes the control loop: true when every worker loop and the control
    // loop closed with no handle left open.
    bool shutdown();

    Relay& relay() { return *relay_; }

  private:
    uv_loop_t loop_{};
    std::unique_ptr<Relay> relay_;
    std::map<uint64_t, WorkerReply> replies_;
    std::deque<WorkerReply> unsolicited_;
    std::deque<WorkerReply> learned_;
    uint64_t next_request_ = 1;
    bool shut_down_ = false;
};

// One audio stream, both legs bound on `local`, with the endpoints' signalled RTP addresses.
SessionSpec audio_spec(const Endpoint& local, const Endpoint& offerer, const Endpoint& answerer,
                       const LatchPolicy& policy = {});
// The relay's RTP endpoint that faces `leg` of media `media` in a reply.
Endpoint relay_rtp(const WorkerReply& reply, int leg, std::size_t media = 0);
Endpoint relay_rtcp(const WorkerReply& reply, int leg, std::size_t media = 0);

}  // namespace latch::test
