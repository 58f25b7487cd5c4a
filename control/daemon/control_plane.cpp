// ControlPlane: composition, start, the once-a-second refresh and stop. Control thread only.
#include "control_plane.hpp"

#include <cmath>

#include "guard.hpp"
#include "log.hpp"

namespace latch {

ControlPlane::ControlPlane(const DaemonConfig& config, uv_loop_t* loop)
    : loop_(loop),
      interfaces_(config.interfaces),
      relay_(config.relay, loop),
      recorder_(config.recording_dir.empty() ? nullptr
                                             : std::make_unique<Recorder>(relay_.tap_rings())),
      calls_(loop, relay_, config.interfaces, config.learning),
      recordings_(calls_, recorder_.get(), config.recording_dir),
      call_log_(config.relay.idle_timeout_ms),
      ng_commands_(calls_),
      rtpp_commands_(loop, calls_, config.interfaces, config.relay.idle_timeout_ms),
      ng_(
          loop, config.listen_ng,
          [this](NgRequest& request, NgServer::Respond respond) {
              ng_commands_.dispatch(request, respond);
          },
          config.control_allow, config.relay.is_floating(config.listen_ng)) {
    if (config.listen_rtpp || !config.listen_rtpp_unix.empty()) {
        rtpp_.emplace(
            loop, config.listen_rtpp, config.listen_rtpp_unix,
            [this](std::string_view command, RtppServer::Reply reply) {
                rtpp_commands_.execute(command, reply);
            },
            config.control_allow,
            config.listen_rtpp && config.relay.is_floating(*config.listen_rtpp));
    }
    if (config.metrics) metrics_ = std::make_unique<MetricsExporter>(*config.metrics);
    if (config.redis) {
        // A record outlives its call's idle timeout a little: a dead instance's calls are gone
        // from Redis soon after they would have timed out.
        uint64_t ttl_s = config.relay.idle_timeout_ms / 1000 + 30;
        replicator_ =
            std::make_unique<Replicator>(loop, *config.redis, config.instance_id, ttl_s,
                                         [this](const std::string& id) { return calls_.find(id); });
        calls_.add_observer(*replicator_);
        if (!config.relay.floating.empty()) {
            floating_ = std::make_unique<FloatingWatch>(loop, config.relay.floating,
                                                        [this](bool held) { set_active(held); });
            follow();
        }
    }
    calls_.set_limits(config.max_sessions, config.max_packet_rate);
    calls_.add_observer(call_log_);
    calls_.add_observer(quality_tally_);
    calls_.add_observer(rtpp_commands_);
    calls_.add_observer(recordings_);
    ng_commands_.set_recordings(&recordings_);
    rtpp_commands_.set_recordings(&recordings_);
    ng_commands_.set_control_report([this] { return report(); });
}

ControlPlane::~ControlPlane() {
    stop();
}

void ControlPlane::start() {
    std::vector<Endpoint> media_addresses;
    for (const Interface& i : interfaces_) media_addresses.push_back(i.bind);
    relay_.start([this](WorkerReply& reply) { calls_.on_worker_reply(reply); }, media_addresses);
    started_ = true;
    if (replicator_) {
        active_ = !floating_ || floating_->held();
        replicator_->set_active(active_);
        calls_.set_standby(!active_);
        replicator_->start();
        if (floating_) {
            floating_->start();
            log(LogLevel::info, "{} for the calls of '{}' (the floating address is {})",
                active_ ? "active" : "standby", replicator_->instance(),
                active_ ? "here" : "elsewhere");
        }
        if (active_) restore_calls();  // a standby's copies come as it follows the records
    }
    refresh();
    refresh_timer_.start(loop_, 1000, 1000, "statistics refresh", [this] { refresh(); });
}

void ControlPlane::stop() {
    if (stopped_) return;
    stopped_ = true;
    refresh_timer_.stop();
    ng_.close();
    if (rtpp_) rtpp_->close();
    relay_.stop();
    recordings_.close_all();  // no worker copies any more: every file is complete
    calls_.close();
    if (floating_) floating_->stop();
    if (replicator_) replicator_->stop();
    restore_timer_.stop();
}

void ControlPlane::apply_live(const DaemonConfig& next) {
    set_log_level(next.log_level);
    ng_.set_allow(next.control_allow);
    if (rtpp_) rtpp_->set_allow(next.control_allow);
    calls_.set_limits(next.max_sessions, next.max_packet_rate);
    calls_.set_learning_defaults(next.learning, next.relay.learning_window_ms);
}

std::optional<uint16_t> ControlPlane::metrics_port() const {
    if (!metrics_) return std::nullopt;
    return metrics_->port();
}

ControlReport ControlPlane::report() const {
    ControlReport r;
    r.protocols.push_back({"ng", ng_.counters(), ng_commands_.command_results()});
    ListenerCounters rtpp_listener = rtpp_ ? rtpp_->counters() : ListenerCounters{};
    r.protocols.push_back({"rtpproxy", rtpp_listener, rtpp_commands_.command_results()});
    r.packets_per_second = static_cast<uint64_t>(std::llround(calls_.packet_rate()));
    r.stopped_exceptions = g_stopped_exceptions.load(std::memory_order_relaxed);
    r.observer_failures = calls_.observer_failures();
    if (const KernelPath* kernel = relay_.kernel_path()) r.kernel_devices = kernel->devices();
    if (recordings_.enabled()) {
        RecorderTotals t = recordings_.totals();
        r.recording = {{"active", recordings_.active()},
                       {"files opened", t.opened},
                       {"files failed", t.failed},
                       {"packets written", t.packets}};
    }
    if (replicator_) {
        ReplicationCounters c = replicator_->counters();
        r.replication = {{"connected", c.connected ? 1 : 0},
                         {"active", c.active ? 1 : 0},
                         {"followed", c.followed},
                         {"records", c.records},
                         {"writes", c.writes},
                         {"deletes", c.deletes},
                         {"rewrites", c.rewrites},
                         {"restored", c.restored},
                         {"restore failures", c.restore_failures},
                         {"skipped records", c.skipped},
                         {"outages", c.redis.outages},
                         {"commands", c.redis.commands},
                         {"errors", c.redis.errors},
                         {"refused", c.redis.refused}};
    }
    return r;
}

void ControlPlane::set_active(bool active) {
    if (active == active_ || stopped_) return;
    active_ = active;
    calls_.set_standby(!active);
    replicator_->set_active(active);
    // Recorded calls go on being recorded where the address is.
    if (active)
        recordings_.take_over();
    else
        recordings_.hand_over();
    log(LogLevel::warning, "{}: {} calls of '{}' {}",
        active ? "the floating address is here" : "the floating address is gone", calls_.calls(),
        replicator_->instance(),
        active ? "served here from now on" : "kept as copies; the active instance serves them");
}

void ControlPlane::follow() {
    FollowHooks hooks;
    hooks.record = [this](CallRecord record) {
        if (active_) return;
        record.spec.standby = true;
        std::string call_id = record.call_id;
        calls_.mirror(record, [this, call_id](const CallResult& r) {
            replicator_->restored(r.error == CallError::none);
            if (r.error != CallError::none)
                log(LogLevel::warning, "call {} not copied: {}", call_id, r.message);
        });
    };
    hooks.gone = [this](const std::string& call_id) {
        const Call* call = calls_.find(call_id);
        if (active_ || call == nullptr || !call->spec.standby) return;
        calls_.remove(call_id, 0, [](const CallResult&) {});
    };
    hooks.synced = [this](const std::unordered_set<std::string>& ids) {
        if (active_) return;
        // Copies whose record is gone (deleted while the subscription was down, or expired).
        for (const auto& call_id : calls_.list(calls_.calls())) {
            const Call* call = calls_.find(call_id);
            if (ids.count(call_id) == 0 && call != nullptr && call->spec.standby)
                calls_.remove(call_id, 0, [](const CallResult&) {});
        }
    };
    replicator_->follow(std::move(hooks));
}

void ControlPlane::restore_calls() {
    uint64_t began = uv_hrtime();
    auto records = replicator_->load(1000);
    restoring_ = records.size();
    restore_began_ns_ = began;
    log(LogLevel::debug, "Redis: {} records read in {:.1f} ms", records.size(),
        (uv_hrtime() - began) / 1e6);
    for (CallRecord& record : records) restore(std::make_shared<CallRecord>(std::move(record)), 0);
}

void ControlPlane::restore(std::shared_ptr<CallRecord> record, int attempt) {
    calls_.restore(*record, [this, record, attempt](const CallResult& r) {
        // The process before may have just died: the kernel lets go of its sockets a little
        // later (an io_uring is torn down after its process). Tried again for a while (see
        // kRestoreAttempts) before the port counts as taken.
        if (r.relay_error == WorkerError::port_unavailable && attempt < kRestoreAttempts &&
            !stopped_) {
            restore_later_.emplace_back(record, attempt + 1);
            if (!restore_timer_.active()) {
                uint64_t delay =
                    attempt < kRestoreQuickAttempts ? kRestoreRetryMs : kRestoreSlowRetryMs;
                restore_timer_.start(loop_, delay, 0, "restore retry", [this] {
                    auto again = std::move(restore_later_);
                    restore_later_.clear();
                    for (auto& [rec, n] : again) restore(rec, n);
                });
            }
            return;
        }
        replicator_->restored(r.error == CallError::none);
        if (r.error != CallError::none)
            log(LogLevel::warning, "call {} not restored: {}", record->call_id, r.message);
        if (restoring_ > 0 && --restoring_ == 0) {
            ReplicationCounters c = replicator_->counters();
            log(LogLevel::info, "Redis: {} calls restored, {} not, in {:.1f} ms", c.restored,
                c.restore_failures, (uv_hrtime() - restore_began_ns_) / 1e6);
        }
    });
}

// Every worker's counters, for the packet-rate load limit and, when enabled, a metrics snapshot
// for the exporter's HTTP thread.
void ControlPlane::refresh() {
    if (!started_ || stopped_) return;
    calls_.collect_worker_stats([this](std::vector<WorkerStats>& stats) {
        uint64_t relayed = 0;
        for (const auto& w : stats) relayed += w.totals.packets_out;
        uint64_t now = uv_now(loop_);
        if (last_sample_ms_ != 0 && now > last_sample_ms_ && relayed >= last_relayed_) {
            calls_.report_packet_rate(static_cast<double>(relayed - last_relayed_) * 1000.0 /
                                      static_cast<double>(now - last_sample_ms_));
        }
        last_relayed_ = relayed;
        last_sample_ms_ = now;
        if (metrics_)
            metrics_->publish(
                MetricsSnapshot{stats, calls_.calls(), report(), quality_tally_.histograms()});
    });
}

}  // namespace latch
