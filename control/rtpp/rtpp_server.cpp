// rtpproxy protocol listeners. Control thread only.
#include "rtpp_server.hpp"

#include <unistd.h>

#include <stdexcept>

#include "guard.hpp"
#include "log.hpp"
#include "rtpp_command.hpp"
#include "udp_socket.hpp"

namespace latch {
namespace {
constexpr std::size_t kBufferSize = 65536;
const std::string kInternalError = "E" + std::to_string(kRtppInternal);

std::string_view trim(std::string_view s) {
    while (!s.empty() &&
           (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\0')) {
        s.remove_suffix(1);
    }
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    return s;
}
}  // namespace

// One command's reply, owed until sent. Shared by every copy of the command's Reply.
struct RtppServer::Pending {
    std::weak_ptr<RtppServer*> server;
    std::function<void(const std::string&)> send;
    bool answered = false;

    Pending(std::weak_ptr<RtppServer*> s, std::function<void(const std::string&)> f)
        : server(std::move(s)), send(std::move(f)) {}
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;
    void answer(const std::string& reply) {
        if (answered) return;
        answered = true;
        auto alive = server.lock();
        if (!alive) return;
        if (reply == kInternalError) ++(*alive)->counters_.internal_errors;
        send(reply);
    }
    ~Pending() {
        if (!answered) guarded("rtpproxy reply", [this] { answer(kInternalError); });
    }
};

RtppServer::RtppServer(uv_loop_t* loop, const std::optional<Endpoint>& udp,
                       const std::string& unix_path, Execute execute, AllowList allow,
                       bool freebind)
    : loop_(loop),
      execute_(std::move(execute)),
      allow_(std::move(allow)),
      buffer_(std::make_unique<char[]>(kBufferSize)),
      alive_(std::make_shared<RtppServer*>(this)) {
    if (udp) {
        if (int rc = open_udp(loop, udp_, *udp, this, &RtppServer::on_alloc, &RtppServer::on_udp,
                              freebind);
            rc != 0) {
            throw std::runtime_error("cannot listen for rtpproxy commands on " + udp->to_string() +
                                     ": " + uv_strerror(rc));
        }
        udp_local_ = bound_endpoint(udp_.get());
    }
    if (!unix_path.empty()) {
        unix_ = make_uv_handle<uv_pipe_t>();
        uv_pipe_init(loop, unix_.get(), 0);
        unix_->data = this;
        ::unlink(unix_path.c_str());  // a socket left by an earlier run
        int rc = uv_pipe_bind(unix_.get(), unix_path.c_str());
        if (rc == 0)
            rc = uv_listen(reinterpret_cast<uv_stream_t*>(unix_.get()), 64,
                           &RtppServer::on_connection);
        if (rc != 0) {
            unix_.reset();
            udp_.reset();
            throw std::runtime_error("cannot listen for rtpproxy commands on unix:" + unix_path +
                                     ": " + uv_strerror(rc));
        }
        unix_path_ = unix_path;
    }
}

RtppServer::~RtppServer() {
    alive_.reset();
    close();
}

void RtppServer::run(std::string_view command, std::function<void(const std::string&)> send) {
    ++counters_.requests;
    auto pending = std::make_shared<Pending>(alive_, std::move(send));
    Reply reply = [pending](const std::string& text) { pending->answer(text); };
    try {
        execute_(command, reply);
    } catch (const std::exception& e) {
        log(LogLevel::error, "rtpproxy command failed: {}", e.what());
        reply(kInternalError);
    }
}

void RtppServer::close() {
    udp_.reset();
    if (unix_) {
        unix_.reset();
        ::unlink(unix_path_.c_str());
    }
    clients_.clear();
}

void RtppServer::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
    RtppServer* self = handle->type == UV_UDP ? static_cast<RtppServer*>(handle->data)
                                              : static_cast<Client*>(handle->data)->server;
    buf->base = self->buffer_.get();
    buf->len = kBufferSize;
}

void RtppServer::on_udp(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                        unsigned) noexcept {
    auto* self = static_cast<RtppServer*>(handle->data);
    if (self == nullptr || nread <= 0 || addr == nullptr) return;
    guarded("rtpproxy datagram", [&] {
        self->handle_udp(std::string_view(buf->base, static_cast<std::size_t>(nread)),
                         Endpoint::from_sockaddr(addr));
    });
}

void RtppServer::handle_udp(std::string_view datagram, const Endpoint& from) {
    if (!allow_.allows(from)) {
        ++counters_.refused;
        return;
    }
    std::size_t space = datagram.find(' ');
    if (space == 0 || space == std::string_view::npos || datagram.size() > kMaxCommand) {
        ++counters_.dropped;
        return;
    }
    std::string cookie(datagram.substr(0, space));
    std::string key = cookie + ' ' + from.to_string();
    std::string cached;
    switch (cache_.lookup_or_reserve(key, uv_now(loop_), cached)) {
        case ReplyCache::Lookup::answered: {
            ++counters_.retransmissions;
            send_udp(from, cached);
            return;
        }
        case ReplyCache::Lookup::pending:  // the first copy is still being handled
            ++counters_.duplicates_in_flight;
            return;
        case ReplyCache::Lookup::miss:
            break;
    }
    run(trim(datagram.substr(space + 1)), [this, from, key, cookie](const std::string& reply) {
        reply_udp(from, cookie, key, reply);
    });
}

void RtppServer::reply_udp(const Endpoint& to, const std::string& cookie, const std::string& key,
                           const std::string& reply) {
    std::string wire = cookie + ' ' + reply + '\n';
    cache_.store(key, wire);
    send_udp(to, wire);
}

void RtppServer::send_udp(const Endpoint& to, std::string& wire) {
    if (!udp_) return;  // closed meanwhile (shutdown)
    uv_buf_t b = uv_buf_init(wire.data(), static_cast<unsigned>(wire.size()));
    if (uv_udp_try_send(udp_.get(), &b, 1, to.sockaddr_ptr()) < 0) {
        ++counters_.replies_not_sent;
    } else {
        ++counters_.replies;
    }
}

void RtppServer::on_connection(uv_stream_t* listener, int status) noexcept {
    auto* self = static_cast<RtppServer*>(listener->data);
    if (self == nullptr || status < 0) return;
    guarded("rtpproxy connection", [&] { self->accept(listener); });
}

void RtppServer::accept(uv_stream_t* listener) {
    RtppServer* self = this;
    auto client = std::make_unique<Client>();
    client->server = self;
    client->id = self->next_client_++;
    client->pipe = make_uv_handle<uv_pipe_t>();
    uv_pipe_init(self->loop_, client->pipe.get(), 0);
    client->pipe->data = client.get();
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(client->pipe.get())) != 0 ||
        uv_read_start(reinterpret_cast<uv_stream_t*>(client->pipe.get()), &RtppServer::on_alloc,
                      &RtppServer::on_stream) != 0) {
        return;  // the client's handle closes as it goes out of scope
    }
    self->clients_.emplace(client->id, std::move(client));
}

void RtppServer::on_stream(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
    auto* client = static_cast<Client*>(stream->data);
    if (client == nullptr) return;
    RtppServer* self = client->server;
    if (nread < 0) {  // EOF or error: the client is done
        self->clients_.erase(client->id);
        return;
    }
    guarded("rtpproxy stream", [&] {
        self->handle_stream(*client, std::string_view(buf->base, static_cast<std::size_t>(nread)));
    });
}

void RtppServer::handle_stream(Client& client, std::string_view data) {
    client.pending.append(data);
    if (client.pending.size() > kMaxCommand) {
        ++counters_.dropped;
        clients_.erase(client.id);
        return;
    }
    // Complete lines are commands; a read without a line end is one whole command, as the
    // modules write each command in one go on a connection of its own.
    std::string pending = std::move(client.pending);
    client.pending.clear();
    uint64_t id = client.id;
    std::size_t start = 0;
    while (start < pending.size()) {
        std::size_t nl = pending.find('\n', start);
        std::string_view command = trim(std::string_view(pending).substr(
            start, nl == std::string::npos ? std::string::npos : nl - start));
        start = nl == std::string::npos ? pending.size() : nl + 1;
        if (command.empty()) continue;
        run(command, [this, id](const std::string& reply) { reply_stream(id, reply); });
    }
}

void RtppServer::reply_stream(uint64_t client_id, const std::string& reply) {
    auto it = clients_.find(client_id);
    if (it == clients_.end()) return;  // gone before its reply was ready
    std::string wire = reply + '\n';
    uv_buf_t b = uv_buf_init(wire.data(), static_cast<unsigned>(wire.size()));
    // Replies are short: the socket takes them at once or the client is not reading.
    if (uv_try_write(reinterpret_cast<uv_stream_t*>(it->second->pipe.get()), &b, 1) < 0) {
        ++counters_.replies_not_sent;
    } else {
        ++counters_.replies;
    }
}

}  // namespace latch
