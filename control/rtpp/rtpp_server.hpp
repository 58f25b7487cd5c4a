// RtppServer: the rtpproxy protocol's listeners. Over UDP each command starts with a cookie
// that the reply echoes, and repeats are answered from the reply cache; over the unix stream
// socket there is no cookie, and each read (or each line) is one command, as the modules send
// one command per connection without a line end. Control thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "allow_list.hpp"
#include "control_counters.hpp"
#include "endpoint.hpp"
#include "reply_cache.hpp"
#include "uv_handle.hpp"

namespace latch {

class RtppServer {
  public:
    // Sends the command's reply (without cookie and line end), now or later. Each command gets
    // exactly one: calls after the first do nothing, and a command whose last copy of its
    // Reply goes away unanswered is answered E81 then.
    using Reply = std::function<void(const std::string& reply)>;
    using Execute = std::function<void(std::string_view command, Reply reply)>;

    // Binds what is given (UDP address, unix socket path; either may be absent). Throws
    // std::runtime_error naming the address and the reason.
    RtppServer(uv_loop_t* loop, const std::optional<Endpoint>& udp, const std::string& unix_path,
               Execute execute, AllowList allow = AllowList::loopback(), bool freebind = false);
    ~RtppServer();
    RtppServer(const RtppServer&) = delete;
    RtppServer& operator=(const RtppServer&) = delete;

    std::optional<Endpoint> udp_local() const { return udp_local_; }
    const ListenerCounters& counters() const { return counters_; }
    void close();
    // Who may send commands over UDP from now on (a reload).
    void set_allow(AllowList allow) { allow_ = std::move(allow); }

    static constexpr std::size_t kMaxCommand = 4096;

  private:
    struct Pending;
    struct Client {
        RtppServer* server;
        uint64_t id;
        UvPtr<uv_pipe_t> pipe;
        std::string pending;
    };

    static void on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept;
    static void on_udp(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                       unsigned) noexcept;
    static void on_connection(uv_stream_t* listener, int status) noexcept;
    static void on_stream(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
    void accept(uv_stream_t* listener);
    void handle_udp(std::string_view datagram, const Endpoint& from);
    void handle_stream(Client& client, std::string_view data);
    void reply_stream(uint64_t client, const std::string& reply);
    void send_udp(const Endpoint& to, std::string& wire);
    void reply_udp(const Endpoint& to, const std::string& cookie, const std::string& key,
                   const std::string& reply);
    // Runs `command`, whose reply goes to `send`; a failure is answered E81.
    void run(std::string_view command, std::function<void(const std::string&)> send);

    uv_loop_t* loop_;
    Execute execute_;
    AllowList allow_;  // UDP only: the unix socket's file permissions guard it
    UvPtr<uv_udp_t> udp_;
    std::optional<Endpoint> udp_local_;
    UvPtr<uv_pipe_t> unix_;
    std::string unix_path_;
    std::unordered_map<uint64_t, std::unique_ptr<Client>> clients_;
    uint64_t next_client_ = 1;
    ReplyCache cache_{30000, 4u << 20};
    ListenerCounters counters_;
    std::unique_ptr<char[]> buffer_;
    std::shared_ptr<RtppServer*> alive_;  // replies still owed hold it weakly
};

}  // namespace latch
