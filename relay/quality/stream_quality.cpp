// RFC 3550's sequence accounting and jitter for one stream. The owning worker's thread.
#include "stream_quality.hpp"

#include "e_model.hpp"

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

void ClockRates::merge(const ClockRates& other) noexcept {
    for (uint8_t i = 0; i < other.count_; ++i) set(other.types_[i], other.rates_[i]);
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

void MosSummary::add(const MosSample& s) {
    if (samples == 0 || s.mos_x10 < lowest.mos_x10) lowest = s;
    if (samples == 0 || s.mos_x10 > highest.mos_x10) highest = s;
    ++samples;
    mos_x10 += s.mos_x10;
    loss_ppm += s.loss_ppm;
    jitter_us += s.jitter_us;
    if (s.rtt_us >= 0) {
        rtt_us += static_cast<uint64_t>(s.rtt_us);
        ++rtt_samples;
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
    if (rate_type_ < 0) {
        // The stream's first payload type with a media clock is the one timed, until the next
        // signalling: telephone events and comfort noise between its packets leave it alone.
        uint32_t rate = rates_.rate_of(payload_type);
        if (rate < 1000) return;
        rate_type_ = payload_type;
        rate_ = rate;
        ns_per_tick_q16_ = (uint64_t{1'000'000'000} << 16) / rate;  // once per signalling
        have_last_ = false;
    }
    if (payload_type != rate_type_) return;
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
    f.payload_type = rate_type_ < 0 ? 0 : static_cast<uint8_t>(rate_type_);
    f.restarts = restarts_;
    f.mos = mos_;
    return f;
}

void StreamQuality::sample(uint64_t now_ms, uint64_t min_interval_ms, int64_t rtt_us) {
    if (!started_ || now_ms - sampled_at_ms_ < min_interval_ms) return;
    QualityFigures now = figures();
    if (now.received == sampled_received_) return;  // nothing arrived: nothing to rate
    uint64_t expected = now.expected > sampled_expected_ ? now.expected - sampled_expected_ : 0;
    uint64_t received = now.received - sampled_received_;
    uint64_t lost = expected > received ? expected - received : 0;
    MosSample s;
    s.loss_ppm = expected ? static_cast<uint32_t>(lost * 1'000'000 / expected) : 0;
    s.jitter_us = now.jitter_us;
    s.rtt_us = rtt_us;
    s.at_ms = now_ms;
    Impairments in;
    in.loss_percent = static_cast<double>(s.loss_ppm) / 10'000;
    in.jitter_ms = static_cast<double>(s.jitter_us) / 1000;
    in.rtt_ms = rtt_us < 0 ? -1 : static_cast<double>(rtt_us) / 1000;
    in.codec = codec_impairment(now.payload_type);
    s.mos_x10 = mos_x10(in);
    mos_.add(s);
    sampled_at_ms_ = now_ms;
    sampled_expected_ = now.expected;
    sampled_received_ = now.received;
}

}  // namespace latch
