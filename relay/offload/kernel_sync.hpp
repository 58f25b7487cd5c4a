// The kernel path seen from one flow: the map entries its worker keeps in step with its latch.
// A flow whose latch is locked on a source gets a lock entry (the kernel drops strangers to its
// port); once its peer also has somewhere to send, a flow entry (the kernel forwards the
// source's datagrams itself). Whatever the kernel counted is folded into the flow's counters
// when read. Every function runs on the flow's worker; none is on the per-datagram path except
// kernel_stream_position(), for datagrams the kernel handed up from a forwarded flow's source
// address.
#pragma once

#include <cstdint>

#include "latch_maps.h"

namespace latch {

class KernelPath;
struct Flow;
struct FlowCounters;

// (Whether a flow entry forwards the learned source's datagrams is Flow::kernel_flow, among the
// fields every datagram reads.)
struct KernelEntry {
    bool lock = false;  // a lock entry drops other addresses' datagrams
    latch_flow_key key{};
    latch_flow_action action{};  // as written (its counters 0, no seed)
    // What the program measured of the stream since it took it over, as last read (see
    // StreamQuality::figures()).
    latch_rtp_quality quality{};
    latch_lock_key lock_key{};
    latch_lock_value lock_value{};
    // What of the entries' counts is already in the flow's counters.
    uint64_t packets = 0, bytes = 0, drops = 0;
    uint64_t position_read_ms = 0;  // when kernel_stream_position() last asked the kernel
};

// Brings the flow's entries in step with its latch: written, changed or removed. `allowed`:
// whether the flow may be in the kernel at all (its session is not a standby's copy, its
// address is served). Returns false when the flow may still want entries later without a
// learning event telling (a candidate source while the learning window is open). `tally`:
// the worker's sum of its flows' counters, which every harvest adds to as well.
bool kernel_sync(Flow& flow, KernelPath& kernel, bool allowed, FlowCounters& tally) noexcept;
// Folds what the kernel counted since the last read into the flow's counters (and into its
// peer's sent counters) and into `tally`.
void kernel_harvest(Flow& flow, const KernelPath& kernel, FlowCounters& tally) noexcept;
// Harvests and removes the flow's entries.
void kernel_clear(Flow& flow, KernelPath& kernel, FlowCounters& tally) noexcept;
// A datagram from the learned address but another port reached userspace while the kernel
// forwards the stream: the latch learns the stream's position from the kernel, so that a NAT's
// rebinding is recognised (at most once per millisecond).
void kernel_stream_position(Flow& flow, const KernelPath& kernel, uint64_t now_ms) noexcept;

}  // namespace latch
