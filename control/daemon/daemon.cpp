// latchd start-up, main loop and clean shutdown. Main (control) thread.
#include "daemon.hpp"

#include <sys/resource.h>
#include <uv.h>

#include <algorithm>
#include <stdexcept>

#include "guard.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "call_control.hpp"
#include "ng_commands.hpp"
#include "ng_server.hpp"
#include "relay.hpp"
#include "rtpp_commands.hpp"
#include "rtpp_server.hpp"

namespace latch {

uint64_t raise_descriptor_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
        getrlimit(RLIMIT_NOFILE, &limit);
    }
    return limit.rlim_cur;
}

namespace {

// An audio call holds four sockets (RTP and RTCP on each leg) and two port pairs.
constexpr uint64_t kSocketsPerCall = 4;
constexpr uint64_t kReservedDescriptors = 64;

void report_capacity(const RelayConfig& relay, uint64_t descriptors) {
    uint64_t by_fds = descriptors > kReservedDescriptors
                          ? (descriptors - kReservedDescriptors) / kSocketsPerCall
                          : 0;
    uint64_t pairs = 0;
    for (auto& r : split_port_range(relay.port_min, relay.port_max, effective_workers(relay))) {
        pairs += r.pairs();
    }
    uint64_t by_ports = pairs / 2;
    log(LogLevel::info, "descriptor limit {}: room for {} concurrent audio calls ({} by the port range{})",
        descriptors, std::min(by_fds, by_ports), by_ports,
        by_fds < by_ports ? ", fewer by the descriptor limit: raise LimitNOFILE" : "");
}

}  // namespace

void run_daemon(const DaemonConfig& config) {
    set_log_level(config.log_level);
    uint64_t descriptors = raise_descriptor_limit();

    uv_loop_t loop;
    if (int rc = uv_loop_init(&loop); rc != 0) {
        throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
    }
    // Declared before everything that owns handles, so it runs after they are all closing:
    // also when start-up throws half-way.
    struct LoopCloser {
        uv_loop_t* loop;
        ~LoopCloser() {
            uv_run(loop, UV_RUN_DEFAULT);  // the close callbacks
            if (int rc = uv_loop_close(loop); rc != 0) {
                log(LogLevel::error, "control loop closed with handles open: {}", uv_strerror(rc));
            }
        }
    } loop_closer{&loop};
    {
        std::unique_ptr<CallControl> calls;
        Relay relay(config.relay, &loop, [&calls](WorkerReply& reply) {
            if (calls) calls->on_worker_reply(reply);
        });
        calls = std::make_unique<CallControl>(&loop, relay, config.interfaces, config.learning);
        auto commands = std::make_unique<NgCommands>(*calls);
        relay.start();
        NgServer ng(
            &loop, config.listen_ng,
            [&commands](NgRequest& request, NgServer::Respond respond) { commands->dispatch(request, respond); },
            config.control_allow);
        commands->set_server(&ng);
        RtppCommands rtpp_commands(&loop, *calls, config.interfaces, config.relay.idle_timeout_ms);
        std::optional<RtppServer> rtpp;
        if (config.listen_rtpp || !config.listen_rtpp_unix.empty()) {
            rtpp.emplace(&loop, config.listen_rtpp, config.listen_rtpp_unix,
                         [&rtpp_commands](std::string_view command, RtppServer::Reply reply) {
                             rtpp_commands.execute(command, reply);
                         },
                         config.control_allow);
            if (rtpp->udp_local()) log(LogLevel::info, "rtpproxy control on udp {}", rtpp->udp_local()->to_string());
            if (!config.listen_rtpp_unix.empty()) {
                log(LogLevel::info, "rtpproxy control on unix:{}", config.listen_rtpp_unix);
            }
        }
        log(LogLevel::info, "latchd {}: ng control on {}, {} workers ({}), media ports {}-{}", kLatchVersion,
            ng.local().to_string(), relay.worker_count(), relay.packet_io(), config.relay.port_min,
            config.relay.port_max);
        report_capacity(config.relay, descriptors);

        // Once a second: every worker's counters, for the packet-rate load limit and, when
        // enabled, a metrics snapshot for the HTTP thread.
        std::unique_ptr<MetricsExporter> metrics;
        if (config.metrics) {
            metrics = std::make_unique<MetricsExporter>(*config.metrics);
            log(LogLevel::info, "metrics on http://{}/metrics",
                config.metrics->with_port(metrics->port()).to_string());
        }
        calls->set_limits(config.max_sessions, config.max_packet_rate);
        struct RateSample {
            uint64_t relayed = 0;
            uint64_t at_ms = 0;
        } last_sample;
        std::function<void()> refresh = [&]() {
            calls->collect_worker_stats([&](std::vector<WorkerStats>& stats) {
                uint64_t relayed = 0;
                for (const auto& w : stats) relayed += w.totals.packets_out;
                uint64_t now = uv_now(&loop);
                if (last_sample.at_ms != 0 && now > last_sample.at_ms && relayed >= last_sample.relayed) {
                    calls->report_packet_rate(static_cast<double>(relayed - last_sample.relayed) * 1000.0 /
                                              static_cast<double>(now - last_sample.at_ms));
                }
                last_sample = RateSample{relayed, now};
                if (!metrics) return;
                auto results = commands->command_results();
                for (const auto& [command, counts] : rtpp_commands.command_results()) {
                    for (const auto& [result, n] : counts) results["rtpp " + command][result] = n;
                }
                metrics->publish(MetricsSnapshot{stats, calls->calls(), std::move(results), ng.counters()});
            });
        };
        refresh();
        UvPtr<uv_timer_t> stats_timer = make_uv_handle<uv_timer_t>();
        uv_timer_init(&loop, stats_timer.get());
        stats_timer->data = &refresh;
        uv_timer_start(
            stats_timer.get(),
            [](uv_timer_t* t) noexcept {
                if (auto* run = static_cast<std::function<void()>*>(t->data)) guarded("statistics timer", *run);
            },
            1000, 1000);

        struct Stopper {
            NgServer* ng;
            std::optional<RtppServer>* rtpp;
            Relay* relay;
            UvPtr<uv_timer_t>* stats_timer;
            UvPtr<uv_signal_t> sigint, sigterm;
            void stop(int signum) {
                log(LogLevel::info, "signal {}: shutting down", signum);
                stats_timer->reset();
                ng->close();
                if (*rtpp) (*rtpp)->close();
                relay->stop();
                sigint.reset();
                sigterm.reset();
            }
        } stopper{&ng, &rtpp, &relay, &stats_timer, make_uv_handle<uv_signal_t>(), make_uv_handle<uv_signal_t>()};
        for (uv_signal_t* sig : {stopper.sigint.get(), stopper.sigterm.get()}) {
            uv_signal_init(&loop, sig);
            sig->data = &stopper;
            uv_signal_start(
                sig,
                [](uv_signal_t* s, int signum) noexcept {
                    if (auto* st = static_cast<Stopper*>(s->data)) guarded("shutdown", [&] { st->stop(signum); });
                },
                sig == stopper.sigint.get() ? SIGINT : SIGTERM);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        if (!relay.closed_cleanly()) log(LogLevel::error, "a worker left handles open at shutdown");
        log(LogLevel::info, "stopped");
    }
}

}  // namespace latch
