// Logical interfaces: a name, the local address the relay binds media sockets on, and the
// address written into SDP (differs for a relay behind a 1:1 NAT). Immutable after start-up.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "endpoint.hpp"

namespace latch {

struct Interface {
    std::string name;
    Endpoint bind;           // port 0
    std::string advertised;  // address for SDP; the bind address when empty

    std::string sdp_address() const {
        return advertised.empty() ? bind.address_string() : advertised;
    }
    std::string sdp_family() const { return bind.family() == AF_INET6 ? "IP6" : "IP4"; }
};

// "NAME=ADDRESS[!ADVERTISED]" or "ADDRESS[!ADVERTISED]" (named "default"). Throws
// std::invalid_argument when an address is not a literal IP address of one family.
Interface parse_interface(std::string_view text);

// The interface called `name` (the first one when `name` is empty), preferring `family`
// (AF_INET, AF_INET6, or AF_UNSPEC for any) where the name has one of each. nullptr if none.
const Interface* find_interface(const std::vector<Interface>& interfaces, std::string_view name,
                                int family = AF_UNSPEC);

}  // namespace latch
