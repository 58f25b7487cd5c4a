// The ng protocol's view of a call (query and delete replies) and of the relay's counters
// (statistics), built from worker snapshots. Pure functions; control thread.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "call.hpp"
#include "relay_types.hpp"

namespace latch {

struct Clocks {
    uint64_t monotonic_ms = 0;  // uv_now() of the control loop
    int64_t wall_us = 0;        // the wall clock at the same moment
    // Wall-clock seconds of a monotonic (uv_now) time stamp; 0 stays 0 (never).
    int64_t wall_seconds(uint64_t monotonic) const;
};

// {"created", "last signal", "tags": {tag: {"medias": [{"streams": [...]}]}}, "totals"}
nlohmann::json format_call(const Call& call, const SessionSnapshot& snapshot, const Clocks& clocks);

// One log line of a call's final counters: per party, RTP packets in/out and drops.
std::string call_summary(const Call& call, const SessionSnapshot& snapshot);

// The "statistics" dictionary of the statistics command.
nlohmann::json format_statistics(const std::vector<WorkerStats>& workers, uint64_t calls,
                                 const nlohmann::json& control);

}  // namespace latch
