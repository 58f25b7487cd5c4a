// The choice of packet path, once, when a worker starts. The worker's thread.
#include "packet_path.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "epoll_path.hpp"
#include "log.hpp"
#ifdef LATCH_HAVE_LIBURING
#include "uring_path.hpp"
#endif

namespace latch {

std::unique_ptr<PacketPath> open_packet_path(const RelayConfig& config, unsigned worker,
                                             uv_loop_t* loop, PacketHost& host) {
#ifdef LATCH_HAVE_LIBURING
    if (config.packet_io != PacketIo::epoll) {
        auto ring = std::make_unique<UringPath>(loop, host, config.connected_sockets);
        int rc = ring->open();
        if (rc == 0) return ring;
        if (config.packet_io == PacketIo::io_uring) {
            throw std::runtime_error(
                fmt::format("worker {}: io_uring: {}", worker, uv_strerror(rc)));
        }
        log(LogLevel::debug, "worker {}: io_uring unavailable ({}), using epoll", worker,
            uv_strerror(rc));
    }
#else
    if (config.packet_io == PacketIo::io_uring) {
        throw std::runtime_error("this build has no io_uring support (liburing was missing)");
    }
#endif
    try {
        return std::make_unique<EpollPath>(loop, host);
    } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("worker {}: {}", worker, e.what()));
    }
}

}  // namespace latch
