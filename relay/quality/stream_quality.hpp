// StreamQuality: what one flow's incoming RTP says about its stream, measured as it passes:
// RFC 3550 sequence accounting (appendix A.1), interarrival jitter (A.8), duplicates,
// reordering and the longest gap. The owning worker's thread; on_rtp() is on the packet path:
// no allocation, no division, a few integer operations on state the flow owns.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

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
    int64_t rtt_us = -1;  // -1: unknown
    uint64_t at_ms = 0;   // monotonic (uv_now) time it was taken
};

// The samples of a call: their sums (for averages), the lowest and the highest.
struct MosSummary {
    uint32_t samples = 0;
    uint64_t mos_x10 = 0;
    uint64_t loss_ppm = 0;
    uint64_t jitter_us = 0;
    uint64_t rtt_us = 0;
    uint32_t rtt_samples = 0;  // samples with a round-trip time
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

    // Loss in parts per million of expected (0 without packets).
    uint32_t loss_ppm() const;
};

class StreamQuality {
  public:
    // The bytes from the object's start that an RTP packet touches (see prefetch_flow()).
    static constexpr std::size_t kHotBytes = 120;

    void set_clock_rates(const ClockRates& rates) noexcept {
        rates_ = rates;
        rate_type_ = -1;  // the next packet's type is timed
        rate_ = 0;
    }
    // One accepted RTP packet, with its arrival time (monotonic nanoseconds).
    void on_rtp(uint32_t ssrc, uint16_t seq, uint32_t timestamp, uint8_t payload_type,
                uint64_t arrival_ns) noexcept;
    QualityFigures figures() const;
    // Takes a MOS sample over what arrived since the last one, if anything did and the last
    // is at least `min_interval_ms` old. `rtt_us`: the round-trip time known now, or -1.
    // The worker's thread, off the packet path.
    void sample(uint64_t now_ms, uint64_t min_interval_ms, int64_t rtt_us);

  private:
    // RFC 3550 A.1's limits: a jump forward beyond kMaxDropout, or back beyond kMaxMisorder,
    // is a restart if the next packet follows it.
    static constexpr uint32_t kMaxDropout = 3000;
    static constexpr uint32_t kMaxMisorder = 100;
    static constexpr uint32_t kWindow = 64;          // sequence numbers remembered for duplicates
    static constexpr uint32_t kNoBadSeq = 1U << 16;  // no sequence number is this

    void start(uint32_t ssrc, uint16_t seq) noexcept;
    void fold() noexcept;  // the current run's counts into the call's, before a restart
    void jitter(uint32_t timestamp, uint8_t payload_type, uint64_t arrival_ns) noexcept;

    // What an RTP packet reads and writes, first and together (two cache lines): the current
    // run (one SSRC, sequence numbers without a restart), the counts over the call, and the
    // jitter (in nanoseconds times 16: RFC 3550 A.8's scaled form).
    uint32_t ssrc_ = 0;
    uint16_t max_seq_ = 0;
    bool started_ = false;
    bool have_last_ = false;  // a timed packet to measure the next against
    uint32_t bad_seq_ = kNoBadSeq;
    int32_t rate_type_ = -1;  // the payload type timed; -1: none yet
    int64_t cycles_ = 0;      // sequence wraps, times 65536
    int64_t base_seq_ = 0;    // the run's first extended sequence number
    uint64_t run_received_ = 0;
    uint64_t seen_ = 0;  // bit i: max_seq_ - i arrived
    uint64_t duplicates_ = 0;
    uint64_t reordered_ = 0;
    uint32_t longest_gap_ = 0;
    uint32_t last_timestamp_ = 0;
    uint64_t last_arrival_ns_ = 0;  // any packet's, for the silences
    uint64_t longest_silence_ns_ = 0;
    uint64_t ns_per_tick_q16_ = 0;  // 1e9 / rate, as a 16.16 fixed-point number
    uint64_t last_timed_ns_ = 0;
    uint64_t jitter_q4_ = 0;
    uint64_t max_jitter_q4_ = 0;
    // Read at restarts, signalling and reports.
    uint32_t rate_ = 0;
    uint32_t restarts_ = 0;
    uint64_t past_expected_ = 0;  // earlier runs
    uint64_t past_received_ = 0;
    ClockRates rates_;
    MosSummary mos_;
    uint64_t sampled_at_ms_ = 0;
    uint64_t sampled_expected_ = 0;
    uint64_t sampled_received_ = 0;
};

}  // namespace latch
