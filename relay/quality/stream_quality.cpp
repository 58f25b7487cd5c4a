// RFC 3550's sequence accounting and jitter for one stream. The owning worker's thread.
#include "stream_quality.hpp"

#include "e_model.hpp"

#include <cstring>

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
    if (s.leg_rtt_us >= 0) {
        leg_rtt_us += static_cast<uint64_t>(s.leg_rtt_us);
        ++leg_rtt_samples;
    }
}

uint32_t QualityFigures::loss_ppm() const {
    return expected == 0 ? 0 : static_cast<uint32_t>(lost * 1'000'000 / expected);
}

StreamQuality::StreamQuality() {
    std::memset(&state_, 0, sizeof state_);
    state_.bad_seq = LATCH_NO_BAD_SEQ;
    state_.timed_type = -1;
}

void StreamQuality::set_clock_rates(const ClockRates& rates) noexcept {
    rates_ = rates;
    // The next packet's type is the one timed: new signalling may have changed the codec.
    state_.timed_type = -1;
    state_.ns_per_tick_q16 = 0;
    untimed_type_ = -1;
    rate_ = 0;
}

void StreamQuality::choose_timed(uint8_t payload_type) noexcept {
    // The stream's first payload type with a media clock is the one timed, until the next
    // signalling: telephone events and comfort noise between its packets leave it alone.
    uint32_t rate = rates_.rate_of(payload_type);
    if (rate < 1000) {
        untimed_type_ = payload_type;
        return;
    }
    state_.timed_type = payload_type;
    state_.ns_per_tick_q16 = (uint64_t{1'000'000'000} << 16) / rate;
    state_.have_last = 0;
    rate_ = rate;
}

QualityFigures figures_of(const latch_rtp_quality& q, uint32_t clock_rate) {
    QualityFigures f;
    if (!q.started) return f;
    f.ssrc = q.ssrc;
    f.expected = q.past_expected + latch_quality_run_expected(&q);
    f.received = q.past_received + q.run_received;
    f.lost = f.expected > f.received ? f.expected - f.received : 0;
    f.duplicates = q.duplicates;
    f.reordered = q.reordered;
    f.longest_gap = q.longest_gap;
    f.longest_silence_ms = static_cast<uint32_t>(q.longest_silence_ns / 1'000'000);
    f.jitter_us = static_cast<uint32_t>((q.jitter_q4 >> 4) / 1000);
    f.max_jitter_us = static_cast<uint32_t>((q.max_jitter_q4 >> 4) / 1000);
    if (q.timed_type >= 0 && q.ns_per_tick_q16 != 0) {
        f.clock_rate = clock_rate;
        f.payload_type = static_cast<uint8_t>(q.timed_type);
    }
    f.restarts = q.restarts;
    return f;
}

QualityFigures StreamQuality::figures(const latch_rtp_quality* later) const {
    QualityFigures f;
    if (later != nullptr && later->started) {
        latch_rtp_quality both = state_;
        latch_quality_absorb(&both, later);
        f = figures_of(both, rate_);
    } else {
        f = figures_of(state_, rate_);
    }
    f.mos = mos_;
    f.party_rtt_us = party_rtt_us();
    if (party_rtt_samples_ != 0) {
        f.party_rtt_average_us =
            static_cast<int64_t>(party_rtt_sum_ns_ / party_rtt_samples_ / 1000);
        f.party_rtt_samples = party_rtt_samples_;
    }
    f.reports = reports_;
    f.reported_fraction_lost = reported_.fraction_lost;
    f.reported_cumulative_lost = reported_.cumulative_lost;
    if (rate_ != 0)
        f.reported_jitter_us =
            static_cast<uint32_t>(uint64_t{reported_.jitter} * 1'000'000 / rate_);
    return f;
}

void StreamQuality::on_sender_report(uint32_t ntp_middle, uint64_t arrival_ns) noexcept {
    sr_ntp_[sr_next_] = ntp_middle;
    sr_at_[sr_next_] = arrival_ns;
    sr_next_ = (sr_next_ + 1) % kSenderReports;
}

uint64_t StreamQuality::sender_report_at(uint32_t lsr) const noexcept {
    for (std::size_t i = 0; i < kSenderReports; ++i) {
        if (sr_at_[i] != 0 && sr_ntp_[i] == lsr) return sr_at_[i];
    }
    return 0;
}

latch_rtp_quality StreamQuality::seed() const {
    latch_rtp_quality s;
    latch_quality_seed(&s, &state_);
    return s;
}

void StreamQuality::sample(uint64_t now_ms, uint64_t min_interval_ms, int64_t rtt_us,
                           const latch_rtp_quality* later) {
    if (now_ms - sampled_at_ms_ < min_interval_ms) return;
    QualityFigures now = figures(later);
    if (now.ssrc == 0 && now.received == 0) return;  // no RTP yet
    if (now.received == sampled_received_) return;   // nothing arrived: nothing to rate
    uint64_t expected = now.expected > sampled_expected_ ? now.expected - sampled_expected_ : 0;
    uint64_t received = now.received - sampled_received_;
    // A rating over a handful of packets says little; the last one of a call is taken anyway.
    if (min_interval_ms != 0 && expected < kMinSamplePackets) return;
    uint64_t lost = expected > received ? expected - received : 0;
    MosSample s;
    s.loss_ppm = expected ? static_cast<uint32_t>(lost * 1'000'000 / expected) : 0;
    s.jitter_us = now.jitter_us;
    s.rtt_us = rtt_us;
    s.leg_rtt_us = party_rtt_us();
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
