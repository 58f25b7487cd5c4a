// ReplyCache: the replies to recent ng requests, by cookie and source, so that a retransmitted
// request gets the same reply and its command does not run twice. Control thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

namespace latch {

class ReplyCache {
  public:
    // Entries live `ttl_ms`; the oldest go early when keys and replies exceed `max_bytes`.
    ReplyCache(uint64_t ttl_ms, std::size_t max_bytes) : ttl_ms_(ttl_ms), max_bytes_(max_bytes) {}

    enum class Lookup { miss, pending, answered };
    // On a miss the key is entered as pending (its command is about to run).
    Lookup lookup_or_reserve(const std::string& key, uint64_t now_ms, std::string& reply_out);
    // Stores the reply of a pending entry (no-op if it expired meanwhile).
    void store(const std::string& key, std::string reply);
    std::size_t size() const { return entries_.size(); }
    std::size_t bytes() const { return bytes_; }

  private:
    struct Entry {
        std::string reply;  // empty while the command runs
        uint64_t expires_ms;
    };
    void expire(uint64_t now_ms);

    uint64_t ttl_ms_;
    std::size_t max_bytes_;
    std::size_t bytes_ = 0;  // keys and replies held
    std::unordered_map<std::string, Entry> entries_;
    std::deque<std::pair<uint64_t, std::string>> order_;  // (expiry, key), oldest first
};

}  // namespace latch
