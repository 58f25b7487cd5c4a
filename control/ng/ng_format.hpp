// The ng protocol's view of a call (query and delete replies) and of the relay's counters
// (statistics), built from worker snapshots. Pure functions; control thread.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "call.hpp"
#include "control_counters.hpp"
#include "relay_types.hpp"

namespace latch {

// {"created", "last signal", "tags": {tag: {"medias": [{"streams": [...]}]}}, "totals"}
nlohmann::json format_call(const Call& call, const SessionSnapshot& snapshot, const Clocks& clocks);

// The "statistics" dictionary of the statistics command. Integers only: bencode has no
// fractions, and both encodings carry the same keys and values.
nlohmann::json format_statistics(const std::vector<WorkerStats>& workers, uint64_t calls,
                                 const ControlReport& control);

}  // namespace latch
