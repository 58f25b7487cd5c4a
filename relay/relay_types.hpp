// The values that cross between the control thread and the workers: session specifications,
// commands, replies and statistics snapshots. Plain data, no pointers; any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "endpoint.hpp"
#include "latch.hpp"
#include "stream_quality.hpp"

namespace latch {

using SessionId = uint64_t;

inline constexpr int kLegs = 2;        // 0: the offerer's side, 1: the answerer's side
inline constexpr int kComponents = 2;  // 0: RTP, 1: RTCP

enum class Transport : uint8_t {
    rtp,      // RTP on the even port, RTCP on the odd port; headers checked
    non_rtp,  // datagrams relayed as they are (T.38 UDPTL and the like); odd port unused
};

enum class DropReason : uint8_t {
    malformed,        // not a valid packet for the stream's transport
    wrong_component,  // RTP on the RTCP port or RTCP on the RTP port (without rtcp-mux)
    foreign_source,   // not from the learned source
    not_learnable,    // from an unknown source and unfit to teach one (SSRC 0)
    unproven_source,  // from a source still proving itself, or RTCP from an address its RTP has not
                      // proven
    no_destination,   // the other side has no address yet (on hold, nothing signalled)
    send_failed,      // the kernel refused the send (EAGAIN, unreachable...)
    too_large,        // larger than any media packet (kMaxMediaPacket)
    receive_error,    // the socket reported an error instead of a datagram
    count_
};
inline constexpr std::size_t kDropReasons = static_cast<std::size_t>(DropReason::count_);
// RTP, RTCP and UDPTL packets stay well under an Ethernet MTU; a datagram beyond this is junk.
inline constexpr std::size_t kMaxMediaPacket = 8192;
std::string_view drop_reason_name(DropReason reason);

struct FlowCounters {
    uint64_t packets_in = 0;  // every datagram received, dropped ones included
    uint64_t bytes_in = 0;
    uint64_t packets_out = 0;  // sent from this flow's socket toward its endpoint
    uint64_t bytes_out = 0;
    uint64_t learned = 0;         // times a source was (re)learned
    uint64_t kernel_packets = 0;  // of packets_in, forwarded by the kernel path
    std::array<uint64_t, kDropReasons> drops{};
    uint64_t last_packet_ms = 0;  // monotonic (uv_now) time of the last accepted packet; 0: never

    uint64_t total_drops() const;
    FlowCounters& operator+=(const FlowCounters& other);
};

// What signalling says about one leg of one media stream.
struct LegSpec {
    Endpoint local;          // address to bind the relay sockets on (port ignored)
    Endpoint expected_rtp;   // where the endpoint said it receives RTP; unset or 0.0.0.0: none
    Endpoint expected_rtcp;  // unset: the RTP port + 1 (or the RTP port with rtcp-mux)
    LatchPolicy policy;
    Endpoint sip_source;  // where the party's signalling came from (port ignored); unset: unknown
    // The clock rates of the payload types the party sends (for its stream's jitter).
    ClockRates clock_rates{};
    // A call restored from elsewhere (a restart, a standby taking over): the sources its RTP
    // and RTCP streams had learned, and how far, learned again without a new learning window.
    struct Learned {
        Endpoint source;
        LatchState state = LatchState::unlearned;
    };
    std::array<Learned, 2> learned{};
};

struct MediaSpec {
    Transport transport = Transport::rtp;
    bool rtcp_mux = false;  // RTCP shares the RTP port
    uint8_t tos = 0;        // the IP TOS / traffic class byte of the relay's packets (DSCP << 2)
    std::array<LegSpec, kLegs> legs;
    // The RTP port each leg must have (a restored call keeps its ports); 0: any free one.
    std::array<uint16_t, kLegs> ports{};
};

struct SessionSpec {
    std::vector<MediaSpec> media;
    // A standby's copy of a call another instance serves: its sockets wait on the floating
    // address for it to arrive, and it never times out here (its record says when it ends).
    bool standby = false;
    // The recording the session's relayed datagrams are copied to (relay/tap); 0: none.
    uint64_t recording = 0;
    // How long after this signalling a source may be learned; unset: the relay's configured
    // window (the control plane sets it once a reload changed it).
    std::optional<uint32_t> learning_window_ms = std::nullopt;
};

struct FlowSnapshot {
    Endpoint local;
    Endpoint expected;
    Endpoint learned;
    LatchState state = LatchState::unlearned;
    Endpoint connected;   // where the flow's connected socket is connected to; unset: none
    bool kernel = false;  // the kernel path forwards its learned source's datagrams
    FlowCounters counters;
    QualityFigures quality;  // of the RTP that arrived on it
};

struct MediaSnapshot {
    Transport transport = Transport::rtp;
    bool rtcp_mux = false;
    // [leg][component]; for non-RTP transports only the RTP component has a socket.
    std::array<std::array<FlowSnapshot, kComponents>, kLegs> flows;
};

struct SessionSnapshot {
    SessionId id = 0;
    unsigned worker = 0;
    uint64_t created_ms = 0;  // monotonic (uv_now) times
    uint64_t last_signal_ms = 0;
    uint64_t last_packet_ms = 0;  // 0: never
    std::vector<MediaSnapshot> media;
    uint64_t recording = 0;        // what its datagrams are copied to; 0: nothing
    uint64_t recorded = 0;         // copies handed to the recorder, over the session
    uint64_t recording_drops = 0;  // copies refused by a full ring (the datagram was relayed)
};

struct WorkerStats {
    unsigned worker = 0;
    uint64_t sessions = 0;
    uint64_t streams = 0;  // media streams of the live sessions
    uint64_t sessions_created = 0;
    uint64_t sessions_timed_out = 0;
    uint64_t ports_capacity = 0;  // pairs
    uint64_t ports_available = 0;
    FlowCounters totals;           // every flow, live and ended
    uint64_t recorded = 0;         // copies handed to the recorder
    uint64_t recording_drops = 0;  // copies a full ring refused

    WorkerStats& operator+=(const WorkerStats& other);
};

// The sum of several workers' counters (worker is left 0).
WorkerStats total(const std::vector<WorkerStats>& workers);

enum class Op : uint8_t {
    create,
    update,
    query,
    remove,
    stats,
    shutdown,  // ends every session and the worker's loop; no reply
    learned,   // unsolicited: a flow of the session learned or re-latched its source
    standby,   // sets the session's standby flag (spec.standby) and nothing else: no new window
    record,    // sets the session's recording (spec.recording; 0 stops copying), nothing else
};

struct WorkerCommand {
    uint64_t request = 0;  // echoed in the reply
    Op op = Op::query;
    SessionId session = 0;
    SessionSpec spec;  // create, update
};

enum class ReplyStatus : uint8_t { ok, error, timed_out };

// Why a worker refused a command: a code the control plane acts on (each protocol maps it to its
// own error), with a detail for people.
enum class WorkerError : uint8_t {
    none,
    session_exists,
    unknown_session,
    no_ports,        // the worker's slice of the port range is used up
    no_descriptors,  // the process's descriptor limit is reached
    cannot_bind,     // the interface's address cannot be bound (detail: address and reason)
    no_local_address,
    port_unavailable,  // a port a restored call needs is not this worker's, in use or taken
    shutting_down,
    internal,  // an unexpected failure (detail: what)
};
std::string_view worker_error_text(WorkerError error);

struct WorkerFailure {
    WorkerError code = WorkerError::none;
    std::string detail;
    explicit operator bool() const { return code != WorkerError::none; }
    // "no ports available", "cannot bind 203.0.113.254: address not available"...
    std::string text() const;
};

struct WorkerReply {
    uint64_t request = 0;  // 0 for unsolicited replies (timed_out, learned)
    Op op = Op::query;
    ReplyStatus status = ReplyStatus::ok;
    SessionId session = 0;
    unsigned worker = 0;
    WorkerFailure failure;     // status == error
    SessionSnapshot snapshot;  // create, update, query, remove, timed_out, learned
    WorkerStats stats;         // stats
};

}  // namespace latch
