// RedisServer: a redis-server of the test's own on 127.0.0.1, without persistence, stopped by
// its PID; and a blocking client for the test to look at what latchd wrote. Test thread.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace latch::test {

class RedisServer {
  public:
    // Whether redis-server is installed (the tests that need it are skipped otherwise).
    static bool available();
    // Starts it on `port` and waits (up to 5 s) until it answers. Throws when it does not.
    explicit RedisServer(uint16_t port);
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;
    ~RedisServer();

    void stop();
    void start();
    uint16_t port() const { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

    // One command (blocking, 2 s at most): its answer as text (strings, integers, status),
    // arrays joined by newlines; nothing when Redis cannot be reached.
    std::optional<std::string> command(const std::vector<std::string>& argv) const;
    std::vector<std::string> keys(const std::string& pattern = "*") const;

  private:
    uint16_t port_;
    pid_t pid_ = -1;
};

}  // namespace latch::test
