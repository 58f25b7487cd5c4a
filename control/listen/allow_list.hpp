// AllowList: the networks whose datagrams the control sockets answer (default: loopback).
// Read on the control thread; a reload replaces it there.
#pragma once

#include <string_view>
#include <vector>

#include "endpoint.hpp"

namespace latch {

struct Network {
    Endpoint address;  // port unused
    unsigned prefix = 0;
    bool contains(const Endpoint& ep) const;
};

// "10.0.0.0/8", "2001:db8::/32", or an address alone (a host). Throws std::invalid_argument.
Network parse_network(std::string_view text);

class AllowList {
  public:
    AllowList() = default;
    explicit AllowList(std::vector<Network> networks) : networks_(std::move(networks)) {}
    static AllowList loopback();
    bool allows(const Endpoint& source) const;
    const std::vector<Network>& networks() const { return networks_; }

  private:
    std::vector<Network> networks_;
};

}  // namespace latch
