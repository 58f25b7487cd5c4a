// ReplyCache. Control thread only.
#include "reply_cache.hpp"

namespace latch {

void ReplyCache::expire(uint64_t now_ms) {
    while (!order_.empty() && (order_.front().first <= now_ms || bytes_ > max_bytes_)) {
        auto it = entries_.find(order_.front().second);
        // The key may have been re-entered later with a newer expiry; only drop this one's.
        if (it != entries_.end() && it->second.expires_ms == order_.front().first) {
            bytes_ -= 2 * it->first.size() + it->second.reply.size();
            entries_.erase(it);
        }
        order_.pop_front();
    }
}

ReplyCache::Lookup ReplyCache::lookup_or_reserve(const std::string& key, uint64_t now_ms,
                                                 std::string& reply_out) {
    expire(now_ms);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
        if (it->second.reply.empty()) return Lookup::pending;
        reply_out = it->second.reply;
        return Lookup::answered;
    }
    uint64_t expires = now_ms + ttl_ms_;
    entries_.emplace(key, Entry{{}, expires});
    order_.emplace_back(expires, key);
    bytes_ += 2 * key.size();  // in the map and in the order queue
    return Lookup::miss;
}

void ReplyCache::store(const std::string& key, std::string reply) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    bytes_ += reply.size() - it->second.reply.size();
    it->second.reply = std::move(reply);
}

}  // namespace latch
