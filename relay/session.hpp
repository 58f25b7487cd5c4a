// Session: one call's media on one worker: per media stream and leg, an RTP and an RTCP flow,
// each with its socket, latch and counters. Created, used and destroyed on its worker's thread.
#pragma once

#include <uv.h>

#include <array>
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
struct Flow {
    Flow* peer = nullptr;  // same media and component on the other leg
    PolledUdp socket;
    uint8_t component = 0;
    Transport transport = Transport::rtp;
    bool rtcp_mux = false;
    FlowCounters counters;
    Latch latch;
    Session* session = nullptr;
    Endpoint local;
};

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

private:
    std::string open_media(const MediaSpec& spec, SessionEnv& env);
    static void close_media(Media& media, PortPool& pool);

    SessionId id_;
    uint64_t created_ms_;
    uint64_t last_signal_ms_;
    std::vector<std::unique_ptr<Media>> media_;  // stable addresses: handles point at flows
};

}  // namespace latch
