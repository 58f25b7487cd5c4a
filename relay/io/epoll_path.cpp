// EpollPath: readiness, batched reads and sends. The owning worker's thread; everything from
// on_ready() down is the packet path: no allocation, no lock, no exception, no log line.
#include "epoll_path.hpp"

#include <cerrno>
#include <stdexcept>
#include <string>

#include "admit.hpp"

namespace latch {

EpollPath::EpollPath(uv_loop_t* loop, PacketHost& host)
    : loop_(loop),
      host_(host),
      tally_(host.tally()),
      buffer_(std::make_unique<char[]>(kBatch * kSlot)) {
    for (int i = 0; i < kBatch; ++i) {
        recv_iov_[i] = {buffer_.get() + static_cast<std::size_t>(i) * kSlot, kSlot};
        recv_msgs_[i].msg_hdr.msg_iov = &recv_iov_[i];
        recv_msgs_[i].msg_hdr.msg_iovlen = 1;
        recv_msgs_[i].msg_hdr.msg_name = &recv_from_[i];
        send_msgs_[i].msg_hdr.msg_iov = &send_iov_[i];
        send_msgs_[i].msg_hdr.msg_iovlen = 1;
    }
    if (int rc = sockets_.open(loop, this, &EpollPath::on_ready); rc != 0) {
        throw std::runtime_error(std::string("socket set: ") + uv_strerror(rc));
    }
}

void EpollPath::on_ready(uv_poll_t* handle, int status, int) noexcept {
    auto* self = static_cast<EpollPath*>(handle->data);
    if (self == nullptr) return;
    // libuv stops a poll handle that reports an error; the set itself has none to report,
    // but should it ever, watching on is the only way the flows keep flowing.
    if (status < 0) uv_poll_start(handle, UV_READABLE, &EpollPath::on_ready);
    self->relay_ready();
    self->host_.after_batch();
}

void EpollPath::relay_ready() noexcept {
    int n = sockets_.wait(ready_.data(), kMaxReady);
    if (n <= 0) return;  // nothing ready after all, or EINTR
    auto flow_at = [this](int i) {
        return static_cast<Flow*>(ready_[static_cast<std::size_t>(i)].data.ptr);
    };
    prefetch_arriving(flow_at(0));
    for (int i = 0; i < n; ++i) {
        Flow& in = *flow_at(i);
        // The flow that sends the packets on, and the next ready flow, are cold in the cache:
        // fetch them while this one's read runs.
        prefetch_flow(in.peer);
        if (i + 1 < n) prefetch_arriving(flow_at(i + 1));
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

void EpollPath::take_socket_error(Flow& in) noexcept {
    // Reading the pending error (SO_ERROR) clears it, so that it is reported once.
    count_drop(in, tally_, DropReason::receive_error);
    int error = 0;
    socklen_t len = sizeof error;
    ::getsockopt(in.socket.fd(), SOL_SOCKET, SO_ERROR, &error, &len);
}

int EpollPath::relay_batch(Flow& in) noexcept {
    for (auto& m : recv_msgs_) {
        m.msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        m.msg_hdr.msg_flags = 0;
    }
    int n = ::recvmmsg(in.socket.fd(), recv_msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) {
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            count_drop(in, tally_, DropReason::receive_error);
        }
        return 0;
    }
    uint64_t now = uv_now(loop_);
    uint64_t now_ns = uv_hrtime();  // the batch's arrival, for the stream's jitter
    Flow* out = in.peer;
    // Only packets that arrive on `out` teach its latch: the destination is the same for the
    // whole batch (admit() drops every packet while there is none).
    const Endpoint* destination = out->latch.destination();
    int to_send = 0;
    for (int i = 0; i < n; ++i) {
        const mmsghdr& m = recv_msgs_[i];
        if (!admit(in, tally_, static_cast<const uint8_t*>(recv_iov_[i].iov_base), m.msg_len,
                   m.msg_hdr.msg_flags & MSG_TRUNC,
                   reinterpret_cast<const sockaddr*>(&recv_from_[i]), now, now_ns)) {
            continue;
        }
        send_iov_[to_send] = {recv_iov_[i].iov_base, m.msg_len};
        mmsghdr& s = send_msgs_[to_send++];
        s.msg_hdr.msg_name = const_cast<sockaddr*>(destination->sockaddr_ptr());
        s.msg_hdr.msg_namelen = destination->sockaddr_len();
    }
    for (int sent = 0; sent < to_send;) {
        int r = ::sendmmsg(out->socket.fd(), send_msgs_.data() + sent,
                           static_cast<unsigned>(to_send - sent), 0);
        if (r <= 0) {  // the first unsent one failed (EAGAIN, unreachable...): drop it, go on
            count_drop(in, tally_, DropReason::send_failed);
            ++sent;
            continue;
        }
        for (int i = sent; i < sent + r; ++i) count_sent(*out, tally_, send_iov_[i].iov_len);
        sent += r;
    }
    return n;
}

}  // namespace latch
