// StreamQuality: what one flow's incoming RTP says about its stream, measured as it passes
// (bpf/latch_quality.h, which the kernel path shares), the clock rates it needs, and its MOS
// samples. The owning worker's thread; on_rtp() is on the packet path: no allocation, no
// division, a few integer operations on state the flow owns.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "latch_quality.h"
#include "rtcp_reports.hpp"

namespace latch {

// The clock rates of a stream's payload types: its SDP's rtpmap lines, then the static types
// of RFC 3551. A handful of entries: the codecs an offer lists first.
class ClockRates {
  public:
    static constexpr std::size_t kMax = 8;
    // Adds or replaces `payload_type`'s rate; false when the table is full.
    bool set(uint8_t payload_type, uint32_t rate) noexcept;
    // 0: unknown.
    uint32_t rate_of(uint8_t payload_type) const noexcept;
    std::size_t size() const { return count_; }
    // Adds `other`'s entries (where there is room), its rates winning.
    void merge(const ClockRates& other) noexcept;
    // Calls f(payload type, rate) for each entry.
    template <typename F>
    void for_each(F&& f) const {
        for (uint8_t i = 0; i < count_; ++i) f(types_[i], rates_[i]);
    }
    bool operator==(const ClockRates& other) const;

  private:
    std::array<uint8_t, kMax> types_{};
    std::array<uint32_t, kMax> rates_{};
    uint8_t count_ = 0;
};

// RFC 3551's static payload types (0 PCMU ... 34 H263); 0 for the dynamic and unassigned ones.
uint32_t static_clock_rate(uint8_t payload_type) noexcept;

// One MOS estimate: the E-model over an interval's loss, the jitter and round-trip time then.
struct MosSample {
    unsigned mos_x10 = 0;   // 44 is 4.4
    uint32_t loss_ppm = 0;  // of the interval's expected packets
    uint32_t jitter_us = 0;
    int64_t rtt_us = -1;      // end to end (the relay's to both parties); -1: unknown
    int64_t leg_rtt_us = -1;  // the relay's to the stream's sender; -1: unknown
    uint64_t at_ms = 0;       // monotonic (uv_now) time it was taken
};

// The samples of a call: their sums (for averages), the lowest and the highest.
struct MosSummary {
    uint32_t samples = 0;
    uint64_t mos_x10 = 0;
    uint64_t loss_ppm = 0;
    uint64_t jitter_us = 0;
    uint64_t rtt_us = 0;
    uint32_t rtt_samples = 0;  // samples with a round-trip time
    uint64_t leg_rtt_us = 0;
    uint32_t leg_rtt_samples = 0;
    MosSample lowest;
    MosSample highest;

    void add(const MosSample& s);
    unsigned average_mos_x10() const {
        return samples ? static_cast<unsigned>((mos_x10 + samples / 2) / samples) : 0;
    }
};

// A stream's figures over the call so far (every SSRC it had).
struct QualityFigures {
    uint32_t ssrc = 0;                // the current one; 0: no RTP seen
    uint64_t expected = 0;            // from the extended sequence numbers, RFC 3550 A.3
    uint64_t received = 0;            // distinct packets (duplicates not counted)
    uint64_t lost = 0;                // expected - received, never below 0
    uint64_t duplicates = 0;          // a sequence number seen again within the last 64
    uint64_t reordered = 0;           // arrived after a later sequence number
    uint32_t longest_gap = 0;         // most sequence numbers skipped by one packet
    uint32_t longest_silence_ms = 0;  // longest time between two packets
    uint32_t jitter_us = 0;           // RFC 3550 interarrival jitter now, in microseconds
    uint32_t max_jitter_us = 0;       // its highest value over the call
    uint32_t clock_rate = 0;          // of the last packet's payload type; 0: unknown, no jitter
    uint32_t restarts = 0;            // a new SSRC, or a sequence jump the stream then kept to
    uint8_t payload_type = 0;         // the one jitter is measured on (valid with clock_rate)
    MosSummary mos;
    // From RTCP: the round trip between the relay and this stream's sender (its SRs echoed
    // back by the other party, and its own reports echoing the other's), and what the
    // receiving party last reported about the stream.
    int64_t party_rtt_us = -1;          // the last one; -1: not measured
    int64_t party_rtt_average_us = -1;  // over the call
    uint32_t party_rtt_samples = 0;
    uint32_t reports = 0;                // report blocks about the stream
    uint8_t reported_fraction_lost = 0;  // of 256
    int32_t reported_cumulative_lost = 0;
    uint32_t reported_jitter_us = 0;  // 0 without the clock rate

    // Loss in parts per million of expected (0 without packets).
    uint32_t loss_ppm() const;
};

// The figures of a stream's state (see latch_quality.h), with its clock rate.
QualityFigures figures_of(const latch_rtp_quality& q, uint32_t clock_rate);

class StreamQuality {
  public:
    // The bytes from the object's start that an RTP packet touches (see prefetch_flow()).
    static constexpr std::size_t kHotBytes = sizeof(latch_rtp_quality);

    StreamQuality();
    void set_clock_rates(const ClockRates& rates) noexcept;
    // One accepted RTP packet, with its arrival time (monotonic nanoseconds).
    void on_rtp(uint32_t ssrc, uint16_t seq, uint32_t timestamp, uint8_t payload_type,
                uint64_t arrival_ns) noexcept {
        if (state_.timed_type < 0 && payload_type != untimed_type_) choose_timed(payload_type);
        latch_quality_on_rtp(&state_, ssrc, seq, timestamp, payload_type, arrival_ns);
    }
    // The stream's figures; with `later`, as if what the kernel path measured since it took the
    // stream over (from seed()) had been measured here.
    QualityFigures figures(const latch_rtp_quality* later = nullptr) const;
    // Takes a MOS sample over what arrived since the last one, if the last is at least
    // `min_interval_ms` old and kMinSamplePackets were expected since (any number with 0).
    // `rtt_us`: the round-trip time known now, or -1. The worker's thread, off the packet path.
    void sample(uint64_t now_ms, uint64_t min_interval_ms, int64_t rtt_us,
                const latch_rtp_quality* later = nullptr);

    // Handing the stream to the kernel path and back: what its state there starts from, and
    // taking what it measured in for good.
    latch_rtp_quality seed() const;
    void absorb(const latch_rtp_quality& later) noexcept { latch_quality_absorb(&state_, &later); }

    // RTCP, as it passes (the packet path). The stream's sender sent a sender report.
    void on_sender_report(uint32_t ntp_middle, uint64_t arrival_ns) noexcept;
    // When the sender report whose NTP middle bits are `lsr` passed; 0: not remembered.
    uint64_t sender_report_at(uint32_t lsr) const noexcept;
    // The receiving party reported on the stream.
    void on_receiver_report(const RtcpReportBlock& block) noexcept {
        reported_ = block;
        ++reports_;
    }
    // A round trip between the relay and the stream's sender was measured.
    void on_party_rtt(uint64_t rtt_ns) noexcept {
        party_rtt_ns_ = rtt_ns;
        party_rtt_sum_ns_ += rtt_ns;
        ++party_rtt_samples_;
    }
    uint32_t ssrc() const { return state_.ssrc; }  // the current one; 0: none yet
    // -1: none measured.
    int64_t party_rtt_us() const {
        return party_rtt_ns_ ? static_cast<int64_t>(party_rtt_ns_ / 1000) : -1;
    }

  private:
    static constexpr uint64_t kMinSamplePackets = 50;  // a second of 20 ms packets

    void choose_timed(uint8_t payload_type) noexcept;

    latch_rtp_quality state_;  // first: what every packet reads and writes
    int untimed_type_ = -1;    // a payload type found without a clock (not looked up again)
    uint32_t rate_ = 0;        // the timed type's clock rate
    ClockRates rates_;
    MosSummary mos_;
    uint64_t sampled_at_ms_ = 0;
    uint64_t sampled_expected_ = 0;
    uint64_t sampled_received_ = 0;
    // RTCP: the sender's last few SRs (a receiver echoes the last it got, which may not be the
    // newest), the round trips, the last report about the stream.
    static constexpr std::size_t kSenderReports = 4;
    std::array<uint32_t, kSenderReports> sr_ntp_{};
    std::array<uint64_t, kSenderReports> sr_at_{};
    std::size_t sr_next_ = 0;
    uint64_t party_rtt_ns_ = 0;
    uint64_t party_rtt_sum_ns_ = 0;
    uint32_t party_rtt_samples_ = 0;
    RtcpReportBlock reported_;
    uint32_t reports_ = 0;
};

}  // namespace latch
