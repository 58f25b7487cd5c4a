// FloatingWatch: netlink address events and getifaddrs. Control thread only.
#include "floating_watch.hpp"

#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guard.hpp"
#include "log.hpp"

namespace latch {

bool holds_addresses(const std::vector<Endpoint>& addresses) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return false;
    std::size_t found = 0;
    for (const auto& want : addresses) {
        for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
            if (i->ifa_addr == nullptr) continue;
            if (Endpoint::from_sockaddr(i->ifa_addr).same_address(want)) {
                ++found;
                break;
            }
        }
    }
    freeifaddrs(list);
    return found == addresses.size();
}

FloatingWatch::FloatingWatch(uv_loop_t* loop, std::vector<Endpoint> addresses,
                             std::function<void(bool)> changed)
    : loop_(loop),
      addresses_(std::move(addresses)),
      changed_(std::move(changed)),
      held_(holds_addresses(addresses_)) {}

FloatingWatch::~FloatingWatch() {
    stop();
}

void FloatingWatch::start() {
    // Address events wake the check at once; without them (no netlink here), the timer does.
    netlink_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (netlink_ >= 0) {
        sockaddr_nl sa{};
        sa.nl_family = AF_NETLINK;
        sa.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
        if (::bind(netlink_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
            watch_readable(loop_, poll_, netlink_, this, [](uv_poll_t* h, int, int) noexcept {
                auto* self = static_cast<FloatingWatch*>(h->data);
                if (self == nullptr) return;
                char buf[8192];
                while (::recv(self->netlink_, buf, sizeof buf, MSG_DONTWAIT) > 0) {
                }
                guarded("floating address", [self] { self->check(); });
            }) != 0) {
            ::close(netlink_);
            netlink_ = -1;
        }
    }
    timer_.start(loop_, 1000, 1000, "floating address", [this] { check(); });
}

void FloatingWatch::stop() {
    poll_.reset();
    timer_.stop();
    if (netlink_ >= 0) ::close(netlink_);
    netlink_ = -1;
}

void FloatingWatch::check() {
    bool now = holds_addresses(addresses_);
    if (now == held_) return;
    held_ = now;
    if (changed_) changed_(now);
}

}  // namespace latch
