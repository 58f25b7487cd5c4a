// Counter arithmetic and names for the shared relay value types. Any thread.
#include "relay_types.hpp"

namespace latch {

std::string_view drop_reason_name(DropReason reason) {
    switch (reason) {
        case DropReason::malformed:
            return "malformed";
        case DropReason::wrong_component:
            return "wrong-component";
        case DropReason::foreign_source:
            return "foreign-source";
        case DropReason::not_learnable:
            return "not-learnable";
        case DropReason::unproven_source:
            return "unproven-source";
        case DropReason::no_destination:
            return "no-destination";
        case DropReason::send_failed:
            return "send-failed";
        case DropReason::too_large:
            return "too-large";
        case DropReason::receive_error:
            return "receive-error";
        case DropReason::count_:
            break;
    }
    return "unknown";
}

std::string_view worker_error_text(WorkerError error) {
    switch (error) {
        case WorkerError::none:
            return "no error";
        case WorkerError::session_exists:
            return "session already exists";
        case WorkerError::unknown_session:
            return "unknown session";
        case WorkerError::no_ports:
            return "no ports available";
        case WorkerError::no_descriptors:
            return "no ports available (the descriptor limit is reached)";
        case WorkerError::cannot_bind:
            return "cannot bind";
        case WorkerError::no_local_address:
            return "no local address for the relay sockets";
        case WorkerError::port_unavailable:
            return "the call's port is not available";
        case WorkerError::shutting_down:
            return "relay is shutting down";
        case WorkerError::internal:
            return "internal error";
    }
    return "unknown error";
}

std::string WorkerFailure::text() const {
    std::string out(worker_error_text(code));
    if (!detail.empty()) out += (code == WorkerError::cannot_bind ? " " : ": ") + detail;
    return out;
}

uint64_t FlowCounters::total_drops() const {
    uint64_t sum = 0;
    for (auto d : drops) sum += d;
    return sum;
}

FlowCounters& FlowCounters::operator+=(const FlowCounters& other) {
    packets_in += other.packets_in;
    bytes_in += other.bytes_in;
    packets_out += other.packets_out;
    bytes_out += other.bytes_out;
    learned += other.learned;
    kernel_packets += other.kernel_packets;
    for (std::size_t i = 0; i < kDropReasons; ++i) drops[i] += other.drops[i];
    if (other.last_packet_ms > last_packet_ms) last_packet_ms = other.last_packet_ms;
    return *this;
}

WorkerStats& WorkerStats::operator+=(const WorkerStats& o) {
    sessions += o.sessions;
    streams += o.streams;
    sessions_created += o.sessions_created;
    sessions_timed_out += o.sessions_timed_out;
    ports_capacity += o.ports_capacity;
    ports_available += o.ports_available;
    totals += o.totals;
    recorded += o.recorded;
    recording_drops += o.recording_drops;
    return *this;
}

WorkerStats total(const std::vector<WorkerStats>& workers) {
    WorkerStats sum;
    for (const auto& w : workers) sum += w;
    return sum;
}

}  // namespace latch
