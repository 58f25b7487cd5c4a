// RedisLink: connecting, reconnecting, commands and their answers. Control thread only.
#include "redis_link.hpp"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>

#include <charconv>
#include <memory>
#include <stdexcept>

#include "endpoint.hpp"
#include "guard.hpp"
#include "log.hpp"

namespace latch {

std::string RedisTarget::to_string() const {
    return "redis://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(port) + "/" + std::to_string(db);
}

RedisTarget parse_redis_url(const std::string& url) {
    const std::string scheme = "redis://";
    if (url.rfind(scheme, 0) != 0)
        throw std::invalid_argument("'" + url + "' does not start with redis://");
    std::string rest = url.substr(scheme.size());
    RedisTarget t;
    if (auto at = rest.rfind('@'); at != std::string::npos) {
        std::string auth = rest.substr(0, at);
        auto colon = auth.find(':');
        t.password = colon == std::string::npos ? auth : auth.substr(colon + 1);
        rest = rest.substr(at + 1);
    }
    if (auto slash = rest.find('/'); slash != std::string::npos) {
        std::string db = rest.substr(slash + 1);
        rest = rest.substr(0, slash);
        if (!db.empty()) {
            auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), t.db);
            if (ec != std::errc{} || end != db.data() + db.size() || t.db < 0) {
                throw std::invalid_argument("'" + db + "' is not a database number");
            }
        }
    }
    std::string port;
    if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
        auto close = rest.find(']');
        if (close == std::string::npos)
            throw std::invalid_argument("unterminated [address] in '" + url + "'");
        t.host = rest.substr(1, close - 1);
        if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
    } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
        t.host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    } else {
        t.host = rest;
    }
    if (t.host.empty()) throw std::invalid_argument("no host in '" + url + "'");
    if (!port.empty()) {
        unsigned p = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (ec != std::errc{} || end != port.data() + port.size() || p == 0 || p > 65535) {
            throw std::invalid_argument("'" + port + "' is not a port");
        }
        t.port = static_cast<uint16_t>(p);
    }
    return t;
}

namespace {

// hiredis wants an address; a name is resolved once, at start-up.
std::string resolve(const std::string& host) {
    if (Endpoint::parse(host, 0)) return host;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
        throw std::runtime_error("cannot resolve the Redis host '" + host + "'");
    }
    std::string address = Endpoint::from_sockaddr(found->ai_addr).address_string();
    freeaddrinfo(found);
    return address;
}

}  // namespace

RedisLink::RedisLink(uv_loop_t* loop, RedisTarget target, std::function<void()> on_ready)
    : loop_(loop),
      target_(std::move(target)),
      address_(resolve(target_.host)),
      on_ready_(std::move(on_ready)) {}

RedisLink::~RedisLink() {
    close();
}

void RedisLink::start() {
    closing_ = false;
    watchdog_.start(loop_, 250, 250, "redis watchdog", [this] { watch(); });
    connect();
}

void RedisLink::close() {
    closing_ = true;
    reconnect_timer_.stop();
    watchdog_.stop();
    ready_ = false;
    if (redisAsyncContext* c = context_) {
        context_ = nullptr;
        redisAsyncFree(c);  // the answers still owed are given up (their callbacks see nullptr)
    }
}

void RedisLink::connect() {
    if (closing_ || context_ != nullptr) return;
    redisAsyncContext* c = redisAsyncConnect(address_.c_str(), target_.port);
    if (c == nullptr) return lost("out of memory");
    if (c->err != 0) {
        std::string why = c->errstr;
        redisAsyncFree(c);
        return lost(why.c_str());
    }
    if (redisLibuvAttach(c, loop_) != REDIS_OK) {
        redisAsyncFree(c);
        return lost("cannot watch the socket");
    }
    c->data = this;
    connect_started_ms_ = uv_now(loop_);
    redisAsyncSetConnectCallback(c, &RedisLink::on_connect);
    redisAsyncSetDisconnectCallback(c, &RedisLink::on_disconnect);
    context_ = c;
}

void RedisLink::on_connect(const redisAsyncContext* context, int status) {
    auto* self = static_cast<RedisLink*>(context->data);
    if (self == nullptr || context != self->context_) return;
    guarded("redis connect", [&] {
        if (status != REDIS_OK) {
            self->context_ = nullptr;  // hiredis frees it when this returns
            return self->lost(context->errstr);
        }
        self->ready_ = true;
        if (!self->target_.password.empty()) {
            self->command({"AUTH", self->target_.password}, [self](const redisReply* r) {
                if (r != nullptr && r->type == REDIS_REPLY_ERROR) {
                    log(LogLevel::error, "Redis {} refused the password: {}",
                        self->target_.to_string(), r->str);
                }
            });
        }
        if (self->target_.db != 0) self->command({"SELECT", std::to_string(self->target_.db)});
        if (!self->channel_.empty()) {
            const char* argv[] = {"SUBSCRIBE", self->channel_.c_str()};
            const size_t lengths[] = {9, self->channel_.size()};
            redisAsyncCommandArgv(self->context_, &RedisLink::on_message, self, 2, argv, lengths);
        }
        self->backoff_ms_ = 250;
        if (self->in_outage_) {
            ++self->counters_.reconnects;
            log(LogLevel::info, "Redis {} reached again", self->target_.to_string());
        } else {
            log(LogLevel::info, "Redis {} connected", self->target_.to_string());
        }
        self->in_outage_ = false;
        if (self->on_ready_) self->on_ready_();
    });
}

void RedisLink::on_disconnect(const redisAsyncContext* context, int) {
    auto* self = static_cast<RedisLink*>(context->data);
    if (self == nullptr || context != self->context_) return;  // freed on purpose
    guarded("redis disconnect", [&] {
        self->context_ = nullptr;  // hiredis frees it when this returns
        self->lost(context->errstr[0] ? context->errstr : "connection closed");
    });
}

void RedisLink::lost(const char* why) {
    ready_ = false;
    if (closing_) return;
    if (!in_outage_) {  // logged once per outage, counted once
        in_outage_ = true;
        ++counters_.outages;
        log(LogLevel::warning,
            "Redis {} unreachable ({}): calls go on, their records are written when it is back",
            target_.to_string(), why);
    }
    schedule_reconnect();
}

void RedisLink::schedule_reconnect() {
    if (closing_) return;
    reconnect_timer_.start(loop_, backoff_ms_, 0, "redis reconnect", [this] { connect(); });
    backoff_ms_ = std::min<uint64_t>(backoff_ms_ * 2, kMaxBackoffMs);
}

void RedisLink::watch() {
    if (context_ == nullptr) return;
    uint64_t now = uv_now(loop_);
    const char* why = nullptr;
    if (!ready_ && now - connect_started_ms_ >= kConnectTimeoutMs) {
        // A connect that neither succeeds nor fails (hiredis's libuv adapter drops the error
        // a refused connect is reported with): given up, tried again.
        why = "no connection within a second";
    } else if (ready_ && waiting_ > 0 && now - last_answer_ms_ >= kStallMs) {
        // Answers owed for too long: Redis hangs, or the network drops everything. What was
        // not answered is written again once it is back.
        why = "no answer for 3 s";
    } else if (ready_ && waiting_ == 0 && now - last_answer_ms_ >= 1000) {
        command({"PING"});  // an idle link is tried, so that a dead peer shows within seconds
        return;
    } else {
        return;
    }
    redisAsyncContext* c = context_;
    context_ = nullptr;
    redisAsyncFree(c);
    lost(why);
}

bool RedisLink::command(const std::vector<std::string>& argv, Done done) {
    if (!ready_ || context_ == nullptr || waiting_ >= kMaxWaiting) {
        ++counters_.refused;
        return false;
    }
    std::vector<const char*> args;
    std::vector<size_t> lengths;
    for (const auto& a : argv) {
        args.push_back(a.data());
        lengths.push_back(a.size());
    }
    auto owned = std::make_unique<Done>(std::move(done));
    if (redisAsyncCommandArgv(context_, &RedisLink::on_reply, owned.get(),
                              static_cast<int>(args.size()), args.data(),
                              lengths.data()) != REDIS_OK) {
        ++counters_.refused;
        return false;
    }
    owned.release();  // on_reply frees it
    if (waiting_++ == 0) last_answer_ms_ = uv_now(loop_);
    ++counters_.commands;
    return true;
}

void RedisLink::subscribe(std::string channel, std::function<void(std::string_view)> on_message) {
    channel_ = std::move(channel);
    on_message_ = std::move(on_message);
}

void RedisLink::on_message(redisAsyncContext*, void* reply, void* privdata) {
    auto* self = static_cast<RedisLink*>(privdata);
    auto* r = static_cast<const redisReply*>(reply);
    // ["message", channel, payload]; the subscription's own confirmation is ["subscribe", ...].
    if (self == nullptr || r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 3) return;
    if (std::string_view(r->element[0]->str, r->element[0]->len) != "message" || !self->on_message_)
        return;
    guarded("redis message",
            [&] { self->on_message_(std::string_view(r->element[2]->str, r->element[2]->len)); });
}

void RedisLink::on_reply(redisAsyncContext* context, void* reply, void* privdata) {
    std::unique_ptr<Done> done(static_cast<Done*>(privdata));
    auto* self = static_cast<RedisLink*>(context->data);
    auto* r = static_cast<const redisReply*>(reply);
    if (self != nullptr) {
        --self->waiting_;
        self->last_answer_ms_ = uv_now(self->loop_);
        if (r == nullptr || r->type == REDIS_REPLY_ERROR) ++self->counters_.errors;
    }
    if (*done) guarded("redis answer", [&] { (*done)(r); });
}

}  // namespace latch
