// The simplified E-model. Any thread.
#include "e_model.hpp"

#include <algorithm>
#include <cmath>

namespace latch {

CodecImpairment codec_impairment(uint8_t payload_type) {
    switch (payload_type) {
        case 4:
            return {15, 16.1};  // G.723.1 at 6.3 kbit/s
        case 18:
            return {11, 19};  // G.729A with VAD
        default:
            return {0, 25.1};  // G.711 with concealment
    }
}

double effective_delay_ms(const Impairments& in) {
    return std::max(0.0, in.rtt_ms) / 2 + 2 * std::max(0.0, in.jitter_ms) + 20;
}

double r_factor(const Impairments& in) {
    double d = effective_delay_ms(in);
    // Id as Cole and Rosenbluth fitted G.107's delay impairment: a slope, and a steeper one
    // past 177.3 ms.
    double id = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0);
    double loss = std::clamp(in.loss_percent, 0.0, 100.0);
    const CodecImpairment& c = in.codec;
    double ie_eff = c.ie + (95 - c.ie) * loss / (loss + c.bpl);
    return std::clamp(93.2 - id - ie_eff, 0.0, 100.0);
}

double mos_from_r(double r) {
    if (r <= 0) return 1;
    if (r >= 100) return 4.5;
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
}

unsigned mos_x10(const Impairments& in) {
    return static_cast<unsigned>(std::lround(mos_from_r(r_factor(in)) * 10));
}

}  // namespace latch
