// RedisLink: latchd's one connection to Redis, hiredis's asynchronous client on the control
// loop (its libuv adapter): no thread of its own, and nothing ever waits for Redis. It connects,
// authenticates and selects the database, and reconnects with a growing pause after an outage
// or a stall; commands sent while it is down are refused (the caller keeps what it must write
// again). Control thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "timer.hpp"

struct redisAsyncContext;
struct redisReply;

namespace latch {

// Where Redis is: "redis://[[user]:password@]host[:port][/db]".
struct RedisTarget {
    std::string host = "127.0.0.1";
    uint16_t port = 6379;
    std::string password;
    int db = 0;
    std::string to_string() const;  // without the password
};
// Throws std::invalid_argument with what is wrong.
RedisTarget parse_redis_url(const std::string& url);

struct RedisCounters {
    uint64_t commands = 0;    // sent
    uint64_t errors = 0;      // answered with an error, or lost with the connection
    uint64_t refused = 0;     // not sent: not connected, or too many waiting for their answer
    uint64_t outages = 0;     // times the connection was lost, or could not be made
    uint64_t reconnects = 0;  // times it was made again after an outage
};

class RedisLink {
  public:
    // An answer (nullptr when the command was lost with the connection).
    using Done = std::function<void(const redisReply* reply)>;

    // `on_ready` runs each time the connection is (again) ready for commands.
    RedisLink(uv_loop_t* loop, RedisTarget target, std::function<void()> on_ready);
    RedisLink(const RedisLink&) = delete;
    RedisLink& operator=(const RedisLink&) = delete;
    ~RedisLink();

    void start();
    void close();
    bool ready() const { return ready_; }
    // Sends one command; false (counted, nothing sent) when the link is not ready or too many
    // commands wait for their answers (Redis is slow: its outage is near).
    bool command(const std::vector<std::string>& argv, Done done = {});
    // Makes this a subscriber's link (a link of its own: Redis takes no other command on it):
    // `on_message` gets every message published on `channel`, from the next connection on,
    // which subscribes again after every reconnect (on_ready runs once it has).
    void subscribe(std::string channel, std::function<void(std::string_view message)> on_message);
    const RedisCounters& counters() const { return counters_; }
    std::size_t waiting() const { return waiting_; }
    const RedisTarget& target() const { return target_; }

    static constexpr std::size_t kMaxWaiting = 100000;
    static constexpr uint64_t kStallMs = 3000;  // no answer for this long: the link is dropped
    static constexpr uint64_t kConnectTimeoutMs = 1000;  // no connection this long: tried again
    // Reconnects are tried after 250 ms, then twice as long each time up to this: a connect is
    // cheap, and every second more is a second of changes not yet written.
    static constexpr uint64_t kMaxBackoffMs = 1000;

  private:
    static void on_connect(const redisAsyncContext* context, int status);
    static void on_disconnect(const redisAsyncContext* context, int status);
    static void on_reply(redisAsyncContext* context, void* reply, void* privdata);
    static void on_message(redisAsyncContext* context, void* reply, void* privdata);
    void connect();
    void lost(const char* why);
    void schedule_reconnect();
    void watch();

    uv_loop_t* loop_;
    RedisTarget target_;
    std::string address_;  // the resolved host
    std::function<void()> on_ready_;
    std::string channel_;  // subscriber's link: its channel
    std::function<void(std::string_view)> on_message_;
    redisAsyncContext* context_ = nullptr;
    bool ready_ = false;
    bool closing_ = false;
    bool in_outage_ = false;
    std::size_t waiting_ = 0;
    uint64_t last_answer_ms_ = 0;
    uint64_t connect_started_ms_ = 0;
    uint64_t backoff_ms_ = 250;
    Timer reconnect_timer_;
    Timer watchdog_;
    RedisCounters counters_;
};

}  // namespace latch
