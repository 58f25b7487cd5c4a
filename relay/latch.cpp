// Latching decisions. Worker thread; on_packet() is on the packet path (no allocation).
#include "latch.hpp"

#include <algorithm>

namespace latch {

namespace {
constexpr std::string_view kModes[] = {"heuristic", "immediate", "off"};
constexpr std::string_view kStates[] = {"unlearned", "learning", "confirmed"};
}  // namespace

const char* learning_mode_name(LearningMode mode) {
    return kModes[static_cast<int>(mode)].data();
}

std::optional<LearningMode> parse_learning_mode(std::string_view name) {
    for (int i = 0; i < 3; ++i) {
        if (kModes[i] == name) return static_cast<LearningMode>(i);
    }
    return std::nullopt;
}

const char* latch_state_name(LatchState state) {
    return kStates[static_cast<int>(state)].data();
}

std::optional<LatchState> parse_latch_state(std::string_view name) {
    for (int i = 0; i < 3; ++i) {
        if (kStates[i] == name) return static_cast<LatchState>(i);
    }
    return std::nullopt;
}

void Latch::reset(const Endpoint& expected, const LatchPolicy& policy, uint64_t now_ms,
                  uint64_t window_ms, const Endpoint& sip_source) {
    bool same_expectation = expected == expected_;
    expected_ = expected;
    expected_usable_ =
        expected.is_set() && !expected.is_unspecified_address() && expected.port() != 0;
    proof_span_ms_ = expected_usable_ && expected.is_private_address()
                         ? kProofSpanMs
                         : std::min(kPatientProofMs, window_ms / 3);
    sip_source_ =
        sip_source.is_set() && !sip_source.is_unspecified_address() ? sip_source : Endpoint{};
    policy_ = policy;
    window_end_ms_ = now_ms + window_ms;
    probation_ = {};  // a new window: every source proves itself anew

    bool learns = !policy.asymmetric && policy.learning != LearningMode::off;
    if (!learns || !same_expectation || state_ == LatchState::unlearned) {
        state_ = LatchState::unlearned;
        learned_ = Endpoint{};
        quality_ = Match::none;
        have_rtp_ = false;
        return;
    }
    // Same signalled address: keep sending to the known source, but let a better one win.
    quality_ = match(learned_);
    state_ = quality_ == Match::exact || policy.learning == LearningMode::immediate
                 ? LatchState::confirmed
                 : LatchState::learning;
}

void Latch::restore(const Endpoint& source, LatchState state) noexcept {
    if (!source.is_set() || state == LatchState::unlearned || policy_.asymmetric ||
        policy_.learning == LearningMode::off) {
        return;
    }
    learned_ = source;
    quality_ = match(source);
    state_ = state;
    have_rtp_ = false;
    probation_ = {};
}

Match Latch::match(const Endpoint& source) const noexcept {
    if (expected_usable_ && source == expected_) return Match::exact;
    if (expected_usable_ && source.same_address(expected_)) return Match::address;
    if (sip_source_.is_set() && source.same_address(sip_source_)) return Match::address;
    return Match::any;
}

void Latch::remember(const PacketFacts& packet) noexcept {
    if (!packet.rtp || packet.ssrc == 0) return;
    have_rtp_ = true;
    last_ssrc_ = packet.ssrc;
    last_seq_ = packet.seq;
}

bool Latch::continues_stream(const Endpoint& source, const PacketFacts& packet) const noexcept {
    if (!have_rtp_ || !packet.rtp || packet.ssrc != last_ssrc_ || !source.same_address(learned_))
        return false;
    auto ahead = static_cast<uint16_t>(packet.seq - last_seq_);
    return ahead >= 1 && ahead <= kRebindSeqWindow;
}

bool Latch::prove(const Endpoint& source, const PacketFacts& packet, uint64_t now_ms) noexcept {
    // Its slot, else a free one, else the one with the least proof (the oldest among equals):
    // a stranger spraying from many ports cannot push out a phone halfway through its proof.
    Probation* slot = nullptr;
    for (auto& p : probation_) {
        if (p.packets != 0 && p.source == source) slot = &p;
    }
    if (slot == nullptr) {
        slot = &probation_[0];
        for (auto& p : probation_) {
            if (p.packets < slot->packets ||
                (p.packets == slot->packets && p.first_ms < slot->first_ms))
                slot = &p;
        }
        *slot = Probation{source, now_ms, packet.ssrc, packet.seq, 1};
        return false;
    }
    if (packet.rtcp) return false;  // RTCP neither proves a stream nor breaks its proof
    auto ahead = static_cast<uint16_t>(packet.seq - slot->seq);
    if (packet.rtp && (packet.ssrc != slot->ssrc || ahead == 0 || ahead > kProofSeqStep)) {
        *slot = Probation{source, now_ms, packet.ssrc, packet.seq,
                          1};  // not the same stream: start over
        return false;
    }
    slot->seq = packet.seq;
    if (slot->packets < kProofPackets) ++slot->packets;
    return slot->packets >= kProofPackets && now_ms - slot->first_ms >= proof_span_ms_;
}

bool Latch::follows_rtp(const Endpoint& source, const Latch& rtp) const noexcept {
    if (rtp.state_ == LatchState::unlearned || !source.same_address(rtp.learned_)) return false;
    // Already on that address: a port change is not the RTP stream's to teach.
    return state_ == LatchState::unlearned || !learned_.same_address(rtp.learned_);
}

Verdict Latch::learn(const Endpoint& source, Match quality, LatchState state,
                     const PacketFacts& packet) noexcept {
    probation_ = {};
    learned_ = source;
    quality_ = quality;
    state_ = state;
    have_rtp_ = false;
    remember(packet);
    return Verdict::learned;
}

Verdict Latch::on_packet(const Endpoint& source, const PacketFacts& packet, uint64_t now_ms,
                         const Latch* rtp) noexcept {
    if (policy_.asymmetric || policy_.learning == LearningMode::off) {
        // Nothing is learned. Strict: only the signalled endpoint may send.
        if (policy_.strict_source && !(expected_usable_ && source == expected_))
            return Verdict::foreign;
        return Verdict::accept;
    }
    // Port 0 can be received from but never sent to: such a source can never be learned.
    if (source.port() == 0) return Verdict::not_learnable;

    bool window_open = now_ms < window_end_ms_;
    if (state_ == LatchState::learning && !window_open) state_ = LatchState::confirmed;
    if (state_ != LatchState::unlearned && source == learned_) {
        remember(packet);
        return Verdict::accept;
    }
    if (!packet.can_teach) return Verdict::not_learnable;
    Match quality = match(source);
    // RTCP goes where its RTP stream has proven the phone to be, in the window or after it:
    // phones start their reports seconds into the call, and some send from another address
    // than their SDP names. A stranger would need the phone's own address.
    if (rtp != nullptr && !policy_.strict_source && !policy_.media_handover &&
        follows_rtp(source, *rtp)) {
        return learn(source, std::max(quality, Match::address), LatchState::confirmed, packet);
    }

    if (policy_.media_handover) return learn(source, quality, LatchState::confirmed, packet);
    if (state_ == LatchState::confirmed) {
        // A NAT rebinding: the same stream, from a new port of the same address.
        if (!policy_.strict_source && continues_stream(source, packet)) {
            return learn(source, quality_, LatchState::confirmed, packet);
        }
        return Verdict::foreign;
    }
    if (policy_.learning == LearningMode::immediate) {
        if (policy_.strict_source && quality < Match::address) return Verdict::foreign;
        return learn(source, quality, LatchState::confirmed, packet);
    }
    if (!window_open) {
        // Nothing was learned in the window (a late sender): only a source on the signalled
        // address may still teach, so a stranger cannot claim an idle stream.
        if (quality < Match::address) return Verdict::foreign;
        return learn(source, quality, LatchState::confirmed, packet);
    }
    if (policy_.strict_source && quality < Match::address) return Verdict::foreign;
    if (quality == Match::any && quality_ == Match::none) {
        // Nothing learned yet, and a stranger: see kProofPackets. RTCP waits for its RTP.
        if (rtp != nullptr || !prove(source, packet, now_ms)) return Verdict::unproven;
        return learn(source, quality, LatchState::learning, packet);
    }
    if (quality > quality_) {
        return learn(source, quality,
                     quality == Match::exact ? LatchState::confirmed : LatchState::learning,
                     packet);
    }
    // A NAT that rebinds while the window is still open: the candidate's own stream moves.
    if (state_ == LatchState::learning && !policy_.strict_source &&
        continues_stream(source, packet)) {
        return learn(source, quality_, LatchState::learning, packet);
    }
    return Verdict::foreign;
}

}  // namespace latch
