// RelayConfig: the data plane's settings. Immutable once the relay starts; shared as const&.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "endpoint.hpp"

namespace latch {

// How workers read and send their flows' datagrams.
enum class PacketIo {
    automatic,  // io_uring where the kernel allows it, else epoll
    io_uring,   // io_uring or fail to start
    epoll,      // epoll with recvmmsg/sendmmsg
};

// "auto", "io_uring" or "epoll"; nothing for any other word.
inline std::optional<PacketIo> parse_packet_io(std::string_view word) {
    if (word == "auto") return PacketIo::automatic;
    if (word == "io_uring") return PacketIo::io_uring;
    if (word == "epoll") return PacketIo::epoll;
    return std::nullopt;
}
inline const char* packet_io_name(PacketIo io) {
    switch (io) {
        case PacketIo::io_uring:
            return "io_uring";
        case PacketIo::epoll:
            return "epoll";
        default:
            return "auto";
    }
}

// Whether established streams are forwarded by the kernel path (offload/kernel_path.hpp).
enum class KernelMode : uint8_t {
    automatic,  // where the kernel and the process's capabilities allow it, else userspace
    on,         // or refuse to start
    off,
};

// "auto", "on" or "off"; nothing for any other word.
std::optional<KernelMode> parse_kernel_mode(std::string_view word);
const char* kernel_mode_name(KernelMode mode);

struct RelayConfig {
    unsigned workers = 0;  // 0: one per core
    uint16_t port_min = 30000;
    uint16_t port_max = 40000;
    uint32_t learning_window_ms = 3000;
    uint32_t idle_timeout_ms = 60000;
    uint32_t sweep_interval_ms = 1000;  // how often each worker looks for idle sessions
    PacketIo packet_io = PacketIo::automatic;
    // On io_uring: give each flow that carries media a connected socket toward its endpoint.
    bool connected_sockets = true;
    KernelMode kernel_path = KernelMode::off;
    // Each stream's loss, jitter, round trip and MOS (relay/quality), on both paths.
    bool quality_figures = true;
    // Recording: each worker's ring of copies for the recorder (relay/tap), in datagrams;
    // 0: no recording, and nothing allocated.
    std::size_t tap_slots = 0;
    // Addresses that move between hosts (keepalived): media sockets on them are bound even
    // while this host does not hold them.
    std::vector<Endpoint> floating;
    bool is_floating(const Endpoint& local) const {
        for (const auto& f : floating) {
            if (f.same_address(local)) return true;
        }
        return false;
    }
};

}  // namespace latch
