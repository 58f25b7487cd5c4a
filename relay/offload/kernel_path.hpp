// KernelPath: the BPF program (bpf/latch_fwd.bpf.c) loaded and attached to the ingress of the
// devices that hold the relay's addresses, and its maps, into which workers write the flows they
// have locked. One per relay: opened and closed on the control thread; its map operations are
// system calls any worker may make at once, without a lock in userspace.
#pragma once

#include <uv.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "endpoint.hpp"
#include "latch_maps.h"
#include "relay_config.hpp"
#include "timer.hpp"

namespace latch {

class KernelPath {
  public:
    // Loads the program and attaches it to every Ethernet device that holds one of `addresses`
    // (loopback and wildcard addresses stay in userspace: the program forwards between
    // devices). Logs which path each address uses. With `automatic`, a kernel path that cannot
    // be had gives nullptr and one log line; with `on` it throws std::runtime_error saying why.
    // `off` gives nullptr. The heartbeat runs on `loop` (see LATCH_ALIVE_GRACE_NS).
    static std::unique_ptr<KernelPath> open(KernelMode mode, const std::vector<Endpoint>& addresses,
                                            uv_loop_t* loop);
    ~KernelPath();
    KernelPath(const KernelPath&) = delete;
    KernelPath& operator=(const KernelPath&) = delete;

    // Whether datagrams to this local address reach the program.
    bool serves(const Endpoint& local) const { return ifindex_of(local) != 0; }
    // The device that holds a served address (0: not served).
    unsigned ifindex_of(const Endpoint& local) const;
    // Whether that device forwarded (its forwarding sysctl for the address's family) at start.
    bool forwards(const Endpoint& local) const;
    // What it attached, for logs and statistics: "eth1 (tcx)".
    const std::vector<std::string>& devices() const { return devices_; }

    // Any thread. False when the kernel refused (the map is full, out of memory): the flow stays
    // in userspace.
    bool put_flow(const latch_flow_key& key, const latch_flow_action& action) noexcept;
    bool read_flow(const latch_flow_key& key, latch_flow_action& action) const noexcept;
    void remove_flow(const latch_flow_key& key) noexcept;
    bool put_lock(const latch_lock_key& key, const latch_lock_value& value) noexcept;
    bool read_lock(const latch_lock_key& key, latch_lock_value& value) const noexcept;
    void remove_lock(const latch_lock_key& key) noexcept;

    // Stops the heartbeat and detaches the program. Idempotent; the destructor calls it.
    void close();

    struct Impl;

  private:
    explicit KernelPath(std::unique_ptr<Impl> impl);
    void beat();

    std::unique_ptr<Impl> impl_;
    struct Served {
        Endpoint address;
        unsigned ifindex = 0;
        bool forwards = false;
    };
    std::vector<Served> served_;  // addresses on an attached device
    std::vector<std::string> devices_;
    Timer heartbeat_;
};

}  // namespace latch
