// Worker: its thread and loop, the commands it executes, the idle sweep and the packet path.
// Everything here runs on the worker's own thread, except start(), stop() and post().
#include "worker.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <future>

#include "guard.hpp"
#include "log.hpp"
#include "rtp.hpp"

namespace latch {

Worker::Worker(unsigned index, const RelayConfig& config, PortRange ports,
               Mailbox<WorkerReply>& replies)
    : index_(index), config_(config), pool_(ports), replies_(replies),
      buffer_(std::make_unique<char[]>(kBatch * kSlot)) {
    for (int i = 0; i < kBatch; ++i) {
        recv_iov_[i] = {buffer_.get() + static_cast<std::size_t>(i) * kSlot, kSlot};
        recv_msgs_[i].msg_hdr.msg_iov = &recv_iov_[i];
        recv_msgs_[i].msg_hdr.msg_iovlen = 1;
        recv_msgs_[i].msg_hdr.msg_name = &recv_from_[i];
        send_msgs_[i].msg_hdr.msg_iov = &send_iov_[i];
        send_msgs_[i].msg_hdr.msg_iovlen = 1;
    }
}

Worker::~Worker() {
    stop();
    if (loop_initialised_ && !thread_.joinable() && !closed_cleanly_) {
        // start() failed half-way: close what it opened on this thread.
        sweep_timer_.reset();
        sockets_.close();
#ifdef LATCH_HAVE_LIBURING
        uring_.close();
#endif
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
    inbox_.open(&loop_, [this](std::vector<WorkerCommand>& batch) { handle_commands(batch); });

    sweep_timer_ = make_uv_handle<uv_timer_t>();
    uv_timer_init(&loop_, sweep_timer_.get());
    sweep_timer_->data = this;
    uint64_t interval = config_.sweep_interval_ms ? config_.sweep_interval_ms : 1000;
    uv_timer_start(
        sweep_timer_.get(),
        [](uv_timer_t* t) noexcept {
            if (auto* self = static_cast<Worker*>(t->data)) guarded("idle sweep", [self] { self->sweep(); });
        },
        interval, interval);
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

void Worker::open_watch() {
#ifdef LATCH_HAVE_LIBURING
    if (config_.packet_io != PacketIo::epoll) {
        int rc = uring_.open();
        if (rc == 0) {
            watch_ = &uring_;
            return;
        }
        if (config_.packet_io == PacketIo::io_uring) {
            throw std::runtime_error(fmt::format("worker {}: io_uring: {}", index_, uv_strerror(rc)));
        }
        log(LogLevel::debug, "worker {}: io_uring unavailable ({}), using epoll", index_, uv_strerror(rc));
    }
#else
    if (config_.packet_io == PacketIo::io_uring) {
        throw std::runtime_error("this build has no io_uring support (liburing was missing)");
    }
#endif
    if (int rc = sockets_.open(&loop_, this, &Worker::on_ready); rc != 0) {
        throw std::runtime_error(fmt::format("worker {}: socket set: {}", index_, uv_strerror(rc)));
    }
    watch_ = &sockets_;
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
        open_watch();
    } catch (const std::exception& e) {
        opened.set_value(e.what());
        return;  // start() joins this thread, and the destructor closes the loop's handles
    }
    env_.sockets = watch_;
    env_.pool = &pool_;
    env_.config = &config_;
    connect_flows_ = uses_io_uring() && config_.connected_sockets;
    if (connect_flows_) {
        connect_queue_.reserve(kConnectQueue);
        // An eighth of the descriptors (at least 256) stays for new calls' sockets.
        rlimit limit{};
        if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < static_cast<rlim_t>(INT_MAX)) {
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
#ifdef LATCH_HAVE_LIBURING
    if (uses_io_uring()) run_ring();
#endif
    uv_run(&loop_, UV_RUN_DEFAULT);  // on epoll, the whole life; after the ring, the last closes
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
            guarded("worker command", [&] {
                WorkerReply reply = reply_for(command);
                reply.status = ReplyStatus::error;
                reply.error = std::string("internal error: ") + e.what();
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
    sockets_.close();
#ifdef LATCH_HAVE_LIBURING
    uring_.close();
#endif
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

void Worker::on_ready(uv_poll_t* handle, int status, int) noexcept {
    auto* self = static_cast<Worker*>(handle->data);
    if (self == nullptr) return;
    // libuv stops a poll handle that reports an error; the set itself has none to report,
    // but should it ever, watching on is the only way the flows keep flowing.
    if (status < 0) uv_poll_start(handle, UV_READABLE, &Worker::on_ready);
    self->relay_ready();
}

namespace {

// The lines of a cold flow that a datagram reads: its head (peer, socket, counters) and its latch.
void prefetch_flow(const Flow* flow) noexcept {
    const auto* latch = reinterpret_cast<const char*>(&flow->latch);
    __builtin_prefetch(flow);
    __builtin_prefetch(latch);
    __builtin_prefetch(latch + sizeof(Latch) - 1);
}

void count_drop(Flow& flow, DropReason reason) noexcept {
    ++flow.counters.drops[static_cast<std::size_t>(reason)];
}

// One datagram that arrived on `in`: counts it, checks it, lets it teach the latch, and says
// whether it goes on to `in.peer`'s destination. A datagram that does not is a counted drop.
bool admit(Flow& in, const uint8_t* data, std::size_t len, bool truncated, const sockaddr* from,
           uint64_t now) noexcept {
    FlowCounters& counters = in.counters;
    ++counters.packets_in;
    counters.bytes_in += len;
    if (truncated) {
        count_drop(in, DropReason::too_large);
        return false;
    }
    PacketFacts facts;
    facts.can_teach = true;  // other transports: any datagram from the right peer
    if (in.transport == Transport::rtp) {
        PacketInfo info = inspect_packet(data, len);
        if (info.kind == PacketKind::malformed) {
            count_drop(in, DropReason::malformed);
            return false;
        }
        bool is_rtcp = info.kind == PacketKind::rtcp;
        bool on_rtcp_port = in.component == 1;
        if (is_rtcp != on_rtcp_port && !(is_rtcp && in.rtcp_mux)) {
            count_drop(in, DropReason::wrong_component);
            return false;
        }
        facts = PacketFacts{info.ssrc != 0, !is_rtcp, info.ssrc, info.seq};
    }
    switch (in.latch.on_packet(Endpoint::from_sockaddr(from), facts, now)) {
        case Verdict::accept: break;
        case Verdict::learned: ++counters.learned; break;
        case Verdict::foreign: count_drop(in, DropReason::foreign_source); return false;
        case Verdict::not_learnable: count_drop(in, DropReason::not_learnable); return false;
    }
    counters.last_packet_ms = now;
    if (in.peer->latch.destination() == nullptr || !in.peer->socket) {
        count_drop(in, DropReason::no_destination);
        return false;
    }
    return true;
}

}  // namespace

void Worker::relay_ready() noexcept {
    int n = sockets_.wait(ready_.data(), kMaxReady);
    if (n <= 0) return;  // nothing ready after all, or EINTR
    auto flow_at = [this](int i) { return static_cast<Flow*>(ready_[static_cast<std::size_t>(i)].data.ptr); };
    prefetch_flow(flow_at(0));
    for (int i = 0; i < n; ++i) {
        Flow& in = *flow_at(i);
        // The flow that sends the packets on, and the next ready flow, are cold in the cache:
        // fetch them while this one's read runs.
        prefetch_flow(in.peer);
        if (i + 1 < n) prefetch_flow(flow_at(i + 1));
        uint32_t events = ready_[static_cast<std::size_t>(i)].events;
        if (events & EPOLLERR) take_socket_error(in);
        if (!(events & EPOLLIN)) continue;
        // A bounded number of reads: a flooded socket cannot starve the others or the mailbox;
        // what is left makes the set ready again for the loop's next turn.
        for (int round = 0; round < kReadRounds; ++round) {
            if (relay_batch(in) < kBatch) break;
        }
    }
}

void Worker::take_socket_error(Flow& in) noexcept {
    // Reading the pending error (SO_ERROR) clears it, so that it is reported once.
    count_drop(in, DropReason::receive_error);
    int error = 0;
    socklen_t len = sizeof error;
    ::getsockopt(in.socket.fd(), SOL_SOCKET, SO_ERROR, &error, &len);
}

int Worker::relay_batch(Flow& in) noexcept {
    for (auto& m : recv_msgs_) {
        m.msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        m.msg_hdr.msg_flags = 0;
    }
    int n = ::recvmmsg(in.socket.fd(), recv_msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) {
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            count_drop(in, DropReason::receive_error);
        }
        return 0;
    }
    uint64_t now = uv_now(&loop_);
    Flow* out = in.peer;
    // Only packets that arrive on `out` teach its latch: the destination is the same for the
    // whole batch (admit() drops every packet while there is none).
    const Endpoint* destination = out->latch.destination();
    int to_send = 0;
    for (int i = 0; i < n; ++i) {
        const mmsghdr& m = recv_msgs_[i];
        if (!admit(in, static_cast<const uint8_t*>(recv_iov_[i].iov_base), m.msg_len,
                   m.msg_hdr.msg_flags & MSG_TRUNC, reinterpret_cast<const sockaddr*>(&recv_from_[i]), now)) {
            continue;
        }
        send_iov_[to_send] = {recv_iov_[i].iov_base, m.msg_len};
        mmsghdr& s = send_msgs_[to_send++];
        s.msg_hdr.msg_name = const_cast<sockaddr*>(destination->sockaddr_ptr());
        s.msg_hdr.msg_namelen = destination->sockaddr_len();
    }
    for (int sent = 0; sent < to_send;) {
        int r = ::sendmmsg(out->socket.fd(), send_msgs_.data() + sent, static_cast<unsigned>(to_send - sent), 0);
        if (r <= 0) {  // the first unsent one failed (EAGAIN, unreachable...): drop it, go on
            count_drop(in, DropReason::send_failed);
            ++sent;
            continue;
        }
        for (int i = sent; i < sent + r; ++i) out->counters.bytes_out += send_iov_[i].iov_len;
        out->counters.packets_out += static_cast<uint64_t>(r);
        sent += r;
    }
    return n;
}

#ifdef LATCH_HAVE_LIBURING
void Worker::run_ring() noexcept {
    const int loop_fd = uv_backend_fd(&loop_);
    while (uring_.is_open()) {
        // Wait in the ring until a datagram, the loop's descriptor (mailbox) or the loop's
        // next timer; then relay, and run the loop without blocking if it has work.
        uv_update_time(&loop_);
        int timeout = uv_backend_timeout(&loop_);
        uint64_t due = timeout < 0 ? UINT64_MAX : uv_now(&loop_) + static_cast<uint64_t>(timeout);
        uring_.watch(loop_fd);
        // Sockets still to connect: look at the ring without waiting, and go on with them.
        if (connect_head_ < connect_queue_.size()) timeout = 0;
        if (timeout != 0) uring_.wait(timeout);
        uv_update_time(&loop_);
        relay_ring();
        connect_queued();
        if (uring_.watched_ready() || uv_now(&loop_) >= due) uv_run(&loop_, UV_RUN_NOWAIT);
    }
}

void Worker::relay_ring() noexcept {
    if (!uring_.is_open()) return;
    uint64_t now = uv_now(&loop_);
    auto on_packet = [this, now](RingPacket& p) {
        Flow& in = *flow_of(p.data);
        if (!admit(in, p.payload, p.len, p.truncated, p.from, now)) return;
        // From the flow's own endpoint, yet not on its connected socket: it wants one.
        if (connect_flows_ && !is_connected_tag(p.data)) want_connect(in);
        Flow& out = *in.peer;
        const Endpoint& to = *out.latch.destination();
        bool queued;
        if (out.connected_toward(to)) {
            queued = uring_.forward_connected(p, out.connected.fd());
        } else {
            queued = uring_.forward(p, out.socket.fd(), to);
            if (connect_flows_) want_connect(out);
        }
        if (!queued) count_drop(in, DropReason::send_failed);
    };
    auto on_error = [](void* flow) { count_drop(*flow_of(flow), DropReason::receive_error); };
    auto on_sent = [](void* from, void* by, int result, std::size_t len) {
        if (result < 0) {
            if (from) count_drop(*flow_of(from), DropReason::send_failed);
        } else if (by) {
            Flow& out = *flow_of(by);
            ++out.counters.packets_out;
            out.counters.bytes_out += len;
        }
    };
    // The sends queued here go to the kernel with the next wait(), which returns at once when
    // completions are left over.
    uring_.reap(on_packet, on_error, on_sent);
    uring_.flush();
}

void Worker::want_connect(Flow& flow) noexcept {
    if (flow.wants_connect || flow.connect_failed) return;
    const Endpoint* to = flow.latch.destination();
    if (to == nullptr || flow.connected_toward(*to)) return;
    Session& session = *flow.session;
    if (!session.connect_queued) {
        if (connect_queue_.size() == connect_queue_.capacity()) return;  // full: asked again later
        connect_queue_.push_back(session.id());
        session.connect_queued = true;
    }
    flow.wants_connect = true;
}

void Worker::connect_queued() noexcept {
    std::size_t end = std::min(connect_queue_.size(), connect_head_ + kConnectsPerTurn);
    for (; connect_head_ < end; ++connect_head_) {
        auto it = sessions_.find(connect_queue_[connect_head_]);
        if (it == sessions_.end()) continue;  // ended meanwhile
        it->second->connect_queued = false;
        it->second->connect_flows(env_);
    }
    if (connect_head_ == connect_queue_.size()) {
        connect_queue_.clear();
        connect_head_ = 0;
    }
}
#endif

}  // namespace latch
