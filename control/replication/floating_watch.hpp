// FloatingWatch: whether this host holds the floating address(es) that keepalived moves between
// a relay and its standby. The holder is the active instance: it serves the calls and writes
// their records; the other follows them, its sockets bound and waiting. Told by the kernel
// (netlink address events) the moment an address comes or goes, checked again every second
// besides. Control thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <vector>

#include "endpoint.hpp"
#include "timer.hpp"
#include "uv_handle.hpp"

namespace latch {

// Whether this host holds every one of `addresses` now.
bool holds_addresses(const std::vector<Endpoint>& addresses);

class FloatingWatch {
  public:
    // `changed(held)` runs when the answer changes (not at start: ask held()).
    FloatingWatch(uv_loop_t* loop, std::vector<Endpoint> addresses,
                  std::function<void(bool held)> changed);
    FloatingWatch(const FloatingWatch&) = delete;
    FloatingWatch& operator=(const FloatingWatch&) = delete;
    ~FloatingWatch();

    void start();
    void stop();
    bool held() const { return held_; }
    void check();

  private:
    uv_loop_t* loop_;
    std::vector<Endpoint> addresses_;
    std::function<void(bool)> changed_;
    bool held_ = false;
    int netlink_ = -1;
    UvPtr<uv_poll_t> poll_;
    Timer timer_;
};

}  // namespace latch
