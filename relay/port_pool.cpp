// PortPool and range splitting. Worker thread (the pool); any thread (split_port_range).
#include "port_pool.hpp"

#include <stdexcept>
#include <string>

namespace latch {

std::vector<PortRange> split_port_range(uint16_t min, uint16_t max, unsigned slices) {
    if (slices == 0) throw std::invalid_argument("port range needs at least one slice");
    unsigned first = min + (min % 2);  // RTP ports are even
    if (max < first + 1u) {
        throw std::invalid_argument("port range " + std::to_string(min) + "-" +
                                    std::to_string(max) + " holds no even/odd pair");
    }
    std::size_t pairs = (max - first + 1u) / 2;
    if (pairs < slices) {
        throw std::invalid_argument("port range " + std::to_string(min) + "-" +
                                    std::to_string(max) + " holds " + std::to_string(pairs) +
                                    " port pairs, fewer than " + std::to_string(slices) +
                                    " workers");
    }
    std::vector<PortRange> out;
    std::size_t base = pairs / slices;
    std::size_t extra = pairs % slices;
    for (unsigned i = 0; i < slices; ++i) {
        std::size_t n = base + (i < extra ? 1 : 0);
        auto last = static_cast<uint16_t>(first + 2 * n - 1);
        out.push_back({static_cast<uint16_t>(first), last});
        first = last + 1u;
    }
    return out;
}

PortPool::PortPool(PortRange range)
    : range_(range), in_use_(range.pairs(), false), ring_(range.pairs()) {
    if (range.first % 2 != 0) throw std::invalid_argument("port slice must start on an even port");
    for (std::size_t i = 0; i < ring_.size(); ++i) ring_[i] = static_cast<uint16_t>(i);
    free_count_ = ring_.size();
}

std::optional<uint16_t> PortPool::acquire() {
    if (free_count_ == 0) return std::nullopt;
    std::size_t index = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --free_count_;
    in_use_[index] = true;
    return static_cast<uint16_t>(range_.first + 2 * index);
}

bool PortPool::claim(uint16_t rtp_port) {
    if (!owns(rtp_port) || (rtp_port - range_.first) % 2 != 0) return false;
    std::size_t index = index_of(rtp_port);
    if (in_use_[index]) return false;
    // Found among the free ones and swapped to the head, whence it is taken as acquire() would.
    for (std::size_t i = 0; i < free_count_; ++i) {
        std::size_t at = (head_ + i) % ring_.size();
        if (ring_[at] != index) continue;
        std::swap(ring_[at], ring_[head_]);
        head_ = (head_ + 1) % ring_.size();
        --free_count_;
        in_use_[index] = true;
        return true;
    }
    return false;
}

bool PortPool::release(uint16_t rtp_port) {
    if (!owns(rtp_port) || (rtp_port - range_.first) % 2 != 0) return false;
    std::size_t index = index_of(rtp_port);
    if (!in_use_[index]) return false;
    in_use_[index] = false;
    ring_[(head_ + free_count_) % ring_.size()] = static_cast<uint16_t>(index);
    ++free_count_;
    return true;
}

}  // namespace latch
