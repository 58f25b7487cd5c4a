// Endpoint parsing and formatting. Any thread.
#include "endpoint.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace latch {

std::optional<Endpoint> Endpoint::parse(std::string_view address, uint16_t port) {
    char buf[INET6_ADDRSTRLEN];
    if (address.empty() || address.size() >= sizeof buf) return std::nullopt;
    std::memcpy(buf, address.data(), address.size());
    buf[address.size()] = '\0';

    Endpoint ep;
    if (inet_pton(AF_INET, buf, &ep.storage_.v4.sin_addr) == 1) {
        ep.storage_.v4.sin_family = AF_INET;
        ep.storage_.v4.sin_port = htons(port);
        return ep;
    }
    if (inet_pton(AF_INET6, buf, &ep.storage_.v6.sin6_addr) == 1) {
        ep.storage_.v6.sin6_family = AF_INET6;
        ep.storage_.v6.sin6_port = htons(port);
        return ep;
    }
    return std::nullopt;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
    std::string_view host;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find("]:");
        if (close == std::string_view::npos) return std::nullopt;
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535 ||
        port_text.empty()) {
        return std::nullopt;
    }
    return parse(host, static_cast<uint16_t>(port));
}

Endpoint Endpoint::from_sockaddr(const sockaddr* sa) {
    Endpoint ep;
    if (sa == nullptr) return ep;
    if (sa->sa_family == AF_INET) {
        std::memcpy(&ep.storage_.v4, sa, sizeof(sockaddr_in));
    } else if (sa->sa_family == AF_INET6) {
        std::memcpy(&ep.storage_.v6, sa, sizeof(sockaddr_in6));
    }
    return ep;
}

uint16_t Endpoint::port() const {
    switch (family()) {
        case AF_INET:
            return ntohs(storage_.v4.sin_port);
        case AF_INET6:
            return ntohs(storage_.v6.sin6_port);
        default:
            return 0;
    }
}

Endpoint Endpoint::with_port(uint16_t port) const {
    Endpoint ep = *this;
    if (family() == AF_INET) ep.storage_.v4.sin_port = htons(port);
    if (family() == AF_INET6) ep.storage_.v6.sin6_port = htons(port);
    return ep;
}

bool Endpoint::is_unspecified_address() const {
    if (family() == AF_INET) return storage_.v4.sin_addr.s_addr == htonl(INADDR_ANY);
    if (family() == AF_INET6) return IN6_IS_ADDR_UNSPECIFIED(&storage_.v6.sin6_addr);
    return false;
}

bool Endpoint::is_private_address() const {
    if (family() == AF_INET) {
        uint32_t a = ntohl(storage_.v4.sin_addr.s_addr);
        auto in = [a](uint32_t net, int bits) {
            return (a >> (32 - bits)) == (net >> (32 - bits));
        };
        return in(0x0A000000, 8) || in(0xAC100000, 12) || in(0xC0A80000, 16) ||
               in(0x64400000, 10) || in(0xA9FE0000, 16);
    }
    if (family() == AF_INET6) {
        const uint8_t* b = storage_.v6.sin6_addr.s6_addr;
        return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
    }
    return false;
}

bool Endpoint::same_address(const Endpoint& other) const {
    if (family() != other.family()) return false;
    if (family() == AF_INET)
        return storage_.v4.sin_addr.s_addr == other.storage_.v4.sin_addr.s_addr;
    if (family() == AF_INET6) {
        return std::memcmp(&storage_.v6.sin6_addr, &other.storage_.v6.sin6_addr,
                           sizeof(in6_addr)) == 0;
    }
    return true;  // both unset
}

socklen_t Endpoint::sockaddr_len() const {
    return family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

std::string Endpoint::address_string() const {
    char buf[INET6_ADDRSTRLEN] = "";
    if (family() == AF_INET) inet_ntop(AF_INET, &storage_.v4.sin_addr, buf, sizeof buf);
    if (family() == AF_INET6) inet_ntop(AF_INET6, &storage_.v6.sin6_addr, buf, sizeof buf);
    return buf;
}

std::string Endpoint::to_string() const {
    if (!is_set()) return "-";
    auto port_text = std::to_string(port());
    if (family() == AF_INET6) return "[" + address_string() + "]:" + port_text;
    return address_string() + ":" + port_text;
}

}  // namespace latch
