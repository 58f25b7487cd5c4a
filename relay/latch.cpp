// Latching decisions. Worker thread; on_packet() is on the packet path (no allocation).
#include "latch.hpp"

namespace latch {

void Latch::reset(const Endpoint& expected, LatchMode mode, uint64_t now_ms, uint64_t window_ms) {
    bool same_expectation = expected == expected_;
    expected_ = expected;
    expected_usable_ = expected.is_set() && !expected.is_unspecified_address() && expected.port() != 0;
    mode_ = mode;
    window_end_ms_ = now_ms + window_ms;

    if (mode == LatchMode::asymmetric || !same_expectation || state_ == LatchState::unlearned) {
        state_ = LatchState::unlearned;
        learned_ = Endpoint{};
        quality_ = Match::none;
        return;
    }
    // Same signalled address: keep sending to the known source, but let a better one win.
    quality_ = match(learned_);
    state_ = quality_ == Match::exact ? LatchState::confirmed : LatchState::learning;
}

Match Latch::match(const Endpoint& source) const noexcept {
    if (!expected_usable_) return Match::any;
    if (source == expected_) return Match::exact;
    if (source.same_address(expected_)) return Match::address;
    return Match::any;
}

Verdict Latch::on_packet(const Endpoint& source, bool can_teach, uint64_t now_ms) noexcept {
    if (mode_ == LatchMode::asymmetric) return Verdict::accept;
    // Port 0 can be received from but never sent to: such a source can never be learned.
    if (source.port() == 0) return Verdict::not_learnable;

    bool window_open = now_ms < window_end_ms_;
    if (state_ == LatchState::learning && !window_open) state_ = LatchState::confirmed;
    if (state_ != LatchState::unlearned && source == learned_) return Verdict::accept;
    if (state_ == LatchState::confirmed) return Verdict::foreign;
    if (!can_teach) return Verdict::not_learnable;

    Match quality = match(source);
    if (!window_open) {
        // Nothing was learned in the window (a late sender): only a source on the signalled
        // address may still teach, so a stranger cannot claim an idle stream.
        if (quality < Match::address) return Verdict::foreign;
        learned_ = source;
        quality_ = quality;
        state_ = LatchState::confirmed;
        return Verdict::learned;
    }
    if (quality <= quality_) return Verdict::foreign;
    learned_ = source;
    quality_ = quality;
    state_ = quality == Match::exact ? LatchState::confirmed : LatchState::learning;
    return Verdict::learned;
}

}  // namespace latch
