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

#include "flow.hpp"
#include "latch.hpp"
#include "port_pool.hpp"
#include "relay_config.hpp"
#include "relay_types.hpp"
#include "tap_ring.hpp"
#include "udp_socket.hpp"

namespace latch {

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
    // Sessions whose flows learned a source since the worker last reported (its capacity is
    // reserved: the packet path only appends while there is room; the sweep finds the rest).
    std::vector<SessionId>* learned = nullptr;
    // The kernel path, when the relay has one.
    KernelPath* kernel = nullptr;
    // The worker's sum of every flow's counters (see count_drop()): never null.
    FlowCounters* tally = nullptr;
    // Recording: the worker's ring of copies for the recorder (null: the relay records
    // nothing), and its counts of copies made and refused.
    TapRing* tap = nullptr;
    uint64_t* tapped = nullptr;
    uint64_t* tap_drops = nullptr;
};

class Session {
  public:
    Session(SessionId id, uint64_t now_ms)
        : id_(id), created_ms_(now_ms), last_signal_ms_(now_ms), kernel_harvest_ms_(now_ms) {}
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session();

    // Opens sockets for media streams the session does not have yet and restarts learning on
    // all of them. Returns why it failed, or nothing. On failure the media that existed before
    // stay as they were; new ones are not kept.
    WorkerFailure apply(const SessionSpec& spec, SessionEnv& env, uint64_t now_ms);

    // Closes every socket and returns the ports to the pool.
    void close(PortPool& pool);

    SessionSnapshot snapshot(unsigned worker) const;
    uint64_t last_activity_ms() const;
    // A standby's copy never times out; a session taken over counts its idle time from then.
    bool standby() const { return standby_; }
    void set_standby(bool standby, uint64_t now_ms) {
        standby_ = standby;
        last_signal_ms_ = now_ms;
    }
    SessionId id() const { return id_; }
    std::size_t media_count() const { return media_.size(); }
    // Opens or replaces the connected socket of every flow that asked for one (wants_connect)
    // and is not connected to its destination yet.
    void connect_flows(SessionEnv& env);
    // Closes up to `most` connected sockets of the session, which return after its next
    // signalling. Returns how many it closed.
    int shed_connected(int most);
    // Whether the session waits in its worker's queue for connect_flows().
    bool connect_queued = false;
    // The packet path: a flow of this session learned a source. No allocation, no lock.
    void note_learned() noexcept {
        if (learned_unreported) return;
        learned_unreported = true;
        if (learned_log_ != nullptr && learned_log_->size() < learned_log_->capacity())
            learned_log_->push_back(id_);
    }
    // A learning event not yet reported to the control thread.
    bool learned_unreported = false;

    // The kernel path (offload/kernel_sync.hpp), with the worker's env. sync_kernel() brings
    // every flow's entries in step with its latch; clear_kernel() removes them (before a
    // re-offer opens learning again, and before the session ends); harvest_kernel() folds the
    // kernel's counts into the flows' counters. Nothing without a kernel path.
    void sync_kernel(const SessionEnv& env, uint64_t now_ms);
    void clear_kernel();
    void harvest_kernel(uint64_t now_ms);
    // The same, unless done within `age_ms`: each read is two system calls per flow, too many
    // to repeat for every session whenever statistics are asked for.
    void harvest_kernel_older(uint64_t now_ms, uint64_t age_ms) {
        if (now_ms - kernel_harvest_ms_ >= age_ms) harvest_kernel(now_ms);
    }
    // Whether a flow may still get entries without a learning event (see kernel_sync()).
    bool kernel_pending() const { return kernel_pending_; }
    bool in_kernel() const;
    // A MOS sample of each RTP stream that had packets since its last, if that is at least
    // `min_interval_ms` old.
    void sample_quality(uint64_t now_ms, uint64_t min_interval_ms);
    // The packet path, for a datagram that reached userspace on a flow the kernel forwards.
    void kernel_position(Flow& flow, uint64_t now_ms) noexcept {
        if (kernel_ != nullptr) kernel_stream_position(flow, *kernel_, now_ms);
    }

    // Recording: the recording its relayed datagrams are copied to (0: none). A recorded
    // session stays out of the kernel path: every datagram has to pass here to be copied.
    uint64_t recording() const { return recording_; }
    void set_recording(uint64_t recording) { recording_ = recording; }
    // The packet path: a copy of a datagram `in` accepted from `from`, for the recorder. A
    // full ring refuses it (counted); the datagram goes on regardless.
    void tap(const Flow& in, const sockaddr* from, const uint8_t* data, std::size_t len,
             uint64_t now_ns) noexcept {
        if (tap_ != nullptr &&
            tap_->push(recording_, now_ns, Endpoint::from_sockaddr(from), in.local, data, len)) {
            ++tapped_;
            ++*tapped_total_;
        } else {
            ++tap_drops_;
            if (tap_drops_total_ != nullptr) ++*tap_drops_total_;
        }
    }

  private:
    WorkerFailure open_media(const MediaSpec& spec, SessionEnv& env);
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
    std::vector<SessionId>* learned_log_ = nullptr;
    KernelPath* kernel_ = nullptr;
    FlowCounters* tally_ = nullptr;  // set with kernel_
    bool kernel_pending_ = false;
    uint64_t kernel_harvest_ms_;  // sessions' reads spread as their calls came
    bool standby_ = false;
    uint64_t recording_ = 0;
    TapRing* tap_ = nullptr;  // set with the env in apply()
    uint64_t* tapped_total_ = nullptr;
    uint64_t* tap_drops_total_ = nullptr;
    uint64_t tapped_ = 0;
    uint64_t tap_drops_ = 0;
};

}  // namespace latch
