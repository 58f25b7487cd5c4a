// RFC 3550's sequence accounting and jitter for one stream. The owning worker's thread.
#include "stream_quality.hpp"

namespace latch {

bool ClockRates::set(uint8_t payload_type, uint32_t rate) noexcept {
    for (uint8_t i = 0; i < count_; ++i) {
        if (types_[i] == payload_type) {
            rates_[i] = rate;
            return true;
        }
    }
    if (count_ == kMax) return false;
    types_[count_] = payload_type;
    rates_[count_] = rate;
    ++count_;
    return true;
}

uint32_t ClockRates::rate_of(uint8_t payload_type) const noexcept {
    for (uint8_t i = 0; i < count_; ++i) {
        if (types_[i] == payload_type) return rates_[i];
    }
    return static_clock_rate(payload_type);
}

bool ClockRates::operator==(const ClockRates& other) const {
    if (count_ != other.count_) return false;
    for (uint8_t i = 0; i < count_; ++i) {
        if (types_[i] != other.types_[i] || rates_[i] != other.rates_[i]) return false;
    }
    return true;
}

uint32_t static_clock_rate(uint8_t payload_type) noexcept {
    switch (payload_type) {
        case 0:
        case 3:
        case 4:
        case 5:
        case 7:
        case 8:
        case 9:
        case 12:
        case 13:
        case 15:
        case 18:
            return 8000;  // G.722's RTP clock is 8,000 too (RFC 3551 4.5.2)
        case 6:
            return 16000;
        case 10:
        case 11:
            return 44100;
        case 16:
            return 11025;
        case 17:
            return 22050;
        case 14:
        case 25:
        case 26:
        case 28:
        case 31:
        case 32:
        case 33:
        case 34:
            return 90000;
        default:
            return 0;
    }
}

uint32_t QualityFigures::loss_ppm() const {
    return expected == 0 ? 0 : static_cast<uint32_t>(lost * 1'000'000 / expected);
}

void StreamQuality::start(uint32_t ssrc, uint16_t seq) noexcept {
    started_ = true;
    ssrc_ = ssrc;
    max_seq_ = seq;
    cycles_ = 0;
    base_seq_ = seq;
    bad_seq_ = kNoBadSeq;
    run_received_ = 1;
    seen_ = 1;
    have_last_ = false;  // another source's clock: jitter starts again from here
}

void StreamQuality::fold() noexcept {
    past_expected_ += static_cast<uint64_t>(cycles_ + max_seq_ - base_seq_ + 1);
    past_received_ += run_received_;
}

void StreamQuality::on_rtp(uint32_t ssrc, uint16_t seq, uint32_t timestamp, uint8_t payload_type,
                           uint64_t arrival_ns) noexcept {
    if (last_arrival_ns_ != 0 && arrival_ns > last_arrival_ns_ &&
        arrival_ns - last_arrival_ns_ > longest_silence_ns_)
        longest_silence_ns_ = arrival_ns - last_arrival_ns_;
    last_arrival_ns_ = arrival_ns;

    if (!started_ || ssrc != ssrc_) {
        if (started_) {
            fold();
            ++restarts_;
        }
        start(ssrc, seq);
        jitter(timestamp, payload_type, arrival_ns);
        return;
    }
    auto ahead = static_cast<uint16_t>(seq - max_seq_);
    if (ahead == 0) {
        ++duplicates_;
        return;
    }
    if (ahead < kMaxDropout) {
        if (seq < max_seq_) cycles_ += 65536;
        max_seq_ = seq;
        seen_ = ahead >= kWindow ? 1 : (seen_ << ahead) | 1;
        if (ahead - 1U > longest_gap_) longest_gap_ = ahead - 1U;
        ++run_received_;
        bad_seq_ = kNoBadSeq;
    } else if (ahead <= 65536 - kMaxMisorder) {
        // A jump: a restart of the sender only if the next packet follows on from it.
        if (seq != bad_seq_) {
            bad_seq_ = (seq + 1U) & 0xffffU;
            return;
        }
        // The run starts at the packet before, which is counted now.
        fold();
        ++restarts_;
        start(ssrc, static_cast<uint16_t>(seq - 1U));
        max_seq_ = seq;
        if (seq == 0) cycles_ = 65536;
        seen_ = 3;
        run_received_ = 2;
    } else {
        // Behind the newest: late, or a duplicate of one the window remembers.
        auto back = static_cast<uint16_t>(max_seq_ - seq);
        if (back < kWindow) {
            uint64_t bit = uint64_t{1} << back;
            if (seen_ & bit) {
                ++duplicates_;
                return;
            }
            seen_ |= bit;
        }
        ++reordered_;
        ++run_received_;
        // Before the run's first packet (which was itself late): the run starts earlier.
        int64_t extended = cycles_ + seq - (seq > max_seq_ ? 65536 : 0);
        if (extended < base_seq_) base_seq_ = extended;
    }
    jitter(timestamp, payload_type, arrival_ns);
}

void StreamQuality::jitter(uint32_t timestamp, uint8_t payload_type, uint64_t arrival_ns) noexcept {
    if (payload_type != rate_type_) {
        // A division only when the payload type changes.
        rate_type_ = payload_type;
        rate_ = rates_.rate_of(payload_type);
        if (rate_ < 1000) rate_ = 0;  // not a media clock: no jitter
        ns_per_tick_q16_ = rate_ ? (uint64_t{1'000'000'000} << 16) / rate_ : 0;
        have_last_ = false;
    }
    if (rate_ == 0) return;
    if (have_last_) {
        auto ticks = static_cast<int64_t>(static_cast<int32_t>(timestamp - last_timestamp_));
        // Beyond 2^24 ticks (over 3 minutes at 90 kHz) the timestamps jumped: a new baseline.
        if (ticks > -(int64_t{1} << 24) && ticks < (int64_t{1} << 24)) {
            int64_t media_ns = ticks * static_cast<int64_t>(ns_per_tick_q16_) / 65536;
            int64_t d = static_cast<int64_t>(arrival_ns - last_timed_ns_) - media_ns;
            auto abs_d = static_cast<uint64_t>(d < 0 ? -d : d);
            // J += (|D| - J) / 16, with J kept times 16 (RFC 3550 A.8).
            jitter_q4_ = jitter_q4_ + abs_d - ((jitter_q4_ + 8) >> 4);
            if (jitter_q4_ > max_jitter_q4_) max_jitter_q4_ = jitter_q4_;
        }
    }
    have_last_ = true;
    last_timestamp_ = timestamp;
    last_timed_ns_ = arrival_ns;
}

QualityFigures StreamQuality::figures() const {
    QualityFigures f;
    if (!started_) return f;
    f.ssrc = ssrc_;
    f.expected = past_expected_ + static_cast<uint64_t>(cycles_ + max_seq_ - base_seq_ + 1);
    f.received = past_received_ + run_received_;
    f.lost = f.expected > f.received ? f.expected - f.received : 0;
    f.duplicates = duplicates_;
    f.reordered = reordered_;
    f.longest_gap = longest_gap_;
    f.longest_silence_ms = static_cast<uint32_t>(longest_silence_ns_ / 1'000'000);
    f.jitter_us = static_cast<uint32_t>((jitter_q4_ >> 4) / 1000);
    f.max_jitter_us = static_cast<uint32_t>((max_jitter_q4_ >> 4) / 1000);
    f.clock_rate = rate_;
    f.restarts = restarts_;
    return f;
}

}  // namespace latch
