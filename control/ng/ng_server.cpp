// NgServer. Control thread only.
#include "ng_server.hpp"

#include <stdexcept>
#include <string>

#include "guard.hpp"
#include "log.hpp"
#include "udp_socket.hpp"

namespace latch {

// One request's reply, owed until sent. Shared by every copy of the request's Respond.
struct NgServer::Pending {
    std::weak_ptr<NgServer*> server;
    Endpoint to;
    std::string cookie, cache_key;
    NgEncoding encoding;
    bool answered = false;

    Pending(std::weak_ptr<NgServer*> s, const Endpoint& t, std::string c, std::string k,
            NgEncoding e)
        : server(std::move(s)), to(t), cookie(std::move(c)), cache_key(std::move(k)), encoding(e) {}
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;

    void answer(const nlohmann::json& reply) {
        if (answered) return;
        answered = true;
        if (auto alive = server.lock()) (*alive)->send(to, cookie, encoding, reply, cache_key);
    }
    ~Pending() {
        if (answered) return;
        guarded("ng reply",
                [this] { answer(ng_internal_error("the request was dropped without a reply")); });
    }
};

NgServer::NgServer(uv_loop_t* loop, const Endpoint& listen, Dispatch dispatch, AllowList allow,
                   bool freebind)
    : dispatch_(std::move(dispatch)),
      allow_(std::move(allow)),
      buffer_(std::make_unique<char[]>(kMaxMessage)) {
    if (int rc = open_udp(loop, socket_, listen, this, &NgServer::on_alloc, &NgServer::on_recv,
                          freebind);
        rc != 0) {
        throw std::runtime_error("cannot listen on " + listen.to_string() + ": " + uv_strerror(rc));
    }
    local_ = bound_endpoint(socket_.get());
    alive_ = std::make_shared<NgServer*>(this);
}

NgServer::~NgServer() {
    alive_.reset();
}

void NgServer::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
    auto* self = static_cast<NgServer*>(handle->data);
    buf->base = self->buffer_.get();
    buf->len = kMaxMessage;
}

void NgServer::on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                       unsigned flags) noexcept {
    auto* self = static_cast<NgServer*>(handle->data);
    if (self == nullptr || nread <= 0 || addr == nullptr) return;
    // A request must never take the daemon down: handle() answers its own failures, and
    // whatever still escapes (out of memory) is stopped here.
    guarded("ng request", [&] {
        self->handle(std::string_view(buf->base, static_cast<std::size_t>(nread)),
                     Endpoint::from_sockaddr(addr), (flags & UV_UDP_PARTIAL) != 0);
    });
}

void NgServer::handle(std::string_view datagram, const Endpoint& from, bool truncated) {
    if (!allow_.allows(from)) {
        ++counters_.refused;  // no reply: a stranger must not even learn that latch is here
        return;
    }
    NgParsed parsed = parse_ng(datagram);
    if (std::holds_alternative<NgNoCookie>(parsed)) {
        ++counters_.dropped;
        log(LogLevel::debug, "dropped {} bytes without a cookie from {}", datagram.size(),
            from.to_string());
        return;
    }
    if (truncated || datagram.size() > kMaxRequest) {
        const std::string& cookie = std::holds_alternative<NgRequest>(parsed)
                                        ? std::get<NgRequest>(parsed).cookie
                                        : std::get<NgBadRequest>(parsed).cookie;
        ++counters_.bad_requests;
        send(from, cookie, NgEncoding::bencode,
             ng_error(fmt::format("message too large ({} bytes; the limit is {})", datagram.size(),
                                  kMaxRequest)));
        return;
    }
    if (auto* bad = std::get_if<NgBadRequest>(&parsed)) {
        ++counters_.bad_requests;
        send(from, bad->cookie, bad->encoding, ng_error(bad->reason));
        return;
    }
    auto& request = std::get<NgRequest>(parsed);
    std::string key = request.cookie + ' ' + from.to_string();
    std::string cached;
    switch (cache_.lookup_or_reserve(key, uv_now(socket_->loop), cached)) {
        case ReplyCache::Lookup::answered:
            ++counters_.retransmissions;
            return send_wire(from, cached);
        case ReplyCache::Lookup::pending:
            ++counters_.duplicates_in_flight;
            return;
        case ReplyCache::Lookup::miss:
            break;
    }
    ++counters_.requests;
    auto pending = std::make_shared<Pending>(alive_, from, request.cookie, key, request.encoding);
    Respond respond = [pending](const nlohmann::json& reply) { pending->answer(reply); };
    try {
        dispatch_(request, respond);
    } catch (const std::exception& e) {
        // Failed before it answered: the error is the reply, and the reply cache keeps it
        // for the retransmissions.
        log(LogLevel::error, "ng command failed: {}", e.what());
        respond(ng_internal_error(e.what()));
    }
}

void NgServer::send(const Endpoint& to, std::string_view cookie, NgEncoding encoding,
                    const nlohmann::json& reply, const std::string& cache_key) {
    if (is_internal_error(reply)) ++counters_.internal_errors;
    std::string wire;
    try {
        wire = encode_ng(cookie, encoding, reply);
    } catch (const std::exception& e) {
        // A reply the encoding cannot carry is a defect of latch's, not of the request: the
        // client still gets an answer it can read, and the counter shows the defect.
        ++counters_.encode_failures;
        log(LogLevel::error, "ng reply to {} could not be encoded: {}", to.to_string(), e.what());
        wire = encode_ng(
            cookie, encoding,
            ng_internal_error(std::string("the reply could not be encoded: ") + e.what()));
    }
    if (!cache_key.empty()) cache_.store(cache_key, wire);
    send_wire(to, wire);
}

void NgServer::send_wire(const Endpoint& to, const std::string& wire) {
    if (!socket_) return;  // closed meanwhile (shutdown)
    uv_buf_t buf = uv_buf_init(const_cast<char*>(wire.data()), static_cast<unsigned>(wire.size()));
    int rc = uv_udp_try_send(socket_.get(), &buf, 1, to.sockaddr_ptr());
    if (rc < 0) {
        ++counters_.replies_not_sent;
        log(LogLevel::warning, "reply to {} not sent: {}", to.to_string(), uv_strerror(rc));
        return;
    }
    ++counters_.replies;
}

}  // namespace latch
