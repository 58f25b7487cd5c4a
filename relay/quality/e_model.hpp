// The E-model (ITU-T G.107) as simplified for VoIP monitoring: a transmission rating R from
// one-way delay and packet loss for a codec's equipment impairment, and the MOS estimate R
// maps to. Pure functions; any thread.
#pragma once

#include <cstdint>

namespace latch {

// A codec's equipment impairment Ie and its robustness to random loss Bpl (ITU-T G.113
// Appendix I).
struct CodecImpairment {
    double ie = 0;
    double bpl = 25.1;  // G.711 with packet loss concealment
};

// By RTP payload type: G.711 (0, 8), G.723.1 (4), G.729 (18); anything else is rated as
// G.711, the figure of a narrowband codec that conceals loss.
CodecImpairment codec_impairment(uint8_t payload_type);

struct Impairments {
    double loss_percent = 0;  // random packet loss
    double jitter_ms = 0;     // interarrival jitter: a jitter buffer of twice this adds delay
    double rtt_ms = -1;       // round-trip time; below 0: unknown, counted as none
    CodecImpairment codec;
};

// The one-way mouth-to-ear delay the model charges: half the round trip, a jitter buffer of
// twice the jitter, and one 20 ms frame of packetisation.
double effective_delay_ms(const Impairments& in);
// R: 93.2 (G.107's defaults) less the delay impairment Id and the effective equipment
// impairment Ie-eff; within 0..100.
double r_factor(const Impairments& in);
// G.107 Annex B: 1 below R 0, 4.5 above R 100, the cubic between.
double mos_from_r(double r);
// MOS times ten, rounded, as rtpengine reports it (4.4 is 44).
unsigned mos_x10(const Impairments& in);

}  // namespace latch
