// Opening libuv UDP sockets. The owning loop's thread.
#include "udp_socket.hpp"

namespace latch {

int open_udp(uv_loop_t* loop, UvPtr<uv_udp_t>& socket, const Endpoint& local, void* data,
             uv_alloc_cb alloc, uv_udp_recv_cb recv) {
    socket = make_uv_handle<uv_udp_t>();
    int rc = uv_udp_init_ex(loop, socket.get(), static_cast<unsigned>(local.family()));
    if (rc == 0) {
        socket->data = data;
        unsigned flags = local.family() == AF_INET6 ? UV_UDP_IPV6ONLY : 0;
        rc = uv_udp_bind(socket.get(), local.sockaddr_ptr(), flags);
    }
    if (rc == 0) rc = uv_udp_recv_start(socket.get(), alloc, recv);
    if (rc != 0) socket.reset();
    return rc;
}

Endpoint bound_endpoint(const uv_udp_t* socket) {
    sockaddr_storage ss{};
    int len = sizeof ss;
    uv_udp_getsockname(socket, reinterpret_cast<sockaddr*>(&ss), &len);
    return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

}  // namespace latch
