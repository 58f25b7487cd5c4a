// Prometheus metrics over HTTP (prometheus-cpp). The control thread publishes a snapshot of the
// relay's counters about once a second; the exporter's HTTP thread renders the latest one on
// each scrape. The snapshot is the only shared state, behind a mutex no packet ever touches.
#pragma once

#include <prometheus/metric_family.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "control_counters.hpp"
#include "endpoint.hpp"
#include "quality_tally.hpp"
#include "relay_types.hpp"

namespace prometheus {
class Exposer;
}

namespace latch {

struct MetricsSnapshot {
    std::vector<WorkerStats> workers;
    uint64_t calls = 0;
    ControlReport control;
    QualityHistograms quality;  // of ended calls' streams
};

// The metric families for one snapshot (pure; what a scrape returns).
std::vector<prometheus::MetricFamily> metric_families(const MetricsSnapshot& snapshot);

class MetricsExporter {
  public:
    // Serves GET /metrics on `listen`. Throws std::runtime_error when it cannot.
    explicit MetricsExporter(const Endpoint& listen);
    ~MetricsExporter();
    MetricsExporter(const MetricsExporter&) = delete;
    MetricsExporter& operator=(const MetricsExporter&) = delete;

    void publish(MetricsSnapshot snapshot);  // control thread
    uint16_t port() const;                   // the bound port (when 0 was asked for)

  private:
    class Collector;
    std::shared_ptr<Collector> collector_;
    std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace latch
