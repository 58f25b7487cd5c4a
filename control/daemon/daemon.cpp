// latchd start-up, main loop and clean shutdown. Main (control) thread.
#include "daemon.hpp"

#include <sys/resource.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "control_plane.hpp"
#include "guard.hpp"
#include "log.hpp"
#include "service_notify.hpp"
#include "timer.hpp"

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
    log(LogLevel::info,
        "descriptor limit {}: room for {} concurrent audio calls ({} by the port range{})",
        descriptors, std::min(by_fds, by_ports), by_ports,
        by_fds < by_ports ? ", fewer by the descriptor limit: raise LimitNOFILE" : "");
}

// With LATCH_TEST_HOOKS in the environment (tests only): ng "test hang" blocks the control loop
// for its "limit" in milliseconds (at most 10 s), as a hung control thread would, then answers.
void add_test_hooks(ControlPlane& plane) {
    log(LogLevel::warning, "test hooks enabled (LATCH_TEST_HOOKS): not for production");
    plane.ng_commands().add_command("test hang",
                                    [](NgParams& p, const NgCommands::Respond& respond) {
                                        auto ms = std::clamp<int64_t>(p.limit, 0, 10000);
                                        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
                                        respond({{"result", "ok"}});
                                    });
}

// SIGHUP (systemctl reload): the configuration read again and what may change applied.
class Reloader {
  public:
    Reloader(const DaemonConfig& config, ConfigReader reread, ControlPlane& plane,
             ServiceNotify& notify)
        : running_(config), reread_(std::move(reread)), plane_(plane), notify_(notify) {}

    void reload() {
        notify_.reloading();
        if (!reread_) {
            log(LogLevel::info, "reload: nothing to read again");
            notify_.reloaded("reloaded: nothing to read again");
            return;
        }
        DaemonConfig next;
        try {
            next = reread_();
        } catch (const std::exception& e) {
            log(LogLevel::error, "reload refused, the running configuration stays: {}", e.what());
            notify_.reloaded(std::string("reload refused: ") + e.what());
            return;
        }
        ConfigChanges changes = config_changes(running_, next);
        plane_.apply_live(next);
        running_ = with_live_settings(running_, next);
        for (const auto& c : changes.live) log(LogLevel::info, "reload: {} (in force now)", c);
        for (const auto& c : changes.restart)
            log(LogLevel::warning, "reload: {} needs a restart (unchanged until then)", c);
        if (changes.empty()) log(LogLevel::info, "reload: nothing changed");
        notify_.reloaded(fmt::format("reloaded: {} setting{} changed, {} need{} a restart",
                                     changes.live.size(), changes.live.size() == 1 ? "" : "s",
                                     changes.restart.size(),
                                     changes.restart.size() == 1 ? "s" : ""));
    }

  private:
    DaemonConfig running_;  // the settings in force (what needs a restart as at start-up)
    ConfigReader reread_;
    ControlPlane& plane_;
    ServiceNotify& notify_;
};

}  // namespace

void run_daemon(const DaemonConfig& config, ConfigReader reread) {
    set_log_level(config.log_level);
    // A peer that closed its end (Redis restarted, a notify socket gone) makes a write fail
    // with EPIPE, which every caller handles; the signal would end the process instead.
    ::signal(SIGPIPE, SIG_IGN);
    // A SIGHUP before the reload handler below is in place would end the process.
    ::signal(SIGHUP, SIG_IGN);
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
    ControlPlane plane(config, &loop);
    ServiceNotify notify(&loop);
    // Ready for SIGHUP before systemd hears READY (and may send a reload).
    Reloader reloader(config, std::move(reread), plane, notify);
    auto sighup = make_uv_handle<uv_signal_t>();
    uv_signal_init(&loop, sighup.get());
    sighup->data = &reloader;
    uv_signal_start(
        sighup.get(),
        [](uv_signal_t* s, int) noexcept {
            if (auto* r = static_cast<Reloader*>(s->data)) guarded("reload", [&] { r->reload(); });
        },
        SIGHUP);
    // SIGINT and SIGTERM stop latchd cleanly from here on: before its start-up line and READY,
    // after which a supervisor may send them at any moment.
    Timer status_timer;
    struct Stopper {
        ControlPlane* plane;
        ServiceNotify* notify;
        Timer* status_timer;
        UvPtr<uv_signal_t> sigint, sigterm;
        UvPtr<uv_signal_t>* sighup;
        void stop(int signum) {
            log(LogLevel::info, "signal {}: shutting down", signum);
            notify->stopping();
            status_timer->stop();
            plane->stop();
            sigint.reset();
            sigterm.reset();
            sighup->reset();
        }
    } stopper{&plane,
              &notify,
              &status_timer,
              make_uv_handle<uv_signal_t>(),
              make_uv_handle<uv_signal_t>(),
              &sighup};
    for (uv_signal_t* sig : {stopper.sigint.get(), stopper.sigterm.get()}) {
        uv_signal_init(&loop, sig);
        sig->data = &stopper;
        uv_signal_start(
            sig,
            [](uv_signal_t* s, int signum) noexcept {
                if (auto* st = static_cast<Stopper*>(s->data))
                    guarded("shutdown", [&] { st->stop(signum); });
            },
            sig == stopper.sigint.get() ? SIGINT : SIGTERM);
    }
    if (std::getenv("LATCH_TEST_HOOKS") != nullptr) add_test_hooks(plane);
    plane.start();
    if (auto rtpp = plane.rtpp_local())
        log(LogLevel::info, "rtpproxy control on udp {}", rtpp->to_string());
    if (!config.listen_rtpp_unix.empty())
        log(LogLevel::info, "rtpproxy control on unix:{}", config.listen_rtpp_unix);
    if (auto port = plane.metrics_port()) {
        log(LogLevel::info, "metrics on http://{}/metrics",
            config.metrics->with_port(*port).to_string());
    }
    log(LogLevel::info, "latchd {}: ng control on {}, {} workers ({}), media ports {}-{}",
        kLatchVersion, plane.ng_local().to_string(), plane.relay().worker_count(),
        plane.relay().packet_io(), config.relay.port_min, config.relay.port_max);
    report_capacity(config.relay, descriptors);

    // systemd (Type=notify): ready now that every socket is bound and the workers run; the
    // status line kept current once a second.
    auto status_line = [&plane] {
        std::string kernel;
        if (const KernelPath* k = plane.relay().kernel_path()) {
            for (const auto& device : k->devices()) kernel += (kernel.empty() ? "" : ", ") + device;
        }
        return service_status(plane.calls().calls(), plane.relay().worker_count(),
                              plane.relay().packet_io(), kernel);
    };
    if (notify.enabled()) {
        notify.ready(status_line());
        status_timer.start(&loop, 1000, 1000, "service status",
                           [&] { notify.status(status_line()); });
    }

    uv_run(&loop, UV_RUN_DEFAULT);
    if (!plane.relay().closed_cleanly())
        log(LogLevel::error, "a worker left handles open at shutdown");
    log(LogLevel::info, "stopped");
}

}  // namespace latch
