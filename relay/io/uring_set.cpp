// UringSet: the ring, its provided buffers, and arming and cancelling each socket's receive.
// The owning worker's thread only.
#include "uring_set.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace latch {
namespace {

// The kernel writes an io_uring_recvmsg_out and the source address ahead of each payload.
constexpr std::size_t kHeadroom = sizeof(io_uring_recvmsg_out) + sizeof(sockaddr_in6);
constexpr int kBufferGroup = 0;

}  // namespace

UringSet::UringSet(std::size_t max_datagram)
    // Room for at least one byte more than the largest datagram, so that a longer one is seen.
    : max_datagram_(max_datagram), buffer_size_((kHeadroom + max_datagram + 1 + 63) / 64 * 64) {
    recv_template_.msg_namelen = sizeof(sockaddr_in6);
}

int UringSet::open() {
    close();
    io_uring_params params{};
    // The kernel finishes receives only when this thread waits for completions, never by
    // interrupting it; all of a submission is issued even if one request fails.
    params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
                   IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    params.cq_entries = kQueueDepth * 8;
    if (int rc = io_uring_queue_init_params(kQueueDepth, &ring_, &params); rc < 0) return rc;
    ring_fd_ = ring_.ring_fd;

    // The buffer ring's entries and the buffers in one anonymous mapping: page-aligned, as the
    // kernel requires, and only the pages datagrams touch become resident.
    std::size_t ring_bytes = (kBuffers * sizeof(io_uring_buf) + 4095) / 4096 * 4096;
    mapped_ = ring_bytes + kBuffers * buffer_size_;
    void* mem =
        ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        int rc = -errno;
        mapped_ = 0;
        close();
        return rc;
    }
    buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
    buffers_ = static_cast<char*>(mem) + ring_bytes;
    io_uring_buf_ring_init(buf_ring_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
    reg.ring_entries = kBuffers;
    reg.bgid = kBufferGroup;
    if (int rc = io_uring_register_buf_ring(&ring_, &reg, 0); rc < 0) {
        close();
        return rc;
    }
    for (unsigned b = 0; b < kBuffers; ++b) give_back(b);
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(returned_));
    returned_ = 0;

    // Synchronous cancellation (Linux 6.0, like multishot recvmsg) is what lets a removed
    // socket's port be bound again at once. Asking to cancel what does not exist tells
    // whether the kernel has it: ENOENT if so, EINVAL if not.
    io_uring_sync_cancel_reg probe{};
    probe.addr = ~0ULL;
    probe.timeout = {0, 0};
    if (int rc = io_uring_register_sync_cancel(&ring_, &probe); rc != -ENOENT && rc != 0) {
        close();
        return rc;
    }
    sends_.resize(kBuffers);
    return 0;
}

void UringSet::close() noexcept {
    if (ring_fd_ >= 0) io_uring_queue_exit(&ring_);  // cancels whatever is still armed
    ring_fd_ = -1;
    if (mapped_ != 0) ::munmap(buf_ring_, mapped_);
    mapped_ = 0;
    buf_ring_ = nullptr;
    buffers_ = nullptr;
    returned_ = 0;
    slots_.clear();
    to_arm_.clear();
    watching_ = false;
    watched_ready_ = false;
}

int UringSet::add(int fd, void* data) {
    if (ring_fd_ < 0 || fd < 0 || data == nullptr) return -EINVAL;
    if (static_cast<std::size_t>(fd) >= slots_.size()) {
        slots_.resize(static_cast<std::size_t>(fd) + 1);
        // Each socket's receive ends at most once between two flushes: with room for all of
        // them, the packet path never allocates.
        to_arm_.reserve(slots_.capacity());
    }
    // Submitted with the next wait(): an offer's sockets go to the kernel together. Datagrams
    // that arrive before then wait in the socket, and the receive takes them when it starts.
    if (!arm(fd)) return -EBUSY;
    slots_[static_cast<std::size_t>(fd)].data = data;
    return 0;
}

void UringSet::remove(int fd) noexcept {
    if (ring_fd_ < 0 || fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) return;
    Slot& slot = slots_[static_cast<std::size_t>(fd)];
    if (slot.data == nullptr) return;
    // Whatever is queued goes in first, so that the cancellation finds it; then the socket's
    // receive ends before this returns, and with it the ring's hold on the socket. (Sends never
    // wait in the ring: MSG_DONTWAIT.) The receive is found by its key, in one bucket of the
    // kernel's table; by descriptor the kernel would walk every request of the ring, a cost
    // that grows with the calls (a delete took 1.4 ms with 4,000 calls up).
    io_uring_submit(&ring_);
    io_uring_sync_cancel_reg reg{};
    reg.addr = key(fd, slot.generation);
    reg.flags = IORING_ASYNC_CANCEL_ALL;
    reg.timeout = {-1, -1};
    io_uring_register_sync_cancel(&ring_, &reg);
    // The cancelled requests finish, and let go of the socket, in work the kernel runs for
    // this thread only when asked.
    io_uring_get_events(&ring_);
    // Completions still waiting for this socket now carry a stale generation and are ignored.
    slot.data = nullptr;
    if ((++slot.generation & 0x7fffffffU) == 0) ++slot.generation;
}

io_uring_sqe* UringSet::next_sqe() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {  // the queue is full: hand it to the kernel and go on
        io_uring_submit(&ring_);
        sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
}

bool UringSet::arm(int fd) noexcept {
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) return false;
    io_uring_prep_recvmsg_multishot(sqe, fd, &recv_template_, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, key(fd, slots_[static_cast<std::size_t>(fd)].generation));
    return true;
}

void UringSet::give_back(unsigned buffer) noexcept {
    io_uring_buf_ring_add(buf_ring_, buffer_at(buffer), static_cast<unsigned>(buffer_size_),
                          static_cast<unsigned short>(buffer), io_uring_buf_ring_mask(kBuffers),
                          static_cast<int>(returned_++));
}

io_uring_sqe* UringSet::prepare_send(const RingPacket& packet, int fd) noexcept {
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) return nullptr;  // left unforwarded: reap() gives the buffer back
    Send& s = sends_[packet.buffer];
    s.owner = key(fd, slots_[static_cast<std::size_t>(fd)].generation);
    s.len = packet.len;
    return sqe;
}

bool UringSet::forward(const RingPacket& packet, int fd, const Endpoint& to) noexcept {
    io_uring_sqe* sqe = prepare_send(packet, fd);
    if (sqe == nullptr) return false;
    Send& s = sends_[packet.buffer];
    s.iov = {packet.payload, packet.len};
    s.msg = {};
    std::memcpy(&s.to, to.sockaddr_ptr(), std::min<std::size_t>(to.sockaddr_len(), sizeof s.to));
    s.msg.msg_name = &s.to;
    s.msg.msg_namelen = to.sockaddr_len();
    s.msg.msg_iov = &s.iov;
    s.msg.msg_iovlen = 1;
    // MSG_DONTWAIT: a full send buffer fails the send (a counted drop) instead of parking it.
    io_uring_prep_sendmsg(sqe, fd, &s.msg, MSG_DONTWAIT);
    io_uring_sqe_set_data64(sqe, kSendBit | packet.buffer);
    return true;
}

bool UringSet::forward_connected(const RingPacket& packet, int fd) noexcept {
    io_uring_sqe* sqe = prepare_send(packet, fd);
    if (sqe == nullptr) return false;
    io_uring_prep_send(sqe, fd, packet.payload, packet.len, MSG_DONTWAIT);
    io_uring_sqe_set_data64(sqe, kSendBit | packet.buffer);
    return true;
}

void UringSet::watch(int fd) noexcept {
    if (ring_fd_ < 0 || watching_) return;
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) return;
    io_uring_prep_poll_add(sqe, fd, POLLIN);
    io_uring_sqe_set_data64(sqe, kWatchKey);
    watching_ = true;
}

void UringSet::wait(int timeout_ms) noexcept {
    if (ring_fd_ < 0) return;
    if (timeout_ms == 0) {
        io_uring_submit_and_get_events(&ring_);
        return;
    }
    io_uring_cqe* cqe = nullptr;
    if (timeout_ms < 0) {
        io_uring_submit_and_wait(&ring_, 1);
        return;
    }
    __kernel_timespec timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000LL};
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &timeout, nullptr);
}

void UringSet::flush() noexcept {
    if (ring_fd_ < 0) return;
    if (returned_ != 0) {
        io_uring_buf_ring_advance(buf_ring_, static_cast<int>(returned_));
        returned_ = 0;
    }
    // A receive the queue has no room for now is tried again at the next flush.
    std::size_t kept = 0;
    for (int fd : to_arm_) {
        if (static_cast<std::size_t>(fd) < slots_.size() &&
            slots_[static_cast<std::size_t>(fd)].data && !arm(fd)) {
            to_arm_[kept++] = fd;
        }
    }
    to_arm_.resize(kept);
}

}  // namespace latch
