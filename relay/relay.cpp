// Relay: worker set-up, routing of commands by worker, and shutdown. Control thread.
#include "relay.hpp"

#include "guard.hpp"

#include <stdexcept>
#include <thread>

namespace latch {

unsigned effective_workers(const RelayConfig& config) {
    if (config.workers != 0) return config.workers;
    unsigned cores = std::thread::hardware_concurrency();
    return cores == 0 ? 1 : cores;
}

Relay::Relay(const RelayConfig& config, uv_loop_t* control_loop)
    : config_(config), control_loop_(control_loop) {
    if (config_.port_min > config_.port_max) {
        throw std::invalid_argument("port-min is above port-max");
    }
    if (config_.idle_timeout_ms == 0) throw std::invalid_argument("idle timeout must be positive");
    auto slices = split_port_range(config_.port_min, config_.port_max, effective_workers(config_));
    for (unsigned i = 0; i < slices.size(); ++i) {
        workers_.push_back(std::make_unique<Worker>(i, config_, slices[i], replies_));
    }
}

Relay::~Relay() {
    stop();
}

void Relay::start(ReplyHandler on_reply, const std::vector<Endpoint>& local_addresses) {
    kernel_ = KernelPath::open(config_.kernel_path, local_addresses, control_loop_);
    for (auto& worker : workers_) worker->set_kernel_path(kernel_.get());
    replies_.open(control_loop_, [handler = std::move(on_reply)](std::vector<WorkerReply>& batch) {
        // One reply that fails to be handled must not cost the others theirs.
        for (auto& reply : batch) guarded("worker reply", [&] { handler(reply); });
    });
    for (auto& worker : workers_) worker->start();
    started_ = true;
}

void Relay::stop() {
    for (auto& worker : workers_) worker->stop();
    if (kernel_) kernel_->close();
    replies_.close();
}

bool Relay::post(unsigned worker, WorkerCommand command) {
    if (worker >= workers_.size()) return false;
    return workers_[worker]->post(std::move(command));
}

unsigned Relay::worker_for_port(uint16_t port) const {
    for (unsigned i = 0; i < workers_.size(); ++i) {
        PortRange r = workers_[i]->ports();
        if (port >= r.first && port <= r.last) return i;
    }
    return worker_count();
}

bool Relay::closed_cleanly() const {
    for (const auto& worker : workers_) {
        if (!worker->closed_cleanly()) return false;
    }
    return started_;
}

const char* Relay::packet_io() const {
    // Every worker asks for the same path; should a resource limit give two of them different
    // ones, this names the first worker's (each worker logs its own fallback at debug level).
    return workers_.empty() ? "none" : workers_.front()->packet_path();
}

}  // namespace latch
