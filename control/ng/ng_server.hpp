// NgServer: the ng control socket. Receives datagrams, decodes them, hands requests to the
// dispatcher and sends the replies back in the request's encoding. Control thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "allow_list.hpp"
#include "control_counters.hpp"
#include "endpoint.hpp"
#include "ng_codec.hpp"
#include "reply_cache.hpp"
#include "uv_handle.hpp"

namespace latch {

class NgServer {
  public:
    // Sends the request's reply dictionary; may be called later (after workers answered).
    // Every request with a cookie gets exactly one reply: calls after the first do nothing,
    // and a request whose last copy of its Respond goes away unanswered (a continuation that
    // threw, a command dropped) is answered with an error then.
    using Respond = std::function<void(const nlohmann::json& reply)>;
    using Dispatch = std::function<void(NgRequest& request, Respond respond)>;

    // Binds the socket; throws std::runtime_error with the address and reason on failure.
    // `freebind`: `listen` is a floating address, bound before this host holds it.
    NgServer(uv_loop_t* loop, const Endpoint& listen, Dispatch dispatch,
             AllowList allow = AllowList::loopback(), bool freebind = false);
    NgServer(const NgServer&) = delete;
    NgServer& operator=(const NgServer&) = delete;
    ~NgServer();

    const Endpoint& local() const { return local_; }
    const ListenerCounters& counters() const { return counters_; }
    void close() { socket_.reset(); }
    // Who may send requests from now on (a reload).
    void set_allow(AllowList allow) { allow_ = std::move(allow); }

  private:
    struct Pending;
    static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
    static void on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                        unsigned flags) noexcept;
    void handle(std::string_view datagram, const Endpoint& from, bool truncated);
    void send(const Endpoint& to, std::string_view cookie, NgEncoding encoding,
              const nlohmann::json& reply, const std::string& cache_key = {});
    void send_wire(const Endpoint& to, const std::string& wire);

    static constexpr std::size_t kMaxMessage = 65536;  // the receive buffer: any UDP datagram
  public:
    // Larger requests get an error: no SIP body needs this much, and parsing it costs.
    static constexpr std::size_t kMaxRequest = 32768;

  private:
    UvPtr<uv_udp_t> socket_;
    Endpoint local_;
    Dispatch dispatch_;
    AllowList allow_;
    ListenerCounters counters_;
    // 30 s covers the control client's retries (Kamailio's rtpengine module: a few seconds);
    // 8 MiB holds the replies of several thousand offers per second of that time.
    ReplyCache cache_{30000, 8u << 20};
    std::unique_ptr<char[]> buffer_;
    // Replies still owed hold this weakly: once the server is gone they are not sent.
    std::shared_ptr<NgServer*> alive_;
};

}  // namespace latch
