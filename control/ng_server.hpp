// NgServer: the ng control socket. Receives datagrams, decodes them, hands requests to the
// dispatcher and sends the replies back in the request's encoding. Control thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "endpoint.hpp"
#include "ng_codec.hpp"
#include "uv_handle.hpp"

namespace latch {

struct NgServerCounters {
    uint64_t requests = 0;      // decoded and dispatched
    uint64_t bad_requests = 0;  // answered with an error before dispatch
    uint64_t dropped = 0;       // no cookie: not answered
    uint64_t replies = 0;
};

class NgServer {
public:
    // Sends one reply dictionary; may be called later (after workers answered), once.
    using Respond = std::function<void(const nlohmann::json& reply)>;
    using Dispatch = std::function<void(NgRequest& request, Respond respond)>;

    // Binds the socket; throws std::runtime_error with the address and reason on failure.
    NgServer(uv_loop_t* loop, const Endpoint& listen, Dispatch dispatch);
    NgServer(const NgServer&) = delete;
    NgServer& operator=(const NgServer&) = delete;

    const Endpoint& local() const { return local_; }
    const NgServerCounters& counters() const { return counters_; }
    void close() { socket_.reset(); }

private:
    static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
    static void on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                        const sockaddr* addr, unsigned flags) noexcept;
    void handle(std::string_view datagram, const Endpoint& from, bool truncated);
    void send(const Endpoint& to, std::string_view cookie, NgEncoding encoding,
              const nlohmann::json& reply);

    static constexpr std::size_t kMaxMessage = 65536;
    UvPtr<uv_udp_t> socket_;
    Endpoint local_;
    Dispatch dispatch_;
    NgServerCounters counters_;
    std::unique_ptr<char[]> buffer_;
};

}  // namespace latch
