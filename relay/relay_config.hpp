// RelayConfig: the data plane's settings. Immutable once the relay starts; shared as const&.
#pragma once

#include <cstdint>

namespace latch {

struct RelayConfig {
    unsigned workers = 0;  // 0: one per core
    uint16_t port_min = 30000;
    uint16_t port_max = 40000;
    uint32_t learning_window_ms = 3000;
    uint32_t idle_timeout_ms = 60000;
    uint32_t sweep_interval_ms = 1000;  // how often each worker looks for idle sessions
};

}  // namespace latch
