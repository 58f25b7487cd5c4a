// UdpPeer on POSIX sockets. Test thread.
#include "udp_peer.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "udp_socket.hpp"

namespace latch::test {

UdpPeer::UdpPeer(const std::string& address, uint16_t port) {
    auto ep = Endpoint::parse(address, port);
    if (!ep) throw std::invalid_argument("bad address " + address);
    fd_ = ::socket(ep->family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    if (::bind(fd_, ep->sockaddr_ptr(), ep->sockaddr_len()) != 0) {
        int err = errno;
        ::close(fd_);
        throw std::runtime_error("bind " + ep->to_string() + ": " + std::strerror(err));
    }
    local_ = bound_endpoint(fd_);
}

UdpPeer::UdpPeer(UdpPeer&& other) noexcept : fd_(other.fd_), local_(other.local_) { other.fd_ = -1; }

UdpPeer::~UdpPeer() {
    if (fd_ >= 0) ::close(fd_);
}

void UdpPeer::send_to(const Endpoint& to, const std::vector<uint8_t>& data) const {
    ssize_t n = ::sendto(fd_, data.data(), data.size(), 0, to.sockaddr_ptr(), to.sockaddr_len());
    if (n != static_cast<ssize_t>(data.size())) {
        throw std::runtime_error("sendto " + to.to_string() + ": " + std::strerror(errno));
    }
}

std::optional<Datagram> UdpPeer::receive(std::chrono::milliseconds timeout) const {
    pollfd pfd{fd_, POLLIN, 0};
    // A deadline already past is no wait at all (poll() would take a negative one as forever).
    int wait_ms = static_cast<int>(std::max<std::chrono::milliseconds::rep>(timeout.count(), 0));
    if (::poll(&pfd, 1, wait_ms) <= 0) return std::nullopt;
    Datagram d;
    d.data.resize(65536);
    sockaddr_storage ss{};
    iovec iov{d.data.data(), d.data.size()};
    alignas(cmsghdr) char control[64];
    msghdr msg{};
    msg.msg_name = &ss;
    msg.msg_namelen = sizeof ss;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    d.data.resize(static_cast<std::size_t>(n));
    d.from = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) d.tos = *CMSG_DATA(c);
    }
    return d;
}

void UdpPeer::enable_tos_reporting() const {
    int on = 1;
    ::setsockopt(fd_, IPPROTO_IP, IP_RECVTOS, &on, sizeof on);
}

void UdpPeer::set_receive_buffer(int bytes) const {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

}  // namespace latch::test
