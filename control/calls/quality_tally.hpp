// QualityTally: how the streams of ended calls sounded, as histograms (MOS, loss, jitter) a
// dashboard shows as distributions. A call observer; control thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "call_events.hpp"

namespace latch {

struct Histogram {
    std::vector<double> bounds;    // upper bounds, ascending; +Inf implied after the last
    std::vector<uint64_t> counts;  // per bucket (not cumulative), bounds.size() + 1 of them
    double sum = 0;
    uint64_t count = 0;

    explicit Histogram(std::vector<double> upper_bounds);
    void observe(double value);
};

struct QualityHistograms {
    Histogram mos{{1.5, 2, 2.5, 3, 3.5, 3.8, 4, 4.2, 4.3, 4.4}};
    Histogram loss_percent{{0, 0.1, 0.5, 1, 2, 5, 10, 20}};
    Histogram jitter_ms{{1, 2, 5, 10, 20, 30, 50, 100}};
};

class QualityTally final : public CallObserver {
  public:
    // Each RTP stream that carried packets: its average MOS (when it was rated), its loss over
    // the call and its highest jitter.
    void call_ended(const Call& call, const SessionSnapshot& final, CallEnd why) override;
    const QualityHistograms& histograms() const { return histograms_; }

  private:
    QualityHistograms histograms_;
};

}  // namespace latch
