// Prometheus metrics. publish(): control thread; Collect(): the exporter's HTTP thread.
#include "metrics.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <stdexcept>

namespace latch {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
    return MetricFamily{std::move(name), std::move(help), type, {}};
}

void add(MetricFamily& f, double value, std::vector<ClientMetric::Label> labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    if (f.type == MetricType::Counter) {
        m.counter.value = value;
    } else {
        m.gauge.value = value;
    }
    f.metric.push_back(std::move(m));
}

MetricFamily histogram(std::string name, std::string help, const Histogram& h) {
    MetricFamily f = family(std::move(name), std::move(help), MetricType::Histogram);
    ClientMetric m;
    m.histogram.sample_count = h.count;
    m.histogram.sample_sum = h.sum;
    uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
        cumulative += h.counts[i];
        ClientMetric::Bucket b;
        b.cumulative_count = cumulative;
        b.upper_bound = i < h.bounds.size() ? h.bounds[i] : std::numeric_limits<double>::infinity();
        m.histogram.bucket.push_back(b);
    }
    f.metric.push_back(std::move(m));
    return f;
}

}  // namespace

std::vector<MetricFamily> metric_families(const MetricsSnapshot& s) {
    const WorkerStats all = total(s.workers);
    const FlowCounters& totals = all.totals;
    auto sessions =
        family("latch_sessions", "Sessions (calls' media) active, per worker", MetricType::Gauge);
    auto pairs =
        family("latch_port_pairs", "Media port pairs of each worker's slice", MetricType::Gauge);
    auto pairs_free =
        family("latch_port_pairs_free", "Media port pairs free, per worker", MetricType::Gauge);
    for (const auto& w : s.workers) {
        std::vector<ClientMetric::Label> worker{{"worker", std::to_string(w.worker)}};
        add(sessions, static_cast<double>(w.sessions), worker);
        add(pairs, static_cast<double>(w.ports_capacity), worker);
        add(pairs_free, static_cast<double>(w.ports_available), worker);
    }
    std::vector<MetricFamily> out;
    auto single = [&out](std::string name, std::string help, MetricType type, double value) {
        auto f = family(std::move(name), std::move(help), type);
        add(f, value);
        out.push_back(std::move(f));
    };
    single("latch_calls", "Calls in the control plane's directory", MetricType::Gauge,
           static_cast<double>(s.calls));
    out.push_back(std::move(sessions));
    single("latch_streams", "Media streams of the active sessions", MetricType::Gauge,
           static_cast<double>(all.streams));
    single("latch_sessions_created_total", "Sessions created", MetricType::Counter,
           static_cast<double>(all.sessions_created));
    single("latch_sessions_timed_out_total", "Sessions ended by the idle timeout",
           MetricType::Counter, static_cast<double>(all.sessions_timed_out));
    single("latch_packets_received_total",
           "Datagrams received on media ports, dropped ones included", MetricType::Counter,
           static_cast<double>(totals.packets_in));
    single("latch_packets_relayed_total", "Datagrams relayed to the other leg", MetricType::Counter,
           static_cast<double>(totals.packets_out));
    single("latch_packets_kernel_total",
           "Datagrams the kernel path forwarded (part of received and relayed)",
           MetricType::Counter, static_cast<double>(totals.kernel_packets));
    single("latch_bytes_received_total", "Bytes received on media ports", MetricType::Counter,
           static_cast<double>(totals.bytes_in));
    single("latch_bytes_relayed_total", "Bytes relayed to the other leg", MetricType::Counter,
           static_cast<double>(totals.bytes_out));
    single("latch_sources_learned_total", "Media sources learned (latching events)",
           MetricType::Counter, static_cast<double>(totals.learned));
    auto drops =
        family("latch_packets_dropped_total", "Datagrams dropped, by reason", MetricType::Counter);
    for (std::size_t i = 0; i < kDropReasons; ++i) {
        add(drops, static_cast<double>(totals.drops[i]),
            {{"reason", std::string(drop_reason_name(static_cast<DropReason>(i)))}});
    }
    out.push_back(std::move(drops));
    out.push_back(std::move(pairs));
    out.push_back(std::move(pairs_free));
    auto commands =
        family("latch_control_commands_total",
               "Control commands answered, by protocol (ng, rtpproxy), command and result",
               MetricType::Counter);
    auto datagrams =
        family("latch_control_requests_total",
               "Control requests by protocol and by what became of them", MetricType::Counter);
    for (const ProtocolCounters& p : s.control.protocols) {
        for (const auto& [command, results] : p.commands) {
            for (const auto& [result, n] : results) {
                add(commands, static_cast<double>(n),
                    {{"protocol", p.protocol}, {"command", command}, {"result", result}});
            }
        }
        for_each_counter(p.listener, [&](std::string outcome, uint64_t n) {
            std::replace(outcome.begin(), outcome.end(), ' ', '-');
            add(datagrams, static_cast<double>(n),
                {{"protocol", p.protocol}, {"outcome", outcome}});
        });
    }
    out.push_back(std::move(commands));
    out.push_back(std::move(datagrams));
    single("latch_stopped_exceptions_total",
           "Failures stopped at the edge of a callback (each is logged; any is a defect worth a "
           "report)",
           MetricType::Counter, static_cast<double>(s.control.stopped_exceptions));
    for (const auto& [name, value] : s.control.replication) {
        bool gauge =
            name == "connected" || name == "active" || name == "records" || name == "waiting";
        std::string metric = "latch_replication_" + name;
        std::replace(metric.begin(), metric.end(), ' ', '_');
        single(gauge ? metric : metric + "_total", "Call state in Redis: " + name,
               gauge ? MetricType::Gauge : MetricType::Counter, static_cast<double>(value));
    }
    if (!s.control.recording.empty()) {
        auto value = [&](const char* name) {
            auto it = s.control.recording.find(name);
            return it == s.control.recording.end() ? 0.0 : static_cast<double>(it->second);
        };
        single("latch_recordings_active", "Calls being recorded", MetricType::Gauge,
               value("active"));
        single("latch_recording_files_total", "Recordings opened", MetricType::Counter,
               value("files opened"));
        single("latch_recording_failures_total",
               "Recordings that could not be created or written (a full disk...)",
               MetricType::Counter, value("files failed"));
        single("latch_recording_packets_total", "Datagrams written to recordings",
               MetricType::Counter, value("packets written"));
        single("latch_recording_ring_drops_total",
               "Datagrams relayed but not recorded: the worker's ring to the recorder was full",
               MetricType::Counter, static_cast<double>(all.recording_drops));
    }
    single("latch_call_observer_failures_total",
           "Call observers (logging, notifications...) that failed", MetricType::Counter,
           static_cast<double>(s.control.observer_failures));
    out.push_back(histogram("latch_stream_mos",
                            "Ended calls' RTP streams by average MOS (E-model estimate)",
                            s.quality.mos));
    out.push_back(histogram("latch_stream_loss_percent",
                            "Ended calls' RTP streams by packet loss over the call, in percent",
                            s.quality.loss_percent));
    out.push_back(histogram("latch_stream_jitter_ms",
                            "Ended calls' RTP streams by highest interarrival jitter, in ms",
                            s.quality.jitter_ms));
    return out;
}

class MetricsExporter::Collector : public prometheus::Collectable {
  public:
    std::vector<MetricFamily> Collect() const override {
        std::lock_guard lock(mutex_);
        return metric_families(snapshot_);
    }
    void set(MetricsSnapshot s) {
        std::lock_guard lock(mutex_);
        snapshot_ = std::move(s);
    }

  private:
    mutable std::mutex mutex_;
    MetricsSnapshot snapshot_;
};

MetricsExporter::MetricsExporter(const Endpoint& listen)
    : collector_(std::make_shared<Collector>()) {
    try {
        exposer_ = std::make_unique<prometheus::Exposer>(listen.to_string(), 1);
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot serve metrics on " + listen.to_string() + ": " + e.what());
    }
    exposer_->RegisterCollectable(collector_);
}

MetricsExporter::~MetricsExporter() = default;

void MetricsExporter::publish(MetricsSnapshot snapshot) {
    collector_->set(std::move(snapshot));
}

uint16_t MetricsExporter::port() const {
    auto ports = exposer_->GetListeningPorts();
    return ports.empty() ? 0 : static_cast<uint16_t>(ports.front());
}

}  // namespace latch
