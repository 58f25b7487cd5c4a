// UdpPeer: a plain POSIX UDP socket standing in for a phone in tests. Test thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "endpoint.hpp"

namespace latch::test {

struct Datagram {
    std::vector<uint8_t> data;
    Endpoint from;
    int tos = -1;  // the IPv4 TOS byte, when enable_tos_reporting() was called
};

class UdpPeer {
public:
    // Binds `address` on an ephemeral port (or `port`). Throws when it cannot.
    explicit UdpPeer(const std::string& address = "127.0.0.1", uint16_t port = 0);
    UdpPeer(const UdpPeer&) = delete;
    UdpPeer& operator=(const UdpPeer&) = delete;
    UdpPeer(UdpPeer&& other) noexcept;
    ~UdpPeer();

    const Endpoint& local() const { return local_; }
    void send_to(const Endpoint& to, const std::vector<uint8_t>& data) const;
    // Waits up to `timeout` for one datagram (a negative timeout: no wait).
    std::optional<Datagram> receive(std::chrono::milliseconds timeout) const;
    // Reads what is already queued without waiting.
    std::optional<Datagram> try_receive() const { return receive(std::chrono::milliseconds(0)); }
    void set_receive_buffer(int bytes) const;
    // Makes receive() report each IPv4 packet's TOS byte.
    void enable_tos_reporting() const;

private:
    int fd_ = -1;
    Endpoint local_;
};

}  // namespace latch::test
