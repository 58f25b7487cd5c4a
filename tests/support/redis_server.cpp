// RedisServer with posix_spawn and hiredis's blocking client. Test thread.
#include "redis_server.hpp"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace latch::test {

bool RedisServer::available() {
    return ::access("/usr/bin/redis-server", X_OK) == 0;
}

RedisServer::RedisServer(uint16_t port) : port_(port) {
    start();
}

RedisServer::~RedisServer() {
    stop();
}

void RedisServer::start() {
    if (pid_ > 0) return;
    std::string p = std::to_string(port_);
    std::vector<std::string> args = {"/usr/bin/redis-server",
                                     "--port",
                                     p,
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--loglevel",
                                     "warning",
                                     "--logfile",
                                     "/dev/null"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
        pid_ = -1;
        throw std::runtime_error("cannot start redis-server");
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (command({"PING"}) != "PONG") {
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("redis-server does not answer");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void RedisServer::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

std::optional<std::string> RedisServer::command(const std::vector<std::string>& argv) const {
    timeval tv{2, 0};
    std::unique_ptr<redisContext, void (*)(redisContext*)> c(
        redisConnectWithTimeout("127.0.0.1", port_, tv), redisFree);
    if (!c || c->err) return std::nullopt;
    std::vector<const char*> args;
    std::vector<size_t> lengths;
    for (const auto& a : argv) {
        args.push_back(a.data());
        lengths.push_back(a.size());
    }
    std::unique_ptr<redisReply, void (*)(void*)> r(
        static_cast<redisReply*>(
            redisCommandArgv(c.get(), static_cast<int>(args.size()), args.data(), lengths.data())),
        freeReplyObject);
    if (!r) return std::nullopt;
    switch (r->type) {
        case REDIS_REPLY_STRING:
        case REDIS_REPLY_STATUS:
        case REDIS_REPLY_ERROR:
            return std::string(r->str, r->len);
        case REDIS_REPLY_INTEGER:
            return std::to_string(r->integer);
        case REDIS_REPLY_NIL:
            return std::string();
        case REDIS_REPLY_ARRAY: {
            std::string out;
            for (std::size_t i = 0; i < r->elements; ++i) {
                if (i) out += '\n';
                out.append(r->element[i]->str ? r->element[i]->str : "", r->element[i]->len);
            }
            return out;
        }
    }
    return std::nullopt;
}

std::vector<std::string> RedisServer::keys(const std::string& pattern) const {
    std::vector<std::string> out;
    std::istringstream in(command({"KEYS", pattern}).value_or(""));
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) out.push_back(line);
    }
    return out;
}

}  // namespace latch::test
