// Histograms of ended calls' stream quality. Control thread.
#include "quality_tally.hpp"

#include <algorithm>

namespace latch {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds(std::move(upper_bounds)), counts(bounds.size() + 1, 0) {}

void Histogram::observe(double value) {
    auto bucket = std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin();
    ++counts[static_cast<std::size_t>(bucket)];
    sum += value;
    ++count;
}

void QualityTally::call_ended(const Call&, const SessionSnapshot& final, CallEnd) {
    for (const MediaSnapshot& m : final.media) {
        if (m.transport != Transport::rtp) continue;
        for (const auto& leg : m.flows) {
            const QualityFigures& q = leg[0].quality;
            if (q.expected == 0) continue;
            if (q.mos.samples) histograms_.mos.observe(q.mos.average_mos_x10() / 10.0);
            histograms_.loss_percent.observe(q.loss_ppm() / 10'000.0);
            histograms_.jitter_ms.observe(q.max_jitter_us / 1000.0);
        }
    }
}

}  // namespace latch
