// Keeping a flow's kernel entries in step with its latch, and folding in the kernel's counts.
#include "kernel_sync.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "flow.hpp"
#include "kernel_path.hpp"

namespace latch {
namespace {

void put_address(const Endpoint& e, __u8 (&addr)[16], __be16& port) {
    std::memset(addr, 0, sizeof addr);
    if (e.family() == AF_INET6) {
        const auto* sa = reinterpret_cast<const sockaddr_in6*>(e.sockaddr_ptr());
        std::memcpy(addr, &sa->sin6_addr, 16);
        port = sa->sin6_port;
    } else {
        const auto* sa = reinterpret_cast<const sockaddr_in*>(e.sockaddr_ptr());
        std::memcpy(addr, &sa->sin_addr, 4);
        port = sa->sin_port;
    }
}

// Whether the latch lets only its learned source send, as the lock entry enforces.
bool lockable(const Latch& latch) {
    const LatchPolicy& p = latch.policy();
    return latch.state() == LatchState::confirmed && !p.asymmetric && !p.media_handover &&
           p.learning != LearningMode::off;
}

bool same(const void* a, const void* b, std::size_t n) {
    return std::memcmp(a, b, n) == 0;
}

void drop_flow_entry(Flow& flow, KernelPath& kernel, FlowCounters& tally) {
    if (!flow.kernel_flow) return;
    kernel_harvest(flow, kernel, tally);
    kernel.remove_flow(flow.kernel.key);
    flow.kernel_flow = false;
    flow.kernel.packets = flow.kernel.bytes = 0;
    // What the program measured of the stream is the flow's own from now on.
    flow.quality.absorb(flow.kernel.quality);
    flow.kernel.quality = latch_rtp_quality{};
}

void drop_lock_entry(Flow& flow, KernelPath& kernel, FlowCounters& tally) {
    if (!flow.kernel.lock) return;
    kernel_harvest(flow, kernel, tally);
    kernel.remove_lock(flow.kernel.lock_key);
    flow.kernel.lock = false;
    flow.kernel.drops = 0;
}

}  // namespace

bool kernel_sync(Flow& flow, KernelPath& kernel, bool allowed, FlowCounters& tally) noexcept {
    const Latch& latch = flow.latch;
    bool want_lock = allowed && flow.socket && flow.transport == Transport::rtp &&
                     kernel.serves(flow.local) && lockable(latch);
    if (!want_lock) {
        drop_flow_entry(flow, kernel, tally);
        drop_lock_entry(flow, kernel, tally);
        return !allowed || latch.state() != LatchState::learning;
    }
    latch_lock_key lock_key{};
    latch_lock_value lock_value{};
    __be16 unused = 0;
    lock_key.family = static_cast<__u8>(flow.local.family());
    put_address(flow.local, lock_key.local_addr, lock_key.local_port);
    put_address(latch.learned(), lock_value.remote_addr, unused);
    if (!flow.kernel.lock || !same(&lock_key, &flow.kernel.lock_key, sizeof lock_key) ||
        !same(lock_value.remote_addr, flow.kernel.lock_value.remote_addr, 16)) {
        drop_lock_entry(flow, kernel, tally);
        if (kernel.put_lock(lock_key, lock_value)) {
            flow.kernel.lock = true;
            flow.kernel.lock_key = lock_key;
            flow.kernel.lock_value = lock_value;
        }
    }

    // The flow entry: the learned source's datagrams leave from the peer's socket toward where
    // the peer's media goes, as the packet path would send them.
    const Flow& peer = *flow.peer;
    const Endpoint* to = peer.latch.destination();
    // RTCP stays in userspace (see the program): an RTCP port has no flow entry, only its lock.
    bool want_flow = flow.component == 0 && to != nullptr && peer.socket &&
                     to->family() == peer.local.family() && !to->is_unspecified_address() &&
                     to->port() != 0;
    if (!want_flow) {
        drop_flow_entry(flow, kernel, tally);
        return true;
    }
    latch_flow_key key{};
    key.family = static_cast<__u8>(flow.local.family());
    put_address(flow.local, key.local_addr, key.local_port);
    put_address(latch.learned(), key.remote_addr, key.remote_port);
    latch_flow_action action{};
    action.flags = static_cast<__u8>((flow.component == 1 ? LATCH_FLOW_RTCP : 0) |
                                     (flow.rtcp_mux ? LATCH_FLOW_MUX : 0) |
                                     (kernel.forwards(flow.local) ? 0 : LATCH_FLOW_OWN_ROUTE) |
                                     (flow.measured ? LATCH_FLOW_MEASURE : 0));
    action.tos = peer.tos;
    action.ifindex = kernel.ifindex_of(peer.local);
    put_address(peer.local, action.src_addr, action.src_port);
    put_address(*to, action.dst_addr, action.dst_port);
    if (flow.kernel_flow && same(&key, &flow.kernel.key, sizeof key) &&
        same(&action, &flow.kernel.action, sizeof action))
        return true;
    drop_flow_entry(flow, kernel, tally);
    latch_flow_action written = action;
    written.quality = flow.quality.seed();  // the program measures the stream on from here
    if (kernel.put_flow(key, written)) {
        flow.kernel_flow = true;
        flow.kernel.key = key;
        flow.kernel.action = action;
        flow.kernel.quality = written.quality;
        flow.kernel.packets = flow.kernel.bytes = 0;
    }
    return true;
}

void kernel_harvest(Flow& flow, const KernelPath& kernel, FlowCounters& tally) noexcept {
    KernelEntry& k = flow.kernel;
    latch_flow_action now{};
    if (flow.kernel_flow && kernel.read_flow(k.key, now) && now.packets >= k.packets) {
        uint64_t packets = now.packets - k.packets, bytes = now.bytes - k.bytes;
        k.packets = now.packets;
        k.bytes = now.bytes;
        k.quality = now.quality;
        for (FlowCounters* in : {&flow.counters, &tally}) {
            in->packets_in += packets;
            in->bytes_in += bytes;
            in->kernel_packets += packets;
        }
        for (FlowCounters* out : {&flow.peer->counters, &tally}) {
            out->packets_out += packets;
            out->bytes_out += bytes;
        }
        // bpf_ktime_get_ns() and uv_now() both count CLOCK_MONOTONIC.
        if (packets != 0)
            flow.counters.last_packet_ms =
                std::max<uint64_t>(flow.counters.last_packet_ms, now.last_ns / 1000000);
    }
    latch_lock_value lock{};
    if (k.lock && kernel.read_lock(k.lock_key, lock) && lock.drops >= k.drops) {
        uint64_t drops = lock.drops - k.drops;
        k.drops = lock.drops;
        for (FlowCounters* in : {&flow.counters, &tally}) {
            in->packets_in += drops;
            in->drops[static_cast<std::size_t>(DropReason::foreign_source)] += drops;
        }
    }
}

void kernel_clear(Flow& flow, KernelPath& kernel, FlowCounters& tally) noexcept {
    drop_flow_entry(flow, kernel, tally);
    drop_lock_entry(flow, kernel, tally);
}

void kernel_stream_position(Flow& flow, const KernelPath& kernel, uint64_t now_ms) noexcept {
    KernelEntry& k = flow.kernel;
    if (!flow.kernel_flow || k.position_read_ms == now_ms) return;
    k.position_read_ms = now_ms;
    latch_flow_action now{};
    if (kernel.read_flow(k.key, now) && now.packets != 0)
        flow.latch.resume_stream(now.last_ssrc, now.last_seq);
}

}  // namespace latch
