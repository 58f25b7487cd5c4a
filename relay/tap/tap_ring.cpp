// TapRing: single producer (a worker), single consumer (the recorder thread).
#include "tap_ring.hpp"

#include <algorithm>
#include <cstring>

namespace latch {

TapRing::TapRing(std::size_t slots) {
    std::size_t n = 1;
    while (n < slots) n <<= 1;
    slots_ = std::make_unique<TapPacket[]>(n);
    mask_ = n - 1;
}

bool TapRing::push(uint64_t recording, uint64_t at_ns, const Endpoint& from, const Endpoint& to,
                   const uint8_t* data, std::size_t len) noexcept {
    uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_seen_ > mask_) {
        tail_seen_ = tail_.load(std::memory_order_acquire);
        if (head - tail_seen_ > mask_) return false;
    }
    TapPacket& p = slots_[head & mask_];
    p.recording = recording;
    p.at_ns = at_ns;
    p.from = from;
    p.to = to;
    p.wire_len = static_cast<uint16_t>(std::min<std::size_t>(len, UINT16_MAX));
    p.len = static_cast<uint16_t>(std::min(len, TapPacket::kSnap));
    std::memcpy(p.data, data, p.len);
    head_.store(head + 1, std::memory_order_release);
    return true;
}

const TapPacket* TapRing::front() noexcept {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_seen_) {
        head_seen_ = head_.load(std::memory_order_acquire);
        if (tail == head_seen_) return nullptr;
    }
    return &slots_[tail & mask_];
}

void TapRing::pop() noexcept {
    tail_.fetch_add(1, std::memory_order_release);
}

}  // namespace latch
