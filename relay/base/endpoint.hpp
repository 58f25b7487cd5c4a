// Endpoint: an IPv4 or IPv6 address and UDP port, as a plain value that may cross threads.
// Any thread; the comparisons are used on the packet path, so they stay allocation-free.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace latch {

class Endpoint {
  public:
    Endpoint() { storage_.sa.sa_family = AF_UNSPEC; }

    // "192.0.2.1" or "2001:db8::1" (no brackets) plus a port; nullopt if not an address.
    static std::optional<Endpoint> parse(std::string_view address, uint16_t port);
    // "192.0.2.1:5060", "[2001:db8::1]:5060"; nullopt on anything else.
    static std::optional<Endpoint> parse(std::string_view address_and_port);
    // Copies an AF_INET/AF_INET6 sockaddr; any other family gives an unset endpoint.
    static Endpoint from_sockaddr(const sockaddr* sa);

    bool is_set() const { return family() == AF_INET || family() == AF_INET6; }
    int family() const { return storage_.sa.sa_family; }
    uint16_t port() const;
    Endpoint with_port(uint16_t port) const;
    // 0.0.0.0 or :: (SDP uses it for "do not send to me").
    bool is_unspecified_address() const;
    // An address that is not reachable across the Internet: RFC 1918, shared address space
    // (RFC 6598, carrier-grade NAT), link-local, IPv6 unique local and link-local. A phone that
    // announces one is behind a NAT and will never send from it.
    bool is_private_address() const;

    bool same_address(const Endpoint& other) const;
    bool operator==(const Endpoint& other) const {
        return same_address(other) && port() == other.port();
    }

    const sockaddr* sockaddr_ptr() const { return &storage_.sa; }
    socklen_t sockaddr_len() const;

    std::string address_string() const;
    std::string to_string() const;  // "192.0.2.1:5060" or "[2001:db8::1]:5060"

  private:
    union {
        sockaddr sa;
        sockaddr_in v4;
        sockaddr_in6 v6;
    } storage_{};
};

}  // namespace latch
