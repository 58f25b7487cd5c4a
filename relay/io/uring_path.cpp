// UringPath: the thread's life in the ring, relaying its completions, and the connected-socket
// queue. The owning worker's thread; relay() is the packet path: no allocation, no lock, no
// exception, no log line.
#include "uring_path.hpp"

#include <algorithm>
#include <cstdint>

#include "admit.hpp"

namespace latch {

UringPath::UringPath(uv_loop_t* loop, PacketHost& host, bool connect)
    : loop_(loop), host_(host), tally_(host.tally()), connect_(connect) {
    if (connect_) connect_queue_.reserve(kConnectQueue);
}

int UringPath::open() {
    return ring_.open();
}

void UringPath::run() noexcept {
    const int loop_fd = uv_backend_fd(loop_);
    while (ring_.is_open()) {
        // Wait in the ring until a datagram, the loop's descriptor (mailbox) or the loop's
        // next timer; then relay, and run the loop without blocking if it has work.
        uv_update_time(loop_);
        int timeout = uv_backend_timeout(loop_);
        uint64_t due = timeout < 0 ? UINT64_MAX : uv_now(loop_) + static_cast<uint64_t>(timeout);
        ring_.watch(loop_fd);
        // Sockets still to connect: look at the ring without waiting, and go on with them.
        if (connect_head_ < connect_queue_.size()) timeout = 0;
        if (timeout != 0) ring_.wait(timeout);
        uv_update_time(loop_);
        relay();
        host_.after_batch();
        connect_queued();
        if (ring_.watched_ready() || uv_now(loop_) >= due) uv_run(loop_, UV_RUN_NOWAIT);
    }
    uv_run(loop_, UV_RUN_DEFAULT);  // the last closes
}

void UringPath::relay() noexcept {
    if (!ring_.is_open()) return;
    uint64_t now = uv_now(loop_);
    uint64_t now_ns = uv_hrtime();  // the batch's arrival, for the streams' jitter
    auto on_packet = [this, now, now_ns](RingPacket& p) {
        Flow& in = *flow_of(p.data);
        if (!admit(in, tally_, p.payload, p.len, p.truncated, p.from, now, now_ns)) return;
        // From the flow's own endpoint, yet not on its connected socket: it wants one.
        if (connect_ && !is_connected_tag(p.data)) want_connect(in);
        Flow& out = *in.peer;
        const Endpoint& to = *out.latch.destination();
        bool queued;
        if (out.connected_toward(to)) {
            queued = ring_.forward_connected(p, out.connected.fd());
        } else {
            queued = ring_.forward(p, out.socket.fd(), to);
            if (connect_) want_connect(out);
        }
        if (!queued) count_drop(in, tally_, DropReason::send_failed);
    };
    auto on_error = [this](void* flow) {
        count_drop(*flow_of(flow), tally_, DropReason::receive_error);
    };
    auto on_sent = [this](void* from, void* by, int result, std::size_t len) {
        if (result < 0) {
            if (from) count_drop(*flow_of(from), tally_, DropReason::send_failed);
        } else if (by) {
            count_sent(*flow_of(by), tally_, len);
        }
    };
    // The sends queued here go to the kernel with the next wait(), which returns at once when
    // completions are left over.
    ring_.reap(on_packet, on_error, on_sent);
    ring_.flush();
}

void UringPath::want_connect(Flow& flow) noexcept {
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

void UringPath::connect_queued() noexcept {
    std::size_t end = std::min(connect_queue_.size(), connect_head_ + kConnectsPerTurn);
    for (; connect_head_ < end; ++connect_head_)
        host_.connect_session(connect_queue_[connect_head_]);
    if (connect_head_ == connect_queue_.size()) {
        connect_queue_.clear();
        connect_head_ = 0;
    }
}

}  // namespace latch
