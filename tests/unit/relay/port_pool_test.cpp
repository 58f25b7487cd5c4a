// PortPool and the split of the port range into worker slices.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <vector>

#include "port_pool.hpp"

using namespace latch;

TEST_CASE("the port range splits into even-aligned slices of whole pairs", "[ports]") {
    auto slices = split_port_range(30000, 40000, 2);
    REQUIRE(slices.size() == 2);
    CHECK(slices[0].first == 30000);
    CHECK(slices[1].last == 39999);
    CHECK(slices[0].last + 1 == slices[1].first);
    CHECK(slices[0].pairs() + slices[1].pairs() == 5000);

    auto odd = split_port_range(30001, 30010, 3);  // pairs 30002..30009: 4 pairs
    REQUIRE(odd.size() == 3);
    CHECK(odd[0].first == 30002);
    CHECK(odd[0].pairs() == 2);
    CHECK(odd[1].pairs() == 1);
    CHECK(odd[2].pairs() == 1);
    CHECK(odd[2].last == 30009);
    for (auto& s : odd) CHECK(s.first % 2 == 0);

    CHECK_THROWS(split_port_range(30000, 30003, 3));
    CHECK_THROWS(split_port_range(30001, 30001, 1));
    CHECK_THROWS(split_port_range(30000, 30001, 0));
}

TEST_CASE("the pool hands out distinct even ports until it runs out", "[ports]") {
    PortPool pool({30000, 30009});
    REQUIRE(pool.capacity() == 5);
    std::set<uint16_t> seen;
    for (int i = 0; i < 5; ++i) {
        auto p = pool.acquire();
        REQUIRE(p);
        CHECK(*p % 2 == 0);
        CHECK(pool.owns(*p));
        CHECK(pool.owns(static_cast<uint16_t>(*p + 1)));
        seen.insert(*p);
    }
    CHECK(seen.size() == 5);
    CHECK(pool.available() == 0);
    CHECK_FALSE(pool.acquire());
}

TEST_CASE("released ports return, least recently released first", "[ports]") {
    PortPool pool({40000, 40005});
    auto a = *pool.acquire();
    auto b = *pool.acquire();
    auto c = *pool.acquire();
    CHECK(pool.release(b));
    CHECK(pool.release(a));
    CHECK(*pool.acquire() == b);
    CHECK(*pool.acquire() == a);
    CHECK_FALSE(pool.acquire());
    CHECK(pool.release(c));
    CHECK(pool.available() == 1);
}

TEST_CASE("the pool refuses to release what it did not hand out", "[ports]") {
    PortPool pool({40000, 40003});
    auto a = *pool.acquire();
    CHECK_FALSE(pool.release(static_cast<uint16_t>(a + 1)));  // odd
    CHECK_FALSE(pool.release(50000));                         // not ours
    CHECK(pool.release(a));
    CHECK_FALSE(pool.release(a));  // twice
    CHECK(pool.available() == 2);
}

TEST_CASE("a restored call claims the very pair it had, the others are handed out as before",
          "[ports]") {
    PortPool pool({40000, 40007});  // four pairs
    CHECK(pool.claim(40004));
    CHECK(pool.available() == 3);
    CHECK_FALSE(pool.claim(40004));  // in use
    CHECK_FALSE(pool.claim(40005));  // odd
    CHECK_FALSE(pool.claim(40008));  // not ours
    std::vector<uint16_t> handed;
    while (auto p = pool.acquire()) handed.push_back(*p);
    std::sort(handed.begin(), handed.end());
    CHECK(handed == std::vector<uint16_t>{40000, 40002, 40006});
    CHECK(pool.release(40004));
    CHECK(pool.claim(40004));
    CHECK(pool.available() == 0);
}
