// PortPool: one worker's slice of the media port range, handed out as (even RTP, odd RTCP)
// pairs. Owned and used by a single worker thread, so it takes no lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace latch {

struct PortRange {
    uint16_t first = 0;  // even
    uint16_t last = 0;   // odd, inclusive
    std::size_t pairs() const { return first > last ? 0 : (std::size_t{last} - first + 1) / 2; }
};

// Splits [min, max] into `slices` ranges of whole even/odd pairs, as equal as possible.
// Throws std::invalid_argument when the range holds fewer pairs than slices.
std::vector<PortRange> split_port_range(uint16_t min, uint16_t max, unsigned slices);

class PortPool {
  public:
    explicit PortPool(PortRange range);

    // The RTP (even) port of a free pair, least recently released first, so that a port
    // just freed is not handed straight to a new call while stale media may still arrive.
    std::optional<uint16_t> acquire();
    // Takes the pair of `rtp_port` out of the free ones (a call restored on the ports it had);
    // false (and no change) if it is not a free pair of this pool.
    bool claim(uint16_t rtp_port);
    // Returns a pair; false (and no change) if the port is not a pair of this pool in use.
    bool release(uint16_t rtp_port);

    bool owns(uint16_t port) const { return port >= range_.first && port <= range_.last; }
    std::size_t capacity() const { return in_use_.size(); }
    std::size_t available() const { return free_count_; }
    PortRange range() const { return range_; }

  private:
    std::size_t index_of(uint16_t port) const { return (port - range_.first) / 2; }

    PortRange range_;
    std::vector<bool> in_use_;
    std::vector<uint16_t> ring_;  // FIFO of free pair indices
    std::size_t head_ = 0;
    std::size_t free_count_ = 0;
};

}  // namespace latch
