// Worker: its thread and loop, the commands it executes, the idle sweep and the packet path.
// Everything here runs on the worker's own thread, except start(), stop() and post().
#include "worker.hpp"

#include <cstdlib>

#include "log.hpp"
#include "rtp.hpp"

namespace latch {

Worker::Worker(unsigned index, const RelayConfig& config, PortRange ports,
               Mailbox<WorkerReply>& replies)
    : index_(index), config_(config), pool_(ports), replies_(replies),
      buffer_(std::make_unique<char[]>(kBufferSize)) {}

Worker::~Worker() {
    stop();
    if (loop_initialised_ && !thread_.joinable() && !closed_cleanly_) {
        // start() failed half-way: close what it opened on this thread.
        sweep_timer_.reset();
        inbox_.close();
        uv_run(&loop_, UV_RUN_DEFAULT);
        closed_cleanly_ = uv_loop_close(&loop_) == 0;
    }
}

void Worker::start() {
    if (int rc = uv_loop_init(&loop_); rc != 0) {
        throw std::runtime_error(fmt::format("worker {}: uv_loop_init: {}", index_, uv_strerror(rc)));
    }
    loop_initialised_ = true;
    loop_.data = this;
    env_ = SessionEnv{&loop_, &pool_, &config_, &Worker::on_alloc, &Worker::on_recv};
    inbox_.open(&loop_, [this](std::vector<WorkerCommand>& batch) { handle_commands(batch); });

    sweep_timer_ = make_uv_handle<uv_timer_t>();
    uv_timer_init(&loop_, sweep_timer_.get());
    sweep_timer_->data = this;
    uint64_t interval = config_.sweep_interval_ms ? config_.sweep_interval_ms : 1000;
    uv_timer_start(
        sweep_timer_.get(),
        [](uv_timer_t* t) noexcept {
            if (auto* self = static_cast<Worker*>(t->data)) self->sweep();
        },
        interval, interval);
    thread_ = std::thread(&Worker::run, this);
}

void Worker::stop() {
    if (!thread_.joinable()) return;
    WorkerCommand shutdown;
    shutdown.op = Op::shutdown;
    inbox_.post(std::move(shutdown));  // refused only if already stopping
    thread_.join();
}

void Worker::run() noexcept {
    uv_run(&loop_, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop_);
    closed_cleanly_ = rc == 0;
    if (rc != 0) {
        log(LogLevel::error, "worker {}: loop closed with handles still open: {}", index_, uv_strerror(rc));
    }
}

void Worker::handle_commands(std::vector<WorkerCommand>& batch) noexcept {
    for (auto& command : batch) {
        try {
            execute(command);
        } catch (const std::exception& e) {
            // Out of memory and the like: this command fails, the worker and its calls go on.
            WorkerReply reply = reply_for(command);
            reply.status = ReplyStatus::error;
            reply.error = std::string("internal error: ") + e.what();
            replies_.post(std::move(reply));
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
    auto fail = [&](std::string why) {
        reply.status = ReplyStatus::error;
        reply.error = std::move(why);
        replies_.post(std::move(reply));
    };
    if (stopping_ && (command.op == Op::create || command.op == Op::update)) {
        return fail("relay is shutting down");
    }
    auto it = sessions_.find(command.session);
    switch (command.op) {
        case Op::create: {
            if (it != sessions_.end()) return fail("session already exists");
            auto session = std::make_unique<Session>(command.session, now);
            if (auto error = session->apply(command.spec, env_, now); !error.empty()) {
                session->close(pool_);
                return fail(std::move(error));
            }
            reply.snapshot = session->snapshot(index_);
            sessions_.emplace(command.session, std::move(session));
            ++sessions_created_;
            break;
        }
        case Op::update: {
            if (it == sessions_.end()) return fail("unknown session");
            if (auto error = it->second->apply(command.spec, env_, now); !error.empty()) {
                return fail(std::move(error));
            }
            reply.snapshot = it->second->snapshot(index_);
            break;
        }
        case Op::query:
            if (it == sessions_.end()) return fail("unknown session");
            reply.snapshot = it->second->snapshot(index_);
            break;
        case Op::remove:
            if (it == sessions_.end()) return fail("unknown session");
            end_session(command.session, ReplyStatus::ok, command.request, Op::remove);
            return;
        case Op::stats:
            reply.stats = stats();
            break;
        case Op::shutdown:
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
    reply.snapshot = it->second->snapshot(index_);
    it->second->add_totals(ended_totals_);
    it->second->close(pool_);
    sessions_.erase(it);
    replies_.post(std::move(reply));
}

void Worker::sweep() noexcept {
    uint64_t now = uv_now(&loop_);
    std::vector<SessionId> idle;
    for (const auto& [id, session] : sessions_) {
        if (now - session->last_activity_ms() >= config_.idle_timeout_ms) idle.push_back(id);
    }
    for (SessionId id : idle) {
        ++sessions_timed_out_;
        end_session(id, ReplyStatus::timed_out, 0, Op::remove);
    }
}

void Worker::shut_down() {
    stopping_ = true;
    for (auto& [id, session] : sessions_) session->close(pool_);
    sessions_.clear();
    sweep_timer_.reset();
    // The inbox closes after the current batch (handle_commands); then the loop runs dry.
}

WorkerStats Worker::stats() const {
    WorkerStats s;
    s.worker = index_;
    s.sessions = sessions_.size();
    s.sessions_created = sessions_created_;
    s.sessions_timed_out = sessions_timed_out_;
    s.ports_capacity = pool_.capacity();
    s.ports_available = pool_.available();
    s.totals = ended_totals_;
    for (const auto& [id, session] : sessions_) {
        session->add_totals(s.totals);
        s.streams += session->media_count();
    }
    return s;
}

// ---- the packet path: no allocation, no lock, no exception, no log line ----

void Worker::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
    auto* self = static_cast<Worker*>(handle->loop->data);
    buf->base = self->buffer_.get();
    buf->len = kBufferSize;
}

void Worker::on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                     unsigned flags) noexcept {
    auto* in = static_cast<Flow*>(handle->data);
    if (in == nullptr || (nread == 0 && addr == nullptr)) return;  // nothing more to read
    FlowCounters& counters = in->counters;
    auto drop = [&counters](DropReason reason) { ++counters.drops[static_cast<std::size_t>(reason)]; };
    if (nread < 0) {
        drop(DropReason::receive_error);
        return;
    }
    auto len = static_cast<std::size_t>(nread);
    ++counters.packets_in;
    counters.bytes_in += len;
    if (flags & UV_UDP_PARTIAL) return drop(DropReason::truncated);
    if (len > kMaxMediaPacket) return drop(DropReason::too_large);

    PacketFacts facts;
    facts.can_teach = true;  // other transports: any datagram from the right peer
    if (in->transport == Transport::rtp) {
        PacketInfo info = inspect_packet(reinterpret_cast<const uint8_t*>(buf->base), len);
        if (info.kind == PacketKind::malformed) return drop(DropReason::malformed);
        bool is_rtcp = info.kind == PacketKind::rtcp;
        bool on_rtcp_port = in->component == 1;
        if (is_rtcp != on_rtcp_port && !(is_rtcp && in->rtcp_mux)) {
            return drop(DropReason::wrong_component);
        }
        facts = PacketFacts{info.ssrc != 0, !is_rtcp, info.ssrc, info.seq};
    }

    uint64_t now = uv_now(handle->loop);
    switch (in->latch.on_packet(Endpoint::from_sockaddr(addr), facts, now)) {
        case Verdict::accept: break;
        case Verdict::learned: ++counters.learned; break;
        case Verdict::foreign: return drop(DropReason::foreign_source);
        case Verdict::not_learnable: return drop(DropReason::not_learnable);
    }
    counters.last_packet_ms = now;

    Flow* out = in->peer;
    const Endpoint* destination = out->latch.destination();
    if (destination == nullptr || !out->socket) return drop(DropReason::no_destination);
    uv_buf_t send_buf = uv_buf_init(buf->base, static_cast<unsigned>(len));
    int rc = uv_udp_try_send(out->socket.get(), &send_buf, 1, destination->sockaddr_ptr());
    if (rc < 0) return drop(DropReason::send_failed);
    ++out->counters.packets_out;
    out->counters.bytes_out += len;
}

}  // namespace latch
