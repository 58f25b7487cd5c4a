// ControlPlane: the one composition root of latchd: the relay and its workers, the call
// directory and its observers, the ng and rtpproxy listeners and the metrics feed, built the
// same way for latchd's main, the in-process integration tests and the control fuzzer.
// Constructed, started, stopped and destroyed on the control thread, whose loop it runs on.
#pragma once

#include <uv.h>

#include <memory>
#include <optional>

#include "call_control.hpp"
#include "call_log.hpp"
#include "control_counters.hpp"
#include "daemon_config.hpp"
#include "floating_watch.hpp"
#include "metrics.hpp"
#include "ng_commands.hpp"
#include "ng_server.hpp"
#include "recorder.hpp"
#include "recordings.hpp"
#include "relay.hpp"
#include "replicator.hpp"
#include "rtpp_commands.hpp"
#include "rtpp_server.hpp"
#include "timer.hpp"

namespace latch {

class ControlPlane {
  public:
    // Builds everything `config` asks for on `loop` and binds the control sockets (nothing is
    // served until the loop runs). Throws std::runtime_error (or std::invalid_argument) with a
    // sentence that names what failed. `config` must outlive the control plane (the relay and
    // the call layer keep references into it).
    ControlPlane(const DaemonConfig& config, uv_loop_t* loop);
    ControlPlane(const ControlPlane&) = delete;
    ControlPlane& operator=(const ControlPlane&) = delete;
    ~ControlPlane();

    // Starts the workers and the once-a-second refresh (packet rate, metrics). Throws when a
    // worker cannot start.
    void start();
    // Closes the control sockets and stops the relay (every session ends; Redis-kept state,
    // when there is some, stays). The loop then runs out of handles once the control plane is
    // destroyed. Idempotent.
    void stop();

    // The bound addresses (port 0 in the config becomes the kernel's choice).
    const Endpoint& ng_local() const { return ng_.local(); }
    std::optional<Endpoint> rtpp_local() const { return rtpp_ ? rtpp_->udp_local() : std::nullopt; }
    std::optional<uint16_t> metrics_port() const;

    // Before start(): one more observer of every call (replication, recording, tests...).
    void add_observer(CallObserver& observer) { calls_.add_observer(observer); }
    CallControl& calls() { return calls_; }
    NgCommands& ng_commands() { return ng_commands_; }
    Relay& relay() { return relay_; }
    // Every listener's counters and the control plane's own, as statistics and metrics show them.
    ControlReport report() const;
    // A reload: takes over what `next` says of the settings that may change while latchd runs
    // (log level, control allow-list, load limits, learning defaults); the others are left
    // as they are (config_changes() tells which differ).
    void apply_live(const DaemonConfig& next);
    // Whether this instance serves its calls (it holds the floating address, or has none).
    bool active() const { return active_; }

  private:
    void refresh();
    // The calls this instance's records in Redis hold, rebuilt on their ports.
    void restore_calls();
    void restore(std::shared_ptr<CallRecord> record, int attempt);
    // This instance took the floating address (active) or lost it (standby).
    void set_active(bool active);
    // A standby's copies, as the active instance's records change.
    void follow();

    uv_loop_t* loop_;
    const std::vector<Interface>& interfaces_;
    Relay relay_;
    // With --recording-dir: the thread that writes recordings (it reads the workers' rings, so
    // it goes before the relay does).
    std::unique_ptr<Recorder> recorder_;
    CallControl calls_;
    Recordings recordings_;
    CallLog call_log_;
    QualityTally quality_tally_;
    NgCommands ng_commands_;
    RtppCommands rtpp_commands_;
    NgServer ng_;
    std::optional<RtppServer> rtpp_;
    std::unique_ptr<MetricsExporter> metrics_;
    std::unique_ptr<Replicator> replicator_;   // with --redis
    std::unique_ptr<FloatingWatch> floating_;  // with --floating-address: who is active
    bool active_ = true;
    // Restores whose ports were still held (by the process before, as it died), tried again.
    std::vector<std::pair<std::shared_ptr<CallRecord>, int>> restore_later_;
    Timer restore_timer_;
    std::size_t restoring_ = 0;  // restores not yet finished
    uint64_t restore_began_ns_ = 0;
    // A port the process before still holds is tried every 5 ms for the first second, then
    // every 50 ms for ten more: under load the kernel has taken over a second to let go.
    static constexpr int kRestoreAttempts = 400;
    static constexpr int kRestoreQuickAttempts = 200;
    static constexpr uint64_t kRestoreRetryMs = 5;
    static constexpr uint64_t kRestoreSlowRetryMs = 50;
    Timer refresh_timer_;
    uint64_t last_relayed_ = 0, last_sample_ms_ = 0;
    bool started_ = false, stopped_ = false;
};

}  // namespace latch
