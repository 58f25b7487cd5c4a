// RelayHarness. Test thread (acting as the control thread).
#include "relay_harness.hpp"

#include <cstdlib>
#include <stdexcept>

#include "uv_handle.hpp"

namespace latch::test {

namespace {

// LATCH_PACKET_IO=epoll|io_uring runs a test binary's relays on that packet path (ctest runs
// the relay tests once with the default and once on epoll).
RelayConfig with_packet_io_from_environment(RelayConfig config) {
    if (const char* value = std::getenv("LATCH_PACKET_IO")) {
        auto mode = parse_packet_io(value);
        if (!mode) throw std::runtime_error("LATCH_PACKET_IO is auto, io_uring or epoll");
        config.packet_io = *mode;
    }
    return config;
}

}  // namespace

RelayHarness::RelayHarness(const RelayConfig& config) {
    if (uv_loop_init(&loop_) != 0) throw std::runtime_error("uv_loop_init failed");
    relay_ = std::make_unique<Relay>(with_packet_io_from_environment(config), &loop_);
    relay_->start([this](WorkerReply& reply) {
        if (reply.op == Op::learned) {
            learned_.push_back(std::move(reply));
        } else if (reply.request == 0) {
            unsolicited_.push_back(std::move(reply));
        } else {
            replies_[reply.request] = std::move(reply);
        }
    });
}

RelayHarness::~RelayHarness() {
    shutdown();
}

bool RelayHarness::run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    bool expired = false;
    auto timer = make_uv_handle<uv_timer_t>();
    uv_timer_init(&loop_, timer.get());
    timer->data = &expired;
    uv_timer_start(
        timer.get(), [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; },
        static_cast<uint64_t>(timeout.count()), 0);
    while (!done() && !expired) uv_run(&loop_, UV_RUN_ONCE);
    timer.reset();
    return done();
}

WorkerReply RelayHarness::call(unsigned worker, Op op, SessionId session, SessionSpec spec) {
    uint64_t request = next_request_++;
    WorkerCommand command{request, op, session, std::move(spec)};
    if (!relay_->post(worker, std::move(command))) throw std::runtime_error("post refused");
    if (!run_until([&] { return replies_.count(request) != 0; }, 5s)) {
        throw std::runtime_error("no reply from worker");
    }
    WorkerReply reply = std::move(replies_[request]);
    replies_.erase(request);
    return reply;
}

std::optional<WorkerReply> RelayHarness::wait_unsolicited(std::chrono::milliseconds timeout) {
    if (!run_until([&] { return !unsolicited_.empty(); }, timeout)) return std::nullopt;
    WorkerReply reply = std::move(unsolicited_.front());
    unsolicited_.pop_front();
    return reply;
}

bool RelayHarness::shutdown() {
    if (shut_down_) return true;
    shut_down_ = true;
    relay_->stop();
    uv_run(&loop_, UV_RUN_DEFAULT);  // runs the closing handles out
    bool control_clean = uv_loop_close(&loop_) == 0;
    return control_clean && relay_->closed_cleanly();
}

SessionSpec audio_spec(const Endpoint& local, const Endpoint& offerer, const Endpoint& answerer,
                       const LatchPolicy& policy) {
    MediaSpec media;
    media.legs[0] = LegSpec{local, offerer, {}, policy, {}};
    media.legs[1] = LegSpec{local, answerer, {}, policy, {}};
    return SessionSpec{{media}};
}

Endpoint relay_rtp(const WorkerReply& reply, int leg, std::size_t media) {
    return reply.snapshot.media.at(media).flows[leg][0].local;
}

Endpoint relay_rtcp(const WorkerReply& reply, int leg, std::size_t media) {
    return reply.snapshot.media.at(media).flows[leg][1].local;
}

}  // namespace latch::test
