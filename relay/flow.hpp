// Flow: one socket's worth of a session's media (a leg's RTP or RTCP), as the packet path sees
// it: its peer on the other leg, its sockets, latch and counters. Owned by its session, on the
// session's worker; the packet path reads and writes it without locks.
#pragma once

#include <cstdint>

#include "kernel_sync.hpp"
#include "latch.hpp"
#include "relay_types.hpp"
#include "stream_quality.hpp"
#include "udp_socket.hpp"

namespace latch {

class Session;

// One direction-neutral socket: receives from its leg's endpoint, sends toward it.
// Ordered for the packet path: what every datagram reads comes first, so that a packet touches
// as few cache lines of a cold flow as it can.
//
// On io_uring a flow that carries media also gets a connected socket on its port, toward where
// its media goes (its latch's destination): the kernel hands it that endpoint's datagrams and
// its sends skip a route lookup. The first socket keeps receiving from everyone else, so
// learning, re-latching and the counts of foreign sources work as before.
struct Flow {
    Flow* peer = nullptr;  // same media and component on the other leg
    PolledUdp socket;
    PolledUdp connected;  // open while connected_to is the latch's destination, or was
    uint8_t component = 0;
    Transport transport = Transport::rtp;
    bool rtcp_mux = false;
    bool wants_connect = false;   // the packet path asked for `connected` (see Worker)
    bool connect_failed = false;  // the kernel refused it: not asked again until signalling
    bool kernel_flow = false;     // the kernel path forwards the learned source's datagrams
    bool measured = true;         // quality figures are kept (RelayConfig::quality_figures)
    uint8_t tos = 0;
    FlowCounters counters;
    Latch latch;
    StreamQuality quality;  // of the RTP arriving here
    Flow* rtp = nullptr;  // an RTCP flow's RTP flow (same media and leg), whose learning it follows
    Session* session = nullptr;
    Endpoint local;
    Endpoint connected_to;
    KernelEntry kernel;  // its entries in the kernel path's maps (cold: signalling, sweeps)

    // Whether sends to `to` can leave by the connected socket.
    bool connected_toward(const Endpoint& to) const { return connected && connected_to == to; }
};

// What a connected socket is added to its watch with: the flow's address with the low bit set,
// so that the packet path knows which of the flow's sockets a datagram arrived on.
inline void* connected_tag(Flow* flow) {
    return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(flow) | 1U);
}
inline Flow* flow_of(void* data) {
    return reinterpret_cast<Flow*>(reinterpret_cast<uintptr_t>(data) & ~uintptr_t{1});
}
inline bool is_connected_tag(void* data) {
    return (reinterpret_cast<uintptr_t>(data) & 1U) != 0;
}

}  // namespace latch
