// Latch: which source a stream accepts media from and where the other leg's media goes, learned
// from the first valid packets after each signalling update (symmetric RTP). Owned by one
// worker thread; on_packet() runs on the packet path.
#pragma once

#include <cstdint>

#include "endpoint.hpp"

namespace latch {

enum class LatchMode : uint8_t {
    symmetric,   // learn the real source and send there (the default: works through NATs)
    asymmetric,  // never learn: accept from anyone, always send to the signalled address
};

// How well a source matches the signalled address; a better match displaces a worse
// candidate during the learning window.
enum class Match : uint8_t { none = 0, any = 1, address = 2, exact = 3 };

enum class LatchState : uint8_t {
    unlearned,  // nothing learned: send to the signalled address
    learning,   // a candidate source, which a better match may still displace
    confirmed,  // locked: other sources are dropped
};

enum class Verdict : uint8_t {
    accept,         // from the learned (or candidate) source: forward
    learned,        // accepted, and the source was (re)learned by this packet
    foreign,        // from another source: drop
    not_learnable,  // from an unknown source and not fit to teach (SSRC 0, non-RTP, port 0): drop
};

class Latch {
public:
    // A signalling event: sets the expected address (unset or 0.0.0.0 when the SDP gives none)
    // and opens a learning window. A source learned before is kept as a candidate if the
    // signalled address did not change, so media keeps flowing across re-INVITEs.
    void reset(const Endpoint& expected, LatchMode mode, uint64_t now_ms, uint64_t window_ms);

    // `can_teach`: the packet may establish a new source (valid, non-zero SSRC). Without it a
    // packet is still accepted from the source already learned.
    Verdict on_packet(const Endpoint& source, bool can_teach, uint64_t now_ms) noexcept;

    // Where media toward this stream's endpoint goes: the learned source, else the signalled
    // address, else nullptr (nothing to send to).
    const Endpoint* destination() const noexcept {
        if (state_ != LatchState::unlearned) return &learned_;
        return expected_usable_ ? &expected_ : nullptr;
    }

    Match match(const Endpoint& source) const noexcept;
    LatchState state() const { return state_; }
    LatchMode mode() const { return mode_; }
    const Endpoint& expected() const { return expected_; }
    const Endpoint& learned() const { return learned_; }  // unset while unlearned
    uint64_t window_end_ms() const { return window_end_ms_; }

private:
    Endpoint expected_;
    Endpoint learned_;
    uint64_t window_end_ms_ = 0;
    LatchMode mode_ = LatchMode::symmetric;
    LatchState state_ = LatchState::unlearned;
    Match quality_ = Match::none;
    bool expected_usable_ = false;
};

}  // namespace latch
