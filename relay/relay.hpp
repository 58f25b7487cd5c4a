// Relay: the data plane as a whole: N workers, each with its slice of the port range, and
// the mailbox through which their replies reach the control thread. Constructed, started,
// used and stopped on the control thread; the reply handler runs there too. The handler is
// given at start(), so that what handles the replies may itself be built on the relay.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <vector>

#include "kernel_path.hpp"
#include "mailbox.hpp"
#include "relay_config.hpp"
#include "relay_types.hpp"
#include "worker.hpp"

namespace latch {

class Relay {
  public:
    using ReplyHandler = std::function<void(WorkerReply&)>;

    // Throws std::invalid_argument on a config that cannot work (port range too small).
    Relay(const RelayConfig& config, uv_loop_t* control_loop);
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;
    ~Relay();

    // Opens the kernel path (config().kernel_path) for media on `local_addresses`, then starts
    // the workers; their replies (results, idle timeouts, learning reports) go to `on_reply` on
    // the control loop. Throws when a worker cannot start, or the kernel path is `on` and
    // cannot be had.
    void start(ReplyHandler on_reply, const std::vector<Endpoint>& local_addresses = {});
    // Ends every session, joins the workers and closes the reply mailbox. The control loop
    // then has one closing handle to run out.
    void stop();

    unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }
    // Any thread. False when the worker is stopping or `worker` is out of range.
    bool post(unsigned worker, WorkerCommand command);
    // Which worker owns a media port (workers.size() if none).
    unsigned worker_for_port(uint16_t port) const;
    Worker& worker(unsigned index) { return *workers_.at(index); }
    // Every worker's ring of recorded datagrams (empty without RelayConfig::tap_slots).
    std::vector<TapRing*> tap_rings() {
        std::vector<TapRing*> rings;
        for (auto& w : workers_)
            if (w->tap_ring() != nullptr) rings.push_back(w->tap_ring());
        return rings;
    }
    // After stop(): every worker's loop closed with no handle left.
    bool closed_cleanly() const;
    const RelayConfig& config() const { return config_; }
    // After start(): how the workers read and send datagrams ("io_uring" or "epoll").
    const char* packet_io() const;
    // After start(): the kernel path, or nullptr when media stays in userspace.
    const KernelPath* kernel_path() const { return kernel_.get(); }
    uv_loop_t* control_loop() const { return control_loop_; }

  private:
    const RelayConfig config_;
    uv_loop_t* control_loop_;
    Mailbox<WorkerReply> replies_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::unique_ptr<KernelPath> kernel_;
    bool started_ = false;
};

// The effective number of workers for a config (0 means one per core).
unsigned effective_workers(const RelayConfig& config);

}  // namespace latch
