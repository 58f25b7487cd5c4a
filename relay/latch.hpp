// Latch: which source a stream accepts media from and where the other leg's media goes, learned
// from the first valid packets after each signalling update (symmetric RTP), with the defences
// against media theft and injection ("RTP Bleed"). Owned by one worker thread; on_packet() runs
// on the packet path.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "endpoint.hpp"

namespace latch {

enum class LearningMode : uint8_t {
    heuristic,  // a window after signalling; the best match of the signalled address wins
    immediate,  // the first valid packet after signalling is learned and locked at once
    off,        // never learn: send to the signalled address
};

struct LatchPolicy {
    LearningMode learning = LearningMode::heuristic;
    bool asymmetric = false;     // never learn; accept from anyone; send to the signalled address
    bool strict_source = false;  // accept only from the learned (or, unlearned, signalled) endpoint
    bool media_handover = false;  // UNSAFE: any new valid source takes the stream over at once
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
    unproven,       // from a source that may yet be learned once it has proven itself: drop
};

// The names the control protocols, the config and the records use: "heuristic", "immediate",
// "off"; "unlearned", "learning", "confirmed". Parsing an unknown name gives nothing.
const char* learning_mode_name(LearningMode mode);
std::optional<LearningMode> parse_learning_mode(std::string_view name);
const char* latch_state_name(LatchState state);
std::optional<LatchState> parse_latch_state(std::string_view name);

// What the packet path knows of a packet when it asks the latch.
struct PacketFacts {
    bool can_teach = false;  // valid for the transport, non-zero SSRC
    bool rtp = false;        // an RTP packet (ssrc and seq are meaningful)
    uint32_t ssrc = 0;
    uint16_t seq = 0;
    bool rtcp = false;  // an RTCP packet (on its own port or multiplexed)
};

class Latch {
  public:
    // A NAT that moves a stream to a new port keeps the address, the SSRC and the sequence:
    // a packet that continues the stream within this many sequence numbers from a new port of
    // the same address re-latches.
    static constexpr uint16_t kRebindSeqWindow = 100;

    // A signalling event: sets the expected address (unset or 0.0.0.0 when the SDP gives none)
    // and opens a learning window. A source learned before is kept as a candidate if the
    // signalled address did not change, so media keeps flowing across re-INVITEs.
    // `sip_source`: the address the party's SIP message came from (the ng "received-from"),
    // when known: a source there ranks with one on the signalled address.
    void reset(const Endpoint& expected, const LatchPolicy& policy, uint64_t now_ms,
               uint64_t window_ms, const Endpoint& sip_source = {});

    // A source on neither the signalled address nor the SIP source address is a stranger: it
    // is learned only once it has proven a steady stream (RTP packets of one SSRC, each a few
    // sequence numbers after the last, at least kProofPackets of them), and until then its
    // packets are dropped and media is not sent to it. How long the stream must last depends on
    // whether the phone itself may still come from its signalled address:
    // - a private signalled address (the phone is behind a NAT and never sends from it): the
    //   stranger is most likely the phone; kProofSpanMs (a burst proves nothing, a phone sends
    //   one packet every 10 to 60 ms);
    // - a routable or loopback address, or none yet: the phone's own packets are due any moment
    //   and win at once; the stranger must keep its stream up for kPatientProofMs (at most a
    //   third of the window), so that one spraying the call's ports from the answer on is
    //   displaced before it ever receives. A phone that really sends from elsewhere (bound to
    //   every address, multi-homed) loses that much at the start of its call.
    static constexpr uint8_t kProofPackets = 3;
    static constexpr uint64_t kProofSpanMs = 15;
    static constexpr uint64_t kPatientProofMs = 1000;
    static constexpr uint16_t kProofSeqStep = 4;
    static constexpr int kProbationSlots = 2;  // sources proving themselves at once
    // The bytes of a latch that an accepted packet reads (see the members' order).
    static constexpr std::size_t kHotBytes = 128;

    // `rtp` is the latch of the RTP stream this RTCP stream belongs to (nullptr for RTP
    // streams, rtcp-mux and other transports): RTCP from the address that its RTP stream
    // learned is learned too, whenever it starts, since that address is the phone's, proven.
    // After reset(): `source` as learned before (a call restored elsewhere), in `state`
    // (learning: a better match may still displace it in the window).
    void restore(const Endpoint& source, LatchState state) noexcept;

    Verdict on_packet(const Endpoint& source, const PacketFacts& packet, uint64_t now_ms,
                      const Latch* rtp = nullptr) noexcept;

    // A candidate whose window is over is locked (on_packet() does the same with the next
    // packet; the kernel path, which sees no packet in userspace, asks).
    void settle(uint64_t now_ms) noexcept {
        if (state_ == LatchState::learning && now_ms >= window_end_ms_)
            state_ = LatchState::confirmed;
    }
    // The learned source's stream stands at this SSRC and sequence number (its packets went by
    // the kernel path): what a NAT's rebinding must continue.
    void resume_stream(uint32_t ssrc, uint16_t seq) noexcept {
        if (state_ == LatchState::unlearned || ssrc == 0) return;
        have_rtp_ = true;
        last_ssrc_ = ssrc;
        last_seq_ = seq;
    }

    // Where media toward this stream's endpoint goes: the learned source, else the signalled
    // address, else nullptr (nothing to send to).
    const Endpoint* destination() const noexcept {
        if (state_ != LatchState::unlearned) return &learned_;
        return expected_usable_ ? &expected_ : nullptr;
    }

    Match match(const Endpoint& source) const noexcept;
    LatchState state() const { return state_; }
    const LatchPolicy& policy() const { return policy_; }
    const Endpoint& expected() const { return expected_; }
    const Endpoint& learned() const { return learned_; }  // unset while unlearned
    uint64_t window_end_ms() const { return window_end_ms_; }

  private:
    // One source proving itself: its stream so far.
    struct Probation {
        Endpoint source;
        uint64_t first_ms = 0;
        uint32_t ssrc = 0;
        uint16_t seq = 0;
        uint8_t packets = 0;  // 0: the slot is free
    };

    Verdict learn(const Endpoint& source, Match quality, LatchState state,
                  const PacketFacts& packet) noexcept;
    // Counts the packet toward its source's proof; true once the source has proven itself.
    bool prove(const Endpoint& source, const PacketFacts& packet, uint64_t now_ms) noexcept;
    // Whether RTCP from `source` follows what the RTP stream `rtp` learned.
    bool follows_rtp(const Endpoint& source, const Latch& rtp) const noexcept;
    void remember(const PacketFacts& packet) noexcept;
    bool continues_stream(const Endpoint& source, const PacketFacts& packet) const noexcept;

    // What every packet reads first (the learned source, the state, the policy, the stream),
    // then what only signalling and learning read.
    Endpoint learned_;
    LatchState state_ = LatchState::unlearned;
    Match quality_ = Match::none;
    bool expected_usable_ = false;
    bool have_rtp_ = false;  // last_ssrc_/last_seq_ hold the learned source's stream
    LatchPolicy policy_;
    uint16_t last_seq_ = 0;
    uint32_t last_ssrc_ = 0;
    uint64_t window_end_ms_ = 0;
    Endpoint expected_;
    uint64_t proof_span_ms_ = kProofSpanMs;  // how long a stranger's stream must last (see above)
    Endpoint sip_source_;                    // port 0; unset when unknown
    std::array<Probation, kProbationSlots> probation_{};
};

}  // namespace latch
