// ReplyCache: hits, in-flight duplicates, expiry, and the byte bound.
#include <catch2/catch.hpp>

#include "reply_cache.hpp"

using latch::ReplyCache;

TEST_CASE("the reply cache answers repeats and holds back duplicates in flight", "[cache]") {
    ReplyCache cache(1000, 1 << 20);
    std::string out;
    CHECK(cache.lookup_or_reserve("c1 a", 0, out) == ReplyCache::Lookup::miss);
    CHECK(cache.lookup_or_reserve("c1 a", 10, out) == ReplyCache::Lookup::pending);
    cache.store("c1 a", "c1 reply");
    CHECK(cache.lookup_or_reserve("c1 a", 20, out) == ReplyCache::Lookup::answered);
    CHECK(out == "c1 reply");
    CHECK(cache.lookup_or_reserve("c1 b", 20, out) == ReplyCache::Lookup::miss);  // other source
}

TEST_CASE("reply cache entries expire", "[cache]") {
    ReplyCache cache(1000, 1 << 20);
    std::string out;
    cache.lookup_or_reserve("k", 0, out);
    cache.store("k", "r");
    CHECK(cache.lookup_or_reserve("k", 999, out) == ReplyCache::Lookup::answered);
    CHECK(cache.lookup_or_reserve("k", 1000, out) == ReplyCache::Lookup::miss);
    CHECK(cache.size() == 1);
}

TEST_CASE("the reply cache stays within its byte bound, oldest out first", "[cache]") {
    ReplyCache cache(1000000, 10000);
    std::string out;
    for (int i = 0; i < 1000; ++i) {
        std::string key = "cookie" + std::to_string(i);
        cache.lookup_or_reserve(key, static_cast<uint64_t>(i), out);
        cache.store(key, std::string(500, 'r'));
    }
    CHECK(cache.bytes() <= 10000 + 600);  // at most one entry over until the next lookup
    CHECK(cache.size() < 25);
    CHECK(cache.lookup_or_reserve("cookie999", 1000, out) == ReplyCache::Lookup::answered);
    CHECK(cache.lookup_or_reserve("cookie0", 1000, out) == ReplyCache::Lookup::miss);
}
