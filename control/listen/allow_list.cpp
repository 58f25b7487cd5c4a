// Networks and the control sockets' allow-list. Any thread.
#include "allow_list.hpp"

#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <stdexcept>
#include <string>

namespace latch {
namespace {

// The address bytes of an endpoint (4 or 16), in network order.
const uint8_t* address_bytes(const Endpoint& ep) {
    const sockaddr* sa = ep.sockaddr_ptr();
    if (sa->sa_family == AF_INET) {
        return reinterpret_cast<const uint8_t*>(
            &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
    }
    return reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
}

}  // namespace

bool Network::contains(const Endpoint& ep) const {
    if (ep.family() != address.family()) {
        // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
        if (ep.family() == AF_INET6 && address.family() == AF_INET) {
            const uint8_t* b = address_bytes(ep);
            static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            if (std::memcmp(b, kMapped, 12) != 0) return false;
            auto v4 = Endpoint::parse(std::to_string(b[12]) + "." + std::to_string(b[13]) + "." +
                                          std::to_string(b[14]) + "." + std::to_string(b[15]),
                                      0);
            return v4 && contains(*v4);
        }
        return false;
    }
    const uint8_t* a = address_bytes(address);
    const uint8_t* b = address_bytes(ep);
    unsigned full = prefix / 8, rest = prefix % 8;
    if (std::memcmp(a, b, full) != 0) return false;
    if (rest == 0) return true;
    auto mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

Network parse_network(std::string_view text) {
    auto slash = text.find('/');
    auto address = Endpoint::parse(text.substr(0, slash), 0);
    if (!address)
        throw std::invalid_argument("'" + std::string(text) + "' is not ADDRESS[/PREFIX]");
    unsigned max = address->family() == AF_INET ? 32 : 128;
    unsigned prefix = max;
    if (slash != std::string_view::npos) {
        std::string_view p = text.substr(slash + 1);
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
        if (ec != std::errc{} || end != p.data() + p.size() || prefix > max) {
            throw std::invalid_argument("'" + std::string(text) +
                                        "': the prefix length must be 0 to " + std::to_string(max));
        }
    }
    return Network{*address, prefix};
}

AllowList AllowList::loopback() {
    return AllowList({parse_network("127.0.0.0/8"), parse_network("::1")});
}

bool AllowList::allows(const Endpoint& source) const {
    for (const auto& n : networks_) {
        if (n.contains(source)) return true;
    }
    return false;
}

}  // namespace latch
