// TapRing: copies of recorded calls' datagrams, from one worker (the producer, on its packet
// path) to the recorder thread (the consumer). Bounded and lock-free: a full ring refuses the
// copy at once, and the worker counts it; forwarding never waits for the recorder.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "endpoint.hpp"

namespace latch {

// One copied datagram: what the recorder needs to write it as the IP packet it was.
struct TapPacket {
    static constexpr std::size_t kSnap = 1472;  // bytes kept of a datagram (an Ethernet MTU's)
    uint64_t recording = 0;                     // which recording it belongs to
    uint64_t at_ns = 0;                         // arrival, monotonic (uv_hrtime's clock)
    Endpoint from;                              // the party that sent it
    Endpoint to;                                // the relay's socket it arrived on
    uint16_t len = 0;                           // bytes in data (at most kSnap)
    uint16_t wire_len = 0;                      // the datagram's own length
    uint8_t data[kSnap];
};

class TapRing {
  public:
    // `slots` is rounded up to a power of two.
    explicit TapRing(std::size_t slots);
    TapRing(const TapRing&) = delete;
    TapRing& operator=(const TapRing&) = delete;

    // The worker: copies one datagram in; false (and nothing copied) when the ring is full.
    bool push(uint64_t recording, uint64_t at_ns, const Endpoint& from, const Endpoint& to,
              const uint8_t* data, std::size_t len) noexcept;
    // The recorder: the oldest copy, or null when there is none; pop() once done with it.
    const TapPacket* front() noexcept;
    void pop() noexcept;
    std::size_t capacity() const { return mask_ + 1; }

  private:
    std::unique_ptr<TapPacket[]> slots_;
    std::size_t mask_;
    alignas(64) std::atomic<uint64_t> head_{0};  // the next slot the worker fills
    uint64_t tail_seen_ = 0;                     // the worker's last look at tail_
    alignas(64) std::atomic<uint64_t> tail_{0};  // the next slot the recorder reads
    uint64_t head_seen_ = 0;                     // the recorder's last look at head_
};

}  // namespace latch
