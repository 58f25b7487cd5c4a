// Session: one call's media on one worker: per media stream and leg, an RTP and an RTCP flow,
// each with its socket, latch and counters. Created, used and destroyed on its worker's thread.
#pragma once

#include <uv.h>

#include <array>
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "latch.hpp"
#include "port_pool.hpp"
#include "relay_config.hpp"
#include "relay_types.hpp"
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
    uint8_t tos = 0;
    FlowCounters counters;
    Latch latch;
    Session* session = nullptr;
    Endpoint local;
    Endpoint connected_to;

    // Whether sends to `to` can leave by the connected socket.
    bool connected_toward(const Endpoint& to) const { return connected && connected_to == to; }
};

// What a connected socket is added to its watch with: the flow's address with the low bit set,
// so that the packet path knows which of the flow's sockets a datagram arrived on.
inline void* connected_tag(Flow* flow) { return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(flow) | 1U); }
inline Flow* flow_of(void* data) { return reinterpret_cast<Flow*>(reinterpret_cast<uintptr_t>(data) & ~uintptr_t{1}); }
inline bool is_connected_tag(void* data) { return (reinterpret_cast<uintptr_t>(data) & 1U) != 0; }

struct Media {
    Transport transport = Transport::rtp;
    bool rtcp_mux = false;
    uint8_t tos = 0;
    std::array<uint16_t, kLegs> ports{};  // RTP port of each leg's pair (0: none)
    std::array<std::array<Flow, kComponents>, kLegs> flows;
};

// What a session needs from its worker to open sockets.
struct SessionEnv {
    SocketWatch* sockets = nullptr;  // where the flows' sockets are watched
    PortPool* pool = nullptr;
    const RelayConfig* config = nullptr;
    // Connected sockets are opened only below this descriptor number, and when a call finds
    // no descriptor left, shed_connected() closes a few of the worker's connected sockets to
    // make room (returning how many it closed).
    int connected_fd_limit = INT_MAX;
    std::function<int()> shed_connected;
};

class Session {
public:
    Session(SessionId id, uint64_t now_ms) : id_(id), created_ms_(now_ms), last_signal_ms_(now_ms) {}
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session();

    // Opens sockets for media streams the session does not have yet and restarts learning on
    // all of them. Returns an error sentence, or an empty string on success. On failure the
    // media that existed before stay as they were; new ones are not kept.
    std::string apply(const SessionSpec& spec, SessionEnv& env, uint64_t now_ms);

    // Closes every socket and returns the ports to the pool.
    void close(PortPool& pool);

    SessionSnapshot snapshot(unsigned worker) const;
    uint64_t last_activity_ms() const;
    SessionId id() const { return id_; }
    std::size_t media_count() const { return media_.size(); }
    void add_totals(FlowCounters& into) const;
    // Opens or replaces the connected socket of every flow that asked for one (wants_connect)
    // and is not connected to its destination yet.
    void connect_flows(SessionEnv& env);
    // Closes up to `most` connected sockets of the session, which return after its next
    // signalling. Returns how many it closed.
    int shed_connected(int most);
    // Whether the session waits in its worker's queue for connect_flows().
    bool connect_queued = false;

private:
    std::string open_media(const MediaSpec& spec, SessionEnv& env);
    static void close_media(Media& media, PortPool& pool);
    // Calls f(flow) for every flow of every media, leg and component.
    template <typename F>
    void for_each_flow(F&& f) {
        for (auto& media : media_)
            for (auto& leg : media->flows)
                for (auto& flow : leg) f(flow);
    }
    template <typename F>
    void for_each_flow(F&& f) const {
        for (const auto& media : media_)
            for (const auto& leg : media->flows)
                for (const auto& flow : leg) f(flow);
    }

    SessionId id_;
    uint64_t created_ms_;
    uint64_t last_signal_ms_;
    std::vector<std::unique_ptr<Media>> media_;  // stable addresses: handles point at flows
};

}  // namespace latch
