// Opening the relay's UDP sockets. The owning loop's thread.
#include "udp_socket.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace latch {

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78  // Linux 4.15; older glibc headers lack it
#endif

int set_freebind(int fd, int family) {
    int one = 1;
    int rc = family == AF_INET6 ? ::setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one)
                                : ::setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    return rc == 0 ? 0 : -errno;
}

int open_udp(uv_loop_t* loop, UvPtr<uv_udp_t>& socket, const Endpoint& local, void* data,
             uv_alloc_cb alloc, uv_udp_recv_cb recv, bool freebind) {
    socket = make_uv_handle<uv_udp_t>();
    int rc = uv_udp_init_ex(loop, socket.get(), static_cast<unsigned>(local.family()));
    if (rc == 0 && freebind) {
        uv_os_fd_t fd;
        rc = uv_fileno(reinterpret_cast<const uv_handle_t*>(socket.get()), &fd);
        if (rc == 0) rc = set_freebind(fd, local.family());
    }
    if (rc == 0) {
        socket->data = data;
        unsigned flags = local.family() == AF_INET6 ? UV_UDP_IPV6ONLY : 0;
        rc = uv_udp_bind(socket.get(), local.sockaddr_ptr(), flags);
    }
    if (rc == 0) rc = uv_udp_recv_start(socket.get(), alloc, recv);
    if (rc != 0) socket.reset();
    return rc;
}

int SocketSet::open(uv_loop_t* loop, void* data, uv_poll_cb ready) {
    close();
    int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return -errno;
    if (int rc = watch_readable(loop, poll_, fd, data, ready); rc != 0) {
        ::close(fd);
        return rc;
    }
    fd_ = fd;
    return 0;
}

void SocketSet::close() {
    poll_.reset();  // uv_close takes the descriptor out of the loop's epoll set at once
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

int SocketSet::add(int fd, void* data) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = data;
    return ::epoll_ctl(fd_, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

namespace {

// A non-blocking UDP socket of `local`'s family (IPv6 sockets IPv6-only, so that an IPv6 port
// leaves the IPv4 one free): its descriptor, or a negative errno.
int new_udp_socket(const Endpoint& local) {
    int fd = ::socket(local.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (local.family() == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    return fd;
}

}  // namespace

int PolledUdp::adopt(SocketWatch& watch, int fd, int rc, void* data) {
    if (rc == 0) rc = watch.add(fd, data);
    if (rc != 0) {
        ::close(fd);
        return rc;
    }
    fd_ = fd;
    watch_ = &watch;
    return 0;
}

int PolledUdp::open(SocketWatch& watch, const Endpoint& local, void* data, bool freebind) {
    reset();
    int fd = new_udp_socket(local);
    if (fd < 0) return fd;
    int rc = freebind ? set_freebind(fd, local.family()) : 0;
    if (rc == 0) rc = ::bind(fd, local.sockaddr_ptr(), local.sockaddr_len()) == 0 ? 0 : -errno;
    return adopt(watch, fd, rc, data);
}

int PolledUdp::open_connected(SocketWatch& watch, int listener, const Endpoint& local,
                              const Endpoint& remote, void* data, int fd_limit) {
    reset();
    int fd = new_udp_socket(local);
    if (fd < 0) return fd;
    if (fd >= fd_limit) {  // checked before the bind and the watch, which it would waste
        ::close(fd);
        return -EMFILE;
    }
    int one = 1, zero = 0;
    int rc = 0;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        ::setsockopt(listener, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        rc = -errno;
    } else if (::bind(fd, local.sockaddr_ptr(), local.sockaddr_len()) != 0 ||
               ::connect(fd, remote.sockaddr_ptr(), remote.sockaddr_len()) != 0) {
        rc = -errno;
    }
    // The port is shared only for the bind: a later bind by anyone else fails again.
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEPORT, &zero, sizeof zero);
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &zero, sizeof zero);
    return adopt(watch, fd, rc, data);
}

void PolledUdp::reset() {
    if (fd_ < 0) return;
    watch_->remove(fd_);
    ::close(fd_);
    fd_ = -1;
    watch_ = nullptr;
}

Endpoint bound_endpoint(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
    return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

Endpoint bound_endpoint(const uv_udp_t* socket) {
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<const uv_handle_t*>(socket), &fd) != 0) return {};
    return bound_endpoint(fd);
}

}  // namespace latch
