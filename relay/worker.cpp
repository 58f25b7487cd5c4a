// Worker: its thread and loop, the commands it executes, the idle sweep and the learning
// reports. Everything here runs on the worker's own thread, except start(), stop() and post().
#include "worker.hpp"

#include <sys/resource.h>

#include <climits>
#include <cstdlib>
#include <future>

#include "guard.hpp"
#include "log.hpp"

namespace latch {

Worker::Worker(unsigned index, const RelayConfig& config, PortRange ports,
               Mailbox<WorkerReply>& replies)
    : index_(index), config_(config), pool_(ports), replies_(replies) {
    learned_.reserve(kLearnedLog);
    // Here, not on the worker's thread: the recorder is given the rings before workers start.
    if (config_.tap_slots != 0) tap_ = std::make_unique<TapRing>(config_.tap_slots);
}

Worker::~Worker() {
    stop();
    if (loop_initialised_ && !thread_.joinable() && !closed_cleanly_) {
        // start() failed half-way: close what it opened on this thread.
        sweep_timer_.stop();
        path_.reset();
        inbox_.close();
        uv_run(&loop_, UV_RUN_DEFAULT);
        closed_cleanly_ = uv_loop_close(&loop_) == 0;
    }
}

void Worker::start() {
    if (int rc = uv_loop_init(&loop_); rc != 0) {
        throw std::runtime_error(
            fmt::format("worker {}: uv_loop_init: {}", index_, uv_strerror(rc)));
    }
    loop_initialised_ = true;
    loop_.data = this;
    inbox_.open(&loop_, [this](std::vector<WorkerCommand>& batch) { handle_commands(batch); });

    uint64_t interval = config_.sweep_interval_ms ? config_.sweep_interval_ms : 1000;
    sweep_timer_.start(&loop_, interval, interval, "idle sweep", [this] { sweep(); });
    // The packet path's set is opened on the worker's own thread: an io_uring serves only the
    // thread that set it up. start() returns once it is open, or throws why it is not.
    std::promise<std::string> opened;
    std::future<std::string> result = opened.get_future();
    thread_ = std::thread(&Worker::run, this, std::move(opened));
    if (std::string error = result.get(); !error.empty()) {
        thread_.join();
        throw std::runtime_error(error);
    }
}

void Worker::stop() {
    if (!thread_.joinable()) return;
    WorkerCommand shutdown;
    shutdown.op = Op::shutdown;
    inbox_.post(std::move(shutdown));  // refused only if already stopping
    thread_.join();
}

void Worker::run(std::promise<std::string> opened) noexcept {
    try {
        path_ = open_packet_path(config_, index_, &loop_, *this);
    } catch (const std::exception& e) {
        opened.set_value(e.what());
        return;  // start() joins this thread, and the destructor closes the loop's handles
    }
    env_.sockets = path_.get();
    env_.pool = &pool_;
    env_.config = &config_;
    env_.learned = &learned_;
    env_.tally = &tally_;
    env_.tap = tap_.get();
    env_.tapped = &tapped_;
    env_.tap_drops = &tap_drops_;
    if (path_->connects_flows()) {
        // An eighth of the descriptors (at least 256) stays for new calls' sockets.
        rlimit limit{};
        if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
            limit.rlim_cur < static_cast<rlim_t>(INT_MAX)) {
            auto max = static_cast<int>(limit.rlim_cur);
            env_.connected_fd_limit = max - std::max(256, max / 8);
        }
        // A few at a time: room for the call that asked, while the rest go on saving.
        env_.shed_connected = [this] {
            int closed = 0;
            for (auto& [id, session] : sessions_) {
                closed += session->shed_connected(kShedBatch - closed);
                if (closed == kShedBatch) break;
            }
            return closed;
        };
    }
    opened.set_value({});
    path_->run();
    int rc = uv_loop_close(&loop_);
    closed_cleanly_ = rc == 0;
    if (rc != 0) {
        log(LogLevel::error, "worker {}: loop closed with handles still open: {}", index_,
            uv_strerror(rc));
    }
}

void Worker::handle_commands(std::vector<WorkerCommand>& batch) noexcept {
    for (auto& command : batch) {
        try {
            execute(command);
        } catch (const std::exception& e) {
            // Out of memory and the like: this command fails, the worker and its calls go on.
            guarded("worker command", [&] {
                WorkerReply reply = reply_for(command);
                reply.status = ReplyStatus::error;
                reply.failure = {WorkerError::internal, e.what()};
                replies_.post(std::move(reply));
            });
        }
    }
    if (stopping_) inbox_.close();
}

WorkerReply Worker::reply_for(const WorkerCommand& command) const {
    WorkerReply reply;
    reply.request = command.request;
    reply.op = command.op;
    reply.session = command.session;
    reply.worker = index_;
    return reply;
}

void Worker::execute(WorkerCommand& command) {
    if (command.op == Op::shutdown) {
        shut_down();
        return;
    }
    WorkerReply reply = reply_for(command);
    uint64_t now = uv_now(&loop_);
    auto fail = [&](WorkerFailure why) {
        reply.status = ReplyStatus::error;
        reply.failure = std::move(why);
        replies_.post(std::move(reply));
    };
    if (stopping_ && (command.op == Op::create || command.op == Op::update)) {
        return fail({WorkerError::shutting_down, {}});
    }
    auto it = sessions_.find(command.session);
    switch (command.op) {
        case Op::create: {
            if (it != sessions_.end()) return fail({WorkerError::session_exists, {}});
            auto session = std::make_unique<Session>(command.session, now);
            if (auto error = session->apply(command.spec, env_, now)) {
                session->close(pool_);
                return fail(std::move(error));
            }
            session->sync_kernel(env_, now);
            reply.snapshot = session->snapshot(index_);
            streams_ += session->media_count();
            sessions_.emplace(command.session, std::move(session));
            ++sessions_created_;
            break;
        }
        case Op::update: {
            if (it == sessions_.end()) return fail({WorkerError::unknown_session, {}});
            // Out of the kernel before learning opens again; back in once locked.
            it->second->clear_kernel();
            std::size_t streams = it->second->media_count();
            auto error = it->second->apply(command.spec, env_, now);
            streams_ = streams_ - streams + it->second->media_count();
            it->second->sync_kernel(env_, now);
            if (error) return fail(std::move(error));
            reply.snapshot = it->second->snapshot(index_);
            break;
        }
        case Op::query:
            if (it == sessions_.end()) return fail({WorkerError::unknown_session, {}});
            it->second->harvest_kernel(now);
            it->second->sample_quality(now, kQueryMosIntervalMs);
            reply.snapshot = it->second->snapshot(index_);
            break;
        case Op::remove:
            if (it == sessions_.end()) return fail({WorkerError::unknown_session, {}});
            end_session(command.session, ReplyStatus::ok, command.request, Op::remove);
            return;
        case Op::stats:
            reply.stats = stats();
            break;
        case Op::standby:
            if (it == sessions_.end()) return fail({WorkerError::unknown_session, {}});
            it->second->set_standby(command.spec.standby, now);
            it->second->sync_kernel(env_, now);
            reply.snapshot = it->second->snapshot(index_);
            break;
        case Op::record:
            if (it == sessions_.end()) return fail({WorkerError::unknown_session, {}});
            // Out of the kernel while recorded (every datagram must pass here), back after.
            it->second->set_recording(command.spec.recording);
            it->second->harvest_kernel(now);
            it->second->sync_kernel(env_, now);
            reply.snapshot = it->second->snapshot(index_);
            break;
        case Op::shutdown:
        case Op::learned:
            break;
    }
    replies_.post(std::move(reply));
}

void Worker::end_session(SessionId id, ReplyStatus status, uint64_t request, Op op) {
    auto it = sessions_.find(id);
    WorkerReply reply;
    reply.request = request;
    reply.op = op;
    reply.status = status;
    reply.session = id;
    reply.worker = index_;
    it->second->clear_kernel();                     // its final counts included
    it->second->sample_quality(uv_now(&loop_), 0);  // the call's last stretch
    reply.snapshot = it->second->snapshot(index_);
    streams_ -= it->second->media_count();
    // The reply goes first: closing the sockets is work the caller need not wait for. The
    // session is already out of the packet path's reach, as nothing runs in between.
    std::unique_ptr<Session> ended = std::move(it->second);
    sessions_.erase(it);
    replies_.post(std::move(reply));
    ended->close(pool_);
}

void Worker::sweep() {
    uint64_t now = uv_now(&loop_);
    std::vector<SessionId> idle;
    for (const auto& [id, session] : sessions_) {
        if (session->kernel_pending()) session->sync_kernel(env_, now);
        // A rating needs what the kernel path measured too: read as often as ratings are due.
        if (session->in_kernel()) session->harvest_kernel_older(now, kMosIntervalMs);
        session->sample_quality(now, kMosIntervalMs);
        bool quiet = now - session->last_activity_ms() >= config_.idle_timeout_ms;
        // Media the kernel forwards shows in userspace only once its counts are read.
        if (quiet && session->in_kernel()) {
            session->harvest_kernel(now);
            quiet = now - session->last_activity_ms() >= config_.idle_timeout_ms;
        }
        if (!session->standby() && quiet) idle.push_back(id);
        // Learned while the log was full: reported now.
        if (session->learned_unreported && learned_.size() < learned_.capacity())
            learned_.push_back(id);
    }
    report_learned();
    for (SessionId id : idle) {
        ++sessions_timed_out_;
        end_session(id, ReplyStatus::timed_out, 0, Op::remove);
    }
}

void Worker::shut_down() {
    stopping_ = true;
    for (auto& [id, session] : sessions_) session->close(pool_);
    sessions_.clear();
    streams_ = 0;
    path_->close();
    sweep_timer_.stop();
    // The inbox closes after the current batch (handle_commands); then the loop runs dry.
}

WorkerStats Worker::stats() {
    WorkerStats s;
    s.worker = index_;
    s.sessions = sessions_.size();
    s.sessions_created = sessions_created_;
    s.sessions_timed_out = sessions_timed_out_;
    s.ports_capacity = pool_.capacity();
    s.ports_available = pool_.available();
    s.streams = streams_;
    s.recorded = tapped_;
    s.recording_drops = tap_drops_;
    // The kernel's counts of a session are read at most every kStatsHarvestMs here (query,
    // delete and the idle sweep read them at once): statistics lag by that much at most.
    if (env_.kernel != nullptr) {
        uint64_t now = uv_now(&loop_);
        for (const auto& [id, session] : sessions_)
            session->harvest_kernel_older(now, kStatsHarvestMs);
    }
    s.totals = tally_;
    return s;
}

void Worker::report_learned() {
    for (SessionId id : learned_) {
        auto it = sessions_.find(id);
        if (it == sessions_.end() || !it->second->learned_unreported) continue;
        it->second->learned_unreported = false;
        it->second->sync_kernel(env_, uv_now(&loop_));
        WorkerReply reply;
        reply.op = Op::learned;
        reply.session = id;
        reply.worker = index_;
        reply.snapshot = it->second->snapshot(index_);
        replies_.post(std::move(reply));
    }
    learned_.clear();
}

void Worker::after_batch() noexcept {
    if (!learned_.empty()) guarded("learning report", [this] { report_learned(); });
}

void Worker::connect_session(SessionId id) noexcept {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;  // ended meanwhile
    it->second->connect_queued = false;
    it->second->connect_flows(env_);
}

}  // namespace latch
